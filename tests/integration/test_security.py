"""What a container may do: Docker's default seccomp profile, --security-opt, capabilities,
--privileged, --device and --tmpfs, in real containers, through the CLI and the Python API."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

pytestmark = pytest.mark.privileged

# A static probe that makes the calls the default profile must refuse and prints what the
# kernel said (busybox has no keyctl, unshare -U is not in every build, and nothing calls
# perf_event_open).
PROBE_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int report(long rc) {
    if (rc >= 0) { puts("OK"); return 0; }
    puts(errno == EPERM ? "EPERM" : errno == ENOSYS ? "ENOSYS" : strerror(errno));
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "keyctl"))  /* KEYCTL_GET_KEYRING_ID of the session keyring */
        return report(syscall(SYS_keyctl, 0, -3, 0));
    if (!strcmp(argv[1], "userns"))
        return report(unshare(CLONE_NEWUSER));
    if (!strcmp(argv[1], "perf")) {
        struct perf_event_attr a;
        memset(&a, 0, sizeof a);
        a.size = sizeof a;
        a.type = PERF_TYPE_SOFTWARE;
        a.config = PERF_COUNT_SW_CPU_CLOCK;
        a.exclude_kernel = 1;
        return report(syscall(SYS_perf_event_open, &a, 0, -1, -1, 0));
    }
    return 2;
}
"""


@pytest.fixture(scope="module")
def probe_dir(tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("probe")
    src = d / "probe.c"
    src.write_text(PROBE_C)
    subprocess.run(["cc", "-static", "-O1", "-o", str(d / "probe"), str(src)], check=True)
    src.unlink()
    return str(d)


def status(out: str, key: str) -> str:
    for line in out.splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"{key} not in {out!r}")


def bounding_set() -> int:
    with open("/proc/self/status") as f:
        return int(status(f.read(), "CapBnd"), 16)


DOCKER_CAPS = 0xA80425FB


def test_default_container_runs_under_dockers_seccomp_profile(cli, busybox_image):
    r = cli("run", "--rm", "busybox", "cat", "/proc/self/status", check=True)
    assert status(r.out, "Seccomp") == "2"
    assert status(r.out, "NoNewPrivs") == "1"


def test_unconfined_and_privileged_containers_have_no_filter(cli, busybox_image):
    for opts in (["--security-opt", "seccomp=unconfined"], ["--privileged"]):
        r = cli("run", "--rm", *opts, "busybox", "cat", "/proc/self/status", check=True)
        assert status(r.out, "Seccomp") == "0", opts


def test_default_profile_refuses_keyring_user_namespaces_and_perf(cli, busybox_image, probe_dir):
    for call in ("keyctl", "userns", "perf"):
        r = cli("run", "--rm", "-v", f"{probe_dir}:/probe:ro", "busybox", "/probe/probe", call)
        assert r.out.strip() in ("EPERM", "ENOSYS"), (call, r.out, r.err)
    # The same call unconfined reaches the kernel's keyring: the filter is what refused it.
    r = cli("run", "--rm", "--security-opt", "seccomp=unconfined", "-v", f"{probe_dir}:/probe:ro",
            "busybox", "/probe/probe", "keyctl")
    assert r.out.strip() == "OK", (r.out, r.err)


def test_exec_gets_the_containers_filter(cli, busybox_image, probe_dir):
    cid = cli("run", "-d", "-v", f"{probe_dir}:/probe:ro", "busybox", "sleep", "60",
              check=True).out.strip()
    free = cli("run", "-d", "--security-opt", "seccomp=unconfined", "busybox", "sleep", "60",
               check=True).out.strip()
    try:
        r = cli("exec", cid, "cat", "/proc/self/status", check=True)
        assert status(r.out, "Seccomp") == "2"
        assert cli("exec", cid, "/probe/probe", "keyctl").out.strip() == "EPERM"
        r = cli("exec", free, "cat", "/proc/self/status", check=True)
        assert status(r.out, "Seccomp") == "0"
    finally:
        cli("rm", "-f", cid, free)


def test_init_and_build_steps_are_filtered_too(cli, busybox_image, tmp_path):
    r = cli("run", "--rm", "--init", "busybox", "sh", "-c",
            "grep Seccomp: /proc/1/status /proc/self/status", check=True)
    assert r.out.count("\t2") == 2, r.out
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nRUN grep Seccomp: /proc/self/status > /seccomp\n")
    cli("build", "-q", "-t", "sec-build", str(tmp_path), check=True)
    try:
        r = cli("run", "--rm", "sec-build", "cat", "/seccomp", check=True)
        assert status(r.out, "Seccomp") == "2"
    finally:
        cli("rmi", "sec-build")


