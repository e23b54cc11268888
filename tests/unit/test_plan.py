"""The launch plan's pure parts, without root: the cgroup layout on a temporary directory and
the environment and namespaces that run and exec share."""

from layerbox.container import cgroups, plan, process
from layerbox.container.process import DEFAULT_PATH


def _config(env=(), hostname="abc123", network="none"):
    return {"Config": {"Env": list(env), "Hostname": hostname},
            "HostConfig": {"NetworkMode": network}}


def test_cgroup_v2_layout_on_a_temporary_directory(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    layout = cgroups.CgroupLayout(base=str(tmp_path), parent="lb")
    cg_plan = layout.plan("c1", {"Memory": 64 << 20, "MemorySwap": 96 << 20, "PidsLimit": 20,
                              "NanoCpus": 1_500_000_000, "CpuShares": 512})
    assert cg_plan["version"] == 2
    assert cg_plan["dirs"] == {"unified": f"{tmp_path}/lb/c1"}
    assert dict((f, v) for _, f, v in cg_plan["settings"]) == {
        "memory.max": str(64 << 20), "memory.swap.max": str(32 << 20), "pids.max": "20",
        "cpu.max": "150000 100000", "cpu.weight": "20"}
    assert (tmp_path / "lb" / "cgroup.subtree_control").read_text() == "+memory +pids +cpu +cpuset"
    assert layout.cgroup_for("c1") == {"version": 2, "dirs": {"unified": f"{tmp_path}/lb/c1"}}


def test_cgroup_v1_layout_on_a_temporary_directory(tmp_path):
    layout = cgroups.CgroupLayout(base=str(tmp_path), parent="lb")
    cg_plan = layout.plan("c1", {"Memory": 64 << 20, "PidsLimit": -1, "CpusetCpus": "0"})
    assert cg_plan["version"] == 1
    assert set(cg_plan["dirs"]) == {"freezer", "pids", "memory", "devices", "cpuset"}
    assert cg_plan["dirs"]["memory"] == f"{tmp_path}/memory/lb/c1"
    settings = [(c, f, v) for c, f, v in cg_plan["settings"]]
    assert ("memory", "memory.limit_in_bytes", str(64 << 20)) in settings
    assert ("pids", "pids.max", "max") in settings
    # a parent the kernel did not fill in (no devices.list here): the container's own rules
    assert ("devices", "devices.deny", "a") in settings


def test_run_and_exec_share_one_environment():
    # docker's CreateDaemonEnvironment: PATH, HOSTNAME, TERM (tty) first, replaced where they
    # stand; the config's others appended; exec's -e on top; HOME last unless set
    cfg = _config(["A=1", "HOSTNAME=mine"])
    env = process.process_env(cfg, "/root", tty=False)
    assert env == [DEFAULT_PATH, "HOSTNAME=mine", "A=1", "HOME=/root"]
    assert process.process_env(cfg, "/root", tty=True)[2] == "TERM=xterm"
    exec_env = process.process_env(cfg, "/home/u", tty=True, overrides=["A=2", "HOME=/x", "TERM=dumb"])
    assert exec_env == [DEFAULT_PATH, "HOSTNAME=mine", "TERM=dumb", "A=2", "HOME=/x"]
    own_path = process.process_env(_config(["PATH=/bin"]), "/", tty=False)
    assert own_path == ["PATH=/bin", "HOSTNAME=abc123", "HOME=/"]


def test_namespaces_follow_the_network_mode():
    assert process.namespaces(_config()) == ["mount", "pid", "uts", "ipc", "cgroup", "net"]
    assert "net" not in process.namespaces(_config(network="host"))
