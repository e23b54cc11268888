"""layerbox-runtime: the config.json sections and commands beyond the basic lifecycle (seccomp
from the config, capabilities set by set, --preserve-fds, events, exec's options, features),
and the sealed copy the container's init runs from. Real bundles, as in test_runtime.py."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from test_runtime import bundle, cgroup_dirs, rt, wait_status  # noqa: F401 (bundle, rt: fixtures)

pytestmark = pytest.mark.privileged


def _caps(status: str) -> dict:
    return {line.split(":")[0]: int(line.split()[1], 16) for line in status.splitlines()
            if line.startswith("Cap")}


CAP_CHOWN, CAP_KILL, CAP_NET_BIND_SERVICE, CAP_NET_RAW, CAP_SYS_ADMIN = 0, 5, 10, 13, 21


def test_seccomp_from_the_config(rt, bundle):
    # mkdir fails with EPERM (the default ERRNO's 1 here, errnoRet 38 for chmod), the rest runs
    c = bundle.config
    c["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["chmod", "fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        ],
    }
    c["root"]["readonly"] = False
    script = "mkdir /tmp/d 2>&1; chmod 600 /etc/passwd 2>&1; echo ran"
    r = rt("run", "--bundle", bundle.args("sh", "-c", script).write("sc"), "sc")
    assert r.returncode == 0, r.err
    lines = r.out.splitlines()
    assert "Operation not permitted" in lines[0]
    assert "not implemented" in lines[1].lower()
    assert lines[2] == "ran"
    # exec gets the same filter
    rt("create", "--bundle", bundle.args("sleep", "100").write("sc2"), "sc2", check=True)
    rt("start", "sc2", check=True)
    r = rt("exec", "sc2", "sh", "-c", "mkdir /tmp/e 2>&1; echo ran")
    assert "Operation not permitted" in r.out and r.out.endswith("ran\n")
    rt("kill", "sc2", "KILL", check=True)
    wait_status(rt, "sc2", "stopped")
    rt("delete", "sc2", check=True)


def test_seccomp_refusals_name_the_field(rt, bundle):
    bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                                         "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}
    r = rt("create", "--bundle", bundle.write("n1"), "n1")
    assert r.returncode == 1 and "linux.seccomp.syscalls[0].action" in r.err
    bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]}
    r = rt("create", "--bundle", bundle.write("n2"), "n2")
    assert r.returncode == 1 and "linux.seccomp.flags" in r.err
    assert not os.path.exists(os.path.join(rt.root, "n1")) and cgroup_dirs("n2") == []


def test_capabilities_set_by_set_and_kept_for_a_user(rt, bundle):
    c = bundle.config
    c["process"]["user"] = {"uid": 1000, "gid": 1000}
    c["process"]["noNewPrivileges"] = False
    c["process"]["capabilities"] = {
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    }
    r = rt("run", "--bundle", bundle.args("cat", "/proc/self/status").write("caps"), "caps")
    assert r.returncode == 0, r.err
    caps = _caps(r.out)
    bit = lambda *n: sum(1 << x for x in n)  # noqa: E731
    # after exec of a file without capabilities: ambient becomes permitted and effective
    assert caps["CapBnd"] == bit(CAP_CHOWN, CAP_KILL, CAP_NET_BIND_SERVICE, CAP_NET_RAW)
    assert caps["CapInh"] == bit(CAP_NET_BIND_SERVICE)
    assert caps["CapAmb"] == bit(CAP_NET_BIND_SERVICE)
    assert caps["CapPrm"] == caps["CapEff"] == bit(CAP_NET_BIND_SERVICE)
    # root: the kernel gives an exec'ing root the whole bounding set (as under runc)
    c["process"]["user"] = {"uid": 0, "gid": 0}
    r = rt("run", "--bundle", bundle.write("caps2"), "caps2")
    caps = _caps(r.out)
    assert caps["CapPrm"] == caps["CapEff"] == caps["CapBnd"] == bit(CAP_CHOWN, CAP_KILL, CAP_NET_BIND_SERVICE, CAP_NET_RAW)
    assert caps["CapBnd"] & (1 << CAP_SYS_ADMIN) == 0


def test_preserve_fds(rt, bundle, tmp_path):
    path = tmp_path / "passed"
    path.write_text("through fd 3\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        r = rt("run", "--preserve-fds", "1", "--bundle",
               bundle.args("sh", "-c", "cat <&3; ls /proc/self/fd").write("pf"), "pf",
               pass_fds=(3,), preexec_fn=lambda: os.dup2(fd, 3))
    finally:
        os.close(fd)
    assert r.returncode == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "through fd 3"
    assert sorted(lines[1:]) == ["0", "1", "2", "3", "4"]  # 4: ls's own directory; nothing else
    bad = rt("run", "--preserve-fds", "x", "--bundle", bundle.path, "pf2")
    assert bad.returncode == 1 and "preserve-fds" in bad.err


def test_events_stats(rt, bundle):
    rt("create", "--bundle", bundle.args("sleep", "100").write("ev"), "ev", check=True)
    rt("start", "ev", check=True)
    e = json.loads(rt("events", "--stats", "ev", check=True).out)
    assert e["type"] == "stats" and e["id"] == "ev"
    assert e["data"]["pids"]["current"] == 1
    assert e["data"]["memory"]["usage"]["usage"] > 0
    assert "total" in e["data"]["cpu"]["usage"]
    # the stream: one stats event at once, and the end when the container stops
    p = subprocess.Popen([rt.exe, "--root", rt.root, "events", "--interval", "1s", "ev"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(p.stdout.readline())
        assert first["type"] == "stats"
        rt("kill", "ev", "KILL", check=True)
        p.wait(timeout=30)
        assert p.returncode == 0
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
        p.stderr.close()
    rt("delete", "ev", check=True)
    r = rt("events", "--stats", "ev")
    assert r.returncode == 1 and "does not exist" in r.err


def test_exec_detach_pid_file_and_process(rt, bundle, tmp_path):
    rt("create", "--bundle", bundle.args("sleep", "100").write("ex"), "ex", check=True)
    rt("start", "ex", check=True)
    pidfile = str(tmp_path / "exec.pid")
    r = rt("exec", "-d", "--pid-file", pidfile, "ex", "sleep", "50")
    assert r.returncode == 0, r.err
    with open(pidfile) as f:
        pid = int(f.read())
    assert pid in json.loads(rt("ps", "--format", "json", "ex", check=True).out)
    proc = dict(bundle.config["process"], args=["sh", "-c", "echo $WHO; id -u"], env=["WHO=process.json"],
                user={"uid": 1000, "gid": 1000})
    pj = tmp_path / "process.json"
    pj.write_text(json.dumps(proc))
    r = rt("exec", "--process", str(pj), "ex")
    assert r.returncode == 0 and r.out == "process.json\n1000\n", r.err
    rt("kill", "ex", "KILL", check=True)
    wait_status(rt, "ex", "stopped")
    rt("delete", "ex", check=True)


def test_the_init_runs_from_a_sealed_copy(rt, bundle):
    rt("create", "--bundle", bundle.args("sleep", "100").write("seal"), "seal", check=True)
    pid = rt.state("seal")["pid"]
    exe = os.readlink(f"/proc/{pid}/exe")
    assert exe.startswith("/memfd:layerbox-runtime"), exe
    with pytest.raises(OSError):
        os.open(f"/proc/{pid}/exe", os.O_WRONLY)
    rt("delete", "--force", "seal", check=True)


def test_features_and_version(rt):
    f = json.loads(rt("features", check=True).out)
    assert f["linux"]["seccomp"]["enabled"] is True
    assert "SCMP_ACT_ERRNO" in f["linux"]["seccomp"]["actions"]
    assert "CAP_SYS_ADMIN" in f["linux"]["capabilities"]


def test_start_container_hook_runs_inside_with_the_state(rt, bundle):
    c = bundle.config
    c["root"]["readonly"] = False
    # the path resolves in the container's root, the hook's output lands in it
    c["hooks"] = {"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "cat > /tmp/hook-state; hostname >> /tmp/hook-state"]}]}
    rt("create", "--bundle", bundle.args("sleep", "100").write("sch"), "sch", check=True)
    assert not os.path.exists(os.path.join(bundle.path, "rootfs", "tmp", "hook-state"))
    rt("start", "sch", check=True)
    with open(os.path.join(bundle.path, "rootfs", "tmp", "hook-state")) as f:
        state_text, host = f.read().rsplit("}", 1)
    state = json.loads(state_text + "}")
    assert state["id"] == "sch" and state["pid"] == rt.state("sch")["pid"]
    assert host.strip() == "layerbox"  # the container's uts namespace
    rt("delete", "--force", "sch", check=True)
    c["hooks"] = {"startContainer": [{"path": "/bin/false"}]}
    rt("create", "--bundle", bundle.write("sch2"), "sch2", check=True)
    r = rt("start", "sch2")
    assert r.returncode == 1 and "startContainer hook /bin/false" in r.err


def test_create_container_hook_runs_in_the_container_before_pivot_root(rt, bundle, tmp_path):
    # The path resolves in the runtime's root (/bin/sh of the host), in the container's mount
    # namespace with its mounts made: its /proc is mounted under the rootfs already.
    out = tmp_path / "hook-out"
    rootfs = os.path.join(bundle.path, "rootfs")
    script = (f"{{ cat; echo; readlink /proc/self/ns/mnt; "
              f"grep -c ' {rootfs}/proc ' /proc/self/mountinfo; }} > {out}")
    bundle.config["hooks"] = {"createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]}
    rt("create", "--bundle", bundle.args("sleep", "100").write("cch"), "cch", check=True)
    state_text, mnt_ns, proc_mounts = out.read_text().splitlines()
    state = json.loads(state_text)
    pid = rt.state("cch")["pid"]
    assert state["id"] == "cch" and state["pid"] == pid and state["status"] == "created"
    assert mnt_ns == os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    assert int(proc_mounts) >= 1
    rt("start", "cch", check=True)
    assert rt.state("cch")["status"] == "running"
    rt("delete", "--force", "cch", check=True)
    # A failing one fails create, and nothing of the container is left
    bundle.config["hooks"] = {"createContainer": [{"path": "/bin/false"}]}
    r = rt("create", "--bundle", bundle.write("cch2"), "cch2")
    assert r.returncode == 1 and "createContainer hook /bin/false" in r.err
    assert not os.path.exists(os.path.join(rt.root, "cch2")) and cgroup_dirs("cch2") == []


def test_exec_preserve_fds(rt, bundle, tmp_path):
    rt("create", "--bundle", bundle.args("sleep", "100").write("epf"), "epf", check=True)
    rt("start", "epf", check=True)
    path = tmp_path / "passed"
    path.write_text("through fd 3 and 4\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        r = rt("exec", "--preserve-fds", "2", "epf", "sh", "-c", "cat <&4; ls /proc/self/fd",
               pass_fds=(3, 4), preexec_fn=lambda: (os.dup2(fd, 3), os.dup2(fd, 4)))
    finally:
        os.close(fd)
    assert r.returncode == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "through fd 3 and 4"
    assert sorted(lines[1:]) == ["0", "1", "2", "3", "4", "5"]  # 5: ls's own directory
    r = rt("exec", "--preserve-fds", "3", "epf", "true", pass_fds=(3, 4),
           preexec_fn=lambda: (os.dup2(1, 3), os.dup2(1, 4)))
    assert r.returncode == 1 and "fd 5 is not open" in r.err
    rt("delete", "--force", "epf", check=True)


def test_delete_removes_a_temporary_state_file_left_behind(rt, bundle):
    rt("create", "--bundle", bundle.args("sleep", "100").write("tmpf"), "tmpf", check=True)
    # what write_file_atomic leaves when the runtime is killed between write and rename
    with open(os.path.join(rt.root, "tmpf", "state.json.tmp.4242"), "w") as f:
        f.write("{}")
    rt("delete", "--force", "tmpf", check=True)
    assert not os.path.exists(os.path.join(rt.root, "tmpf"))


def test_the_resources_dockerd_sends_for_every_container(rt, bundle):
    # blockIO.weight 0 (no weight: the kernel's range is 10-1000; this kernel has no
    # blkio.weight file at all), swappiness -1 as an unsigned, disableOOMKiller false
    bundle.config["linux"]["resources"].update({
        "blockIO": {"weight": 0},
        "memory": {"swappiness": 18446744073709551615, "disableOOMKiller": False},
    })
    r = rt("run", "--bundle", bundle.args("true").write("dk"), "dk")
    assert r.returncode == 0, r.err
