"""containerd drives layerbox-runtime as it drives runc: a private containerd (root, state and
sockets in a temp dir, stopped by pid), an image imported from the busybox root, and
`ctr run --runc-binary layerbox-runtime` through containerd's runc v2 shim."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
import time

import pytest

from layerbox.testing import tar_of

from conftest import tool
from test_runtime import runtime_path

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

IMAGE = "docker.io/library/lbrt-busybox:latest"


def docker_archive(rootfs: str, name: str) -> bytes:
    """A `docker save`-format archive of one layer, which `ctr images import` reads."""
    layer = tar_of(rootfs)
    lh = hashlib.sha256(layer).hexdigest()
    cfg = json.dumps({"architecture": "amd64", "os": "linux",
                      "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
                      "rootfs": {"type": "layers", "diff_ids": ["sha256:" + lh]}}).encode()
    ch = hashlib.sha256(cfg).hexdigest()
    manifest = json.dumps([{"Config": ch + ".json", "RepoTags": [name], "Layers": [lh + "/layer.tar"]}])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for n, data in ((ch + ".json", cfg), (lh + "/layer.tar", layer), ("manifest.json", manifest.encode())):
            ti = tarfile.TarInfo(n)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


class Ctr:
    def __init__(self, d: str):
        self.d = d
        self.sock = os.path.join(d, "containerd.sock")
        # the containerd namespace names the cgroup parent too: the test run's own
        self.ns = os.environ["LAYERBOX_CGROUP_PARENT"]

    def __call__(self, *args, check=True, timeout=60, **kw):
        r = subprocess.run([tool("ctr"), "--address", self.sock, "--namespace", self.ns, *map(str, args)],
                           capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)
        if check and r.returncode != 0:
            raise AssertionError(f"ctr {' '.join(map(str, args))}: exit {r.returncode}: {r.stderr}")
        return r

    def run_args(self, cid: str) -> list[str]:
        return ["--runc-binary", runtime_path(), "--runc-root", os.path.join(self.d, "runtime"),
                "--cgroup", f"/{self.ns}/{cid}"]


@pytest.fixture(scope="module")
def ctr(tmp_path_factory, busybox_rootfs):
    d = str(tmp_path_factory.mktemp("containerd"))
    cfg = os.path.join(d, "config.toml")
    with open(cfg, "w") as f:
        f.write(f'''version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  address = "{d}/debug.sock"
''')
    log = open(os.path.join(d, "containerd.log"), "wb")
    proc = subprocess.Popen([tool("containerd"), "--config", cfg], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL)
    c = Ctr(d)
    try:
        deadline = time.time() + 30
        while c("version", check=False).returncode != 0:
            assert proc.poll() is None and time.time() < deadline, "containerd did not start"
            time.sleep(0.1)
        archive = os.path.join(d, "image.tar")
        with open(archive, "wb") as f:
            f.write(docker_archive(busybox_rootfs, IMAGE))
        c("images", "import", archive, timeout=120)
        yield c
    finally:
        for cid in c("containers", "ls", "-q", check=False).stdout.split():
            c("task", "kill", "-s", "SIGKILL", cid, check=False)
            c("task", "delete", "-f", cid, check=False)
            c("containers", "delete", cid, check=False)
        c("images", "rm", IMAGE, check=False)
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        # the overlay snapshots containerd mounted for tasks are gone with them; anything
        # still mounted under its root is a leak
        with open("/proc/self/mountinfo") as f:
            left = [ln.split()[4] for ln in f if ln.split()[4].startswith(d)]
        for m in left:
            subprocess.run(["umount", "-l", m])
        assert left == []


def test_ctr_run_with_layerbox_runtime(ctr):
    r = ctr("run", "--rm", *ctr.run_args("r1"), IMAGE, "r1", "sh", "-c", "echo hello from ctr; exit 3",
            check=False)
    assert r.stdout == "hello from ctr\n", r.stderr
    assert r.returncode == 3


def test_ctr_detached_task_exec_ps_pause_kill_delete(ctr):
    ctr("run", "-d", *ctr.run_args("d1"), IMAGE, "d1", "sleep", "1000")
    tasks = ctr("task", "ls").stdout
    assert "d1" in tasks and "RUNNING" in tasks
    r = ctr("task", "exec", "--exec-id", "e1", "d1", "sh", "-c", "echo in $(cat /proc/1/comm); exit 5",
            check=False)
    assert r.stdout == "in sleep\n" and r.returncode == 5, r.stderr
    ps = ctr("task", "ps", "d1").stdout
    pid = ps.split("\n")[1].split()[0]
    assert pid.isdigit()
    ctr("task", "pause", "d1")
    assert "PAUSED" in ctr("task", "ls").stdout
    ctr("task", "resume", "d1")
    assert "RUNNING" in ctr("task", "ls").stdout
    ctr("task", "kill", "-s", "SIGKILL", "d1")
    deadline = time.time() + 20
    while "STOPPED" not in ctr("task", "ls").stdout and time.time() < deadline:
        time.sleep(0.05)
    assert "STOPPED" in ctr("task", "ls").stdout
    ctr("task", "delete", "d1")
    ctr("containers", "delete", "d1")
    assert not os.path.isdir(f"/sys/fs/cgroup/pids/{ctr.ns}/d1")
    assert os.listdir(os.path.join(ctr.d, "runtime", ctr.ns)) == []  # no state left for d1
