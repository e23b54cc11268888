"""GET /events: the store's event log (layerbox.events) as docker streams it, with since,
until and filters; followed (polled) until `until` or the client's going away."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from layerbox import events as _events
from layerbox.api.app import ApiError
from layerbox.api.streams import filters_of



async def stream(request: web.Request) -> web.StreamResponse:
    svc = request.app["svc"]
    flt = filters_of(request)
    for k in flt:
        if k not in _events.FILTERS:
            raise ApiError(400, f"invalid filter '{k}'")
    since = _events.time_ns(request.query.get("since"))
    until = _events.time_ns(request.query.get("until"))
    root = svc.store.root
    past, where = await svc.run(_events.read, root, since or 0, until)
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    try:
        if since is None:
            past = []  # without since: only what happens from now on, as docker
        for ev in past:
            if _events.matches(ev, flt):
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
                if _events.matches(ev, flt):
                    await resp.write(json.dumps(ev).encode() + b"\n")
        await resp.write_eof()
    except ConnectionResetError:
        pass
    return resp
