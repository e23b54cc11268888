"""The hot verbs' fast path: same parse as click, no click import, a bounded import set."""

from __future__ import annotations

import pytest

from layerbox.cli import fastparse, gen_verb_table
from layerbox.cli._verb_table import VERB_TABLE
from layerbox.cli.commands import cli as click_cli

# The layerbox modules the hot verbs may import. Adding one here is a decision: each costs
# start-up time on every `run`, `exec`, `ps`, ...
ALLOWED = {
    "layerbox", "layerbox._core", "layerbox._listing",  # ps rows (simdjson; only listings load it)
    "layerbox._jsonfast", "layerbox._util",
    "layerbox.cli", "layerbox.cli._verb_table", "layerbox.cli.actions", "layerbox.cli.actions.container",
    "layerbox.cli.context", "layerbox.cli.fastparse", "layerbox.cli.main", "layerbox.cli.output",
    "layerbox.container", "layerbox.container.engine", "layerbox.container.execution",
    "layerbox.container.runtemplate",  # run templates for the compiled launcher (os, sys only)
    "layerbox.container.process", "layerbox.container.cgroups",
    "layerbox.container.names", "layerbox.container.plan", "layerbox.container.security",
    "layerbox.container.config", "layerbox.container.mounts", "layerbox.container.health",
    "layerbox.container.hostopts", "layerbox.container.logdriver",
    "layerbox.container.users", "layerbox.container.views", "layerbox.container.logs",
    "layerbox.errors", "layerbox.image", "layerbox.image.reference", "layerbox.image.store",
    "layerbox.shape", "layerbox.signals", "layerbox.store", "layerbox.store.layerview",
    "layerbox.network", "layerbox.events",
}


def test_verb_table_is_generated_from_the_click_definitions():
    with open(gen_verb_table.path()) as f:
        assert f.read() == gen_verb_table.render(), "run: python -m layerbox.cli.gen_verb_table"


SAMPLES = {
    "run": [
        ["busybox"],
        ["--rm", "busybox", "true"],
        ["-it", "--name", "x", "-e", "A=1", "-eB=2", "--env=C=3", "busybox", "sh", "-c", "echo $A"],
        ["-d", "-v", "/a:/b:ro", "--volume=/c:/d", "-m", "32m", "--cpus", "1.5", "busybox"],
        ["--pids-limit", "20", "-u", "1000:1000", "-w", "/tmp", "busybox", "id", "-u"],
        ["--entrypoint", "", "busybox", "--rm"],  # --rm after the image belongs to the command
        ["--network", "host", "--init", "-l", "a=b", "-l", "c", "busybox", "--", "-x"],
        ["-h", "myhost", "--restart", "on-failure:3", "busybox"],
        ["--health-cmd", "true", "--health-interval", "1s", "--no-healthcheck", "-a", "stdout",
         "-a", "STDERR", "--ulimit", "nofile=1:2", "--log-opt", "max-size=1m", "busybox"],
    ],
    "create": [["busybox"], ["--name", "n", "-t", "busybox", "sh"]],
    "exec": [["c1", "ls"], ["-it", "-u", "root", "c1", "sh", "-c", "x"], ["-d", "-e", "A=1", "c1", "x", "-y"]],
    "start": [["a"], ["-ai", "a"], ["a", "b", "c"]],
    "stop": [["a"], ["-t", "3", "a", "b"], ["--time=0", "a"], ["-s", "USR1", "a"]],
    "kill": [["a"], ["-s", "HUP", "a"], ["--signal=9", "a", "b"]],
    "rm": [["a"], ["-fv", "a", "b"], ["--force", "a"]],
    "ps": [[], ["-a"], ["-aq"], ["--no-trunc", "-n", "3"], ["-f", "status=exited", "--filter", "name=x"],
           ["--format", "{{.ID}}"], ["-l", "-s"]],
    "wait": [["a"], ["a", "b"]],
    "commit": [["c"], ["-a", "me", "-m", "msg", "-c", "CMD x", "--change=ENV A=1", "c", "repo:tag"],
               ["--pause=false", "c"], ["-p", "0", "c"]],
    "save": [["img"], ["-o", "f.tar", "a", "b"]],
    "export": [["c"], ["-o", "out.tar", "c"]],
    "logs": [["c"], ["-f", "--tail", "3", "-t", "c"], ["--since", "1h", "--until=5m", "c"]],
    "inspect": [["a"], ["-f", "{{.Id}}", "--type", "image", "a", "b"], ["-s", "x"]],
    "images": [[], ["-aq"], ["--digests", "--no-trunc", "-f", "dangling=true", "--format", "json"], ["busybox"]],
    "pause": [["a", "b"]],
    "unpause": [["a"]],
}


