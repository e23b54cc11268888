"""The hot verbs' fast path: same parse as click, no click import, a bounded import set."""

from __future__ import annotations

import pytest

from layerbox.cli import fastparse, gen_spec
from layerbox.cli._spec import SPEC
from layerbox.cli.commands import cli as click_cli

# The layerbox modules the hot verbs may import. Adding one here is a decision: each costs
# start-up time on every `run`, `exec`, `ps`, ...
ALLOWED = {
    "layerbox", "layerbox._core", "layerbox._jsonfast", "layerbox._util", "layerbox._spec",
    "layerbox.cli", "layerbox.cli._spec", "layerbox.cli.actions", "layerbox.cli.actions.container",
    "layerbox.cli.context", "layerbox.cli.fastparse", "layerbox.cli.main", "layerbox.cli.output",
    "layerbox.container", "layerbox.container.engine", "layerbox.container.execution",
    "layerbox.container.names", "layerbox.container.plan", "layerbox.container.spec",
    "layerbox.container.users", "layerbox.container.views", "layerbox.container.logs",
    "layerbox.errors", "layerbox.image", "layerbox.image.reference", "layerbox.image.store",
    "layerbox.store", "layerbox.network",
}


def test_spec_is_generated_from_the_click_definitions():
    with open(gen_spec.path()) as f:
        assert f.read() == gen_spec.render(), "run: python -m layerbox.cli.gen_spec"


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
    fast = fastparse.parse(SPEC[verb], args)
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
    assert fastparse.parse(SPEC[verb], args) is None


# What the verbs that act on an existing container must not need: image lookup, name generation.
NOT_FOR_EXISTING = {"layerbox.image.store", "layerbox.image.reference", "layerbox.container.names"}


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
