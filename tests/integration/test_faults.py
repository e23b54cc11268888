"""A store that heals after any crash: every command that publishes is killed (SIGKILL, by
LAYERBOX_FAULT) at every named point of its publishing; the next command that takes the store
lock must leave `system check` clean, and the command run again must succeed.

The figures of a run are printed (pytest -s) and recorded in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import Cli, tool
from layerbox.testing import make_rootfs, tar_of

pytestmark = pytest.mark.privileged

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "python", "layerbox")

# Points every publishing command passes (ImageStore._publish_layer and add_image_bytes).
PUBLISH = ["layer-staged", "layer-blob-published", "layer-published", "image-config-written",
           "image-written", "image-tagged"]
POINTS = {
    "commit": PUBLISH,
    "import": PUBLISH,
    "load": ["load-extracted", *PUBLISH],
    "pull": PUBLISH,
    # A build's intermediate images are untagged (the tag comes at the end, with `tag`); each
    # step publishes its layer and image together (ImageStore.add_step_image).
    "build": ["build-step-created", "build-step-ran", "step-image-staged", "step-image-named"],
    "create": ["create-named", "create-staged"],
    "rm": ["rm-moved", "rm-unnamed"],
}


def fault_points_in_code() -> set:
    found = set()
    for d, _dirs, files in os.walk(SRC):
        for f in files:
            if f.endswith(".py"):
                with open(os.path.join(d, f)) as src:
                    found |= set(re.findall(r'\bfault\("([a-z-]+)"\)', src.read()))
    return found


def test_every_fault_point_is_exercised():
    assert fault_points_in_code() == {p for ps in POINTS.values() for p in ps}


@pytest.fixture(scope="module")
def fstore(busybox_tar):
    base = tempfile.mkdtemp(prefix="layerbox-faults-")
    c = Cli(os.path.join(base, "store"))
    c("import", busybox_tar, "busybox:latest", check=True)
    c.base = base
    yield c
    for cid in c("ps", "-a", "-q", "--no-trunc").out.split():
        c("rm", "-f", cid)
    shutil.rmtree(base)


_n = [0]


def unique_tar(base: str) -> str:
    """A one-layer rootfs tar no other in the store equals."""
    _n[0] += 1
    d = tempfile.mkdtemp(dir=base)
    os.makedirs(os.path.join(d, "data"))
    with open(os.path.join(d, "data", "unique"), "w") as f:
        f.write(f"{os.getpid()}-{_n[0]}-{os.urandom(8).hex()}\n")
    path = d + ".tar"
    with open(path, "wb") as f:
        f.write(tar_of(d))
    shutil.rmtree(d)
    return path


def image_ids(c: Cli) -> set:
    return set(c("images", "-a", "-q", "--no-trunc").out.split())


def remove_images(c: Cli, ids) -> None:
    ids = set(ids)
    for _ in range(4):  # children before parents
        for i in list(ids):
            if c("rmi", "-f", i).returncode == 0 or c("image", "inspect", i).returncode != 0:
                ids.discard(i)
    assert not ids, ids


def check_clean(c: Cli, context: str) -> None:
    r = c("system", "check")
    assert r.returncode == 0 and r.out.strip() == "no problems found", f"{context}:\n{r.out}{r.err}"


class Scenario:
    """prepare() returns the argv of the command; cleanup() undoes what it made."""

    def __init__(self, c: Cli, registry=None):
        self.c = c
        self.registry = registry
        self.before = image_ids(c)
        self.made_containers: list = []

    def prepare(self, command: str) -> list:
        c, base = self.c, self.c.base
        if command == "commit":
            cid = c("run", "-d", "busybox", "sh", "-c", "head -c 64 /dev/urandom > /f").out.strip()
            c("wait", cid, check=True)
            self.made_containers.append(cid)
            return ["commit", cid, "faultimg:commit"]
        if command == "import":
            return ["import", unique_tar(base), "faultimg:import"]
        if command == "load":
            c("import", unique_tar(base), "faultsrc:load", check=True)
            path = os.path.join(base, "save.tar")
            c("save", "-o", path, "faultsrc:load", check=True)
            c("rmi", "faultsrc:load", check=True)  # its layer goes with it
            return ["load", "-i", path]
        if command == "pull":
            ref = f"{self.registry.host}/fault/img:latest"
            c("import", unique_tar(base), ref, check=True)
            c("push", ref, check=True)
            c("rmi", ref, check=True)
            return ["pull", ref]
        if command == "build":
            ctx = tempfile.mkdtemp(dir=base)
            with open(os.path.join(ctx, "Dockerfile"), "w") as f:
                f.write("FROM busybox\nRUN head -c 64 /dev/urandom > /f\n")
            return ["build", "--no-cache", "-q", "-t", "faultimg:build", ctx]
        if command == "create":
            return ["create", "--name", "faultc", "busybox", "true"]
        if command == "rm":
            cid = c("create", "--name", "faultrm", "busybox", "true").out.strip()
            self.made_containers.append(cid)
            return ["rm", cid]
        raise AssertionError(command)

    def rerun(self, command: str, argv: list):
        """The command again (for rm: the container is gone once its dir moved; what a user
        does next is reuse its name)."""
        if command == "rm":
            r = self.c("rm", argv[1])
            if r.returncode != 0:
                assert "No such container" in r.err, r.err
            return self.c("create", "--name", "faultrm", "busybox", "true")
        return self.c(*argv)

    def cleanup(self) -> None:
        c = self.c
        for cid in c("ps", "-a", "-q", "--no-trunc").out.split():
            c("rm", "-f", cid, check=True)
        remove_images(c, image_ids(c) - self.before)
        if self.registry is not None:
            pass


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    from test_registry import Registry

    tool("docker-registry")
    reg = Registry(str(tmp_path_factory.mktemp("fault-registry")))
    yield reg
    reg.stop()


FIGURES: dict = {"killed": 0, "problems_after_kill": 0, "broken": []}


@pytest.mark.slow
@pytest.mark.parametrize("command", list(POINTS))
def test_kill_at_every_fault_point(fstore, registry, command):
    c = fstore
    check_clean(c, "before")
    for point in POINTS[command]:
        s = Scenario(c, registry if command == "pull" else None)
        argv = s.prepare(command)
        r = c(*argv, env={"LAYERBOX_FAULT": point})
        assert r.returncode == -9, f"{command} at {point} was not killed: {r.returncode} {r.err}"
        FIGURES["killed"] += 1
        left = c("system", "check")
        FIGURES["problems_after_kill"] += max(0, len(left.out.splitlines()) - 1)
        r = s.rerun(command, argv)
        assert r.returncode == 0, f"{command} after a kill at {point}: {r.err}"
        check_clean(c, f"{command} killed at {point}, then run again (right after the kill:\n{left.out})")
        s.cleanup()
    check_clean(c, f"{command}: after cleaning up")
    print(f"\nfaults {command}: {len(POINTS[command])} points killed, store clean after each")


def test_orphans_are_reported_repaired_and_pruned(fstore):
    c = fstore
    root = c.root
    before = set(os.listdir(os.path.join(root, "layers")))
    r = c("import", unique_tar(c.base), "faultimg:orphan", env={"LAYERBOX_FAULT": "layer-published"})
    assert r.returncode == -9
    orphan = (set(os.listdir(os.path.join(root, "layers"))) - before).pop()
    r = c("system", "check")
    assert r.returncode == 1
    assert f"layer sha256:{orphan}: no image or container names it" in r.out
    assert "lease of a process that is gone" in r.out
    r = c("system", "check", "--repair")
    assert r.returncode == 0 and "(repaired)" in r.out, r.out
    assert not os.path.exists(os.path.join(root, "layers", orphan))
    check_clean(c, "after --repair")

    # Without a lease (a store of an older layerbox): prune collects it, not only rmi.
    r = c("import", unique_tar(c.base), "faultimg:orphan", env={"LAYERBOX_FAULT": "layer-published"})
    assert r.returncode == -9
    orphan = (set(os.listdir(os.path.join(root, "layers"))) - before).pop()
    shutil.rmtree(os.path.join(root, "leases"))
    r = c("image", "prune", "-f")  # dangling images only: every unreferenced layer goes too
    assert r.returncode == 0, r.err
    assert not os.path.exists(os.path.join(root, "layers", orphan))
    assert not os.path.exists(os.path.join(root, "blobs", "sha256", orphan))
    check_clean(c, "after prune")


def test_system_check_finds_damage(fstore):
    """A damaged blob, a tag to a missing image, a stale name, a staging dir of a dead process:
    each reported on its line; exit 1; --repair fixes what is safe and says what it did not."""
    c = fstore
    root = c.root
    img = c("import", unique_tar(c.base), "faultimg:damage").out.strip()
    layer = c("inspect", "--format", "{{index .RootFS.Layers 0}}", img).out.strip()
    blob = os.path.join(root, "blobs", "sha256", layer.split(":")[1])
    with open(blob, "rb") as f:
        data = f.read()
    with open(blob, "r+b") as f:
        f.seek(len(data) - 1)
        f.write(b"X" if data[-1:] != b"X" else b"Y")
    refs_path = os.path.join(root, "refs.json")
    with open(refs_path) as f:
        refs = f.read()
    with open(refs_path, "w") as f:
        f.write(refs.replace("{", '{"docker.io/library/ghost:latest": "sha256:' + "0" * 64 + '", ', 1))
    os.symlink("f" * 64, os.path.join(root, "names", "ghostname"))
    os.mkdir(os.path.join(root, "tmp", "layer-999999999-1-0123456789abcdef"))
    r = c("system", "check")
    assert r.returncode == 1
    assert f"blob {layer}: its content hashes to" in r.out
    assert "tag docker.io/library/ghost:latest: names image" in r.out
    assert "name ghostname: points at a container that does not exist" in r.out
    assert "staging of a process that is gone" in r.out
    r = c("system", "check", "--repair")
    assert r.returncode == 1, r.out  # the damaged blob needs a person
    assert "not repaired" in r.out and r.out.count("(repaired)") == 3, r.out
    r = c("system", "check")
    assert r.returncode == 1 and len(r.out.splitlines()) == 2, r.out  # the blob, and the summary
    with open(blob, "wb") as f:
        f.write(data)
    c("rmi", "faultimg:damage", check=True)
    check_clean(c, "after undoing the damage")


def test_system_check_sees_a_dead_monitor_and_stray_cgroup(fstore):
    c = fstore
    cid = c("run", "-d", "busybox", "sleep", "60").out.strip()
    state = os.path.join(c.root, "containers", cid, "state.json")
    with open(state) as f:
        mon = json.load(f)["MonitorPid"]
    os.kill(mon, 9)
    r = c("system", "check")
    assert r.returncode == 1 and f"container {cid[:12]}: state says running but its monitor" in r.out, r.out
    r = c("system", "check", "--repair")
    assert r.returncode == 0, r.out
    assert c("inspect", "--format", "{{.State.Status}}", cid).out.strip() == "exited"
    c("rm", cid, check=True)
    check_clean(c, "after the reconcile")

    # A cgroup of no container, and a mount under the store in the host's namespace.
    from layerbox.container.cgroups import CgroupLayout

    fake = "e" * 64
    dirs = [d for d in CgroupLayout.default().cgroup_for(fake)["dirs"].values()
            if os.path.isdir(os.path.dirname(d))]
    os.mkdir(dirs[0])
    point = os.path.join(c.root, "tmp", "stray-mount")
    os.mkdir(point)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", point], check=True)
    try:
        r = c("system", "check")
        assert r.returncode == 1
        assert f"cgroup {fake[:12]}: of a container that does not exist" in r.out, r.out
        assert f"mount {point}: a mount under the store" in r.out, r.out
        r = c("system", "check", "--repair")
        assert r.returncode == 0, r.out
        assert not os.path.isdir(dirs[0])
    finally:
        subprocess.run(["umount", point], capture_output=True)
        if os.path.isdir(dirs[0]):
            os.rmdir(dirs[0])
    check_clean(c, "after the repair of a stray cgroup and mount")


def test_system_prune_collects_orphan_layers_and_dead_staging(fstore, busybox_tar):
    """`system prune -a` (with nothing held by leases) removes an orphan layer, its blob and
    staging of a killed process; then busybox comes back for whatever runs next."""
    c = fstore
    root = c.root
    before = set(os.listdir(os.path.join(root, "layers")))
    r = c("import", unique_tar(c.base), "faultimg:sysprune", env={"LAYERBOX_FAULT": "layer-published"})
    assert r.returncode == -9
    orphan = (set(os.listdir(os.path.join(root, "layers"))) - before).pop()
    shutil.rmtree(os.path.join(root, "leases"))
    os.mkdir(os.path.join(root, "tmp", "commit-999999999-1-0123456789abcdef"))
    r = c("system", "prune", "-a", "-f")
    assert r.returncode == 0, r.err
    assert not os.path.exists(os.path.join(root, "layers", orphan))
    assert not os.path.exists(os.path.join(root, "blobs", "sha256", orphan))
    assert os.listdir(os.path.join(root, "tmp")) == []
    check_clean(c, "after system prune -a")
    c("import", busybox_tar, "busybox:latest", check=True)