@pytest.mark.parametrize("verb,args", [(v, a) for v, samples in SAMPLES.items() for a in samples])
def test_fast_parse_matches_click(verb, args):
    fast = fastparse.parse(VERB_TABLE[verb], args)
    assert fast is not None, "the fast path gave up on an ordinary command line"
    cmd = click_cli.commands[verb]
    ctx = cmd.make_context(verb, list(args), obj=None)
    assert fast == ctx.params


@pytest.mark.parametrize("verb,args", [
    ("run", ["--help"]), ("run", []), ("run", ["--no-such-flag", "busybox"]),
    ("ps", ["-n", "notanumber"]), ("stop", []), ("exec", ["only-container"]),
    ("run", ["--cpus"]), ("rm", ["--force=yes", "a"]),
])
def test_fast_parse_hands_odd_command_lines_to_click(verb, args):
    assert fastparse.parse(VERB_TABLE[verb], args) is None


# What the verbs that act on an existing container must not need: image lookup, name generation.
NOT_FOR_EXISTING = {"layerbox.image.store", "layerbox.image.reference", "layerbox.container.names"}


# exec starts a process with what the container's init got (process.json, written at start):
# none of the planning a start needs.
NOT_FOR_EXEC = NOT_FOR_EXISTING | {"layerbox.container.plan", "layerbox.container.config",
                                   "layerbox.container.security", "layerbox.store.layerview",
                                   "layerbox.signals"}


@pytest.mark.privileged
def test_exec_imports_no_planning(cli, busybox_image, tmp_path):
    r = cli("run", "-d", "--name", "exec-probe", "--network", "none", "busybox", "sleep", "60")
    assert r.returncode == 0, r.err
    try:
        report = tmp_path / "modules"
        # --env-file: a form the compiled exec path leaves to Python (tests/integration/
        # test_exec_compiled.py covers the forms that never start it)
        env_file = tmp_path / "env"
        env_file.write_text("B=2\n")
        r = cli("exec", "--env-file", env_file, "-e", "A=1", "exec-probe", "sh", "-c", "echo $A",
                env={"LAYERBOX_IMPORT_REPORT": str(report)})
        assert (r.returncode, r.out) == (0, "1\n"), r.err
        modules = set(report.read_text().split())
        assert not modules & NOT_FOR_EXEC, sorted(modules & NOT_FOR_EXEC)
        assert not {m for m in modules if m.startswith("layerbox")} - ALLOWED
    finally:
        cli("rm", "-f", "exec-probe")


@pytest.mark.privileged
@pytest.mark.parametrize("argv", [
    ["ps", "-a"],
    ["run", "--rm", "busybox", "true"],
    ["run", "--rm", "--network", "none", "busybox", "true"],
    ["create", "--name", "fastpath-probe", "busybox", "true"],
    ["start", "fastpath-probe"],
    ["wait", "fastpath-probe"],
    ["rm", "fastpath-probe"],
])
def test_hot_verbs_import_no_click(cli, busybox_image, tmp_path, argv):
    report = tmp_path / "modules"
    r = cli(*argv, env={"LAYERBOX_IMPORT_REPORT": str(report)})
    assert r.returncode == 0, r.err
    modules = set(report.read_text().split())
    assert "click" not in modules
    grown = {m for m in modules if m.startswith("layerbox")} - ALLOWED
    assert not grown, f"the hot path now imports {sorted(grown)}: keep it lean or extend ALLOWED"
    heavy = {"re", "json", "subprocess", "dataclasses", "typing", "inspect", "enum", "click",
             "shlex", "tempfile", "shutil", "pathlib", "asyncio", "importlib.resources", "calendar",
             "datetime", "locale"} & modules
    assert not heavy, f"heavy modules on the hot path: {sorted(heavy)}"
    if argv[0] in ("start", "wait", "rm", "ps"):
        assert not modules & NOT_FOR_EXISTING, sorted(modules & NOT_FOR_EXISTING)
    if "none" in argv or argv[0] in ("ps", "wait", "rm"):
        # No network code where no network is set up (the bridge's runs load it).
        assert not {m for m in modules if m.startswith("layerbox.network")} | ({"layerbox._net"} & modules)


def test_optional_value_parses_as_click_does():
    # `commit -p` takes "true" unless a value follows that does not look like an option
    for args in (["-p", "--author", "x", "c"], ["-p", "0", "c"], ["c", "-p"], ["-p", "--", "c"],
                 ["--pause", "-m", "msg", "c"], ["--pause=false", "c"], ["-p", "-", "c"]):
        ctx = click_cli.commands["commit"].make_context("commit", list(args), obj=None)
        assert fastparse.parse(VERB_TABLE["commit"], args) == ctx.params, args
    assert fastparse.parse(VERB_TABLE["commit"], ["-p", "--author", "x", "c"])["pause"] == "true"


