"""layerbox-runtime, the OCI runtime: real bundles (the busybox root in a temp dir, a config.json
from `layerbox-runtime spec`, then edited), run the way containerd runs a runtime (create with
stdio of its own, start, state, kill, delete), each checked for what a caller sees."""

from __future__ import annotations

import array
import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import threading
import time

import pytest

pytestmark = pytest.mark.privileged


def runtime_path() -> str:
    exe = os.path.join(sysconfig.get_path("scripts"), "layerbox-runtime")
    if not os.access(exe, os.X_OK):
        pytest.fail(f"layerbox-runtime is not installed next to {sys.executable}")
    return exe


class Runtime:
    def __init__(self, root: str):
        self.root = root
        self.exe = runtime_path()

    def __call__(self, *args, check=False, timeout=60, stdin=subprocess.DEVNULL, log=None, **kw):
        glob = ["--root", self.root] + (["--log", log, "--log-format", "json"] if log else [])
        # The container inherits the runtime's stdio (as under containerd): files, not pipes
        # whose end of file would wait for the container.
        out = kw.pop("stdout", None)
        with open(os.path.join(self.root, ".out"), "w+b") as o, \
                open(os.path.join(self.root, ".err"), "w+b") as e:
            r = subprocess.run([self.exe, *glob, *map(str, args)], stdin=stdin,
                               stdout=out or o, stderr=e, timeout=timeout, **kw)
            o.seek(0)
            e.seek(0)
            r.out, r.err = o.read().decode(), e.read().decode()
        if check and r.returncode != 0:
            raise AssertionError(f"layerbox-runtime {' '.join(map(str, args))} exited "
                                 f"{r.returncode}: {r.err}")
        return r

    def state(self, cid: str) -> dict:
        return json.loads(self("state", cid, check=True).out)


# The fixtures of every layerbox-runtime test (test_runtime_sections and _namespaces import
# them: a conftest.py here would shadow the tests' own `from conftest import ...`).
@pytest.fixture
def rt(tmp_path):
    """The runtime with a state directory of the test's own; what a test leaves is deleted."""
    root = tmp_path / "state"
    root.mkdir()
    r = Runtime(str(root))
    yield r
    for cid in os.listdir(root):
        if not cid.startswith("."):
            r("delete", "--force", cid)


@pytest.fixture
def bundle(tmp_path, busybox_rootfs, rt):
    """A bundle: rootfs copied from the busybox root, config.json from `spec`; edit
    bundle.config, then write()."""
    return make_bundle(tmp_path / "bundle", busybox_rootfs, rt)


CGROUP_PARENT = None


def cgroups_path(cid: str) -> str:
    return f"/{os.environ['LAYERBOX_CGROUP_PARENT']}/rt-{cid}"


class Bundle:
    def __init__(self, path: str):
        self.path = path
        with open(os.path.join(path, "config.json")) as f:
            self.config = json.load(f)

    def write(self, cid: str | None = None) -> str:
        if cid:
            self.config["linux"]["cgroupsPath"] = cgroups_path(cid)
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(self.config, f)
        return self.path

    def args(self, *argv: str) -> "Bundle":
        self.config["process"]["args"] = list(argv)
        return self


def make_bundle(path, rootfs: str, rt: Runtime) -> Bundle:
    os.makedirs(path)
    shutil.copytree(rootfs, os.path.join(path, "rootfs"), symlinks=True)
    os.chmod(os.path.join(path, "rootfs"), 0o755)  # a temp dir is 0700: no way in for uid 1000
    rt("spec", "--bundle", path, check=True)
    return Bundle(str(path))


def wait_status(rt: Runtime, cid: str, want: str, timeout: float = 10) -> dict:
    deadline = time.time() + timeout
    while True:
        s = rt.state(cid)
        if s["status"] == want or time.time() > deadline:
            return s
        time.sleep(0.02)


def cgroup_dirs(cid: str) -> list[str]:
    rel = cgroups_path(cid).lstrip("/")
    out = []
    for h in os.listdir("/sys/fs/cgroup"):
        p = os.path.join("/sys/fs/cgroup", h, rel)
        if os.path.isdir(p):
            out.append(p)
    return out


# -- spec, run -------------------------------------------------------------------------------

