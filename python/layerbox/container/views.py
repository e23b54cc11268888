"""Docker-shaped views of a container: `inspect` JSON, `ps` rows, status phrases. Shared by the
CLI and the Python API."""

from __future__ import annotations

import os
import time

from layerbox import _util
from layerbox._util import go_quote


def status_text(state: dict, now: float | None = None) -> str:
    """docker ps STATUS: "Up 3 seconds", "Up 5 seconds (Paused)", "Exited (0) 2 seconds ago"."""
    now = time.time() if now is None else now
    st = state.get("Status", "created")
    if st in ("running", "paused"):
        up = _util.human_duration(now - _util.parse_rfc3339(state.get("StartedAt", "")))
        return f"Up {up}" + (" (Paused)" if st == "paused" else "")
    if st == "restarting":
        ago = _util.human_duration(now - _util.parse_rfc3339(state.get("FinishedAt", "")))
        return f"Restarting ({state.get('ExitCode', 0)}) {ago} ago"
    if st == "exited":
        fin = _util.parse_rfc3339(state.get("FinishedAt", ""))
        if not fin:
            return f"Exited ({state.get('ExitCode', 0)})"
        return f"Exited ({state.get('ExitCode', 0)}) {_util.human_duration(now - fin)} ago"
    if st == "dead":
        return "Dead"
    return "Created"


def command_text(config: dict, trunc: bool = True) -> str:
    """docker ps's COMMAND: the daemon's Command (an argument with a space in single quotes:
    `sh -c 'exit 3'`), cut to 20 characters with an ellipsis, then Go's strconv.Quote."""
    args = [f"'{a}'" if " " in a else a for a in config.get("Args") or ()]
    cmd = " ".join([config.get("Path", "")] + args)
    if trunc and len(cmd) > 20:
        cmd = cmd[:19] + "…"
    return go_quote(cmd)



def ps_row(c, trunc: bool = True, now: float | None = None) -> dict:
    """The fields docker's `ps --format` knows, as strings."""
    now = time.time() if now is None else now
    cfg = c.config
    created = _util.parse_rfc3339(cfg.get("Created", ""))
    labels = cfg["Config"].get("Labels") or {}
    mounts = [m.get("Name") or m.get("Source") for m in cfg.get("Mounts") or ()]
    return {
        "Command": command_text(cfg, trunc),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(created)),
        "ID": c.id[:12] if trunc else c.id,
        "Image": cfg["Config"].get("Image") or cfg.get("Image", ""),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "LocalVolumes": str(sum(1 for m in cfg.get("Mounts") or () if m.get("Type") == "volume")),
        "Mounts": ",".join(m for m in mounts if m),
        "Names": c.name,
        "Networks": cfg["HostConfig"].get("NetworkMode", "none"),
        "Ports": ports_text(c),
        "RunningFor": _util.human_duration(now - created) + " ago",
        "Platform": {"architecture": "amd64", "os": "linux"},  # the image's (ocispec.Platform)
        "Size": "",
        "State": c.state.get("Status", "created"),
        "Status": status_text(c.state, now) + _health_suffix(c),
        "_labels": labels,
    }


def _health_suffix(c) -> str:
    if not (c.config["Config"].get("Healthcheck") or {}).get("Test"):
        return ""  # no healthcheck: ps of many containers imports nothing more
    from layerbox.container import health as _health

    return _health.ps_suffix(c)