def test_gen_verb_table_refuses_what_the_fast_path_cannot_reproduce():
    import click

    def verb(*params):
        return click.Command("probe", params=list(params), callback=lambda **kw: 0)

    shapes = [
        click.Option(["--x"], callback=lambda ctx, p, v: v),
        click.Option(["--x"], default=lambda: "computed"),
        click.Option(["--x"], envvar="X"),
        click.Option(["-v"], count=True),
        click.Option(["--x"], nargs=2),
        click.Option(["--x"], required=True),
        click.Option(["--x"], is_flag=False, flag_value="on", multiple=True),
        click.Argument(["a"], nargs=2),
    ]
    for p in shapes:
        with pytest.raises(gen_verb_table.UnsupportedShape):
            gen_verb_table.verb_entry(verb(p))
    gen_verb_table.verb_entry(verb(click.Option(["--x"], is_flag=False, flag_value="on", default="off")))


def _generated_command_lines(cmd, rng, n):
    """Command lines for a click command: its options (every spelling, values attached or
    not, repeated, in any order), arguments among them, `--`, unknown options and bad values."""
    import click

    opts = [p for p in cmd.params if isinstance(p, click.Option)]
    args = [p for p in cmd.params if isinstance(p, click.Argument)]

    def value(p):
        t = p.type
        r = rng.random()
        if isinstance(t, click.Choice):
            return rng.choice(list(t.choices)) if r < 0.9 else "not-a-choice"
        if isinstance(t, click.types.IntParamType):
            return str(rng.randint(-3, 40)) if r < 0.85 else rng.choice(["x", "1.5", ""])
        if isinstance(t, click.types.FloatParamType):
            return rng.choice(["0.5", "2", "1e3", "-1"]) if r < 0.85 else "nan-ish"
        if isinstance(t, click.types.BoolParamType):
            return rng.choice(["true", "false", "1", "0", "yes", "maybe"])
        return rng.choice(["a", "b=c", "x y", "/p:/q:ro", "-dash", "--", "-", "KEY=1", "ünï"])

    def option_words(p):
        name = rng.choice(p.opts + p.secondary_opts)
        if p.is_flag:
            if name.startswith("--") and rng.random() < 0.05:
                return [name + "=true"]  # click refuses a value for a flag
            return [name]
        if _optional(p) and rng.random() < 0.3:
            return [name]
        v = value(p)
        if name.startswith("--"):
            return [f"{name}={v}"] if rng.random() < 0.5 else [name, v]
        return [name + v] if v and rng.random() < 0.4 else [name, v]

    def positional(p):
        return rng.choice(["c1", "busybox", "img:tag", "x", "sh", "-c", "echo hi", "1"])

    for _ in range(n):
        words = []
        for _ in range(rng.randint(0, 6)):
            r = rng.random()
            if r < 0.05:
                words.append(rng.choice(["--no-such-option", "-Z", "--no-such=1"]))
            elif opts and r < 0.9:
                words.extend(option_words(rng.choice(opts)))
            else:
                flags = [p for p in opts if p.is_flag and any(len(o) == 2 for o in p.opts)]
                if len(flags) >= 2:  # clustered short flags: -ai
                    pick = rng.sample(flags, 2)
                    words.append("-" + "".join(next(o[1] for o in p.opts if len(o) == 2)
                                               for p in pick))
        # the arguments, mostly as many as the command takes, among the options or after them
        given = []
        for a in args:
            k = (1 if rng.random() < 0.9 else rng.choice([0, 2])) if a.nargs == 1 else rng.randint(0, 3)
            given += [positional(a) for _ in range(k)]
        if rng.random() < 0.15:
            given.insert(rng.randint(0, len(given)), "--")
        at = rng.randint(0, len(words)) if rng.random() < 0.3 else len(words)
        while at > 0 and words[at - 1:at] and not words[at - 1].startswith("-") and at < len(words):
            at -= 1  # not between an option and its value
        words[at:at] = given
        yield words


def _optional(p) -> bool:
    return not p.is_flag and bool(getattr(p, "_flag_needs_value", False))


@pytest.mark.parametrize("verb", sorted(VERB_TABLE))
def test_fast_parser_agrees_with_click_on_generated_command_lines(verb):
    # Seeded, so a failure names a command line that reproduces it.
    import random

    import click

    cmd = click_cli
    for word in verb.split():  # "system service": a group's command
        cmd = cmd.commands[word]
    rng = random.Random(f"fastparse-{verb}")
    parsed = 0
    for words in _generated_command_lines(cmd, rng, 400):
        fast = fastparse.parse(VERB_TABLE[verb], list(words))
        try:
            ctx = cmd.make_context(verb, list(words), obj=None)
        except (click.exceptions.ClickException, click.exceptions.Exit):
            assert fast is None, f"{verb} {words}: click refuses it, the fast path took {fast}"
            continue
        if fast is None:
            continue  # handed to click: always allowed
        parsed += 1
        assert fast == ctx.params, f"{verb} {words}"
    assert parsed >= 100, f"the fast path took only {parsed} of 400 command lines of {verb}"
