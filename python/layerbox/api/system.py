"""_ping, version, info, system/df, auth, events; what layerbox is not (swarm, plugins, search)."""

from __future__ import annotations


from aiohttp import web

from layerbox.api.app import ApiError, Service, json_response

NOT_SWARM = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again."


def _svc(request) -> Service:
    return request.app["svc"]


PING_HEADERS = {"Builder-Version": "1", "Swarm": "inactive",
                "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}


async def ping(request: web.Request) -> web.Response:
    # (app.ping_record writes these answers down for the launcher: see there)
    if request.method == "HEAD":
        return web.Response(status=200, headers=PING_HEADERS, content_type="text/plain")
    return web.Response(text="OK", headers=PING_HEADERS, content_type="text/plain")


def version_doc() -> dict:
    """GET /version: the engine's part of `version` (sysinfo: the API versions this service
    answers are the ones it reports)."""
    from layerbox import sysinfo

    return sysinfo.version_doc()["Server"]


async def version(request: web.Request) -> web.Response:
    return json_response(version_doc())


async def info(request: web.Request) -> web.Response:
    from layerbox import sysinfo

    svc = _svc(request)
    return json_response(await svc.run(sysinfo.info_doc, svc.engine, svc.images, svc.store))


async def df(request: web.Request) -> web.Response:
    from layerbox import sysinfo

    svc = _svc(request)
    return json_response(await svc.run(sysinfo.df_doc, svc.engine))


def _check_login(body: dict) -> None:
    from layerbox.registry import credentials
    from layerbox.registry.transport import Registry, RegistryError, endpoint

    user, password = body.get("username") or "", body.get("password") or ""
    if not user:
        raise ApiError(400, "username is required")
    domain = credentials.server_key(body.get("serveraddress") or credentials.HUB_KEY)
    with Registry(endpoint(domain), (user, password)) as reg:
        resp = reg.ping()
        resp.read()
        if resp.status == 401:
            raise RegistryError(f"login attempt to {reg.ep.base}/v2/ failed with status: 401 Unauthorized",
                                401, "UNAUTHORIZED")


async def auth(request: web.Request) -> web.Response:
    """Checks credentials against the registry; the daemon stores nothing (the client does)."""
    body = await request.json()
    svc = _svc(request)
    try:
        await svc.run(_check_login, body)
    except ApiError:
        raise
    except Exception as e:  # noqa: BLE001 - a registry's refusal is the answer
        raise ApiError(401, str(e)) from None
    return json_response({"Status": "Login Succeeded", "IdentityToken": ""})


async def events(request: web.Request) -> web.StreamResponse:
    from layerbox.api import eventsapi

    return await eventsapi.stream(request)


async def not_swarm(request: web.Request) -> web.Response:
    raise ApiError(503, NOT_SWARM)


async def no_plugins(request: web.Request) -> web.Response:
    return json_response([])


async def plugins_refused(request: web.Request) -> web.Response:
    raise ApiError(501, "plugins are not supported by layerbox")


async def search(request: web.Request) -> web.Response:
    raise ApiError(501, "image search is not supported by layerbox (it has no index to search)")


async def distribution(request: web.Request) -> web.Response:
    raise ApiError(501, "registry data (distribution) is not supported by layerbox")


async def session(request: web.Request) -> web.Response:
    raise ApiError(501, "BuildKit sessions are not supported by layerbox (the classic builder is)")


def register(r) -> None:
    r.add("GET", "/_ping", ping)
    r.add("HEAD", "/_ping", ping)
    r.add("GET", "/version", version)
    r.add("GET", "/info", info)
    r.add("GET", "/system/df", df)
    r.add("POST", "/auth", auth)
    r.add("GET", "/events", events)
    r.add("GET", "/images/search", search)
    r.add("GET", "/distribution/{name:.*}/json", distribution)
    r.add("POST", "/session", session)
    r.add("GET", "/plugins", no_plugins)
    for m in ("GET", "POST", "DELETE"):
        r.add(m, "/plugins/{rest:.*}", plugins_refused)
    for what in ("swarm", "services", "nodes", "secrets", "configs", "tasks"):
        for m in ("GET", "POST", "DELETE"):
            r.add(m, f"/{what}", not_swarm)
            r.add(m, "/" + what + "/{rest:.*}", not_swarm)
