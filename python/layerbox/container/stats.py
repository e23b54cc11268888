"""A container's resource use as docker's stats JSON, read from its cgroup (v1 or v2) and
/proc: for the Engine API's /containers/{id}/stats and the Python API's Container.stats."""

from __future__ import annotations

import os

from layerbox import _util


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _kv(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if v.strip().lstrip("-").isdigit():
            out[k] = int(v)
    return out


def _num(text: str, default=0) -> int:
    t = text.strip()
    return int(t) if t.lstrip("-").isdigit() else default


def _system_cpu() -> int:
    """Total CPU time of the host in ns (docker's system_cpu_usage, from /proc/stat)."""
    for line in _read("/proc/stat").splitlines():
        if line.startswith("cpu "):
            ticks = sum(int(x) for x in line.split()[1:8])
            return ticks * (1_000_000_000 // os.sysconf("SC_CLK_TCK"))
    return 0


def stats_doc(engine, c) -> dict:
    """docker's stats JSON from the container's cgroup (v1 or v2); precpu_stats empty (a
    stream of them fills it from the sample before)."""
    cg = engine.cgroups.cgroup_for(c.id)
    d = cg["dirs"]
    ncpu = os.cpu_count() or 1
    if cg["version"] == 2:
        u = d["unified"]
        cpu = _kv(_read(f"{u}/cpu.stat"))
        total = cpu.get("usage_usec", 0) * 1000
        kernel, user = cpu.get("system_usec", 0) * 1000, cpu.get("user_usec", 0) * 1000
        mem_stat = _kv(_read(f"{u}/memory.stat"))
        usage = _num(_read(f"{u}/memory.current"))
        limit_t = _read(f"{u}/memory.max").strip()
        limit = int(limit_t) if limit_t.isdigit() else 0
        pids = _num(_read(f"{u}/pids.current"))
        pmax = _read(f"{u}/pids.max").strip()
        throttle = {"periods": cpu.get("nr_periods", 0), "throttled_periods": cpu.get("nr_throttled", 0),
                    "throttled_time": cpu.get("throttled_usec", 0) * 1000}
        percpu = None
    else:
        acct_dir = d["cpu"].replace("/cpu/", "/cpuacct/")
        tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
        if os.path.exists(f"{acct_dir}/cpuacct.usage"):
            total = _num(_read(f"{acct_dir}/cpuacct.usage"))
            acct = _kv(_read(f"{acct_dir}/cpuacct.stat"))
            kernel, user = acct.get("system", 0) * tick, acct.get("user", 0) * tick
            percpu = [int(x) for x in _read(f"{acct_dir}/cpuacct.usage_percpu").split()] or None
        else:
            # No cpuacct hierarchy of the container's (v1 hosts where it is mounted apart
            # from cpu): the CPU time of the processes its freezer cgroup holds.
            user = kernel = 0
            for pid in _read(f"{d['freezer']}/cgroup.procs").split():
                f = _read(f"/proc/{pid}/stat").rpartition(")")[2].split()
                if len(f) > 14:
                    user += (int(f[11]) + int(f[13])) * tick
                    kernel += (int(f[12]) + int(f[14])) * tick
            total, percpu = user + kernel, None
        mem_stat = _kv(_read(f"{d['memory']}/memory.stat"))
        usage = _num(_read(f"{d['memory']}/memory.usage_in_bytes"))
        limit = _num(_read(f"{d['memory']}/memory.limit_in_bytes"))
        pids = _num(_read(f"{d['pids']}/pids.current"))
        pmax = _read(f"{d['pids']}/pids.max").strip()
        t = _kv(_read(f"{d['cpu']}/cpu.stat"))
        throttle = {"periods": t.get("nr_periods", 0), "throttled_periods": t.get("nr_throttled", 0),
                    "throttled_time": t.get("throttled_time", 0)}
    host_mem = 0
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            host_mem = int(line.split()[1]) * 1024
    if not limit or limit > host_mem > 0:
        limit = host_mem
    networks = {}
    pid = c.state.get("Pid") or 0
    if pid and c.config["HostConfig"].get("NetworkMode") not in ("host", "none"):
        for line in _read(f"/proc/{pid}/net/dev").splitlines()[2:]:
            name, _, rest = line.partition(":")
            f = rest.split()
            if name.strip() == "lo" or len(f) < 16:
                continue
            networks[name.strip()] = {
                "rx_bytes": int(f[0]), "rx_packets": int(f[1]), "rx_errors": int(f[2]),
                "rx_dropped": int(f[3]), "tx_bytes": int(f[8]), "tx_packets": int(f[9]),
                "tx_errors": int(f[10]), "tx_dropped": int(f[11])}
    cpu_stats = {"cpu_usage": {"total_usage": total, "usage_in_kernelmode": kernel,
                               "usage_in_usermode": user, **({"percpu_usage": percpu} if percpu else {})},
                 "system_cpu_usage": _system_cpu(), "online_cpus": ncpu, "throttling_data": throttle}
    return {
        "read": _util.now_rfc3339(), "preread": "0001-01-01T00:00:00Z",
        "pids_stats": {"current": pids, **({"limit": int(pmax)} if pmax.isdigit() else {})},
        "blkio_stats": {"io_service_bytes_recursive": None, "io_serviced_recursive": None,
                        "io_queue_recursive": None, "io_service_time_recursive": None,
                        "io_wait_time_recursive": None, "io_merged_recursive": None,
                        "io_time_recursive": None, "sectors_recursive": None},
        "num_procs": 0, "storage_stats": {},
        "cpu_stats": cpu_stats,
        "precpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                         "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
        "memory_stats": {"usage": usage, "stats": mem_stat, "limit": limit} if c.running else {},
        "name": "/" + c.name, "id": c.id,
        **({"networks": networks} if networks else {}),
    }


def stream(engine, c, interval: float = 1.0):
    """Samples every `interval` seconds while the container runs, each with the one before
    as its precpu_stats."""
    import time

    from layerbox.errors import NotFound

    prev = None
    while True:
        doc = stats_doc(engine, c)
        if prev is not None:
            doc["precpu_stats"], doc["preread"] = prev["cpu_stats"], prev["read"]
        yield doc
        prev = doc
        time.sleep(interval)
        try:
            c = engine.load(c.id)
        except NotFound:
            return
        if not c.running:
            return
