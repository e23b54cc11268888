"""`--network container:NAME`: a container that joins another running container's network
namespace, as docker's: no interface of its own; the other's hostname, and the other's own
/etc/hostname, /etc/hosts and /etc/resolv.conf (docker points the joiner's HostnamePath,
HostsPath and ResolvConfPath at the other's files and binds those): the files the core
generated for the other, bound from its mount namespace, so a change to them on either side
(a `network connect` of the other, an edit inside it) is seen on both; no connect or
disconnect of its own (network.endpoints refuses them)."""

from __future__ import annotations

from layerbox import _core
from layerbox.errors import Conflict, InvalidArgument

_LIVE = ("running", "paused")


def join(engine, c, plan: dict) -> None:
    """Makes `plan` join the network namespace of the container its NetworkMode names."""
    from layerbox.container import plan as _plan

    ref = c.config["HostConfig"]["NetworkMode"][len("container:"):]
    other = engine.load(engine.resolve(ref))  # NotFound: "No such container: ..."
    if other.id == c.id:
        raise InvalidArgument("cannot join own network namespace")
    st = other.state
    pid = st.get("Pid") or 0
    if (st.get("Status") not in _LIVE or not pid
            or _core.process_start_time(pid) != st.get("PidStartTime")):
        raise Conflict(f"cannot join network of a non running container: {other.id}")
    if st.get("NetworkSettings"):
        # Its monitor leaves its veths to its network namespace when it ends, unless told that
        # the namespace may outlive it (csrc/shim/net.hpp, end): told before we join.
        # A monitor of an earlier build refuses the request, and deletes its veths anyway.
        from layerbox.container.engine import MonitorRefused, ask_monitor

        try:
            ask_monitor(other, "net", {"op": "joined"})
        except MonitorRefused:
            pass
    # The init's namespace by its /proc entry, checked just above against its start time; the
    # child opens it before it runs anything of the container.
    plan.setdefault("join_namespaces", []).append(["net", f"/proc/{pid}/ns/net"])
    ocfg = other.config
    hostname = ocfg["Config"].get("Hostname") or other.id[:12]
    plan["hostname"] = hostname
    env = plan["process"]["env"]
    plan["process"]["env"] = [e for e in env if not e.startswith("HOSTNAME=")] + ["HOSTNAME=" + hostname]
    # Its generated files where the other has them (not where the user bound a file of their
    # own over its path); ours are left where the user binds one (no file op for it).
    theirs = {op["target"] for op in _plan.etc_files(ocfg)}
    for i, op in enumerate(plan["mounts"]):
        if op.get("kind") == "file" and op["target"] in theirs:
            plan["mounts"][i] = {"kind": "bind", "target": op["target"], "source": op["target"],
                                 "source_mntns": f"/proc/{pid}/ns/mnt", "generated": True,
                                 "ro": op.get("ro", False)}
