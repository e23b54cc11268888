"""layerbox-runtime: the namespaces a config.json may ask for beyond new ones of each type: a new
user namespace with its id mappings, a mount namespace joined by path, no mount namespace at all,
and the personality. Real bundles, as in test_runtime.py."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from test_runtime import cgroup_dirs, make_bundle, rt, wait_status  # noqa: F401 (rt: a fixture)

pytestmark = pytest.mark.privileged

HOST_ID = 100000  # the host's ids the container's 0..65535 map to


@pytest.fixture
def bundle(busybox_rootfs, rt):
    # Outside pytest's 0700 temp dirs: the root of a user namespace is one of the host's
    # unprivileged ids and must reach the rootfs (as under runc); /proc, /sys, /dev exist as
    # mount points, since it may not create them in a rootfs owned by the host's root.
    top = tempfile.mkdtemp(prefix="layerbox-rt-")
    os.chmod(top, 0o755)
    try:
        b = make_bundle(os.path.join(top, "bundle"), busybox_rootfs, rt)
        for d in ("proc", "sys", "dev", "tmp"):
            os.makedirs(os.path.join(b.path, "rootfs", d), exist_ok=True)
        yield b
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _user_namespace(config: dict) -> None:
    config["linux"]["namespaces"].append({"type": "user"})
    config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": 65536}]
    config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": 65536}]
    # `spec`'s config has a cgroup namespace: the cgroup mount needs one of the user namespace's
    assert any(n["type"] == "cgroup" for n in config["linux"]["namespaces"])


def _host_ids(pid: int) -> tuple[int, int]:
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["Uid"].split()[1]), int(fields["Gid"].split()[1])


def test_user_namespace_with_mappings(rt, bundle):
    _user_namespace(bundle.config)
    script = "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; echo x > /dev/null && echo null-ok; stat -c %U /bin"
    r = rt("run", "--bundle", bundle.args("sh", "-c", script).write("us"), "us")
    assert r.returncode == 0, r.err
    lines = [" ".join(line.split()) for line in r.out.splitlines()]
    assert lines[:4] == ["0", "0", f"0 {HOST_ID} 65536", f"0 {HOST_ID} 65536"]
    assert lines[4] == "null-ok"  # the host's /dev/null bound in (no mknod in a user namespace)
    assert lines[5] == "nobody"   # the rootfs's owner, the host's root, is not mapped
    assert cgroup_dirs("us") == [] and not os.path.exists(os.path.join(rt.root, "us"))


def test_user_namespace_seen_from_the_host_and_by_exec(rt, bundle):
    _user_namespace(bundle.config)
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    rt("create", "--bundle", bundle.args("sleep", "100").write("ux"), "ux", check=True)
    rt("start", "ux", check=True)
    pid = rt.state("ux")["pid"]
    assert _host_ids(pid) == (HOST_ID + 1000, HOST_ID + 1000)
    assert os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")
    # exec joins the same user namespace: its root is the host's HOST_ID
    r = rt("exec", "ux", "sh", "-c", "id -u; readlink /proc/self/ns/user; sleep 0")
    assert r.returncode == 0, r.err
    uid, userns = r.out.split()
    assert uid == "1000" and userns == os.readlink(f"/proc/{pid}/ns/user")
    rt("kill", "ux", "KILL", check=True)
    wait_status(rt, "ux", "stopped")
    rt("delete", "ux", check=True)


def test_user_namespace_refusals_name_the_field(rt, bundle):
    c = bundle.config
    c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": 10}]
    r = rt("create", "--bundle", bundle.write("ur1"), "ur1")
    assert r.returncode == 1 and "linux.uidMappings: id mappings need a new user namespace" in r.err
    del c["linux"]["uidMappings"]
    c["linux"]["namespaces"].append({"type": "user"})
    r = rt("create", "--bundle", bundle.write("ur2"), "ur2")
    assert r.returncode == 1 and "linux.uidMappings: needed with a new user namespace" in r.err
    # 0 of the namespace must be mapped: its root sets the container up
    c["linux"]["namespaces"].pop()
    _user_namespace(c)
    c["linux"]["uidMappings"] = [{"containerID": 1, "hostID": HOST_ID, "size": 10}]
    r = rt("create", "--bundle", bundle.write("ur4"), "ur4")
    assert r.returncode == 1 and "uidMappings must map it" in r.err
    assert not os.path.exists(os.path.join(rt.root, "ur4")) and cgroup_dirs("ur4") == []


def _sleeper_in(flag: str) -> subprocess.Popen:
    """A process in a new namespace of its own (util-linux's unshare), as the suite makes one."""
    return subprocess.Popen(["unshare", flag, "--fork", "sleep", "1000"], start_new_session=True)


def _new_ns(p: subprocess.Popen, ns: str) -> str:
    """The namespace unshare made (it is in it itself once it has unshared)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        link = os.readlink(f"/proc/{p.pid}/ns/{ns}")
        if link != os.readlink(f"/proc/self/ns/{ns}"):
            return link
        time.sleep(0.01)
    raise AssertionError(f"unshare made no {ns} namespace")


def test_mount_namespace_joined_by_path(rt, bundle):
    p = _sleeper_in("--mount")
    try:
        want = _new_ns(p, "mnt")
        ns = bundle.config["linux"]["namespaces"]
        bundle.config["linux"]["namespaces"] = [n for n in ns if n["type"] != "mount"] + [
            {"type": "mount", "path": f"/proc/{p.pid}/ns/mnt"}]
        with open(os.path.join(bundle.path, "rootfs", "marker"), "w") as f:
            f.write("the bundle's root\n")
        r = rt("run", "--bundle", bundle.args("sh", "-c", "readlink /proc/self/ns/mnt; cat /marker").write("mj"), "mj")
        assert r.returncode == 0, r.err
        assert r.out.splitlines() == [want, "the bundle's root"]
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def _mounts_under(path: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]


def test_no_mount_namespace(rt, bundle):
    c = bundle.config
    c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "mount"]
    rootfs = os.path.join(bundle.path, "rootfs")
    with open(os.path.join(rootfs, "marker"), "w") as f:
        f.write("the bundle's root\n")
    rt("create", "--bundle", bundle.args("sleep", "100").write("nm"), "nm", check=True)
    rt("start", "nm", check=True)
    pid = rt.state("nm")["pid"]
    # the host's mount namespace, the bundle's root by chroot, its mounts in ours under it
    assert os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt")
    assert os.path.realpath(f"/proc/{pid}/root") == os.path.realpath(rootfs)
    assert os.path.realpath(rootfs) + "/proc" in _mounts_under(os.path.realpath(rootfs))
    # exec enters the same root
    r = rt("exec", "nm", "cat", "/marker")
    assert r.returncode == 0 and r.out == "the bundle's root\n", r.err
    rt("kill", "nm", "KILL", check=True)
    wait_status(rt, "nm", "stopped")
    rt("delete", "nm", check=True)
    assert _mounts_under(os.path.realpath(rootfs)) == []
    # and `run`, with a failing command: nothing left either
    r = rt("run", "--bundle", bundle.args("/nope").write("nm2"), "nm2")
    assert r.returncode == 127
    assert _mounts_under(os.path.realpath(rootfs)) == []


def test_personality(rt, bundle):
    bundle.config["linux"]["personality"] = {"domain": "LINUX32"}
    r = rt("run", "--bundle", bundle.args("uname", "-m").write("p32"), "p32")
    assert r.returncode == 0 and r.out == "i686\n", r.err
    bundle.config["linux"]["personality"] = {"domain": "LINUX"}
    r = rt("run", "--bundle", bundle.write("p64"), "p64")
    assert r.returncode == 0 and r.out == os.uname().machine + "\n", r.err
    bundle.config["linux"]["personality"] = {"domain": "WINDOWS"}
    r = rt("create", "--bundle", bundle.write("pbad"), "pbad")
    assert r.returncode == 1 and "linux.personality.domain" in r.err
    bundle.config["linux"]["personality"] = {"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}
    r = rt("create", "--bundle", bundle.write("pbad2"), "pbad2")
    assert r.returncode == 1 and "linux.personality.flags" in r.err


def test_exec_has_the_personality_of_the_init(rt, bundle):
    bundle.config["linux"]["personality"] = {"domain": "LINUX32"}
    rt("create", "--bundle", bundle.args("sleep", "100").write("pe"), "pe", check=True)
    rt("start", "pe", check=True)
    r = rt("exec", "pe", "uname", "-m")
    assert r.returncode == 0 and r.out == "i686\n", r.err
    rt("kill", "pe", "KILL", check=True)
    wait_status(rt, "pe", "stopped")
    rt("delete", "pe", check=True)


def test_user_namespace_joined_by_path(rt, bundle):
    # A user namespace of its own, its maps written from here as the host's root (as a pod's
    # sandbox has one that containerd gives the pod's other containers by path).
    p = _sleeper_in("--user")
    try:
        want = _new_ns(p, "user")
        for f in ("uid_map", "gid_map"):
            with open(f"/proc/{p.pid}/{f}", "w") as m:
                m.write(f"0 {HOST_ID} 65536\n")
        c = bundle.config
        c["linux"]["namespaces"].append({"type": "user", "path": f"/proc/{p.pid}/ns/user"})
        c["process"]["user"] = {"uid": 1000, "gid": 1000}
        rt("create", "--bundle", bundle.args("sleep", "100").write("uj"), "uj", check=True)
        rt("start", "uj", check=True)
        pid = rt.state("uj")["pid"]
        assert os.readlink(f"/proc/{pid}/ns/user") == want
        assert _host_ids(pid) == (HOST_ID + 1000, HOST_ID + 1000)
        # the new namespaces are the joined one's: its root mounted the new pid namespace's /proc
        r = rt("exec", "uj", "sh", "-c", "id -u; readlink /proc/self/ns/user; cat /proc/self/uid_map; ls /proc/1/exe")
        assert r.returncode == 0, r.err
        lines = [" ".join(line.split()) for line in r.out.splitlines()]
        assert lines == ["1000", want, f"0 {HOST_ID} 65536", "/proc/1/exe"]
        rt("kill", "uj", "KILL", check=True)
        wait_status(rt, "uj", "stopped")
        rt("delete", "uj", check=True)
        assert cgroup_dirs("uj") == []
        # and `run`, the config's mappings given too (containerd sends them): not written again
        c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": 65536}]
        c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": 65536}]
        r = rt("run", "--bundle", bundle.args("id", "-u").write("uj2"), "uj2")
        assert r.returncode == 0 and r.out == "1000\n", r.err
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


@pytest.fixture
def shared_dir(bundle):
    """A host directory that is a shared mount of its own (this host's mounts are private), as
    a host path under systemd is."""
    d = os.path.join(os.path.dirname(bundle.path), "shared")
    os.makedirs(d)
    subprocess.run(["mount", "--bind", d, d], check=True)
    try:
        subprocess.run(["mount", "--make-shared", d], check=True)
        yield d
    finally:
        subprocess.run(["umount", "-R", "-l", d], check=True)


def _sys_admin(config: dict) -> None:
    caps = config["process"]["capabilities"]
    for k in ("bounding", "effective", "permitted"):
        caps[k] = caps[k] + ["CAP_SYS_ADMIN"]


def test_bind_propagation_rslave_by_default_as_runc(rt, bundle, shared_dir):
    # No rootfsPropagation: the namespace is rslave (runc's default), so a host mount made
    # under a shared bind source after the start reaches the container; its own do not leave.
    c = bundle.config
    _sys_admin(c)
    c["mounts"].append({"destination": "/shared", "type": "bind", "source": shared_dir,
                        "options": ["rbind", "rslave"]})
    rt("create", "--bundle", bundle.args("sleep", "100").write("ps"), "ps", check=True)
    rt("start", "ps", check=True)
    late = os.path.join(shared_dir, "late")
    os.makedirs(late)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", late], check=True)
    with open(os.path.join(late, "f"), "w") as f:
        f.write("from the host\n")
    r = rt("exec", "ps", "sh", "-c", "cat /shared/late/f; mkdir /shared/inner && mount -t tmpfs none /shared/inner && echo mounted")
    assert r.returncode == 0 and r.out == "from the host\nmounted\n", r.err
    assert os.path.join(shared_dir, "inner") not in _mounts_under(shared_dir)
    rt("kill", "ps", "KILL", check=True)
    wait_status(rt, "ps", "stopped")
    rt("delete", "ps", check=True)


def test_bind_propagation_rshared_with_a_shared_root(rt, bundle, shared_dir):
    # rootfsPropagation shared (what dockerd sets for an rshared bind): the bind stays a peer
    # of the host's mount, so what the container mounts there reaches the host; / is shared.
    c = bundle.config
    _sys_admin(c)
    c["linux"]["rootfsPropagation"] = "shared"
    c["mounts"].append({"destination": "/shared", "type": "bind", "source": shared_dir,
                        "options": ["rbind", "rshared"]})
    script = ("mkdir /shared/inner && mount -t tmpfs none /shared/inner && echo from the container > /shared/inner/f; "
              "awk '$5 == \"/\"' /proc/self/mountinfo | grep -c shared:")
    r = rt("run", "--bundle", bundle.args("sh", "-c", script).write("pr"), "pr")
    assert r.returncode == 0 and r.out == "1\n", r.err
    inner = os.path.join(shared_dir, "inner")
    assert inner in _mounts_under(shared_dir)
    with open(os.path.join(inner, "f")) as f:
        assert f.read() == "from the container\n"
    # nothing else of the container's reached the host (its /proc, /dev: the root was private)
    assert _mounts_under(os.path.join(bundle.path, "rootfs")) == []
