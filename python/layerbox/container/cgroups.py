"""Where a container's cgroup lives (v1: one directory per controller; v2: one unified one), and
the cgroup part of its launch plan (limits as files and values).

Every command that touches a running container reads this layout (freeze state, signals,
pids); only a start plans limits, so docker's device rules are loaded there.
"""

from __future__ import annotations

import os


# The swap limit's file (v1, v2): absent where the kernel does not account swap.
_SWAP_FILES = ("memory.memsw.limit_in_bytes", "memory.swap.max")


class CgroupLayout:
    """Where container cgroups go: v1 (one hierarchy per controller under /sys/fs/cgroup/<ctl>)
    or v2 (one unified tree). ``base`` is normally /sys/fs/cgroup; tests/unit/test_plan.py
    points it at a temporary directory."""

    _cached: dict = {}

    def __init__(self, base: str = "/sys/fs/cgroup", parent: str = "layerbox"):
        self.base = base
        self.parent = parent
        self.version = 2 if os.path.exists(os.path.join(base, "cgroup.controllers")) else 1

    @classmethod
    def default(cls) -> "CgroupLayout":
        key = os.environ.get("LAYERBOX_CGROUP_PARENT", "layerbox")
        if key not in cls._cached:
            cls._cached[key] = cls(parent=key)
        return cls._cached[key]

    def plan(self, cid: str, host: dict, device_rules=()) -> dict:
        """The cgroup part of a plan: directories and the limit files with their values.
        `device_rules` are the container's own on top of docker's ("a *:* rwm": every device)."""
        from layerbox.container.security import DEVICE_RULES

        settings = []
        ctls, limits = self.limit_settings(host)
        if host.get("MemorySwap") and not self.swap_limit(cid):
            # a kernel that does not account swap has no such file: memory limited without
            # swap, as dockerd does (which says so when the container is made)
            limits = [s for s in limits if s[1] not in _SWAP_FILES]
        if self.version == 1:
            ctls = ["freezer", "pids", "memory", "devices", *ctls]  # the limits add cpu, cpuset
            dirs = {c: f"{self.base}/{c}/{self.parent}/{cid}" for c in ctls}
            if device_rules:
                # A v1 child never gets more than its parent, and ours holds docker's rules:
                # a container with devices of its own (or all, --privileged) lives under an
                # unrestricted sibling parent and writes its rules itself.
                dirs["devices"] = self._custom_devices_dir(cid)
                if "a *:* rwm" not in device_rules:
                    settings.append(["devices", "devices.deny", "a"])
                    settings += [["devices", "devices.allow", r]
                                 for r in (*DEVICE_RULES, *device_rules)]
            elif not self._devices_parent_ready():
                settings.append(["devices", "devices.deny", "a"])
                settings += [["devices", "devices.allow", r] for r in DEVICE_RULES]
            settings += limits
        else:
            self._enable_v2_controllers()
            dirs = {"unified": f"{self.base}/{self.parent}/{cid}"}
            settings += limits
            if "a *:* rwm" not in device_rules:
                # No devices.allow in v2: the core attaches an eBPF program with the rules.
                return {"version": 2, "dirs": dirs, "settings": settings,
                        "devices": [*DEVICE_RULES, *device_rules]}
        return {"version": self.version, "dirs": dirs, "settings": settings}

    # The HostConfig fields limit_settings turns into cgroup files (what `update` can change).
    LIMITS = ("Memory", "MemorySwap", "NanoCpus", "CpuShares", "CpuPeriod", "CpuQuota",
              "CpusetCpus", "PidsLimit")

    def limit_settings(self, host: dict, fields=LIMITS) -> tuple[list, list]:
        """(the v1 controllers the limits need, [controller, file, value] settings) for the
        `fields` of HostConfig that are set: a start's plan asks for all of them, an update
        for those it changes. An unset field (0) writes nothing, the cgroup's default: no
        limit; -1 is written as "no limit" (to lift one that was set)."""
        ctls, out = [], []
        memory, memswap = host.get("Memory") or 0, host.get("MemorySwap") or 0
        nano, shares = host.get("NanoCpus") or 0, host.get("CpuShares") or 0
        period, quota = host.get("CpuPeriod") or 0, host.get("CpuQuota") or 0
        cpuset, pids = host.get("CpusetCpus") or "", host.get("PidsLimit")
        want = set(fields)
        v1 = self.version == 1
        mem = "memory" if v1 else "unified"
        if "Memory" in want and memory:
            out.append([mem, "memory.limit_in_bytes" if v1 else "memory.max", str(memory)])
        if "MemorySwap" in want and memswap:
            if v1:
                out.append(["memory", "memory.memsw.limit_in_bytes", str(memswap)])
            else:
                out.append(["unified", "memory.swap.max",
                            "max" if memswap < 0 else str(max(memswap - memory, 0))])
        if "PidsLimit" in want and pids:
            out.append(["pids" if v1 else "unified", "pids.max", "max" if pids < 0 else str(pids)])
        cpu = "cpu" if v1 else "unified"
        if "NanoCpus" in want and nano:
            ctls.append("cpu")
            if v1:
                out.append(["cpu", "cpu.cfs_period_us", "100000"])
                out.append(["cpu", "cpu.cfs_quota_us", str(nano * 100000 // 10**9)])
            else:
                out.append(["unified", "cpu.max", f"{nano * 100000 // 10**9} 100000"])
        if ("CpuPeriod" in want and period) or ("CpuQuota" in want and quota):
            ctls.append("cpu")
            if v1:
                if period:
                    out.append(["cpu", "cpu.cfs_period_us", str(period)])
                if quota:
                    out.append(["cpu", "cpu.cfs_quota_us", str(quota if quota > 0 else -1)])
            else:
                out.append(["unified", "cpu.max",
                            f"{quota if quota > 0 else 'max'} {period or 100000}"])
        if "CpuShares" in want and shares:
            ctls.append("cpu")
            out.append([cpu, "cpu.shares" if v1 else "cpu.weight",
                        str(shares) if v1 else str(1 + ((shares - 2) * 9999) // 262142)])
        if "CpusetCpus" in want and cpuset:
            ctls.append("cpuset")
            out.append(["cpuset" if v1 else "unified", "cpuset.cpus", cpuset])
        return list(dict.fromkeys(ctls)), out

    def _devices_parent_ready(self) -> bool:
        """A v1 devices cgroup starts with its parent's rules: when the parent carries docker's
        device rules, a container's cgroup needs no writes of its own (12 fewer per start)."""
        from layerbox.container.security import DEVICE_RULES

        if getattr(self, "_devices_ok", False):
            return True
        parent = f"{self.base}/devices/{self.parent}"
        try:
            os.mkdir(parent, 0o755)
            created = True
        except FileExistsError:
            created = False
        except OSError:
            return False  # cannot prepare the parent: each container's cgroup gets the rules itself
        try:
            if created:
                with open(f"{parent}/devices.deny", "w") as f:
                    f.write("a")
                for rule in DEVICE_RULES:
                    with open(f"{parent}/devices.allow", "w") as f:
                        f.write(rule)
            with open(f"{parent}/devices.list") as f:
                listed = f.read().split("\n")
        except OSError:
            return False  # cannot prepare the parent: each container's cgroup gets the rules itself
        self._devices_ok = "a *:* rwm" not in listed
        return self._devices_ok

    def _enable_v2_controllers(self) -> None:
        parent = os.path.join(self.base, self.parent)
        if os.path.isdir(parent):
            return
        os.makedirs(parent, exist_ok=True)
        for d in (self.base, parent):
            try:
                with open(os.path.join(d, "cgroup.subtree_control"), "w") as f:
                    f.write("+memory +pids +cpu +cpuset")
            except OSError:
                pass  # a controller the kernel lacks: its limits fail, by name, when asked for

    def _custom_devices_dir(self, cid: str) -> str:
        return f"{self.base}/devices/{self.parent}-devices/{cid}"

    def swap_limit(self, cid: str = "") -> bool:
        """Whether swap can be limited (docker's SwapLimit: the kernel accounts swap): the
        container's memory cgroup, else our parent's, else any child of the root has v1's
        memory.memsw.limit_in_bytes or v2's memory.swap.max. Not the root itself: on recent
        kernels a root cgroup lacks them whatever the kernel accounts. With no child cgroup
        to look at: assumed."""
        v1 = self.version == 1
        root, name = (f"{self.base}/memory", _SWAP_FILES[0]) if v1 else (self.base, _SWAP_FILES[1])
        parent = f"{root}/{self.parent}"
        for d in ([f"{parent}/{cid}"] if cid else []) + [parent]:
            if os.path.isdir(d):
                return os.path.exists(os.path.join(d, name))
        try:
            with os.scandir(root) as it:
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        return os.path.exists(os.path.join(e.path, name))
        except OSError:
            pass
        return True

    def cgroup_for(self, cid: str) -> dict:
        """Spec without settings: enough to freeze, signal, list or remove an existing one."""
        if self.version == 1:
            ctls = ("freezer", "pids", "memory", "devices", "cpu", "cpuset")
            dirs = {c: f"{self.base}/{c}/{self.parent}/{cid}" for c in ctls}
            dirs["devices-custom"] = self._custom_devices_dir(cid)  # one of the two exists
            return {"version": 1, "dirs": dirs}
        return {"version": 2, "dirs": {"unified": f"{self.base}/{self.parent}/{cid}"}}