def test_custom_profile_denies_mkdir_and_shows_in_inspect(cli, busybox_image, tmp_path):
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
    path = tmp_path / "no-mkdir.json"
    path.write_text(json.dumps(profile, indent=2))
    r = cli("create", "--security-opt", f"seccomp={path}", "busybox", "mkdir", "/made",
            check=True)
    cid = r.out.strip()
    try:
        doc = json.loads(cli("inspect", cid, check=True).out)[0]
        opts = doc["HostConfig"]["SecurityOpt"]
        assert len(opts) == 1 and opts[0].startswith("seccomp={")
        assert json.loads(opts[0][len("seccomp="):]) == profile
        r = cli("start", "-a", cid)
        assert r.returncode == 1
        assert "Operation not permitted" in r.err
    finally:
        cli("rm", cid)
    r = cli("run", "--rm", "busybox", "mkdir", "/made")
    assert r.returncode == 0, r.err


@pytest.mark.parametrize("text,message", [
    ("{not json", "decoding seccomp profile"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "NOPE"}]}',
     "unknown action 'NOPE'"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": '
     '"SCMP_ACT_ERRNO", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}',
     "index from 0 to 5"),
    ("[1, 2]", "not a JSON object"),
])
def test_bad_profiles_are_clear_errors(cli, busybox_image, tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    r = cli("run", "--rm", "--security-opt", f"seccomp={path}", "busybox", "true")
    assert r.returncode == 125
    assert message in r.err and str(path) in r.err, r.err
    assert "Traceback" not in r.err


def test_security_opt_forms(cli, busybox_image, tmp_path):
    r = cli("run", "--rm", "--security-opt", "seccomp=/no/such/profile.json", "busybox", "true")
    assert r.returncode == 125
    assert "opening seccomp profile (/no/such/profile.json) failed: no such file or directory" in r.err
    r = cli("run", "--rm", "--security-opt", "bogus=1", "busybox", "true")
    assert r.returncode == 125 and 'invalid --security-opt 2: "bogus=1"' in r.err
    r = cli("run", "--rm", "--security-opt", "seccomp", "busybox", "true")
    assert r.returncode == 125 and 'Invalid --security-opt: "seccomp"' in r.err
    # No new privileges is ours by default; docker's "no-new-privileges=false" turns it off
    # (and the filter, then installed before the capabilities go, is still there).
    r = cli("run", "--rm", "--security-opt", "no-new-privileges=false", "busybox", "cat",
            "/proc/self/status", check=True)
    assert status(r.out, "NoNewPrivs") == "0" and status(r.out, "Seccomp") == "2"
    r = cli("run", "--rm", "--security-opt", "no-new-privileges", "-u", "65534", "busybox", "cat",
            "/proc/self/status", check=True)
    assert status(r.out, "NoNewPrivs") == "1" and status(r.out, "Seccomp") == "2"


def test_label_and_apparmor_are_accepted_with_one_notice_where_no_lsm_applies(cli, busybox_image):
    if os.path.exists("/sys/fs/selinux/enforce") or os.path.exists("/sys/module/apparmor"):
        pytest.skip("this host has an LSM: those options are refused there")
    r = cli("run", "--rm", "--security-opt", "label=disable", "--security-opt",
            "apparmor=unconfined", "busybox", "true", check=True)
    assert r.err.count("WARNING") == 1, r.err
    assert "label=" in r.err and "apparmor=" in r.err and "no SELinux or AppArmor" in r.err


def test_cap_add_and_cap_drop(cli, busybox_image):
    r = cli("run", "--rm", "--cap-drop", "chown", "--cap-drop", "CAP_NET_RAW", "--cap-add",
            "sys_admin", "busybox", "cat", "/proc/self/status", check=True)
    want = (DOCKER_CAPS & ~(1 << 0) & ~(1 << 13)) | (1 << 21)
    assert int(status(r.out, "CapEff"), 16) == want
    r = cli("run", "--rm", "--cap-drop", "ALL", "busybox", "cat", "/proc/self/status", check=True)
    assert int(status(r.out, "CapEff"), 16) == 0
    r = cli("run", "--rm", "--cap-add", "ALL", "--cap-drop", "sys_admin", "busybox", "cat",
            "/proc/self/status", check=True)
    assert int(status(r.out, "CapEff"), 16) == bounding_set() & ~(1 << 21)
    # CAP_SYS_ADMIN brings the profile's mount and unshare rules with it, as in docker.
    r = cli("run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c",
            "mkdir -p /mnt && mount -t tmpfs none /mnt && grep -c ' /mnt ' /proc/mounts", check=True)
    assert r.out.strip() == "1"
    r = cli("run", "--rm", "--cap-add", "CAP_FOO", "busybox", "true")
    assert r.returncode == 125 and 'invalid CapAdd: unknown capability: "CAP_FOO"' in r.err
    cid = cli("create", "--cap-add", "net_admin", "--cap-drop", "mknod", "--cap-drop", "NET_ADMIN",
              "busybox", "true", check=True).out.strip()
    try:
        host = json.loads(cli("inspect", cid, check=True).out)[0]["HostConfig"]
        assert host["CapAdd"] == ["CAP_NET_ADMIN"] and host["CapDrop"] == ["CAP_MKNOD"]
        assert host["Privileged"] is False
    finally:
        cli("rm", cid)


def test_privileged(cli, busybox_image):
    r = cli("run", "--rm", "--privileged", "busybox", "sh", "-c",
            "cat /proc/self/status; ls /dev; mkdir -p /mnt && mount -t tmpfs none /mnt && echo mounted; "
            "grep ' /sys ' /proc/mounts; cat /proc/kcore >/dev/null 2>&1 & sleep 0.1; "
            "grep -c ' /proc/sys ' /proc/mounts || true", check=True)
    assert int(status(r.out, "CapEff"), 16) == bounding_set()
    assert status(r.out, "Seccomp") == "0"
    names = r.out.split()
    assert "loop-control" in names and "kmsg" in names  # host devices, absent by default
    assert "mounted" in r.out
    assert " sysfs rw," in r.out
    assert r.out.rstrip().endswith("0")  # /proc/sys not remounted read-only
    r = cli("run", "--rm", "busybox", "ls", "/dev", check=True)
    assert "loop-control" not in r.out.split()
    cid = cli("create", "--privileged", "busybox", "true", check=True).out.strip()
    try:
        assert json.loads(cli("inspect", cid).out)[0]["HostConfig"]["Privileged"] is True
    finally:
        cli("rm", cid)


def test_device(cli, busybox_image):
    r = cli("run", "--rm", "--device", "/dev/null:/dev/mynull", "busybox", "sh", "-c",
            "echo hi > /dev/mynull && stat -c '%F %t:%T' /dev/mynull", check=True)
    assert r.out.strip() == "character special file 1:3"
    # The device cgroup holds the rule's permissions: with "r" the write is refused, with
    # "rw" it goes through (CAP_SYSLOG: reading the kernel log needs it besides the rule).
    script = ("head -c 1 /dev/mykmsg >/dev/null && echo read; "
              "echo layerbox device test > /dev/mykmsg && echo wrote")
    r = cli("run", "--rm", "--cap-add", "syslog", "--device", "/dev/kmsg:/dev/mykmsg:r",
            "busybox", "sh", "-c", script)
    assert r.out.split() == ["read"], (r.out, r.err)
    assert "can't create /dev/mykmsg: Operation not permitted" in r.err
    r = cli("run", "--rm", "--cap-add", "syslog", "--device", "/dev/kmsg:/dev/mykmsg:rw",
            "busybox", "sh", "-c", script)
    assert r.out.split() == ["read", "wrote"], (r.out, r.err)
    # Without --device a node the container makes itself cannot be opened.
    r = cli("run", "--rm", "busybox", "sh", "-c", "mknod /k c 1 11 && head -c 1 /k")
    assert r.returncode != 0 and "Operation not permitted" in r.err
    cid = cli("create", "--device", "/dev/null:/dev/n:rw", "busybox", "true", check=True).out.strip()
    try:
        devs = json.loads(cli("inspect", cid).out)[0]["HostConfig"]["Devices"]
        assert devs == [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/n",
                         "CgroupPermissions": "rw"}]
    finally:
        cli("rm", cid)
    r = cli("run", "--rm", "--device", "/etc/hostname", "busybox", "true")
    assert r.returncode == 125 and "not a device node" in r.err
    r = cli("run", "--rm", "--device", "/dev/null:/dev/n:rwx", "busybox", "true")
    assert r.returncode == 125 and "invalid device mode: rwx" in r.err


