"""/networks/... and /volumes/...: the same Networks and Volumes the CLI uses."""

from __future__ import annotations

from aiohttp import web

from layerbox.api import streams
from layerbox.api.app import ApiError, Service, json_response


def _svc(request) -> Service:
    return request.app["svc"]


def _nets(svc):
    from layerbox.network import Networks

    return Networks(svc.store)


def _vols(svc):
    from layerbox.volumes import Volumes

    return Volumes(svc.store)


class _Ctx:
    """What cli.actions.network.inspect_doc reads."""

    def __init__(self, svc):
        self.store = svc.store
        self.engine = svc.engine


def _net_doc(svc, ref: str) -> dict:
    from layerbox.cli.actions.network import inspect_doc

    return inspect_doc(_Ctx(svc), ref)


def _net_list(svc, flt: dict) -> list:
    for k in flt:
        if k not in ("name", "id", "driver", "label", "type", "scope", "dangling"):
            raise ApiError(400, f"invalid filter '{k}'")
    out = []
    for r in _nets(svc).list():
        if flt.get("name") and not any(n in r["Name"] for n in flt["name"]):
            continue
        if flt.get("id") and not any(r["Id"].startswith(i) for i in flt["id"]):
            continue
        if flt.get("driver") and r["Driver"] not in flt["driver"]:
            continue
        if flt.get("type"):
            builtin = r["Name"] in ("bridge", "host", "none")
            if not any((t == "builtin") == builtin for t in flt["type"]):
                continue
        labels = r.get("Labels") or {}
        if any(lab.partition("=")[0] not in labels or ("=" in lab and labels[lab.partition("=")[0]] != lab.partition("=")[2])
               for lab in flt.get("label", ())):
            continue
        out.append(_net_doc(svc, r["Id"]) if r["Driver"] == "bridge" else dict(r, Containers={}))
    return out


async def net_list(request):
    svc = _svc(request)
    return json_response(await svc.run(_net_list, svc, streams.filters_of(request)))


async def net_inspect(request):
    svc = _svc(request)
    return json_response(await svc.run(_net_doc, svc, request.match_info["id"]))


async def net_create(request):
    from layerbox.api.app import json_body

    svc = _svc(request)
    b = await json_body(request)
    name = b.get("Name") or ""
    if not name:
        raise ApiError(400, "network name is required")
    # Attachable concerns swarm-scoped networks only (docker records it and changes nothing
    # for a local bridge); docker-compose asks for it on every network.
    for k in ("EnableIPv6", "Ingress", "ConfigOnly"):
        if b.get(k):
            raise ApiError(400, f"network option {k} is not supported by layerbox")
    if (b.get("ConfigFrom") or {}).get("Network"):
        raise ApiError(400, "network option ConfigFrom is not supported by layerbox")
    if b.get("Scope") not in (None, "", "local"):
        raise ApiError(400, f"network scope {b['Scope']} is not supported by layerbox (local only)")
    ipam = b.get("IPAM") or {}
    if ipam.get("Driver") not in (None, "", "default"):
        raise ApiError(400, f"IPAM driver {ipam['Driver']} is not supported by layerbox")
    pools = ipam.get("Config") or []
    if len(pools) > 1:
        raise ApiError(400, "more than one IPAM pool is not supported by layerbox")
    pool = pools[0] if pools else {}
    for k in ("IPRange", "AuxiliaryAddresses"):
        if pool.get(k):
            raise ApiError(400, f"IPAM option {k} is not supported by layerbox yet")
    if b.get("CheckDuplicate") is False:
        pass  # names are unique in layerbox: a duplicate is always refused
    doc = await svc.run(_nets(svc).create, name, driver=b.get("Driver") or "bridge",
                        subnet=pool.get("Subnet"), gateway=pool.get("Gateway"),
                        internal=bool(b.get("Internal")), labels=b.get("Labels") or {},
                        options=b.get("Options") or {})
    return json_response({"Id": doc["Id"], "Warning": ""}, status=201)


async def net_delete(request):
    svc = _svc(request)
    ref = request.match_info["id"]
    doc = await svc.run(_nets(svc).get, ref)
    await svc.run(_nets(svc).remove, doc["Id"])
    return web.Response(status=204)


async def net_prune(request):
    svc = _svc(request)
    flt = streams.filters_of(request)
    if flt:
        raise ApiError(400, f"network prune filters are not supported by layerbox: {', '.join(flt)}")
    removed = await svc.run(_nets(svc).prune)
    return json_response({"NetworksDeleted": removed or None})


