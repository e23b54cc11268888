"""GET /events: the store's event log (layerbox.events) as docker streams it, with since,
until and filters; followed (polled) until `until` or the client's going away."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from layerbox import events as _events
from layerbox.api.app import ApiError
from layerbox.api.streams import filters_of

_FILTERS = ("type", "event", "container", "image", "network", "volume", "label", "scope", "daemon")


def _matches(ev: dict, flt: dict) -> bool:
    actor = ev.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    typ = ev.get("Type")
    for k, vals in flt.items():
        if k == "type" and typ not in vals:
            return False
        if k == "event" and ev.get("Action") not in vals and ev.get("Action", "").split(":")[0] not in vals:
            return False
        if k == "scope" and "local" not in vals:
            return False
        if k in ("container", "image", "network", "volume"):
            if typ != k:
                return False
            aid = actor.get("ID", "")
            if not any(v == attrs.get("name") or (v and aid.startswith(v)) or v == attrs.get("image")
                       for v in vals):
                return False
        if k == "label":
            for v in vals:
                key, eq, val = v.partition("=")
                if key not in attrs or (eq and attrs[key] != val):
                    return False
    return True


def _ns(text: str | None) -> int | None:
    from layerbox.container.logs import parse_time

    if not text:
        return None
    t = parse_time(text)
    return None if t is None else int(t * 1_000_000_000)


async def stream(request: web.Request) -> web.StreamResponse:
    svc = request.app["svc"]
    flt = filters_of(request)
    for k in flt:
        if k not in _FILTERS:
            raise ApiError(400, f"invalid filter '{k}'")
    since, until = _ns(request.query.get("since")), _ns(request.query.get("until"))
    root = svc.store.root
    past, where = await svc.run(_events.read, root, since or 0, until)
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    try:
        if since is None:
            past = []  # without since: only what happens from now on, as docker
        for ev in past:
            if _matches(ev, flt):
                await resp.write(json.dumps(ev).encode() + b"\n")
        while True:
            import time

            if until is not None and time.time_ns() > until:
                break
            t = request.transport
            if t is None or t.is_closing():
                break
            await asyncio.sleep(0.1)
            new, where = await svc.run(_events.read_from, root, where)
            for ev in new:
                if until is not None and ev.get("timeNano", 0) > until:
                    continue
                if _matches(ev, flt):
                    await resp.write(json.dumps(ev).encode() + b"\n")
        await resp.write_eof()
    except ConnectionResetError:
        pass
    return resp