def test_tmpfs(cli, busybox_image):
    r = cli("run", "--rm", "--read-only", "--tmpfs", "/run:size=1m,mode=700", "--tmpfs", "/scratch",
            "busybox", "sh", "-c", "grep -E ' /(run|scratch) ' /proc/mounts; touch /run/x",
            check=True)
    run = next(line for line in r.out.splitlines() if " /run " in line)
    assert run.startswith("tmpfs /run tmpfs rw,nosuid,nodev,noexec,")
    assert "size=1024k" in run and "mode=700" in run
    assert " /scratch " in r.out
    cid = cli("create", "--tmpfs", "/run:size=1m", "busybox", "true", check=True).out.strip()
    try:
        assert json.loads(cli("inspect", cid).out)[0]["HostConfig"]["Tmpfs"] == {"/run": "size=1m"}
    finally:
        cli("rm", cid)
    r = cli("run", "--rm", "--tmpfs", "/run:bogus", "busybox", "true")
    assert r.returncode == 125 and "invalid tmpfs option 'bogus' for /run" in r.err


def test_python_api(client, busybox_image, tmp_path):
    out = client.containers.run("busybox", ["cat", "/proc/self/status"], remove=True,
                                cap_add=["SYS_ADMIN"], cap_drop=["CHOWN"])
    caps = int(status(out.decode(), "CapEff"), 16)
    assert caps & (1 << 21) and not caps & 1
    assert status(out.decode(), "Seccomp") == "2"
    out = client.containers.run("busybox", ["cat", "/proc/self/status"], remove=True,
                                security_opt=["seccomp=unconfined"])
    assert status(out.decode(), "Seccomp") == "0"
    out = client.containers.run("busybox", ["sh", "-c", "grep ' /t ' /proc/mounts; ls /dev"],
                                remove=True, tmpfs={"/t": "size=1m"}, devices=["/dev/null:/dev/n2"])
    assert "tmpfs /t tmpfs" in out.decode() and "n2" in out.decode().split()
    out = client.containers.run("busybox", ["cat", "/proc/self/status"], remove=True,
                                privileged=True)
    assert status(out.decode(), "Seccomp") == "0"
    assert int(status(out.decode(), "CapEff"), 16) == bounding_set()
    c = client.containers.create("busybox", "true", privileged=True, cap_add=["net_admin"],
                                 security_opt=["no-new-privileges"], tmpfs={"/x": ""})
    try:
        h = c.attrs["HostConfig"]
        assert (h["Privileged"], h["CapAdd"], h["SecurityOpt"], h["Tmpfs"]) == (
            True, ["CAP_NET_ADMIN"], ["no-new-privileges"], {"/x": ""})
    finally:
        c.remove()
    import layerbox

    with pytest.raises(layerbox.errors.InvalidArgument, match="unknown capability"):
        client.containers.create("busybox", "true", cap_drop=["nope"])


