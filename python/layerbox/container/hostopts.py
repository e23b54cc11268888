"""The process and namespace options of run/create that the kernel carries out (docker's
``--ulimit``, ``--shm-size``, ``--sysctl``, ``--oom-score-adj``, ``--group-add``, ``--pid``,
``--ipc``, ``--uts``): checked as docker and runc check them, kept in HostConfig under docker's
names, and turned into the launch plan's parts (csrc/core/plan.hpp: ``rlimits``, ``sysctl``,
``oom_score_adj``, ``join_namespaces``; carried out by csrc/core/procsetup.cpp).
"""

from __future__ import annotations

import os

from layerbox.errors import InvalidArgument

# docker's (go-units) ulimit names -> RLIMIT_* numbers on Linux
ULIMITS = {"cpu": 0, "fsize": 1, "data": 2, "stack": 3, "core": 4, "rss": 5, "nproc": 6,
           "nofile": 7, "memlock": 8, "as": 9, "locks": 10, "sigpending": 11, "msgqueue": 12,
           "nice": 13, "rtprio": 14, "rttime": 15}
DEFAULT_SHM = 64 * 1024 * 1024
_RLIM_INFINITY = (1 << 64) - 1

# runc's validator (libcontainer/configs/validate): sysctls that live in a namespace the
# container has of its own. Anything else would change the host.
_IPC_SYSCTLS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}
_UTS_SYSCTLS = {"kernel.domainname", "kernel.hostname"}


def parse_ulimit(spec) -> dict:
    """"nofile=1024[:2048]" (go-units ParseUlimit) or the SDK's Ulimit/dict."""
    if isinstance(spec, dict):
        name = spec.get("Name") or spec.get("name")
        soft = spec.get("Soft", spec.get("soft"))
        hard = spec.get("Hard", spec.get("hard"))
        spec = f"{name}={soft}" + (f":{hard}" if hard is not None else "")
    name, eq, values = str(spec).partition("=")
    if not eq:
        raise InvalidArgument(f"invalid argument \"{spec}\" for \"--ulimit\" flag: invalid ulimit "
                              f"argument: {spec}")
    if name not in ULIMITS:
        raise InvalidArgument(f"invalid argument \"{spec}\" for \"--ulimit\" flag: invalid ulimit "
                              f"type: {name}")
    soft_s, colon, hard_s = values.partition(":")
    try:
        soft = int(soft_s)
        hard = int(hard_s) if colon else soft
    except ValueError:
        raise InvalidArgument(f"invalid argument \"{spec}\" for \"--ulimit\" flag: strconv.ParseInt: "
                              f"parsing \"{hard_s if colon and soft_s.lstrip('-').isdigit() else soft_s}\": "
                              "invalid syntax") from None
    if soft > hard:
        raise InvalidArgument(f"invalid argument \"{spec}\" for \"--ulimit\" flag: ulimit soft limit "
                              f"must be less than or equal to hard limit: {soft} > {hard}")
    return {"Name": name, "Hard": hard, "Soft": soft}


def check_sysctl(key: str, host: dict) -> None:
    """runc's rules: only sysctls of a namespace the container owns (and not one it shares
    with the host: net.* with --network host, kernel.* IPC with --ipc host)."""
    net_host = host.get("NetworkMode") == "host"
    if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
        if host.get("IpcMode") == "host":
            raise InvalidArgument(f"sysctl \"{key}\" not allowed in host IPC namespace")
        return
    if key.startswith("net."):
        if net_host:
            raise InvalidArgument(f"sysctl \"{key}\" not allowed in host network namespace")
        return
    if key in _UTS_SYSCTLS:
        if host.get("UTSMode") == "host":
            raise InvalidArgument(f"sysctl \"{key}\" not allowed in host UTS namespace")
        return
    raise InvalidArgument(f"sysctl \"{key}\" is not in a separate kernel namespace")


def _ns_mode(value, flag: str, allowed: tuple) -> str:
    v = value or ""
    if v in allowed or (v.startswith("container:") and "container:" in allowed and v[10:]):
        return v
    if flag == "--ipc":
        raise InvalidArgument(f"invalid IPC mode: {v}")
    if flag == "--pid":
        raise InvalidArgument(f"--pid: invalid PID mode")
    raise InvalidArgument(f"--uts: invalid UTS mode")