def inspect(engine, c) -> dict:
    """docker inspect's container document."""
    from layerbox import dockershape

    cfg = c.config
    st = c.state
    host = dockershape.host_config(cfg["HostConfig"], _cgroup_version())
    store = engine.store
    lowers = engine.lower_dirs(c)
    state = {
        "Status": st.get("Status", "created"),
        "Running": st.get("Status") in ("running", "paused"),
        "Paused": st.get("Status") == "paused",
        "Restarting": st.get("Status") == "restarting",
        "OOMKilled": bool(st.get("OOMKilled")),
        "Dead": st.get("Status") == "dead",
        "Pid": st.get("Pid", 0) if st.get("Status") in ("running", "paused") else 0,
        "ExitCode": st.get("ExitCode", 0),
        "Error": st.get("Error", ""),
        "StartedAt": st.get("StartedAt", "0001-01-01T00:00:00Z"),
        "FinishedAt": st.get("FinishedAt", "0001-01-01T00:00:00Z"),
    }
    from layerbox.container import health as _health

    health = _health.state_health(c)
    if health is not None:
        state["Health"] = health
    from layerbox.container.mounts import inspect_entry

    mounts = [inspect_entry(m, store.volumes) for m in cfg.get("Mounts") or ()]
    return {
        "Id": c.id,
        "Created": cfg.get("Created"),
        "Path": cfg.get("Path"),
        "Args": cfg.get("Args", []),
        "State": state,
        "Image": cfg.get("Image"),
        # Generated in the container's memory at each start, not kept on the host's disk.
        "ResolvConfPath": "",
        "HostnamePath": "",
        "HostsPath": "",
        "LogPath": cfg.get("LogPath", ""),
        "Name": cfg.get("Name", ""),
        "RestartCount": st.get("RestartCount", 0),
        "Driver": "overlay",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": host,
        "GraphDriver": {
            "Name": "overlay",
            "Data": {
                "LowerDir": ":".join(lowers),
                "UpperDir": os.path.join(c.dir, "upper"),
                "WorkDir": os.path.join(c.dir, "work"),
                "MergedDir": os.path.join(c.dir, "merged"),
            },
        },
        "Mounts": mounts,
        "Config": dockershape.config(cfg["Config"]),
        "NetworkSettings": network_settings(c, state),
    }


def _cgroup_version() -> int:
    from layerbox.container.cgroups import CgroupLayout

    try:
        return CgroupLayout.default().version
    except OSError:
        return 1


def _live_network(c) -> dict:
    """The NetworkSettings the start recorded, while the container runs (docker empties the
    addresses of a stopped container)."""
    if c.state.get("Status") not in ("running", "paused", "restarting"):
        return {}
    return c.state.get("NetworkSettings") or {}


def network_settings(c, state: dict) -> dict:
    live = _live_network(c)
    mode = c.config["HostConfig"].get("NetworkMode", "none")
    sandbox = f"/proc/{state['Pid']}/ns/net" if state["Pid"] else ""
    if live:
        return dict(live, SandboxKey=sandbox)
    ports = {}
    if mode not in ("none", "host"):
        ports = {(p if "/" in p else p + "/tcp"): None
                 for p in c.config["Config"].get("ExposedPorts") or {}}
    empty = {"IPAMConfig": None, "Links": None, "Aliases": None, "NetworkID": "", "EndpointID": "",
             "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
             "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": "", "DriverOpts": None}
    return {"Bridge": "", "SandboxID": "", "HairpinMode": False, "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0, "Ports": ports, "SandboxKey": sandbox,
            "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None, "EndpointID": "",
            "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": "",
            "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "",
            "Networks": _stopped_networks(c.config, mode, empty)}


def _stopped_networks(config: dict, mode: str, empty: dict) -> dict:
    """A stopped container's networks (those it joins at its next start), without addresses;
    none for a network namespace shared with another container, as docker's."""
    if mode.startswith("container:"):
        return {}
    if mode in ("none", "host"):
        return {mode: empty}
    from layerbox.network import endpoints_config

    return {name: dict(empty, NetworkID=ep.get("NetworkID") or "", Aliases=ep.get("Aliases") or None,
                       IPAMConfig=ep.get("IPAMConfig"))
            for name, ep in endpoints_config(config).items()}


def ports_text(c) -> str:
    """docker ps's PORTS: "0.0.0.0:8080->80/tcp, 443/tcp" (published first, then exposed)."""
    live = _live_network(c)
    if not live:
        return ""
    parts = []
    for key, binds in sorted((live.get("Ports") or {}).items(),
                             key=lambda kv: int(kv[0].split("/")[0])):
        if not binds:
            parts.append(key)
        for b in binds or ():
            parts.append(f"{b['HostIp']}:{b['HostPort']}->{key}")
    return ", ".join(parts)
