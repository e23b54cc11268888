"""Resource limits through real cgroups (v1 on hybrid hosts like this one, v2 where pure)."""

from __future__ import annotations

import json
import os

import pytest

pytestmark = pytest.mark.privileged


def cgroup_file(cid: str, controller: str, name: str) -> str:
    parent = os.environ["LAYERBOX_CGROUP_PARENT"]
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return f"/sys/fs/cgroup/{parent}/{cid}/{name}"
    return f"/sys/fs/cgroup/{controller}/{parent}/{cid}/{name}"


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def test_memory_limit_oom_kill(cli, busybox_image):
    # A process that allocates 100 MB under a 32 MB limit: killed, 137, OOMKilled recorded.
    r = cli("run", "--name", "oom", "-m", "32m", "--memory-swap", "32m", "busybox", "sh", "-c",
            "x=$(head -c 104857600 /dev/zero | tr '\\0' a); echo survived ${#x}")
    try:
        assert r.returncode == 137, (r.out, r.err)
        assert "survived" not in r.out
        doc = json.loads(cli("inspect", "oom").out)[0]
        assert doc["State"]["OOMKilled"] is True
        assert doc["State"]["ExitCode"] == 137
        assert doc["HostConfig"]["Memory"] == 32 * 1024 * 1024
    finally:
        cli("rm", "oom")


def test_pids_limit_stops_a_fork_loop(cli, busybox_image):
    # Count forks until one fails; without the limit all 100 would succeed.
    loop = "i=0; while [ $i -lt 100 ]; do sleep 30 & i=$((i+1)); echo $i; done"
    r = cli("run", "--rm", "--pids-limit", "20", "busybox", "sh", "-c", loop, timeout=60)
    forks = [int(x) for x in r.out.split()]
    assert r.returncode != 0
    assert max(forks) < 20, forks
    assert "can't fork" in r.err or "Resource temporarily unavailable" in r.err, r.err


def test_limit_files_hold_the_values(cli, busybox_image):
    cid = cli("run", "-d", "-m", "64m", "--memory-swap", "128m", "--cpus", "0.5",
              "--cpu-shares", "512", "--cpuset-cpus", "0", "--pids-limit", "33",
              "busybox", "sleep", "100").out.strip()
    try:
        v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
        if v2:
            assert read(cgroup_file(cid, "", "memory.max")) == str(64 << 20)
            assert read(cgroup_file(cid, "", "memory.swap.max")) == str(64 << 20)
            assert read(cgroup_file(cid, "", "cpu.max")) == "50000 100000"
            assert read(cgroup_file(cid, "", "pids.max")) == "33"
        else:
            assert read(cgroup_file(cid, "memory", "memory.limit_in_bytes")) == str(64 << 20)
            assert read(cgroup_file(cid, "cpu", "cpu.cfs_quota_us")) == "50000"
            assert read(cgroup_file(cid, "cpu", "cpu.cfs_period_us")) == "100000"
            assert read(cgroup_file(cid, "cpu", "cpu.shares")) == "512"
            assert read(cgroup_file(cid, "cpuset", "cpuset.cpus")) == "0"
            assert read(cgroup_file(cid, "pids", "pids.max")) == "33"
            memsw = cgroup_file(cid, "memory", "memory.memsw.limit_in_bytes")
            if os.path.exists(memsw):
                assert read(memsw) == str(128 << 20)
        # inside, the container sees its own cgroup as the root (a cgroup namespace)
        r = cli("exec", cid, "cat", "/proc/self/cgroup")
        assert all(line.endswith(":/") for line in r.out.splitlines() if line), r.out
        d = json.loads(cli("inspect", cid).out)[0]["HostConfig"]
        assert (d["NanoCpus"], d["CpuShares"], d["CpusetCpus"], d["PidsLimit"]) == (
            500_000_000, 512, "0", 33)
    finally:
        cli("rm", "-f", cid)
    # the cgroup went with the container
    assert not os.path.exists(os.path.dirname(cgroup_file(cid, "pids", "pids.max")))


def test_cpu_limit_slows_a_busy_loop(cli, busybox_image):
    # With --cpus 0.2 a busy loop gets about a fifth of a CPU. Both loops run 1.5 s by
    # /proc/uptime's centiseconds, read by the shell itself (`date +%s` gave a loop of 1 to 2 s
    # depending on where in a second it began, and forked twice an iteration).
    cs = "$(( ${u%.*}${u#*.} ))"
    script = (f"read u _ < /proc/uptime; end=$(( {cs} + 150 )); i=0; "
              f"while read u _ < /proc/uptime && [ {cs} -lt $end ]; do i=$((i+1)); done; echo $i")
    free = int(cli("run", "--rm", "busybox", "sh", "-c", script).out.split()[-1])
    limited = int(cli("run", "--rm", "--cpus", "0.2", "busybox", "sh", "-c", script).out.split()[-1])
    assert limited < free * 0.5, (limited, free)


def test_bad_limits_are_refused(cli, busybox_image):
    r = cli("run", "--rm", "-m", "1m", "busybox", "true")
    assert r.returncode == 125 and "Minimum memory limit" in r.err
    r = cli("run", "--rm", "-m", "lots", "busybox", "true")
    assert r.returncode == 125 and "invalid size" in r.err
    r = cli("run", "--rm", "--memory-swap", "64m", "busybox", "true")
    assert r.returncode == 125
    r = cli("run", "--rm", "--restart", "sometimes", "busybox", "true")
    assert r.returncode == 125 and "restart policy" in r.err


def test_cpu_period_and_quota(cli, busybox_image):
    """--cpu-period/--cpu-quota (what `update` can set too), and docker's refusals."""
    cid = cli("run", "-d", "--cpu-period", "50000", "--cpu-quota", "25000", "busybox", "sleep", "100",
              check=True).out.strip()
    try:
        doc = json.loads(cli("inspect", cid).out)[0]["HostConfig"]
        assert (doc["CpuPeriod"], doc["CpuQuota"], doc["NanoCpus"]) == (50000, 25000, 0)
        if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            assert read(cgroup_file(cid, "", "cpu.max")) == "25000 50000"
        else:
            assert read(cgroup_file(cid, "cpu", "cpu.cfs_period_us")) == "50000"
            assert read(cgroup_file(cid, "cpu", "cpu.cfs_quota_us")) == "25000"
        # an update keeps to the same files, and a restart plans from the stored values
        cli("update", "--cpu-quota", "40000", cid, check=True)
        cli("restart", "-t", "0", cid, check=True)
        if not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            assert read(cgroup_file(cid, "cpu", "cpu.cfs_quota_us")) == "40000"
            assert read(cgroup_file(cid, "cpu", "cpu.cfs_period_us")) == "50000"
    finally:
        cli("rm", "-f", cid)
    r = cli("run", "--rm", "--cpus", "1", "--cpu-quota", "20000", "busybox", "true")
    assert r.returncode == 125 and "Nano CPUs and CPU Quota cannot both be set" in r.err
    r = cli("create", "--cpu-period", "10", "busybox", "true")
    assert r.returncode == 125 and "CPU cfs period can not be less than 1ms" in r.err
