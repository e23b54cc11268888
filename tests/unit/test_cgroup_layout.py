"""The cgroup layout and the limit files, without root: CgroupLayout pointed at a temporary
directory that looks like /sys/fs/cgroup (v1: a directory per controller; v2: one tree with
cgroup.controllers), and the core's Cgroup writing the values into it."""

from __future__ import annotations

import os

import pytest

from layerbox.container.cgroups import CgroupLayout

GIB = 1 << 30
LIMITS = {"Memory": GIB, "MemorySwap": 2 * GIB, "NanoCpus": 1_500_000_000, "CpuShares": 512,
          "CpusetCpus": "0", "PidsLimit": 100}


def v1_base(tmp_path):
    for ctl in ("freezer", "pids", "memory", "devices", "cpu", "cpuset"):
        os.makedirs(tmp_path / ctl)
    return str(tmp_path)


def v2_base(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    return str(tmp_path)


def test_v1_layout_puts_each_limit_in_its_controller(tmp_path):
    layout = CgroupLayout(base=v1_base(tmp_path), parent="lb-test")
    assert layout.version == 1
    cg_plan = layout.plan("c1", LIMITS)
    assert cg_plan["version"] == 1
    assert cg_plan["dirs"]["memory"] == f"{tmp_path}/memory/lb-test/c1"
    assert set(cg_plan["dirs"]) == {"freezer", "pids", "memory", "devices", "cpu", "cpuset"}
    s = {(c, f): v for c, f, v in cg_plan["settings"]}
    assert s[("memory", "memory.limit_in_bytes")] == str(GIB)
    assert s[("memory", "memory.memsw.limit_in_bytes")] == str(2 * GIB)
    assert s[("pids", "pids.max")] == "100"
    assert s[("cpu", "cpu.cfs_quota_us")] == "150000" and s[("cpu", "cpu.cfs_period_us")] == "100000"
    assert s[("cpu", "cpu.shares")] == "512"
    assert s[("cpuset", "cpuset.cpus")] == "0"
    # No devices cgroup parent with docker's rules here, so the container's own gets them.
    assert ("devices", "devices.deny") in s


def test_v1_layout_without_limits_joins_only_what_it_needs(tmp_path):
    cg_plan = CgroupLayout(base=v1_base(tmp_path), parent="p").plan("c2", {})
    assert set(cg_plan["dirs"]) == {"freezer", "pids", "memory", "devices"}
    assert not [x for x in cg_plan["settings"] if x[0] != "devices"]


def test_v2_layout_translates_to_unified_files(tmp_path):
    layout = CgroupLayout(base=v2_base(tmp_path), parent="lb-test")
    assert layout.version == 2
    cg_plan = layout.plan("c3", {**LIMITS, "PidsLimit": -1})
    assert cg_plan["dirs"] == {"unified": f"{tmp_path}/lb-test/c3"}
    s = {f: v for _, f, v in cg_plan["settings"]}
    assert s["memory.max"] == str(GIB)
    assert s["memory.swap.max"] == str(GIB)  # docker's MemorySwap counts memory too; v2's not
    assert s["pids.max"] == "max"
    assert s["cpu.max"] == "150000 100000"
    assert s["cpu.weight"] == str(1 + ((512 - 2) * 9999) // 262142)
    # v2 has no devices.allow: docker's rules travel to the core, which attaches an eBPF program
    assert "c 1:3 rwm" in cg_plan["devices"] and "a *:* rwm" not in cg_plan["devices"]
    # The parent was made and asked to delegate the controllers to its children.
    assert "+memory" in (tmp_path / "lb-test" / "cgroup.subtree_control").read_text()


def test_cgroup_for_names_the_same_directories_as_plan(tmp_path):
    layout = CgroupLayout(base=v2_base(tmp_path), parent="q")
    assert layout.cgroup_for("c4")["dirs"] == layout.plan("c4", {})["dirs"]


def test_core_writes_the_limit_files_of_a_layout(tmp_path):
    _core = pytest.importorskip("layerbox._core")
    layout = CgroupLayout(base=v2_base(tmp_path), parent="lb")
    cg_plan = layout.plan("c5", {"Memory": GIB, "PidsLimit": 7})
    cg_plan.pop("devices")  # a BPF program attaches only to a real cgroup (tests/integration)
    d = cg_plan["dirs"]["unified"]
    os.makedirs(d)
    for f in ("memory.max", "pids.max"):  # the kernel makes these; here the test does
        open(os.path.join(d, f), "w").close()
    _core.Cgroup(cg_plan).create()
    with open(os.path.join(d, "memory.max")) as m, open(os.path.join(d, "pids.max")) as p:
        assert (m.read(), p.read()) == (str(GIB), "7")


def test_core_names_the_file_it_cannot_write(tmp_path):
    _core = pytest.importorskip("layerbox._core")
    cg_plan = CgroupLayout(base=v2_base(tmp_path), parent="lb").plan("c6", {"PidsLimit": 7})
    cg_plan.pop("devices")
    with pytest.raises(OSError) as e:
        _core.Cgroup(cg_plan).create()  # a plain directory has no pids.max: the kernel would
    assert "pids.max" in str(e.value)


@pytest.mark.parametrize("version", [1, 2])
def test_no_swap_file_where_the_kernel_does_not_account_swap(tmp_path, version):
    """A kernel without swap accounting has no memory.memsw.* (v1) or memory.swap.max (v2) in
    its cgroups: the memory is limited without swap (dockerd's answer), never a write of a file
    that is not there. Our parent's cgroup is where it is looked for (a root has neither)."""
    base = v1_base(tmp_path) if version == 1 else v2_base(tmp_path)
    parent = os.path.join(base, "memory" if version == 1 else "", "lb-test")
    os.makedirs(parent)
    layout = CgroupLayout(base=base, parent="lb-test")
    assert not layout.swap_limit("c1")
    files = [f for _, f, _ in layout.plan("c1", LIMITS)["settings"]]
    assert ("memory.limit_in_bytes" if version == 1 else "memory.max") in files
    assert not {"memory.memsw.limit_in_bytes", "memory.swap.max"} & set(files)
    swap_file = "memory.memsw.limit_in_bytes" if version == 1 else "memory.swap.max"
    open(os.path.join(parent, swap_file), "w").close()
    assert layout.swap_limit("c1")
    assert swap_file in [f for _, f, _ in layout.plan("c1", LIMITS)["settings"]]
