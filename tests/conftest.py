"""Fixtures shared by all layerbox tests.

- A private store root for the whole run (LAYERBOX_ROOT), and a cgroup parent of its own
  (LAYERBOX_CGROUP_PARENT), so tests never touch a real store or each other's cgroups.
- The busybox image, built from the host's busybox-static and imported with `layerbox import`.
- Probing: tests marked `privileged` need root, namespaces, overlayfs and cgroups. They skip
  with the reason when the machine lacks them, unless LAYERBOX_MUST_WORK=1 (CI), where a
  would-be skip is a failure.
- A leak check at the end of the run: no mounts, cgroups, monitors or store entries left.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time

import pytest

from layerbox.testing import make_rootfs, tar_of

MUST_WORK = os.environ.get("LAYERBOX_MUST_WORK") == "1"
BUSYBOX = shutil.which("busybox") or "/bin/busybox"

# -- probing -----------------------------------------------------------------------------------

def _probe() -> str | None:
    """None when the machine can run containers, else why not."""
    if os.geteuid() != 0:
        return "needs root"
    if not os.path.exists(BUSYBOX):
        return "needs busybox-static (apt-get install busybox-static)"
    script = (
        "set -e; d=$(mktemp -d); mkdir $d/l $d/u $d/w $d/m; "
        "mount -t overlay overlay -o lowerdir=$d/l,upperdir=$d/u,workdir=$d/w $d/m; "
        "umount $d/m; rm -rf $d"
    )
    r = subprocess.run(["unshare", "--mount", "--pid", "--fork", "--uts", "--ipc", "--net",
                        "sh", "-c", script], capture_output=True, text=True)
    if r.returncode != 0:
        return f"needs namespaces and overlayfs ({r.stderr.strip() or r.returncode})"
    if not os.path.isdir("/sys/fs/cgroup") or not os.access("/sys/fs/cgroup", os.W_OK | os.X_OK):
        return "needs writable cgroups"
    try:
        import layerbox._core  # noqa: F401
    except ImportError as e:
        return f"the native core is not built ({e})"
    return None


_PROBE: list = []


def privileged_reason() -> str | None:
    if not _PROBE:
        _PROBE.append(_probe())
    return _PROBE[0]


def pytest_configure(config):
    os.environ.setdefault("LAYERBOX_CGROUP_PARENT", f"layerbox-test-{os.getpid()}")
    _private_network_namespace()


def _private_network_namespace() -> None:
    """The whole run (and every layerbox it starts) lives in a network namespace of its own
    with only lo up: containers' bridges, veths and nftables rules are made there, and no
    packet of a test can leave the machine. LAYERBOX_TEST_HOST_NETWORK=1 opts out."""
    if os.environ.get("LAYERBOX_TEST_HOST_NETWORK") == "1" or os.geteuid() != 0:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x40000000) != 0:  # CLONE_NEWNET
        if MUST_WORK:
            raise RuntimeError(f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}")
        return
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def network_leftovers() -> dict:
    """Links and nftables elements of containers and user networks in this namespace."""
    out = {}
    r = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True)
    links = [l.split(":")[1].strip().split("@")[0] for l in r.stdout.splitlines() if ":" in l]
    out["veths"] = [n for n in links if n.startswith("lbv")]
    out["bridges"] = [n for n in links if n.startswith("br-")]
    r = subprocess.run(["nft", "list", "table", "inet", "layerbox"], capture_output=True, text=True)
    out["port rules"] = [l.strip() for l in r.stdout.splitlines() if "elements" in l and " . " in l
                         and ":" in l]
    return out


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        for item in items:
            if "root" in item.keywords and "privileged" not in item.keywords:
                if MUST_WORK:
                    item.add_marker(pytest.mark.usefixtures("_must_be_root_failure"))
                else:
                    item.add_marker(pytest.mark.skip(reason="needs root"))
    reason = privileged_reason()
    if reason is None:
        return
    for item in items:
        if "privileged" in item.keywords:
            if MUST_WORK:
                item.add_marker(pytest.mark.usefixtures("_must_work_failure"))
            else:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def _must_be_root_failure():
    pytest.fail("LAYERBOX_MUST_WORK=1 but this test needs root")


@pytest.fixture
def _must_work_failure():
    pytest.fail(f"LAYERBOX_MUST_WORK=1 but this machine cannot run it: {privileged_reason()}")


# -- the CLI -----------------------------------------------------------------------------------

def layerbox_command() -> list[str]:
    """The installed `layerbox` launcher next to this interpreter, else `python -m layerbox`."""
    exe = os.path.join(sysconfig.get_path("scripts"), "layerbox")
    if os.access(exe, os.X_OK):
        return [exe]
    return [sys.executable, "-m", "layerbox"]


class Cli:
    """Runs the layerbox CLI against the test store."""

    def __init__(self, root: str):
        self.root = root
        self.cmd = layerbox_command()

    def env(self, extra=None) -> dict:
        e = dict(os.environ, LAYERBOX_ROOT=self.root)
        if extra:
            e.update(extra)
        return e

    def __call__(self, *args, input=None, check=False, timeout=120, env=None, **kw):
        r = subprocess.run([*self.cmd, *map(str, args)], input=input, capture_output=True,
                           timeout=timeout, env=self.env(env), **kw)
        r.out = r.stdout.decode(errors="replace") if isinstance(r.stdout, bytes) else r.stdout
        r.err = r.stderr.decode(errors="replace") if isinstance(r.stderr, bytes) else r.stderr
        if check and r.returncode != 0:
            raise AssertionError(f"layerbox {' '.join(map(str, args))} exited {r.returncode}\n"
                                 f"stdout: {r.out}\nstderr: {r.err}")
        return r

    def popen(self, *args, env=None, **kw):
        return subprocess.Popen([*self.cmd, *map(str, args)], env=self.env(env), **kw)


def tool(name: str) -> str:
    """The path of an outside tool a test needs; skips without it (fails under CI)."""
    path = shutil.which(name)
    if path is None:
        msg = f"needs {name} (apt-get install {name}; scripts/install.sh installs it)"
        pytest.fail(msg) if MUST_WORK else pytest.skip(msg)
    return path


# -- the store and the busybox image ----------------------------------------------------------

@pytest.fixture(scope="session")
def store_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("store"))
    os.environ["LAYERBOX_ROOT"] = root
    yield root


@pytest.fixture(scope="session")
def cli(store_root) -> Cli:
    return Cli(store_root)


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory) -> str:
    d = str(tmp_path_factory.mktemp("rootfs"))
    make_rootfs(d)
    return d


@pytest.fixture(scope="session")
def busybox_tar(busybox_rootfs, tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("tars") / "busybox.tar")
    with open(path, "wb") as f:
        f.write(tar_of(busybox_rootfs))
    return path


@pytest.fixture(scope="session")
def busybox_image(cli, busybox_tar) -> str:
    """`layerbox import busybox.tar busybox:latest`; returns the image ID."""
    if privileged_reason() is not None:
        pytest.skip(privileged_reason())
    r = cli("import", busybox_tar, "busybox:latest", check=True)
    return r.out.strip()


@pytest.fixture
def store2(tmp_path):
    """A second, empty store (another root), as on another machine; emptied afterwards."""
    c = Cli(str(tmp_path / "store2"))
    yield c
    for name in c("images", "-a", "-q", "--no-trunc").out.split():
        c("rmi", "-f", name)


@pytest.fixture(scope="session")
def client(store_root):
    import layerbox

    return layerbox.Client(root=store_root)


# -- leak check -------------------------------------------------------------------------------

def _cgroup_leftovers(parent: str) -> list[str]:
    out = []
    base = "/sys/fs/cgroup"
    try:
        hierarchies = [os.path.join(base, h) for h in os.listdir(base)]
    except OSError:
        return out
    for h in hierarchies + [base]:
        p = os.path.join(h, parent)
        if os.path.isdir(p):
            out += [os.path.join(p, c) for c in os.listdir(p) if os.path.isdir(os.path.join(p, c))]
    return out


def _mount_leftovers(root: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(root)]


def _live_leases(root: str) -> list[str]:
    """Layer leases still held by live processes (a publish never followed by its image)."""
    from layerbox import _core

    d = os.path.join(root, "leases")
    out = []
    for n in os.listdir(d) if os.path.isdir(d) else []:
        pid, _, start = n.partition("-")
        if pid.isdigit() and start.isdigit() and _core.process_start_time(int(pid)) == int(start):
            out.append(n)
    return out


def _monitors(root: str) -> list[str]:
    """Live monitors of this run's store (an exited one waiting for init to reap it does not
    count; the monitor names its container directory in its argv)."""
    r = subprocess.run(["pgrep", "-f", f"layerbox-shim {root}/"], capture_output=True, text=True)
    live = []
    for pid in r.stdout.split():
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    live.append(pid)
        except OSError:
            pass
    return live


@pytest.fixture(scope="session", autouse=True)
def leak_check(request):
    """At the end of the run, nothing of any container may be left on the machine."""
    yield
    root = os.environ.get("LAYERBOX_ROOT")
    parent = os.environ.get("LAYERBOX_CGROUP_PARENT", "")
    if privileged_reason() is not None:
        return
    # A run that never used the store (tests/runtime alone) has no root, but layerbox-runtime
    # made the cgroup parent for its containers' cgroupsPath: that is checked and removed too.
    store = bool(root) and os.path.isdir(root)
    deadline = time.time() + 10
    while time.time() < deadline:
        problems = {
            # (containers with devices of their own have their v1 devices cgroup beside it)
            "cgroups": _cgroup_leftovers(parent) + _cgroup_leftovers(parent + "-devices")
            if parent else [],
        }
        if store:
            problems.update({
                "mounts": _mount_leftovers(root),
                "monitors": _monitors(root),
                "containers": os.listdir(os.path.join(root, "containers"))
                if os.path.isdir(os.path.join(root, "containers")) else [],
                "staging": os.listdir(os.path.join(root, "tmp")) if os.path.isdir(os.path.join(root, "tmp")) else [],
                "leases": _live_leases(root),
                **(network_leftovers() if shutil.which("nft") else {}),
            })
        if not any(problems.values()):
            break
        time.sleep(0.2)
    # The test cgroup parents themselves go: they are ours.
    for h in os.listdir("/sys/fs/cgroup"):
        for p in (os.path.join("/sys/fs/cgroup", h, parent),
                  os.path.join("/sys/fs/cgroup", h, parent + "-devices")):
            if parent and os.path.isdir(p):
                try:
                    os.rmdir(p)
                except OSError:
                    pass
    if parent and os.path.isdir(os.path.join("/sys/fs/cgroup", parent)):
        try:
            os.rmdir(os.path.join("/sys/fs/cgroup", parent))
        except OSError:
            pass
    leaks = {k: v for k, v in problems.items() if v}
    if leaks:
        pytest.fail(f"left behind at the end of the test run: {leaks}", pytrace=False)
