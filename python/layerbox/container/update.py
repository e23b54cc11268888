"""`docker update`: a container's limits and restart policy, running or not (one function for
the CLI, the Python API and the Engine API's POST /containers/{id}/update).

The stored HostConfig is the fact the next start's plan reads. A live container's monitor owns
its cgroup and applies its restart policy, so the change is first a request to it ("update
{json}" on the monitor socket, csrc/shim/monitor.cpp): it writes the cgroup files (making the
v1 directories of a controller the container started without, such as cpu for a first CPU
limit), and only once the kernel took them is the HostConfig rewritten, so inspect shows what
is enforced. Everything happens under the container's lock. docker's rules and messages
(moby's container.UpdateContainer and verifyContainerResources) decide what is accepted.
"""

from __future__ import annotations

import os

from layerbox import _util
from layerbox.container.config import check_cpu_cfs, parse_restart
from layerbox.errors import Conflict, InvalidArgument

# The Resources fields an update can change (HostConfig's names) and the ones layerbox does not
# limit: asking for one of those is refused, naming it, rather than stored and ignored.
FIELDS = ("Memory", "MemorySwap", "NanoCpus", "CpuShares", "CpuPeriod", "CpuQuota", "CpusetCpus",
          "PidsLimit")
UNSUPPORTED = ("BlkioWeight", "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps",
               "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "CpuRealtimePeriod",
               "CpuRealtimeRuntime", "CpusetMems", "MemoryReservation", "KernelMemory",
               "KernelMemoryTCP", "MemorySwappiness", "OomKillDisable", "Devices",
               "DeviceCgroupRules", "DeviceRequests", "Ulimits", "CpuCount", "CpuPercent",
               "IOMaximumIOps", "IOMaximumBandwidth", "CgroupParent")
_LIVE = ("running", "paused", "restarting")
_MIN_MEMORY = 6 * 1024 * 1024


def _asks(v) -> bool:
    """Whether a field's value asks for a change (docker's zero values do not)."""
    return v not in (None, 0, "", [], {}, False)


def check_request(resources: dict, restart: dict | None) -> None:
    """Refuses what layerbox cannot update, naming the fields, and values of the wrong type
    (a client's JSON is anybody's)."""
    for k in FIELDS:
        v = resources.get(k)
        if v is not None and (not isinstance(v, str) if k == "CpusetCpus"
                              else type(v) is not int):
            raise InvalidArgument(f"invalid value for {k}: {v!r}")
    if restart is not None and not (isinstance(restart, dict)
                                    and isinstance(restart.get("Name") or "", str)
                                    and type(restart.get("MaximumRetryCount") or 0) is int):
        raise InvalidArgument(f"invalid RestartPolicy: {restart!r}")
    asked = sorted(k for k in UNSUPPORTED if _asks(resources.get(k)) and
                   not (k == "MemorySwappiness" and resources.get(k) == -1))
    if asked:
        raise InvalidArgument(f"updating {', '.join(asked)} of a container is not supported by "
                              "layerbox")


def _online_cpus() -> set:
    try:
        with open("/sys/devices/system/cpu/online") as f:
            return parse_cpuset(f.read().strip(), "online cpus")
    except OSError:
        return set(range(os.cpu_count() or 1))


def parse_cpuset(text: str, what: str = "cpuset cpus") -> set:
    """"0-2,4" as a set of CPU numbers; a bad list is docker's "Invalid value"."""
    out = set()
    try:
        for part in text.split(","):
            a, dash, b = part.partition("-")
            lo, hi = int(a), int(b) if dash else int(a)
            if lo < 0 or hi < lo:
                raise ValueError
            out.update(range(lo, hi + 1))
    except ValueError:
        raise InvalidArgument(f"Invalid value {text} for {what}") from None
    return out


def _merge(cid: str, host: dict, res: dict, restart: dict | None, swap_accounted=None) -> dict:
    """The HostConfig after the update, checked as dockerd checks it (`swap_accounted()`:
    whether the kernel limits swap; None: it does)."""
    def conflict(msg):
        return Conflict(f"Cannot update container {cid}: {msg}")

    new = dict(host)
    nano, period, quota = (res.get(k) or 0 for k in ("NanoCpus", "CpuPeriod", "CpuQuota"))
    # NanoCpus sets period and quota: one way or the other, never both (moby's wording).
    if nano > 0 and (host.get("CpuPeriod") or 0) > 0:
        raise conflict("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set")
    if nano > 0 and (host.get("CpuQuota") or 0) > 0:
        raise conflict("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set")
    if period > 0 and (host.get("NanoCpus") or 0) > 0:
        raise conflict("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set")
    if quota > 0 and (host.get("NanoCpus") or 0) > 0:
        raise conflict("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
    check_cpu_cfs(nano, period, quota)
    if nano:
        ncpu = len(_online_cpus())
        if nano < 10_000_000 or nano > ncpu * 10**9:
            raise InvalidArgument(f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only "
                                  f"{ncpu} CPUs available")
    shares = res.get("CpuShares") or 0
    if shares < 0:
        raise InvalidArgument(f"invalid CPU shares {shares}: must not be negative")
    cpus = res.get("CpusetCpus") or ""
    if cpus:
        want, have = parse_cpuset(cpus), _online_cpus()
        if not want <= have:
            raise InvalidArgument(f"Requested CPUs are not available - requested {cpus}, "
                                  f"available: {_cpu_list(have)}")
    memory, swap = res.get("Memory") or 0, res.get("MemorySwap") or 0
    if memory:
        if memory < _MIN_MEMORY:
            raise InvalidArgument("Minimum memory limit allowed is 6MB")
        old_swap = host.get("MemorySwap") or 0
        if old_swap > 0 and memory > old_swap and not swap:
            raise conflict("Memory limit should be smaller than already set memoryswap limit, "
                           "update the memoryswap at the same time")
    for k in FIELDS:
        if _asks(res.get(k)):
            new[k] = res[k]
    if swap:
        if not new.get("Memory"):
            raise InvalidArgument("You should always set the Memory limit when using Memoryswap "
                                  "limit, see usage")
        # as at create: a swap limit the kernel cannot keep is dropped (update's warning)
        # before dockerd compares it with the memory limit
        if swap != -1 and swap < new["Memory"] and (swap_accounted is None or swap_accounted()):
            raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, "
                                  "see usage")
    if res.get("PidsLimit") is not None and res["PidsLimit"] <= 0:
        # 0 and -1 both mean "no limit": a change only for a container that had one
        had = host.get("PidsLimit") or 0
        new["PidsLimit"] = -1 if had > 0 else host.get("PidsLimit")
    if restart and restart.get("Name"):
        policy = parse_restart(restart)
        if policy["Name"] != "no" and host.get("AutoRemove"):
            raise conflict("Restart policy cannot be updated because AutoRemove is enabled for "
                           "the container")
        new["RestartPolicy"] = policy
    return new


