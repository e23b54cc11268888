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
    """What every request uses: the engine (loaded on first use, or in the background once
    the first answer is out), the thread pool engine calls run in, the router, and the
    activity counters of the idle exit."""

    def __init__(self, root: str | None = None, workers: int = 64):
        import threading

        self.root = root
        self._client = None
        self._loading = threading.Lock()
        self.preloading = False
        self.router = Router()
        # Waits, attaches and log follows hold a thread each while they last: room for many.
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers,
                                                          thread_name_prefix="engine")
        self.active = 0
        self.last = time.monotonic()
        self.execs: dict = {}  # exec id -> layerbox.api.execs.Exec
        self.attaches: dict = {}  # container id -> [attach waiting for the start]
        self.waiters: dict = {}  # container id -> [future of a wait for its next exit]
        self.exits: dict = {}  # container id -> the event its monitor's exit report sets (started here)
        self.ptys: dict = {}  # container id -> its terminal's master (started here, with a tty)

    @property
    def client(self):
        c = self._client
        if c is None:
            with self._loading:
                if self._client is None:
                    from layerbox.client import Client

                    self._client = Client(root=self.root)
                c = self._client
        return c

    def loading(self) -> bool:
        """The engine is not loaded yet (its load is the pool's to do, off the event loop)."""
        return self._client is None

    @property
    def engine(self):
        return self.client._engine

    @property
    def images(self):
        return self.client._images

    @property
    def store(self):
        return self.client._store

    def start_preload(self) -> None:
        """Loads the engine and what requests use, in the pool: after the first answer (or a
        moment without one), never before it."""
        if not self.preloading:
            self.preloading = True
            self.pool.submit(self._preload)

    def _preload(self) -> None:
        import importlib

        self.client  # noqa: B018 - the engine, loaded once
        names = {f"layerbox.api.{m}" for ms in ROUTE_MODULES.values() for m in ms}
        names.update(("layerbox.container.config", "layerbox.container.plan",
                      "layerbox.container.views", "layerbox.container.names",
                      "layerbox.container.users", "layerbox.container.logs",
                      "layerbox.container.execution", "layerbox.container.stats",
                      "layerbox.image.views", "layerbox.network", "layerbox.volumes",
                      "layerbox.sysinfo", "layerbox.shape"))
        for m in sorted(names):
            importlib.import_module(m)

    async def run(self, fn, *args, **kw):
        """fn(*args, **kw) in the engine's thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(fn, *args, **kw))


# The first path segment -> the route modules that serve it (their register() adds the routes),
# imported on the first request under that segment: a first `GET /_ping` loads system.py only.
ROUTE_MODULES = {
    "containers": ("containers", "execs"), "exec": ("execs",),
    "images": ("images", "system"), "build": ("images",),
    "networks": ("netvol",), "volumes": ("netvol",),
    **{seg: ("system",) for seg in ("_ping", "version", "info", "system", "auth", "events",
                                    "distribution", "session", "plugins", "swarm", "services",
                                    "nodes", "secrets", "configs", "tasks")},
}


def _compile(path: str) -> tuple:
    """'/containers/{id}/json' -> (first segment, pattern): the pattern's parts are literal
    segments, (name,) for one segment, or (name, rx) for a run of segments (rx '.+': one or
    more, '.*': any number; at most one run in a pattern)."""
    first, *rest = path.strip("/").split("/")
    parts = []
    for seg in rest:
        if seg.startswith("{") and seg.endswith("}"):
            name, _, rx = seg[1:-1].partition(":")
            if rx in (".+", ".*"):
                parts.append((name, rx))
            elif rx:
                raise ValueError(f"route {path}: only {{name}}, {{name:.+}} and {{name:.*}} are routed")
            else:
                parts.append((name,))
        else:
            parts.append(seg)
    return first, tuple(parts)


def _match(parts: tuple, segs: list) -> dict | None:
    """The pattern's variables for the path's segments after the first, or None."""
    out = {}
    n, m = len(parts), len(segs)
    for i, p in enumerate(parts):
        if type(p) is str:
            if i >= m or segs[i] != p:
                return None
        elif len(p) == 1:
            if i >= m or not segs[i]:
                return None
            out[p[0]] = segs[i]
        else:  # a run: the parts after it match the path's last segments
            tail = n - i - 1
            if m - i - tail < (1 if p[1] == ".+" else 0):
                return None
            sub = _match(parts[i + 1:], segs[m - tail:]) if tail else {}
            if sub is None:
                return None
            out[p[0]] = "/".join(segs[i:m - tail])
            out.update(sub)
            return out
    return out if n == m else None


def _is_version(s: str) -> bool:
    major, dot, minor = s.partition(".")
    return bool(dot) and major.isdigit() and minor.isdigit()


class Router:
    """docker's routes, served bare and under /v{version}, dispatched by the method and the
    first path segment to the few patterns under it (aiohttp's router, given each route
    twice, tried its regexes one after another: 56 for a versioned request)."""

    def __init__(self):
        self.table: dict = {}  # (method, first segment) -> [(pattern, handler)]
        self.loaded: set = set()  # the route modules registered
        self.ready: set = set()  # the first segments whose modules are all registered

    def add(self, method: str, path: str, handler) -> None:
        first, parts = _compile(path)
        routes = self.table.setdefault((method, first), [])
        routes.append((parts, handler))
        # literal segments before variables: /images/json before /images/{name:.+}/json
        routes.sort(key=lambda r: sum(type(p) is not str for p in r[0]))

    def _load(self, first: str) -> None:
        import importlib

        for name in ROUTE_MODULES.get(first, ()):
            if name not in self.loaded:
                importlib.import_module(f"layerbox.api.{name}").register(self)
                self.loaded.add(name)
        self.ready.add(first)

    def resolve(self, method: str, path: str) -> tuple:
        """(handler, its variables, the path's API version or None); (None, 404 or 405,
        version) when no route takes the request."""
        segs = path.split("/")[1:]
        version = None
        if segs and len(segs[0]) > 1 and segs[0][0] == "v" and _is_version(segs[0][1:]):
            version = segs.pop(0)[1:]
        if not segs or not segs[0]:
            return None, 404, version
        first = segs[0]
        if first not in self.ready:
            self._load(first)
        rest = segs[1:]
        for parts, handler in self.table.get((method, first), ()):
            found = _match(parts, rest)
            if found is not None:
                return handler, found, version
        for (m, f), routes in self.table.items():
            if f == first and any(_match(p, rest) is not None for p, _ in routes):
                return None, 405, version
        return None, 404, version


async def _dispatch(request: web.Request):
    """aiohttp's one route: the handler our router finds, with docker's version check and
    error bodies."""
    svc: Service = request.app["svc"]
    svc.active += 1
    try:
        handler, found, v = svc.router.resolve(request.method, request.path)
        if v:
            if _vtuple(v) > _vtuple(MAX_API):
                return error_response(400, f"client version {v} is too new. Maximum supported "
                                           f"API version is {MAX_API}")
            if _vtuple(v) < _vtuple(MIN_API):
                return error_response(400, f"client version {v} is too old. Minimum supported "
                                           f"API version is {MIN_API}, please upgrade your "
                                           "client to a newer version")
        if handler is None:
            return error_response(found, "page not found" if found == 404 else "method not allowed")
        request.match_info.update(found)
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
        if not svc.preloading:  # once this answer is out (the handler returns it unsent)
            asyncio.get_running_loop().call_later(0.02, svc.start_preload)


_HEADERS: dict = {}


def _common_headers() -> dict:
    """The fields every answer carries."""
    if not _HEADERS:
        from layerbox import _core

        _HEADERS.update({"Api-Version": MAX_API, "Docker-Experimental": "false",
                         "Ostype": "linux", "Server": f"layerbox/{_core.__version__} (linux)"})
    return _HEADERS


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(_common_headers())


PING_RECORD = "api-ping.json"
_DATE_HOLE = "\x00date\x00"


def ping_record() -> dict:
    """`GET` and `HEAD /_ping` as this service answers them (aiohttp's field order; the date a
    hole), and the API versions it answers: what the launcher answers while a socket-activated
    service loads (csrc/launcher/service_ping.cpp). system.ping stays their one source."""
    from layerbox.api import system

    common = _common_headers()
    tail = {"Date": _DATE_HOLE, "Server": common["Server"],
            **{k: v for k, v in common.items() if k != "Server"}}

    def answer(ctype: str, body: str) -> str:
        fields = {**system.PING_HEADERS, "Content-Type": ctype,
                  **({"Content-Length": str(len(body))} if body else {}), **tail}
        return ("HTTP/1.1 200 OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
                + "\r\n" + body)

    return {"get": answer("text/plain; charset=utf-8", "OK"), "head": answer("text/plain", ""),
            "min_minor": int(MIN_API.split(".")[1]), "max_minor": int(MAX_API.split(".")[1])}


def write_ping_record(root: str | None) -> None:
    """Writes ping_record() into the store when it differs (tmp + rename, 0600). Never fails
    the service: without a record the launcher leaves every request to it."""
    import json

    from layerbox import _util
    from layerbox.store import default_root

    path = os.path.join(os.path.abspath(root or default_root()), PING_RECORD)
    text = json.dumps(ping_record(), sort_keys=True).encode()
    try:
        with open(path, "rb") as f:
            if f.read() == text:
                return
    except OSError:
        pass
    try:
        _util.write_atomic(path, text, mode=0o600)
    except OSError:
        pass


async def _adopt(runner, handoff: str) -> None:
    """The connections the launcher's ping answerer holds (csrc/launcher/service_ping.cpp):
    told we serve, it sends each one's fd with what it read from it and did not answer, and
    goes. They are served as if accepted here."""
    fd, _, pid = handoff.partition(",")
    loop = asyncio.get_running_loop()
    try:
        os.set_inheritable(int(fd), False)  # inherited across our exec: no child of ours gets it
        channel = socket.socket(fileno=int(fd))
    except (ValueError, OSError):
        return
    try:
        channel.settimeout(2)  # it answers at once: bounded all the same
        channel.send(b"ready")
        while True:
            msg, fds, _, _ = socket.recv_fds(channel, 1 << 17, 1)
            if not fds:
                break
            conn = socket.socket(fileno=fds[0])
            conn.setblocking(False)
            _, proto = await loop.connect_accepted_socket(runner.server, conn)
            if len(msg) > 1:
                proto.data_received(msg[1:])
    except OSError:
        pass
    finally:
        channel.close()
        try:
            os.waitpid(int(pid), 0)
        except (ValueError, OSError):
            pass


def make_app(svc: Service) -> web.Application:
    # client_max_size: build contexts, archives and image loads come as request bodies, read
    # as streams by their routes (this bounds only what a route reads whole: JSON bodies).
    app = web.Application(client_max_size=64 << 20)
    app["svc"] = svc
    app.on_response_prepare.append(_headers)
    app.router.add_route("*", "/{path:.*}", _dispatch)
    return app


async def _serve(svc: Service, sock: socket.socket, idle: float) -> None:
    app = make_app(svc)
    runner = web.AppRunner(app, handle_signals=False, access_log=None,
                           shutdown_timeout=1.0)
    await runner.setup()
    site = web.SockSite(runner, sock)
    await site.start()
    loop = asyncio.get_running_loop()
    handoff = os.environ.pop("LAYERBOX_PING_HANDOFF", "")
    if handoff:
        await _adopt(runner, handoff)
    # For the next socket-activated start (once what is waiting has been read and parsed).
    loop.call_soon(write_ping_record, svc.root)
    # The engine, loaded after the first answer or once nobody asked for a moment.
    loop.call_later(0.5, svc.start_preload)
    stop = asyncio.Event()
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


def _run_loop(main) -> None:
    """Runs the service's event loop: uvloop's (libuv's) when it is installed, asyncio's own
    otherwise. uvloop moves each request through the loop for about 60% of asyncio's time:
    a new connection, HEAD /_ping and GET /containers/json (what `docker ps` asks) took 0.40 ms
    of the service's against 0.55 (RESULTS.md, "docker ps through the socket")."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


def serve(sock: socket.socket, path: str | None, idle: float = 5, root: str | None = None) -> int:
    """Serves on the listening socket until SIGTERM/SIGINT, or `idle` seconds without a
    request (0: never); removes the unix socket at `path` (ours) at the end."""
    import sys

    # The event loop answers every client; engine calls run in pool threads. A thread that
    # holds the GIL keeps it up to the switch interval (5 ms by default) while the loop waits
    # to get it back after each send and recv: half a millisecond keeps the loop's turn short
    # (docker-py's run, interleaved A/B at load 11-12: 79.9 vs 85.1 ms, 81.3 vs 95.2 ms).
    sys.setswitchinterval(0.0005)
    ino = os.stat(path).st_ino if path else None
    svc = Service(root)
    try:
        _run_loop(_serve(svc, sock, idle))
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