def _connect_options(b: dict) -> dict:
    """docker's NetworkConnectRequest: the container, and of its EndpointConfig the IPv4
    address and the aliases (what layerbox's endpoints do); what else asks for something is
    refused naming it."""
    ref = b.get("Container") or ""
    if not ref:
        raise ApiError(400, "container is required: {\"Container\": NAME-OR-ID}")
    ep = b.get("EndpointConfig") or {}
    ipam = ep.get("IPAMConfig") or {}
    for k, v in (("IPAMConfig.IPv6Address", ipam.get("IPv6Address")),
                 ("IPAMConfig.LinkLocalIPs", ipam.get("LinkLocalIPs")),
                 ("Links", ep.get("Links")), ("DriverOpts", ep.get("DriverOpts")),
                 ("MacAddress", ep.get("MacAddress"))):
        if v:
            raise ApiError(400, f"network connect: EndpointConfig.{k} is not supported by layerbox")
    return {"cref": ref, "ip": ipam.get("IPv4Address") or None, "aliases": list(ep.get("Aliases") or ())}


async def net_connect(request):
    """POST /networks/{id}/connect: the engine's connect (layerbox.network.endpoints), as
    `layerbox network connect`: running or stopped containers."""
    from layerbox.api.app import json_body
    from layerbox.network import endpoints

    svc = _svc(request)
    o = _connect_options(await json_body(request))
    await svc.run(endpoints.connect, svc.engine, request.match_info["id"], o["cref"], ip=o["ip"],
                  aliases=o["aliases"])
    return web.Response(status=200)


async def net_disconnect(request):
    from layerbox.api.app import json_body
    from layerbox.network import endpoints

    svc = _svc(request)
    b = await json_body(request)
    ref = b.get("Container") or ""
    if not ref:
        raise ApiError(400, "container is required: {\"Container\": NAME-OR-ID}")
    await svc.run(endpoints.disconnect, svc.engine, request.match_info["id"], ref,
                  force=bool(b.get("Force")))
    return web.Response(status=200)


# -- volumes ---------------------------------------------------------------------------------

def _vol_list(svc, flt: dict) -> dict:
    for k in flt:
        if k not in ("name", "dangling", "driver", "label"):
            raise ApiError(400, f"invalid filter '{k}'")
    vols = _vols(svc)
    users = vols.users()
    out = []
    for n in vols.names():
        try:
            d = vols.inspect(n)
        except Exception:  # noqa: BLE001 - removed meanwhile
            continue
        if flt.get("name") and not any(x in n for x in flt["name"]):
            continue
        if flt.get("dangling"):
            want = any(v.lower() in ("true", "1") for v in flt["dangling"])
            if (n not in users) != want:
                continue
        if flt.get("driver") and "local" not in flt["driver"]:
            continue
        labels = d.get("Labels") or {}
        if any(lab.partition("=")[0] not in labels or ("=" in lab and labels[lab.partition("=")[0]] != lab.partition("=")[2])
               for lab in flt.get("label", ())):
            continue
        out.append(d)
    return {"Volumes": out, "Warnings": None}


async def vol_list(request):
    svc = _svc(request)
    return json_response(await svc.run(_vol_list, svc, streams.filters_of(request)))


async def vol_inspect(request):
    svc = _svc(request)
    return json_response(await svc.run(_vols(svc).inspect, request.match_info["name"]))


async def vol_create(request):
    from layerbox.api.app import json_body

    svc = _svc(request)
    b = await json_body(request)
    if b.get("Driver") not in (None, "", "local"):
        raise ApiError(400, f"volume driver {b['Driver']} is not supported by layerbox (local only)")
    if b.get("DriverOpts"):
        raise ApiError(400, "volume driver options are not supported by layerbox")
    if b.get("ClusterVolumeSpec"):
        raise ApiError(400, "cluster volumes are not supported by layerbox")
    doc = await svc.run(_vols(svc).create, b.get("Name") or None, b.get("Labels") or {})
    return json_response(doc, status=201)


async def vol_delete(request):
    svc = _svc(request)
    name = request.match_info["name"]
    await svc.run(_vols(svc).remove, name, force=streams.flag(request, "force"))
    return web.Response(status=204)


async def vol_prune(request):
    svc = _svc(request)
    flt = streams.filters_of(request)
    all_ = any(v.lower() in ("true", "1") for v in flt.pop("all", ()))
    if flt:
        raise ApiError(400, f"volume prune filters are not supported by layerbox: {', '.join(flt)}")
    return json_response(await svc.run(_vols(svc).prune, all_))


def register(r) -> None:
    r.add("GET", "/networks", net_list)
    r.add("POST", "/networks/create", net_create)
    r.add("POST", "/networks/prune", net_prune)
    r.add("GET", "/networks/{id}", net_inspect)
    r.add("DELETE", "/networks/{id}", net_delete)
    r.add("POST", "/networks/{id}/connect", net_connect)
    r.add("POST", "/networks/{id}/disconnect", net_disconnect)
    r.add("GET", "/volumes", vol_list)
    r.add("POST", "/volumes/create", vol_create)
    r.add("POST", "/volumes/prune", vol_prune)
    r.add("GET", "/volumes/{name}", vol_inspect)
    r.add("DELETE", "/volumes/{name}", vol_delete)
