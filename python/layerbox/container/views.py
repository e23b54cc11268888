"""Docker-shaped views of a container: `inspect` JSON, `ps` rows, status phrases. Shared by the
CLI and the Python API."""

from __future__ import annotations

import os
import time

from layerbox import _jsonfast


def status_text(state: dict, now: float | None = None) -> str:
    """docker ps STATUS: "Up 3 seconds", "Up 5 seconds (Paused)", "Exited (0) 2 seconds ago"
    (core/psrows.cpp, which the ps rows use)."""
    from layerbox import _core

    return _core.status_text(_jsonfast.dumps(state), time.time() if now is None else now)


def _cache_args(engine, complete: bool) -> dict:
    """The listing cache's arguments when `ids` are every container of the store (ps -a)."""
    if not complete:
        return {}
    from layerbox.store import owner

    store = engine.store
    return {"cache": store.ps_cache, "cache_tmp": os.path.join(store.tmp, f"pscache-{owner()}-{os.urandom(8).hex()}")}


def ps_rows(engine, ids: list[str], loaded=(), trunc: bool = True, now: float | None = None,
            complete: bool = False) -> list[dict]:
    """docker ps's rows of the containers `ids` (the fields `ps --format` knows, as strings),
    newest first, read and built in C++ (csrc/listing, core/psrows.cpp) on every core without the GIL:
    `ps -a` over 10,000 containers reads none of them in Python. `loaded`: containers the
    engine has read and reconciled (the running ones: one found ended or paused shows so);
    the others are read from their files as they are (a container that is not in the running
    index is not running). A removed one is left out. Each row also has `_id` (the full id) and
    `_labels` (a dict). `complete`: `ids` are every container of the store, so the store's
    listing cache (ps-cache) is used and kept."""
    from layerbox import _listing, shape

    states = {c.id: _jsonfast.dumps(c.state) for c in loaded}
    now = time.time() if now is None else now
    try:
        rows = _listing.ps_rows(engine.store.containers, list(ids), trunc=trunc, now=now, states=states,
                                **_cache_args(engine, complete))
    except OSError as e:
        import errno

        if e.errno != errno.EINVAL:
            raise
        raise shape.damaged(str(e)) from None  # a file that is not a JSON object
    by_id = {c.id: c for c in loaded}
    for r in rows:
        r["Platform"] = {"architecture": "amd64", "os": "linux"}  # the image's (ocispec.Platform)
        if r.pop("_healthcheck") and r["State"] == "running":
            c = by_id.get(r["_id"]) or engine.load(r["_id"])  # started since the listing
            r["Status"] += _health_suffix(c)
    return rows


def ps_table(engine, ids: list[str], loaded=(), trunc: bool = True, last: int = -1,
             now: float | None = None, complete: bool = False) -> str | None:
    """docker ps's default table (no --format) of the containers `ids`, as ps_rows would lay
    it out (the first `last` rows when last > 0), built in C++ as one text: ps -a of 10,000
    containers makes no Python object a row. None when a running container the caller did not
    load has a healthcheck (started since the listing): then the rows are the way."""
    from layerbox import _listing

    return _whole_listing(_listing.ps_table, engine, ids, loaded, complete, trunc=trunc,
                          now=time.time() if now is None else now, last=last)


def api_summaries(engine, ids: list[str], loaded=(), last: int = -1, complete: bool = False) -> bytes | None:
    """GET /containers/json's answer (JSON bytes) for the containers `ids`, newest first (the
    first `last` when last > 0), read and built in C++ from the listing's rows as ps_table is
    (the Engine API's `docker ps -a` reads the listing cache too). None as for ps_table: then
    layerbox.sysinfo.container_summary is the way."""
    from layerbox import _listing

    return _whole_listing(_listing.api_summaries, engine, ids, loaded, complete,
                          volumes=engine.store.volumes, now=time.time(), last=last)


def _whole_listing(fn, engine, ids, loaded, complete: bool, **kw):
    """fn (a listing of _listing's that answers in one piece) over the containers `ids`, with
    the states and health suffixes of the `loaded` ones (read and reconciled by the caller)."""
    states = {c.id: _jsonfast.dumps(c.state) for c in loaded}
    health = {c.id: _health_suffix(c) for c in loaded if c.state.get("Status") == "running"}
    try:
        return fn(engine.store.containers, list(ids), states=states, health=health,
                  **kw, **_cache_args(engine, complete))
    except OSError as e:
        import errno

        from layerbox import shape

        if e.errno != errno.EINVAL:
            raise
        raise shape.damaged(str(e)) from None  # a file that is not a JSON object


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