def host_config(opts: dict, network: str) -> dict:
    """HostConfig's fields for these options, checked."""
    ulimits = [parse_ulimit(u) for u in opts.get("ulimits") or ()]
    shm = opts.get("shm_size")
    if shm in (None, "", 0):
        shm_bytes = DEFAULT_SHM
    else:
        from layerbox.container.config import parse_bytes

        shm_bytes = parse_bytes(shm)
        if shm_bytes <= 0:
            raise InvalidArgument("SHM size can not be less than 0")
    oom = opts.get("oom_score_adj")
    oom = int(oom or 0)
    if not -1000 <= oom <= 1000:
        raise InvalidArgument(f"Invalid value {oom}, range for oom score adj is [-1000, 1000]")
    pid = _ns_mode(opts.get("pid_mode"), "--pid", ("", "host", "container:"))
    ipc = _ns_mode(opts.get("ipc_mode"), "--ipc", ("", "none", "private", "shareable", "host",
                                                    "container:"))
    uts = _ns_mode(opts.get("uts_mode"), "--uts", ("", "host"))
    if ipc == "none":
        raise InvalidArgument("--ipc none is not supported by layerbox (private, shareable, host "
                              "and container:NAME are)")
    if uts == "host" and opts.get("hostname"):
        raise InvalidArgument("Conflicting options: hostname and the UTS mode")
    host = {"NetworkMode": network, "IpcMode": ipc or "private", "UTSMode": uts, "PidMode": pid}
    sysctls = opts.get("sysctls") or {}
    if isinstance(sysctls, (list, tuple)):
        pairs = {}
        for s in sysctls:
            k, eq, v = str(s).partition("=")
            if not eq or not k:
                raise InvalidArgument(f"invalid argument \"{s}\" for \"--sysctl\" flag: sysctl "
                                      f"'{s}' is not whitelisted")
            pairs[k] = v
        sysctls = pairs
    sysctls = {str(k): str(v) for k, v in sysctls.items()}
    for k in sysctls:
        check_sysctl(k, host)
    groups = [str(g) for g in opts.get("group_add") or ()]
    out = {
        "Ulimits": ulimits or None,
        "ShmSize": shm_bytes,
        "OomScoreAdj": oom,
        "GroupAdd": groups or None,
        "PidMode": pid,
        "IpcMode": host["IpcMode"],
        "UTSMode": uts,
        "ContainerIDFile": opts.get("cidfile") or "",
    }
    if sysctls:
        out["Sysctls"] = sysctls
    return out


def plan_part(config: dict, namespace_of) -> dict:
    """The launch plan's rlimits, sysctl, oom_score_adj and namespaces joined.
    ``namespace_of(ref, kind)`` is the path of another container's namespace file (refusing a
    container that does not run)."""
    host = config["HostConfig"]
    out: dict = {}
    rl = []
    for u in host.get("Ulimits") or ():
        soft, hard = (_RLIM_INFINITY if v < 0 else v for v in (u["Soft"], u["Hard"]))
        rl.append([ULIMITS[u["Name"]], soft, hard])
    if rl:
        out["rlimits"] = rl
    if host.get("Sysctls"):
        out["sysctl"] = dict(host["Sysctls"])
    if host.get("OomScoreAdj"):
        out["oom_score_adj"] = int(host["OomScoreAdj"])
    joins = []
    for kind, mode in (("ipc", host.get("IpcMode") or ""), ("pid", host.get("PidMode") or "")):
        if mode.startswith("container:"):
            joins.append([kind, namespace_of(mode[10:], kind)])
    if joins:
        out["join_namespaces"] = joins
    return out


def shm_source(host: dict, plan_part_: dict) -> str:
    """Where the container's /dev/shm comes from when it shares IPC: the host's (--ipc host),
    or "/proc/PID/ns/mnt" of the other container's init (--ipc container:NAME: its /dev/shm,
    which the core clones from inside that mount namespace); "" for its own."""
    if (host.get("IpcMode") or "") == "host":
        return "/dev/shm"
    for kind, path in plan_part_.get("join_namespaces") or ():
        if kind == "ipc":
            return path.rsplit("/", 1)[0] + "/mnt"
    return ""


def shm_mount(op: dict, host: dict, source: str) -> dict:
    """The plan's /dev/shm: its own tmpfs of --shm-size, or a bind of the shared one."""
    if source:
        shared = {"kind": "bind", "target": "/dev/shm", "source": source, "recursive": False,
                  "nosuid": True, "nodev": True, "noexec": True}
        if source.endswith("/ns/mnt"):
            shared.update(source="/dev/shm", source_mntns=source)
        return shared
    size = int(host.get("ShmSize") or DEFAULT_SHM)
    data = [d for d in op.get("data") or () if d[0] != "size"] + [["size", f"{size // 1024}k"]]
    return dict(op, data=data)


def namespaces_shared(host: dict) -> set:
    """Namespaces the container does not get its own of: "pid", "ipc", "uts" for host or
    container: modes (joined instead: see plan_part)."""
    out = set()
    if (host.get("PidMode") or "") == "host" or (host.get("PidMode") or "").startswith("container:"):
        out.add("pid")
    ipc = host.get("IpcMode") or ""
    if ipc == "host" or ipc.startswith("container:"):
        out.add("ipc")
    if host.get("UTSMode") == "host":
        out.add("uts")
    return out


def read_cidfile_check(path: str) -> None:
    """docker's --cidfile: refused when the file exists (another container may be using it)."""
    if path and os.path.exists(path):
        raise InvalidArgument(f"Container ID file found, make sure the other container isn't "
                              f"running or delete {path}")