# dockerd's words for a swap limit asked of a kernel that does not account swap
NO_SWAP_LIMIT = ("Your kernel does not support swap limit capabilities or the cgroup is not "
                 "mounted. Memory limited without swap.")


def _cpu_list(cpus: set) -> str:
    """{0, 1, 2, 5} as "0-2,5" (the kernel's list format)."""
    out, run = [], []
    for c in sorted(cpus):
        if run and c != run[-1] + 1:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
            run = []
        run.append(c)
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


def _v1_memory_order(settings: list, cgroup_dirs: dict) -> list:
    """On v1 the memory+swap limit may never be below the memory limit, so of the two the one
    that keeps that true goes first: the swap limit when the new memory limit is above the
    swap limit the cgroup has now, else the memory limit."""
    files = [s[1] for s in settings]
    if "memory.limit_in_bytes" not in files or "memory.memsw.limit_in_bytes" not in files:
        return settings
    mem = next(s for s in settings if s[1] == "memory.limit_in_bytes")
    swap = next(s for s in settings if s[1] == "memory.memsw.limit_in_bytes")
    try:
        with open(os.path.join(cgroup_dirs["memory"], "memory.memsw.limit_in_bytes")) as f:
            current = int(f.read())
    except (OSError, ValueError, KeyError):
        current = -1
    rest = [s for s in settings if s is not mem and s is not swap]
    first = [swap, mem] if 0 <= current < int(mem[2]) else [mem, swap]
    return first + rest


def update(engine, ref: str, resources: dict, restart_policy: dict | None = None) -> list[str]:
    """Updates container `ref`'s limits (docker's Resources fields, FIELDS) and restart policy
    ({"Name", "MaximumRetryCount"}); returns docker's warnings (a swap limit on a kernel
    that does not account swap: the memory is limited without swap, MemorySwap -1, as
    dockerd's)."""
    check_request(resources, restart_policy)
    cid = engine.resolve(ref)
    store = engine.store
    with store.container_lock(cid):
        c = engine.load(cid)
        host = c.config["HostConfig"]
        new = _merge(c.id, host, resources, restart_policy,
                     swap_accounted=lambda: engine.cgroups.swap_limit(c.id))
        warnings = []
        if (new.get("MemorySwap") or 0) != (host.get("MemorySwap") or 0) and \
                not engine.cgroups.swap_limit(c.id):
            if (new.get("MemorySwap") or 0) > 0:
                warnings.append(NO_SWAP_LIMIT)
            new["MemorySwap"] = -1  # and no swap file written: the kernel has none
        if new == host:
            return warnings
        changed = [k for k in FIELDS if new.get(k) != host.get(k)]
        if new.get("MemorySwap") == -1 and not engine.cgroups.swap_limit(c.id):
            changed = [k for k in changed if k != "MemorySwap"]
        if c.state.get("Status") in _LIVE:
            from layerbox.container.engine import ask_monitor

            req: dict = {}
            layout = engine.cgroups
            if layout.version == 2 and "Memory" in changed and (new.get("MemorySwap") or 0) > 0:
                changed.append("MemorySwap")  # v2's swap limit is the part beyond memory's
            if changed:
                ctls, settings = layout.limit_settings(new, changed)
                spec = layout.cgroup_for(c.id)
                if layout.version == 1:
                    settings = _v1_memory_order(settings, spec["dirs"])
                    dirs = {k: v for k, v in spec["dirs"].items() if k in ctls}
                else:
                    dirs = spec["dirs"]
                req["cgroup"] = {"version": layout.version, "dirs": dirs, "settings": settings}
            if new.get("RestartPolicy") != host.get("RestartPolicy"):
                req["restart"] = new["RestartPolicy"]["Name"]
                req["restart_max"] = int(new["RestartPolicy"].get("MaximumRetryCount") or 0)
            ask_monitor(c, "update", req)
        c.config["HostConfig"] = new
        _util.write_atomic(os.path.join(c.dir, "config.json"), _util.dump_json(c.config), mode=0o600)
    from layerbox import events

    events.record(store, "container", "update", c.id, {"name": c.name,
                                                       "image": c.config["Config"].get("Image")})
    return warnings
