"""A container must never reach the host through `exec` or `run` (issue 9, section 1).

Each test is an attack as a hostile image or container would make it, against a real
container, with a real host directory and descriptor or the real host executables:

- the working directory through a caller's descriptor (the CVE-2024-21626 class): a workdir
  replaced by a symlink to /proc/self/fd/N, `exec -w /proc/self/fd/N`, `run -w ...`, while the
  CLI holds a host directory open at N;
- a host executable reachable through /proc/N/exe (the CVE-2019-5736 class): a process of the
  container polling /proc/*/exe while execs come in, and /proc/1/exe under --init.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time

import pytest

from conftest import tool

pytestmark = pytest.mark.privileged

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def ctr(cli, busybox_image):
    made = []

    def make(*args):
        r = cli("run", "-d", *args)
        assert r.returncode == 0, r.err
        cid = r.out.strip().splitlines()[-1]
        made.append(cid)
        return cid

    yield make
    for cid in made:
        cli("rm", "-f", cid)


@pytest.fixture
def host_dir(tmp_path):
    """A host directory with a file in it, held open: (path, fd)."""
    d = tmp_path / "host"
    d.mkdir()
    (d / "secret").write_text("host only\n")
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    yield str(d), fd
    os.close(fd)


def assert_untouched(path):
    assert sorted(os.listdir(path)) == ["secret"], "the container wrote into a host directory"


def test_exec_workdir_symlinked_to_a_callers_descriptor(cli, ctr, host_dir):
    path, fd = host_dir
    cid = ctr("-w", "/work", "busybox", "sleep", "60")
    r = cli("exec", cid, "sh", "-c", f"cd / && rmdir /work && ln -s /proc/self/fd/{fd} /work")
    assert r.returncode == 0, r.err
    r = cli("exec", cid, "sh", "-c", "pwd; ls; cat secret; touch pwned", pass_fds=(fd,))
    assert "host only" not in r.out
    assert_untouched(path)
    # Refused, as runc refuses it: the working directory does not resolve inside the root.
    assert r.returncode == 126, (r.returncode, r.out, r.err)
    assert "/work" in r.err
    # The same through an API caller that holds the descriptor (the Python client).
    code = subprocess.run(
        [sys.executable, "-c",
         "import layerbox, sys; c = layerbox.Client(); ct = c.containers.get(sys.argv[1])\n"
         "try:\n    r = ct.exec_run(['sh', '-c', 'cat secret; touch pwned'])\n"
         "    print(r.exit_code, r.output)\nexcept Exception as e:\n    print('refused', e)",
         cid], pass_fds=(fd,), capture_output=True, text=True, env=cli.env(), timeout=60)
    assert "host only" not in code.stdout, code.stdout
    assert_untouched(path)


def test_exec_w_proc_self_fd(cli, ctr, host_dir):
    path, fd = host_dir
    cid = ctr("busybox", "sleep", "60")
    r = cli("exec", "-w", f"/proc/self/fd/{fd}", cid, "sh", "-c", "ls; cat secret; touch pwned",
            pass_fds=(fd,))
    assert "host only" not in r.out
    assert_untouched(path)
    assert r.returncode == 126, (r.returncode, r.out, r.err)
    # An ordinary missing working directory: docker's error and exit code.
    r = cli("exec", "-w", "/nonexistent", cid, "true")
    assert r.returncode == 126
    assert 'chdir to cwd ("/nonexistent") set in config.json failed: no such file or directory' in r.err


def test_run_w_proc_self_fd(cli, busybox_image, host_dir):
    path, fd = host_dir
    r = cli("run", "--rm", "-w", f"/proc/self/fd/{fd}", "busybox", "sh", "-c",
            "ls; cat secret; touch pwned", pass_fds=(fd,))
    assert "host only" not in r.out
    assert_untouched(path)
    assert r.returncode != 0
    # docker's behaviour is kept for an ordinary missing one: created.
    r = cli("run", "--rm", "-w", "/made/here", "busybox", "pwd")
    assert (r.returncode, r.out) == (0, "/made/here\n"), r.err


def _host_executables(cli):
    """(dev, ino) of the host files a container must never get: the interpreter the CLI runs
    on (this one: the launcher starts the interpreter of its venv), the launcher, and the
    shim the monitor and the exec helper are made from."""
    from layerbox.container.engine import SHIM

    out = {}
    for p in (sys.executable, SHIM, cli.cmd[0]):
        st = os.stat(p)
        out[(st.st_dev, st.st_ino)] = os.path.realpath(p)
    return out


def test_exec_never_shows_a_host_executable(cli, ctr, tmp_path):
    """A process in the container polls /proc/*/exe while execs come in; whatever it can open
    is a sealed memfd or a file of the container, never the host's python or shim, and
    nothing it opens is writable."""
    gcc = tool("gcc")
    d = tmp_path / "poll"
    d.mkdir()
    poller = d / "poller"
    subprocess.run([gcc, "-static", "-O2", "-o", str(poller), os.path.join(HERE, "data", "exe_poller.c")],
                   check=True, capture_output=True)
    host = _host_executables(cli)
    cid = ctr("-v", f"{d}:/t", "busybox", "/t/poller", "120", "/t/out", "/t/ready", "/t/stop")
    deadline = time.time() + 30
    while not (d / "ready").exists():
        assert time.time() < deadline, "the poller did not start"
        time.sleep(0.05)
    for _ in range(40):
        r = cli("exec", cid, "/bin/true")
        assert r.returncode == 0, r.err
    (d / "stop").touch()
    assert cli("wait", cid, timeout=150).out.strip() == "0"
    lines = (d / "out").read_text().splitlines()
    assert lines and lines[-1].startswith("done "), lines
    seen = [ln.split(" ", 5) for ln in lines[:-1]]
    # It did catch processes (at least the busybox of every exec): the test can see.
    assert any(s[3] == "container" for s in seen), lines
    for dev, ino, size, cls, writable, link in seen:
        assert (int(dev), int(ino)) not in host, f"the container opened the host's {host[(int(dev), int(ino))]}"
        assert cls in ("memfd", "container"), f"a host file reached: {link}"
        if cls == "memfd":
            assert writable == "0", f"{link} was writable"


def test_init_pid1_is_a_sealed_copy(cli, busybox_image):
    from layerbox.container.engine import SHIM

    with open(SHIM, "rb") as f:
        before = hashlib.sha256(f.read()).hexdigest()
    r = cli("run", "--rm", "--init", "busybox", "sh", "-c",
            "readlink /proc/1/exe; "
            "if (printf '' >> /proc/1/exe) 2>/dev/null; then echo opened-for-write; fi; "
            "if (cat /proc/1/exe > /tmp/x) 2>/dev/null; then echo read $(wc -c < /tmp/x); fi")
    assert r.returncode == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].startswith("/memfd:"), lines
    assert "opened-for-write" not in lines
    assert os.readlink("/proc/self/exe") not in lines[0]
    with open(SHIM, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == before
