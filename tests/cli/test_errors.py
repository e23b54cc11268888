"""How commands fail, as docker's CLI fails: exit 1 for every command but run/create (125, or
126/127 for a command that cannot run), 125 for a bad flag, one line of error, never a Python
traceback or "[Errno N]"; help as docker's; a template naming an unknown field is an error;
a closed pipe ends quietly; a user who is not root is told so."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess

import pytest

from layerbox.cli import main

privileged = pytest.mark.privileged


def clean(r, code: int, *needles: str) -> None:
    assert r.returncode == code, (r.returncode, r.out, r.err)
    assert "Traceback" not in r.err and "[Errno" not in r.err, r.err
    for n in needles:
        assert n in r.err, (n, r.err)


# -- the table, as a unit --------------------------------------------------------------------

def test_the_exit_code_table():
    from layerbox.errors import ImageNotFound, InvalidArgument, StartError

    e = InvalidArgument("x")
    assert main.exit_code(e, "run") == 125 and main.exit_code(e, "create") == 125
    for verb in ("start", "logs", "kill", "rename", "pause", "rm", "exec", "top", "cp", "tag", "rmi",
                 "save", "load", "ps", "pull", "push", "import", "commit", "inspect", ""):
        assert main.exit_code(e, verb) == 1, verb
    assert main.exit_code(ImageNotFound("x"), "pull") == 1
    for code in (126, 127):
        se = StartError(2, "x")
        se.exit_code = code
        assert main.exit_code(se, "run") == code and main.exit_code(se, "exec") == code
        assert main.exit_code(se, "start") == 1


def test_messages_never_show_errno():
    assert main.message(PermissionError(13, "Permission denied", "/store/lock")).startswith(
        "/store/lock: permission denied")
    assert main.message(OSError(28, "No space left on device", "/store/refs.json.tmp.1")) == \
        "/store/refs.json.tmp.1: no space left on device"
    assert main.message(FileExistsError(17, "File exists", "/a", None, "/b")) == "/a /b: file exists"


def test_help_as_docker(cli):
    for args in (["-h"], ["--help"], ["help"], []):
        r = cli(*args)
        assert r.returncode == 0, (args, r.err)
        assert r.out.startswith("Usage: layerbox [OPTIONS] COMMAND [ARGS]..."), args
        assert "Commands:" in r.out and "run" in r.out
    r = cli("help", "run")
    assert r.returncode == 0 and r.out.startswith("Usage: layerbox run [OPTIONS] IMAGE")
    assert "--hostname" in r.out
    clean(cli("help", "nosuch"), 125, 'unknown help topic: "nosuch"')
    r = cli("nosuch")
    assert r.returncode == 1 and r.err == "layerbox: 'nosuch' is not a layerbox command.\nSee 'layerbox --help'\n"


# -- against the engine ----------------------------------------------------------------------

@privileged
def test_failing_commands_exit_1_and_run_create_125(cli, busybox_image, tmp_path):
    cid = cli("create", "busybox", "true", check=True).out.strip()
    try:
        for args in (["start", "nosuch"], ["logs", "nosuch"], ["kill", "nosuch"], ["kill", cid],
                     ["rename", "nosuch", "x"], ["pause", "nosuch"], ["pause", cid], ["rm", "nosuch"],
                     ["stop", "nosuch"], ["wait", "nosuch"], ["top", "nosuch"], ["top", cid],
                     ["cp", "nosuch:/x", str(tmp_path)], ["tag", "nosuch", "x"], ["rmi", "nosuch"],
                     ["save", "-o", str(tmp_path / "x.tar"), "nosuch"], ["load", "-i", str(tmp_path / "no.tar")],
                     ["ps", "--filter", "bogus=1"], ["inspect", "nosuch"], ["history", "nosuch"],
                     ["diff", "nosuch"], ["export", "-o", str(tmp_path / "e.tar"), "nosuch"],
                     ["image", "inspect", "nosuch"], ["container", "rm", "nosuch"], ["volume", "rm", "nosuch"]):
            r = cli(*args)
            clean(r, 1, "Error")
        r = cli("exec", cid, "true")  # created, never started
        clean(r, 1, "is not running")
        clean(cli("run", "--rm", "nosuch-image-here:1"), 125, "No such image")
        clean(cli("create", "nosuch-image-here:1"), 125, "No such image")
        clean(cli("container", "create", "nosuch-image-here:1"), 125, "No such image")
        clean(cli("run", "--rm", "busybox", "/nonexistent"), 127)
        clean(cli("tag", "busybox"), 1)  # a missing argument: 1, as docker
        # a bad flag: 125, in docker's (cobra's) words
        assert cli("ps", "--no-such-flag").err == "unknown flag: --no-such-flag\nSee 'layerbox ps --help'.\n"
        clean(cli("ps", "-Z"), 125, "unknown shorthand flag: 'Z' in -Z")
        assert not (tmp_path / "x.tar").exists()
    finally:
        cli("rm", "-f", cid)


@privileged
def test_error_lines_as_docker_s_cli(cli, busybox_image):
    """What benchmarks/parity_check.py found beside docker's CLI: start and rename end with the
    CLI's summary line, `container inspect` names a container, `volume create` is not
    `create` (exit 1) and says the local driver's full rule, a driver option layerbox cannot
    mount is refused."""
    r = cli("start", "nosuch-a", "nosuch-b")
    clean(r, 1)
    assert r.err.splitlines() == ["Error: No such container: nosuch-a", "Error: No such container: nosuch-b",
                                  "Error: failed to start containers: nosuch-a, nosuch-b"]
    r = cli("rename", "nosuch-a", "newname")
    assert r.returncode == 1 and r.err.splitlines() == [
        "Error: No such container: nosuch-a", "Error: failed to rename container named nosuch-a"]
    r = cli("rename", "one")  # a wrong number of arguments: cobra's words, exit 1
    assert r.returncode == 1 and r.err.startswith('"layerbox rename" requires exactly 2 arguments.\n'
                                                  "See 'layerbox rename --help'.\n\nUsage:  layerbox rename ")
    assert cli("start").err.startswith('"layerbox start" requires at least 1 argument.\n')
    assert cli("volume", "create", "a", "b").err.startswith(
        '"layerbox volume create" requires at most 1 argument.\n')
    r = cli("container", "inspect", "nosuch-a")
    assert r.returncode == 1 and r.err == "Error: No such container: nosuch-a\n"
    r = cli("inspect", "nosuch-a")
    assert r.returncode == 1 and r.err == "Error: No such object: nosuch-a\n"
    r = cli("volume", "create", "bad/name")
    clean(r, 1, 'create bad/name: "bad/name" includes invalid characters for a local volume name, only '
          '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path')
    r = cli("volume", "create", "-o", "type=nfs", "--opt", "device=:/x", "optvol")
    clean(r, 1, "volume type 'nfs' (o=) is not supported by layerbox")
    assert "optvol" not in cli("volume", "ls", "-q").out.split()


@privileged
def test_exec_keeps_its_commands_126_and_127(cli, busybox_image):
    cid = cli("run", "-d", "busybox", "sleep", "60", check=True).out.strip()
    try:
        clean(cli("exec", cid, "/nonexistent"), 127)
        clean(cli("exec", cid, "sh", "-c", "exit 3"), 3)
    finally:
        cli("rm", "-f", cid)


@privileged
def test_unknown_template_field_is_an_error(cli, busybox_image):
    for args in (["images", "--format", "{{.Nope}}"], ["history", "--format", "{{.Nope}}", "busybox"]):
        clean(cli(*args), 1, "can't evaluate field Nope")
    # inspect: docker runs the template on the raw JSON once its typed struct lacks the field
    clean(cli("image", "inspect", "-f", "{{.Nope}}", "busybox"), 1,
          'template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"')
    # a table with no rows still has a header to render: an unknown field there is an error too
    clean(cli("ps", "-a", "--filter", "id=000000000000", "--format", "table {{.ID}}\t{{.Nope}}"), 1,
          "can't evaluate field Nope")
    r = cli("ps", "-a", "--filter", "id=000000000000", "--format", "table {{.ID}}\t{{.Names}}")
    assert r.returncode == 0 and r.out == "CONTAINER ID   NAMES\n"
    cid = cli("create", "busybox", "true", check=True).out.strip()
    try:
        clean(cli("ps", "-a", "--format", "{{.Nope}}"), 1, "can't evaluate field Nope")
        clean(cli("inspect", "-f", "{{.Nope}}", cid), 1, 'map has no entry for key "Nope"')
    finally:
        cli("rm", "-f", cid)


@privileged
def test_a_closed_pipe_ends_quietly(cli, busybox_image):
    # `layerbox save busybox | head -c 10`: the reader leaves early; no error, no traceback,
    # and the command dies of SIGPIPE as docker's does.
    # A small output may fit in the pipe before the reader leaves (exit 0); a large one not.
    for args, early, codes in ((["save", "busybox"], 10, (-signal.SIGPIPE,)),
                               (["history", "--no-trunc", "busybox"], 0, (0, -signal.SIGPIPE))):
        p = cli.popen(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with p:
            p.stdout.read(early)
            p.stdout.close()
            err = p.stderr.read().decode()
            p.wait(timeout=60)
        assert err == "", (args, err)
        assert p.returncode in codes, (args, p.returncode)


@privileged
@pytest.mark.parametrize("args", [["ps"], ["images"], ["run", "--rm", "busybox", "true"], ["load", "-i", "x"]])
def test_a_user_who_is_not_root_is_told_so(cli, args):
    setpriv = shutil.which("setpriv")
    assert setpriv, "needs setpriv (util-linux)"
    r = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *cli.cmd, *args],
                       capture_output=True, text=True, env=cli.env(), timeout=60)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stderr == "Error: layerbox needs root: run it as root (for example with sudo)\n"


@privileged
def test_the_launcher_says_what_it_cannot_load(cli, tmp_path):
    """An interpreter that cannot import layerbox: one line naming it, not three tracebacks."""
    exe = cli.cmd[0]
    if not os.path.basename(exe) == "layerbox":
        pytest.skip("runs through python -m, not the launcher")
    python = shutil.which("python3", path="/usr/bin:/bin")
    assert python
    r = subprocess.run([exe, "ps"], capture_output=True, text=True, timeout=60,
                       env=dict(cli.env(), LAYERBOX_PYTHON=python, PYTHONPATH=""), cwd=str(tmp_path))
    if r.returncode == 0:
        pytest.skip("the system interpreter has layerbox installed too")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"layerbox: cannot load the layerbox package with {python} ("), r.stderr
