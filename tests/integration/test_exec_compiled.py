"""The compiled exec path (csrc/launcher/exec_fast.cpp): the common forms of `layerbox exec` run
without starting the interpreter, and give exactly what the Python path gives, because both build
the process from the container's files with one builder (core/execbuild.cpp)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.privileged

# The launcher cannot start Python with this (nor python3 from PATH, its fallback): a command
# that still works never needed it.
NO_PYTHON = {"LAYERBOX_PYTHON": "/nonexistent/python3", "PATH": "/nonexistent"}

SETUP = (
    "echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd; "
    "echo 'app:x:1000:1000:app:/home/app:/bin/sh' >> /etc/passwd; "
    "echo 'root:x:0:' > /etc/group; echo 'app:x:1000:' >> /etc/group; "
    "echo 'staff:x:50:app' >> /etc/group; echo 'extra:x:77:' >> /etc/group; "
    "mkdir -p /home/app /work; touch /ready; exec sleep 300"
)


@pytest.fixture(scope="module")
def target(cli, busybox_image):
    r = cli("run", "-d", "--name", "exec-compiled", "--network", "none", "--group-add", "77",
            "-e", "FROM_IMAGE=1", "-w", "/work", "busybox", "sh", "-c", SETUP)
    if r.returncode != 0:
        cli("rm", "-f", "exec-compiled")
        pytest.fail(r.err)
    for _ in range(200):
        if cli("exec", "exec-compiled", "test", "-e", "/ready").returncode == 0:
            break
    yield "exec-compiled"
    cli("rm", "-f", "exec-compiled")


SHOW = ["sh", "-c", "id; pwd; env | grep -v '^SHLVL=' | sort"]


@pytest.mark.parametrize("args", [
    ["exec-compiled", *SHOW],
    ["-u", "app", "exec-compiled", *SHOW],
    ["-u", "app:staff", "exec-compiled", *SHOW],
    ["--user=1000:50", "exec-compiled", *SHOW],
    ["-u", "4242", "exec-compiled", *SHOW],
    ["-e", "A=1", "-e", "FROM_IMAGE=2", "-w", "/etc", "exec-compiled", *SHOW],
    ["--env=HOME=/elsewhere", "--workdir=/", "exec-compiled", *SHOW],
    ["-e", "CALLER_VAR", "-e", "UNSET_CALLER_VAR", "exec-compiled", *SHOW],
    ["-t", "exec-compiled", *SHOW],
    ["-i", "exec-compiled", "cat"],
    ["exec-compiled", "sh", "-c", "echo out; echo err >&2; exit 7"],
], ids=lambda a: " ".join(a[:-len(SHOW)] if a[-len(SHOW):] == SHOW else a))
def test_same_as_the_python_path(cli, target, args):
    caller = {"CALLER_VAR": "from-caller"}
    fast = cli("exec", *args, input=b"stdin data\n", env={**caller, **NO_PYTHON})
    # --env-file is a form the compiled path leaves to Python
    slow = cli("exec", "--env-file", "/dev/null", *args, input=b"stdin data\n", env=caller)
    assert fast.returncode == slow.returncode, (fast.err, slow.err)
    assert (fast.out, fast.err) == (slow.out, slow.err)
    assert "layerbox:" not in fast.err  # never the launcher's own "cannot run the interpreter"


def test_what_it_shows(cli, target):
    r = cli("exec", "-u", "app", "-e", "A=1", "exec-compiled", *SHOW, env=NO_PYTHON)
    assert r.returncode == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "uid=1000(app) gid=1000(app) groups=50(staff),77(extra),1000(app)"
    assert lines[1] == "/work"
    assert "HOME=/home/app" in lines and "A=1" in lines and "FROM_IMAGE=1" in lines
    r = cli("exec", "exec-compiled", "sh", "-c", "exit 7", env=NO_PYTHON)
    assert r.returncode == 7
    r = cli("exec", "-d", "exec-compiled", "sh", "-c", "echo detached > /tmp/d", env=NO_PYTHON)
    assert r.returncode == 0, r.err
    for _ in range(100):
        if cli("exec", "exec-compiled", "cat", "/tmp/d", env=NO_PYTHON).out == "detached\n":
            break
    else:
        pytest.fail("the detached exec did not run")


def test_user_out_of_range_or_empty(cli, target):
    """-u 4294967295 is (uid_t)-1, setresuid's "unchanged": it must not run as root; moby refuses
    ids beyond 2147483647. An empty -u is no -u: the container's own user, as docker's."""
    for user in ("4294967295", "app:4294967295", "2147483648"):
        r = cli("exec", "-u", user, target, "id", "-u")
        assert r.returncode == 1 and "uids and gids must be in range 0-2147483647" in r.err, (user, r.out, r.err)
    cid = cli("run", "-d", "-u", "1000", "--network", "none", "busybox", "sleep", "60").out.strip()
    try:
        r = cli("exec", "-u", "", cid, "id", "-u", env=NO_PYTHON)
        assert (r.returncode, r.out) == (0, "1000\n"), r.err
    finally:
        cli("rm", "-f", cid)


def test_errors_are_the_python_paths(cli, target, busybox_image):
    """Whatever is not plainly fine goes to Python untouched, which answers as docker."""
    r = cli("exec", "-u", "nobody-here", "exec-compiled", "true")
    assert r.returncode == 1 and "unable to find user nobody-here: no matching entries in passwd file" in r.err
    r = cli("exec", "exec-compiled", "no-such-command")
    assert r.returncode == 127 and "executable file not found" in r.err
    r = cli("exec", "no-such-container", "true")
    assert r.returncode == 1 and "No such container: no-such-container" in r.err
    assert cli("pause", "exec-compiled").returncode == 0
    try:
        r = cli("exec", "exec-compiled", "true", timeout=20)
        assert r.returncode == 1 and "is paused" in r.err, r.err
    finally:
        cli("unpause", "exec-compiled")
    stopped = cli("create", "busybox", "true").out.strip()
    try:
        r = cli("exec", stopped, "true")
        assert r.returncode == 1 and "is not running" in r.err, r.err
    finally:
        cli("rm", "-f", stopped)


def test_hostile_passwd_does_not_hang_exec(cli, busybox_image):
    """/etc/passwd and /etc/group are the container's: a FIFO there must not block the caller
    (it reads as no file: root with HOME=/)."""
    cid = cli("run", "-d", "--network", "none", "busybox", "sh", "-c",
              "rm -f /etc/passwd /etc/group; mkfifo /etc/passwd /etc/group; touch /ready; "
              "exec sleep 300").out.strip()
    try:
        for _ in range(200):
            if cli("exec", cid, "test", "-e", "/ready", timeout=20).returncode == 0:
                break
        for env in (NO_PYTHON, None):
            # (not `id`: busybox's would read the FIFO itself)
            r = cli("exec", cid, "sh", "-c", "grep ^Uid: /proc/self/status | cut -f2; echo $HOME",
                    env=env, timeout=20)
            assert (r.returncode, r.out) == (0, "0\n/\n"), r.err
    finally:
        cli("rm", "-f", cid)