def test_spec_writes_a_config_once(rt, tmp_path):
    d = tmp_path / "b"
    d.mkdir()
    rt("spec", "--bundle", d, check=True)
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["ociVersion"].startswith("1.") and cfg["root"]["path"] == "rootfs"
    again = rt("spec", "--bundle", d)
    assert again.returncode == 1 and "exists" in again.err


def test_run_true_and_exit_codes(rt, bundle):
    assert rt("run", "--bundle", bundle.args("/bin/true").write("t1"), "t1").returncode == 0
    r = rt("run", "--bundle", bundle.args("sh", "-c", "echo out; echo err >&2; exit 3").write("t2"), "t2")
    assert r.returncode == 3
    assert r.out == "out\n" and r.err == "err\n"
    # the container is gone after run: state, cgroups
    assert rt("state", "t2").returncode == 1
    assert cgroup_dirs("t2") == []


def test_run_killed_by_signal_reports_128_plus(rt, bundle):
    path = bundle.args("sleep", "100").write("k1")
    p = subprocess.Popen([rt.exe, "--root", rt.root, "run", "--bundle", path, "k1"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while time.time() < deadline and rt("state", "k1").returncode != 0:
            time.sleep(0.02)
        assert wait_status(rt, "k1", "running")["status"] == "running"
        rt("kill", "k1", "KILL", check=True)
        assert p.wait(timeout=20) == 137
    finally:
        p.kill()
        p.wait()
    assert rt("state", "k1").returncode == 1 and cgroup_dirs("k1") == []


def test_config_sections_reach_the_process(rt, bundle):
    c = bundle.config
    c["process"]["env"] = ["PATH=/bin", "FOO=bar"]
    c["process"]["cwd"] = "/work/dir"
    c["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5, 6], "umask": 0o077}
    c["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}]
    c["process"]["oomScoreAdj"] = 333
    c["hostname"] = "boxhost"
    c["domainname"] = "example.org"
    c["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    c["mounts"].append({"destination": "/data", "type": "bind", "source": "data",
                        "options": ["rbind", "ro"]})
    os.makedirs(os.path.join(bundle.path, "data"))
    with open(os.path.join(bundle.path, "data", "f"), "w") as f:
        f.write("from the host\n")
    script = ("echo $FOO; pwd; id -u; id -G; umask; ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj; "
              "hostname; cat /proc/sys/kernel/domainname; cat /proc/sys/net/ipv4/ip_forward; cat /data/f; "
              "touch /data/x 2>/dev/null || echo ro; touch /x 2>/dev/null || echo rootro; "
              "cat /proc/kcore | wc -c; ls /dev/null /dev/zero /dev/pts/ptmx >/dev/null && echo devs")
    r = rt("run", "--bundle", bundle.args("sh", "-c", script).write("cfg"), "cfg")
    assert r.returncode == 0, r.err
    assert r.out.split("\n")[:-1] == [
        "bar", "/work/dir", "1000", "1000 5 6", "0077", "123", "456", "333", "boxhost",
        "example.org", "1", "from the host", "ro", "rootro", "0", "devs"]


# -- the lifecycle --------------------------------------------------------------------------

def test_create_start_kill_delete(rt, bundle):
    path = bundle.args("sleep", "100").write("life")
    pidfile = os.path.join(rt.root, ".pid")
    rt("create", "--bundle", path, "--pid-file", pidfile, "life", check=True)
    s = rt.state("life")
    assert s["status"] == "created" and s["id"] == "life"
    assert s["bundle"] == path and s["rootfs"] == os.path.join(path, "rootfs")
    with open(pidfile) as f:
        assert int(f.read()) == s["pid"] > 0
    assert os.path.exists(f"/proc/{s['pid']}")
    rt("start", "life", check=True)
    assert rt.state("life")["status"] == "running"
    assert "running" in rt("list").out
    again = rt("start", "life")
    assert again.returncode == 1 and "running" in again.err
    r = rt("delete", "life")
    assert r.returncode == 1 and "not stopped" in r.err
    rt("kill", "life", "KILL", check=True)
    assert wait_status(rt, "life", "stopped")["status"] == "stopped"
    dirs = cgroup_dirs("life")
    assert dirs
    rt("delete", "life", check=True)
    gone = rt("state", "life")
    assert gone.returncode == 1 and "does not exist" in gone.err
    assert cgroup_dirs("life") == []
    assert not os.path.exists(os.path.join(rt.root, "life"))


def test_delete_of_a_created_container_and_force(rt, bundle):
    rt("create", "--bundle", bundle.args("sleep", "100").write("dc"), "dc", check=True)
    pid = rt.state("dc")["pid"]
    rt("delete", "dc", check=True)  # created: as runc, delete kills the waiting init
    assert not os.path.exists(os.path.join(rt.root, "dc"))
    deadline = time.time() + 5
    while time.time() < deadline and _alive(pid):
        time.sleep(0.02)
    assert not _alive(pid)
    rt("create", "--bundle", bundle.write("df"), "df", check=True)
    rt("start", "df", check=True)
    rt("delete", "--force", "df", check=True)
    assert cgroup_dirs("df") == [] and not os.path.exists(os.path.join(rt.root, "df"))
    assert rt("delete", "--force", "never-was").returncode == 0
    assert rt("delete", "never-was").returncode == 1


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_kill_all_pause_resume_ps_exec_update(rt, bundle):
    rt("create", "--bundle", bundle.args("sh", "-c", "sleep 100 & exec sleep 100").write("ops"), "ops",
       check=True)
    rt("start", "ops", check=True)
    pid = rt.state("ops")["pid"]
    deadline = time.time() + 5
    while time.time() < deadline:
        pids = json.loads(rt("ps", "--format", "json", "ops", check=True).out)
        if len(pids) >= 2:
            break
        time.sleep(0.02)
    assert pid in pids and len(pids) == 2
    assert str(pid) in rt("ps", "ops", check=True).out
    rt("pause", "ops", check=True)
    assert rt.state("ops")["status"] == "paused"
    assert rt("exec", "ops", "true").returncode == 1
    rt("resume", "ops", check=True)
    assert rt.state("ops")["status"] == "running"
    r = rt("exec", "ops", "sh", "-c", "echo in $(hostname); exit 4")
    assert r.returncode == 4 and r.out == "in layerbox\n"
    res = os.path.join(rt.root, ".res.json")
    with open(res, "w") as f:
        json.dump({"pids": {"limit": 42}}, f)
    rt("update", "--resources", res, "ops", check=True)
    with open(f"/sys/fs/cgroup/pids{cgroups_path('ops')}/pids.max") as f:
        assert f.read().strip() == "42"
    rt("kill", "--all", "ops", "KILL", check=True)
    assert wait_status(rt, "ops", "stopped")["status"] == "stopped"
    rt("delete", "ops", check=True)


# -- refusals and errors -----------------------------------------------------------------------

def test_unsupported_config_fails_at_create_naming_the_field(rt, bundle, tmp_path):
    bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/l.sock"}
    log = str(tmp_path / "log.json")
    r = rt("create", "--bundle", bundle.write("bad"), "bad", log=log)
    assert r.returncode == 1
    assert "linux.seccomp.listenerPath" in r.err
    with open(log) as f:
        entry = json.loads(f.read().splitlines()[-1])
    assert entry["level"] == "error" and "linux.seccomp.listenerPath" in entry["msg"] and entry["time"]
    # Without --log, runc's (logrus's) line on stderr
    r = rt("create", "--bundle", bundle.path, "bad")
    assert r.returncode == 1
    assert r.err.startswith('time="') and ' level=error msg="config.json: linux.seccomp.listenerPath' in r.err
    assert not os.path.exists(os.path.join(rt.root, "bad")) and cgroup_dirs("bad") == []


def test_a_failing_command_cleans_up(rt, bundle):
    r = rt("run", "--bundle", bundle.args("/nope").write("nope"), "nope")
    assert r.returncode == 127
    assert cgroup_dirs("nope") == [] and not os.path.exists(os.path.join(rt.root, "nope"))


def test_global_flags(rt):
    assert "layerbox-runtime version" in rt("--version").out
    r = rt("--systemd-cgroup", "list")
    assert r.returncode == 1 and "systemd" in r.err
    r = rt("bogus")
    assert r.returncode == 1


# -- concurrency -------------------------------------------------------------------------------

def test_two_containers_created_concurrently(rt, tmp_path, busybox_rootfs):
    bundles = [make_bundle(tmp_path / f"b{i}", busybox_rootfs, rt).args("sleep", "100") for i in range(2)]
    procs = [subprocess.Popen([rt.exe, "--root", rt.root, "create", "--bundle", b.write(f"cc{i}"), f"cc{i}"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for i, b in enumerate(bundles)]
    for p in procs:
        assert p.wait(timeout=60) == 0, p.stderr.read()
        p.stderr.close()
    states = [rt.state(f"cc{i}") for i in range(2)]
    assert [s["status"] for s in states] == ["created", "created"]
    assert states[0]["pid"] != states[1]["pid"]
    ids = rt("list", "--format", "json", check=True).out
    assert {s["id"] for s in json.loads(ids)} == {"cc0", "cc1"}
    for i in range(2):
        rt("delete", "--force", f"cc{i}", check=True)


# -- hooks -------------------------------------------------------------------------------------

def test_hooks_get_the_state_on_stdin(rt, bundle, tmp_path):
    out = tmp_path / "hooks"
    out.mkdir()

    def hook(name):
        return {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {out}/{name}"]}

    bundle.config["hooks"] = {"prestart": [hook("prestart")], "createRuntime": [hook("createRuntime")],
                              "poststart": [hook("poststart")], "poststop": [hook("poststop")]}
    bundle.config["annotations"] = {"org.example": "yes"}
    path = bundle.args("sleep", "100").write("hk")
    rt("create", "--bundle", path, "hk", check=True)
    pid = rt.state("hk")["pid"]
    for name in ("prestart", "createRuntime"):
        s = json.loads((out / name).read_text())
        assert s["id"] == "hk" and s["pid"] == pid and s["status"] == "created"
        assert s["bundle"] == path and s["annotations"] == {"org.example": "yes"}
    assert not (out / "poststart").exists()
    rt("start", "hk", check=True)
    assert json.loads((out / "poststart").read_text())["status"] == "running"
    rt("delete", "--force", "hk", check=True)
    assert json.loads((out / "poststop").read_text())["status"] == "stopped"


def test_a_failing_hook_fails_create(rt, bundle):
    bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/false"}]}
    r = rt("create", "--bundle", bundle.args("sleep", "100").write("hf"), "hf")
    assert r.returncode == 1 and "createRuntime hook /bin/false" in r.err
    assert not os.path.exists(os.path.join(rt.root, "hf")) and cgroup_dirs("hf") == []


# -- terminal ----------------------------------------------------------------------------------

def test_terminal_through_the_console_socket(rt, bundle, tmp_path):
    sock_path = str(tmp_path / "console.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(1)
    got = {}

    def accept():
        conn, _ = server.accept()
        with conn:
            fds = array.array("i")
            msg, anc, _, _ = conn.recvmsg(1024, socket.CMSG_SPACE(fds.itemsize))
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[:fds.itemsize])
            got["fd"] = fds[0]

    t = threading.Thread(target=accept)
    t.start()
    bundle.config["process"]["terminal"] = True
    path = bundle.args("sh", "-c", "tty; [ -t 0 ] && echo stdin-is-tty").write("tty")
    try:
        rt("create", "--bundle", path, "--console-socket", sock_path, "tty", check=True)
        t.join(10)
        master = got["fd"]
        rt("start", "tty", check=True)
        data = b""
        deadline = time.time() + 10
        while b"stdin-is-tty" not in data and time.time() < deadline:
            try:
                chunk = os.read(master, 1024)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        os.close(master)
        assert b"/dev/pts/0" in data and b"stdin-is-tty" in data
        wait_status(rt, "tty", "stopped")
        rt("delete", "tty", check=True)
    finally:
        server.close()
    no_socket = rt("create", "--bundle", path, "tty2")
    assert no_socket.returncode == 1 and "console socket" in no_socket.err


# -- nothing left -------------------------------------------------------------------------------

def test_nothing_left_after_delete(rt, bundle):
    path = bundle.args("sleep", "100").write("clean")
    rt("create", "--bundle", path, "clean", check=True)
    rt("start", "clean", check=True)
    pid = rt.state("clean")["pid"]
    assert cgroup_dirs("clean")
    rt("delete", "--force", "clean", check=True)
    with open("/proc/self/mountinfo") as f:
        assert path not in f.read()
    assert cgroup_dirs("clean") == []
    assert os.listdir(rt.root) == [n for n in os.listdir(rt.root) if n.startswith(".")]
    assert not _alive(pid)
