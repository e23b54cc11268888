"""`network connect` and `network disconnect`: a container's endpoints, running or not.

The networks a container joins at its start are its config's endpoint list
(`network.endpoints_config`, recorded in NetworkingConfig.EndpointsConfig once changed here),
so a change made while it is stopped applies at the next start, and one made while it runs
stays for the next start too, as docker's. A running container's links and its state.json
belong to its monitor: the change is a request to it ("net {json}" on the monitor socket, see
csrc/shim/net.hpp), which makes or removes the veth in the container's namespace and records
the NetworkSettings computed here. Everything happens under the container's lock.
"""

from __future__ import annotations

import os

from layerbox import _util
from layerbox.container.engine import MonitorRefused, ask_monitor
from layerbox.errors import Conflict, InvalidArgument

from . import (DEFAULT_NAME, Networks, _dns_update, _ip2int, _network_event, endpoint,
               endpoints_config, hosts_line, parse_cidr, port_map, resolv_conf, resolvers,
               settings_doc)

# docker's runconfig errors
ERR_HOST = "container cannot be disconnected from host network or connected to host network"
ERR_NONE = ("container cannot be connected to multiple networks with one of the networks in "
            "private (none) mode")
ERR_SHARED = ("container sharing network namespace with another container or host cannot be "
              "connected to any other network")
_LIVE = ("running", "paused", "restarting")


def _check_mode(cfg: dict, net: dict) -> None:
    mode = cfg["HostConfig"].get("NetworkMode") or "bridge"
    if mode == "host" or net["Driver"] == "host":
        raise Conflict(ERR_HOST)
    if mode.startswith("container:"):
        raise Conflict(ERR_SHARED)
    if mode == "none" or net["Driver"] == "null":
        raise Conflict(ERR_NONE)


def _write_endpoints(c, eps: dict) -> None:
    c.config.setdefault("NetworkingConfig", {})["EndpointsConfig"] = eps
    _util.write_atomic(os.path.join(c.dir, "config.json"), _util.dump_json(c.config), mode=0o600)


def _ask_monitor(c, req: dict) -> None:
    ask_monitor(c, "net", req)


def _etc_changes(cfg: dict, old: dict, new: dict, add: str = "", drop: str | None = None) -> dict:
    """What the monitor changes in the running container's /etc/hosts and /etc/resolv.conf
    (see Monitor::update_etc_files): docker's line for the new address, or the lines of the
    address given up; resolv.conf made again when the resolvers of its user networks change
    (the first user network's resolver replaces the host's, as docker's embedded one)."""
    files: dict = {}
    if add:
        files["hosts_add"] = add
    if drop:
        files["hosts_drop"] = [drop]
    embedded = resolvers(new)
    if embedded != resolvers(old):
        files["resolv_conf"] = resolv_conf(cfg, embedded)
    return files


def connect(engine, netref: str, cref: str, *, ip: str | None = None, aliases=()) -> None:
    store = engine.store
    nets = Networks(store)
    net = nets.get(netref)
    cid = engine.resolve(cref)
    with store.container_lock(cid):
        c = engine.load(cid)
        cfg = c.config
        _check_mode(cfg, net)
        if ip:
            from layerbox.container.config import check_ip

            check_ip(ip, "--ip")
            base, prefix = parse_cidr(net["IPAM"]["Config"][0]["Subnet"])
            if ":" in ip or (_ip2int(ip) >> (32 - prefix)) != (base >> (32 - prefix)):
                raise InvalidArgument(f"invalid address {ip}: it does not belong to any of "
                                      f"network {net['Name']}'s subnets")
        eps = endpoints_config(cfg)
        if net["Name"] in eps:
            raise Conflict(f"endpoint with name {c.name} already exists in network {net['Name']}")
        if ip and net["Name"] == DEFAULT_NAME:
            raise InvalidArgument("user specified IP address is supported on user defined networks only")
        if aliases and net["Name"] == DEFAULT_NAME:
            raise InvalidArgument("network-scoped alias is supported only for containers in user "
                                  "defined networks")
        new = dict(eps)
        new[net["Name"]] = {"NetworkID": net["Id"],
                            "IPAMConfig": {"IPv4Address": ip} if ip else None,
                            "Aliases": list(aliases)}
        if c.state.get("Status") in _LIVE:
            mon, entry = endpoint(store, net, cfg, cid, want=ip, aliases=aliases, first=not eps)
            old = c.state.get("NetworkSettings") or {}
            networks = dict(old.get("Networks") or {})
            networks[net["Name"]] = entry
            settings = settings_doc(networks, old.get("Ports") or port_map(cfg, []))
            files = _etc_changes(cfg, old, settings, add=hosts_line(cfg, entry["IPAddress"]))
            try:
                _ask_monitor(c, {"op": "connect", "endpoint": mon, "settings": settings,
                                 "files": files})
            except BaseException:
                nets.release(net["Id"], entry["IPAddress"], cid)
                if net["Name"] != DEFAULT_NAME:
                    _dns_update(store, net, cid, "", [], drop=True)
                raise
        _write_endpoints(c, new)
    _network_event(store, "connect", net, container=cid)


def disconnect(engine, netref: str, cref: str, *, force: bool = False) -> None:
    store = engine.store
    nets = Networks(store)
    net = nets.get(netref)
    cid = engine.resolve(cref)
    with store.container_lock(cid):
        c = engine.load(cid)
        cfg = c.config
        mode = cfg["HostConfig"].get("NetworkMode") or "bridge"
        if mode == "host" or net["Driver"] == "host":
            raise Conflict(ERR_HOST)
        eps = endpoints_config(cfg)
        if net["Name"] not in eps:
            raise InvalidArgument(f"container {cid} is not connected to network {net['Name']}")
        new = {k: v for k, v in eps.items() if k != net["Name"]}
        if c.state.get("Status") in _LIVE:
            old = c.state.get("NetworkSettings") or {}
            networks = dict(old.get("Networks") or {})
            entry = networks.pop(net["Name"], None) or {}
            settings = settings_doc(networks, old.get("Ports") or {})
            files = _etc_changes(cfg, old, settings, drop=entry.get("IPAddress"))
            try:
                _ask_monitor(c, {"op": "disconnect", "name": net["Name"], "settings": settings,
                                 "files": files})
            except MonitorRefused:
                if not force:
                    raise
            if entry.get("IPAddress"):
                nets.release(net["Id"], entry["IPAddress"], cid)
            if net["Name"] != DEFAULT_NAME:
                _dns_update(store, net, cid, "", [], drop=True)
        _write_endpoints(c, new)
    _network_event(store, "disconnect", net, container=cid)