def test_cgroup_v2_device_program_enforces_the_allowlist(tmp_path):
    """On pure v2 hosts the device rules are an eBPF program on the container's cgroup. Here
    (hybrid) the cgroup2 mount at /sys/fs/cgroup/unified takes one just the same: a process in
    a cgroup with docker's rules plus one of ours opens what they allow and nothing else."""
    from layerbox import _core

    unified = "/sys/fs/cgroup/unified"
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        unified = "/sys/fs/cgroup"
    if not os.path.exists(os.path.join(unified, "cgroup.procs")):
        pytest.skip("no cgroup2 hierarchy on this host")
    cg = os.path.join(unified, f"layerbox-devtest-{os.getpid()}")
    rules = ["c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 r"]
    for name, major, minor in (("kmsg", 1, 11), ("zero", 1, 5), ("null", 1, 3)):
        os.mknod(tmp_path / name, 0o600 | 0o020000, os.makedev(major, minor))
    _core.Cgroup({"version": 2, "dirs": {"unified": cg}, "devices": rules}).create()
    try:
        def in_cgroup(script):
            return subprocess.run(["sh", "-c", f"echo $$ > {cg}/cgroup.procs && {script}"],
                                  capture_output=True, text=True, cwd=tmp_path)
        r = in_cgroup("echo x > null && head -c 1 zero | wc -c")
        assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr
        r = in_cgroup(": < kmsg")
        assert r.returncode != 0 and "Operation not permitted" in r.stderr
        r = in_cgroup("echo x > zero")  # read-only rule: no write
        assert r.returncode != 0 and "Operation not permitted" in r.stderr
        r = in_cgroup("mknod blk b 7 0 && head -c 1 blk")  # mknod allowed, open not
        assert r.returncode != 0 and "Operation not permitted" in r.stderr
        assert os.path.exists(tmp_path / "blk")
        r = subprocess.run(["sh", "-c", ": < kmsg"], cwd=tmp_path)
        assert r.returncode == 0  # outside the cgroup the same node opens
    finally:
        _core.Cgroup({"version": 2, "dirs": {"unified": cg}}).destroy()
