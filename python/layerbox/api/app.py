"""The service: one aiohttp application over one loaded engine, its sockets, and its idle exit.

Versions: paths are served bare and under ``/v1.NN`` for every version from MIN_API to MAX_API
(sysinfo's, which `version` reports; older clients such as docker-compose 1.29 ask for older
versions and read the same fields). Errors are docker's: ``{"message": ...}`` with the status its daemon
gives (see ``status_of``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import signal
import socket
import time

from aiohttp import web

from layerbox import errors as _errors

from layerbox.sysinfo import API_VERSION as MAX_API, MIN_API_VERSION as MIN_API


def _vtuple(v: str) -> tuple:
    try:
        return tuple(int(x) for x in v.split("."))
    except ValueError:
        return ()


class ApiError(Exception):
    """An answer with a status and docker's message (for what is not an engine error)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def status_of(e: BaseException) -> int:
    """docker's status codes for the engine's errors."""
    if isinstance(e, ApiError):
        return e.status
    if isinstance(e, _errors.NotFound):
        return 404
    if isinstance(e, _errors.Conflict):
        return 409
    if isinstance(e, (_errors.InvalidArgument, _errors.BuildError, _errors.ImageLoadError)):
        return 400
    if isinstance(e, _errors.StartError):
        return 500
    if isinstance(e, _errors.APIError):
        return e.status_code
    return 500


def message_of(e: BaseException) -> str:
    if isinstance(e, OSError) and not isinstance(e, _errors.LayerboxError):
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{(e.strerror or str(e)).lower()}"
    return str(e)


def json_response(data, status: int = 200) -> web.Response:
    """JSON with Content-Type exactly application/json: the docker CLI reads an error's
    message only then (no charset parameter)."""
    import json

    return web.Response(body=json.dumps(data).encode(), status=status,
                        content_type="application/json")


def error_response(status: int, message: str) -> web.Response:
    return json_response({"message": message}, status=status)


class Service:
    """What every request uses: the engine (loaded once), the thread pool engine calls run in,
    and the activity counters of the idle exit."""

    def __init__(self, root: str | None = None, workers: int = 64):
        from layerbox.client import Client

        self.client = Client(root=root)
        self.engine = self.client._engine
        self.images = self.client._images
        self.store = self.client._store
        # Waits, attaches and log follows hold a thread each while they last: room for many.
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers,
                                                          thread_name_prefix="engine")
        self.active = 0
        self.last = time.monotonic()
        self.execs: dict = {}  # exec id -> layerbox.api.execs.Exec
        self.attaches: dict = {}  # container id -> [attach waiting for the start]
        self.waiters: dict = {}  # container id -> [future of a wait for its next exit]
        self.ptys: dict = {}  # container id -> its terminal's master (started here, with a tty)

    async def run(self, fn, *args, **kw):
        """fn(*args, **kw) in the engine's thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(fn, *args, **kw))


class Router:
    """Routes registered bare and under /v{version}."""

    def __init__(self, app: web.Application):
        self.app = app

    def add(self, method: str, path: str, handler) -> None:
        self.app.router.add_route(method, path, handler)
        self.app.router.add_route(method, r"/v{api_version:[0-9]+\.[0-9]+}" + path, handler)


@web.middleware
async def _middleware(request: web.Request, handler):
    svc: Service = request.app["svc"]
    svc.active += 1
    try:
        v = request.match_info.get("api_version")
        if v:
            if _vtuple(v) > _vtuple(MAX_API):
                return error_response(400, f"client version {v} is too new. Maximum supported "
                                           f"API version is {MAX_API}")
            if _vtuple(v) < _vtuple(MIN_API):
                return error_response(400, f"client version {v} is too old. Minimum supported "
                                           f"API version is {MIN_API}, please upgrade your "
                                           "client to a newer version")
        try:
            return await handler(request)
        except web.HTTPException as e:
            if e.status < 400:
                raise
            text = "page not found" if e.status == 404 else (e.text or e.reason or "")
            if text.startswith(f"{e.status}: "):
                text = text[len(f"{e.status}: "):]
            return error_response(e.status, text)
        except (ConnectionResetError, BrokenPipeError):
            # The client went away mid-answer (a CLI that got what it needed): nothing to say.
            return web.Response(status=204)
        except (_errors.LayerboxError, OSError, ApiError) as e:
            return error_response(status_of(e), message_of(e))
    finally:
        svc.active -= 1
        svc.last = time.monotonic()


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    from layerbox import _core

    response.headers["Api-Version"] = MAX_API
    response.headers["Docker-Experimental"] = "false"
    response.headers["Ostype"] = "linux"
    response.headers["Server"] = f"layerbox/{_core.__version__} (linux)"


def make_app(svc: Service) -> web.Application:
    # client_max_size: build contexts, archives and image loads come as request bodies, read
    # as streams by their routes (this bounds only what a route reads whole: JSON bodies).
    app = web.Application(middlewares=[_middleware], client_max_size=64 << 20)
    app["svc"] = svc
    app.on_response_prepare.append(_headers)
    r = Router(app)
    from layerbox.api import containers, execs, images, netvol, system

    for mod in (system, containers, execs, images, netvol):
        mod.register(r)
    return app


def _preload() -> None:
    import importlib

    for m in ("layerbox.container.config", "layerbox.container.plan", "layerbox.container.views",
              "layerbox.container.names", "layerbox.container.users", "layerbox.container.logs",
              "layerbox.container.execution", "layerbox.container.stats", "layerbox.image.views",
              "layerbox.network", "layerbox.volumes", "layerbox.sysinfo", "layerbox.shape"):
        try:
            importlib.import_module(m)
        except ImportError:
            pass  # a module another branch renamed: it is loaded on first use instead


async def _serve(svc: Service, sock: socket.socket, idle: float) -> None:
    app = make_app(svc)
    runner = web.AppRunner(app, handle_signals=False, access_log=None,
                           shutdown_timeout=1.0)
    await runner.setup()
    site = web.SockSite(runner, sock)
    await site.start()
    # What requests will need, loaded once in the background (not before the first answer).
    asyncio.get_running_loop().run_in_executor(svc.pool, _preload)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=0.25 if idle else None)
            except asyncio.TimeoutError:
                pass
            if idle and svc.active == 0 and time.monotonic() - svc.last >= idle:
                break
    finally:
        await runner.cleanup()


def serve(sock: socket.socket, path: str | None, idle: float = 5, root: str | None = None) -> int:
    """Serves on the listening socket until SIGTERM/SIGINT, or `idle` seconds without a
    request (0: never); removes the unix socket at `path` (ours) at the end."""
    ino = os.stat(path).st_ino if path else None
    svc = Service(root)
    try:
        asyncio.run(_serve(svc, sock, idle))
    finally:
        sock.close()
        svc.pool.shutdown(wait=False, cancel_futures=True)
        if path:
            try:  # ours still (not a successor's socket at the same path)
                if os.stat(path).st_ino == ino:
                    os.unlink(path)
            except FileNotFoundError:
                pass
    return 0


async def json_body(request) -> dict:
    """A request's JSON body ({} when there is none); bad JSON is a 400."""
    import json

    if not request.can_read_body:
        return {}
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as e:
        raise ApiError(400, f"invalid JSON: {e}") from None
