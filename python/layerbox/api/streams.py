"""docker's stream formats: multiplexed frames (an 8-byte header: stream, 3 zero bytes, a
big-endian length), raw streams with a tty, and hijacked connections (attach, exec start).

A client asks to hijack with ``Upgrade: tcp``; the answer is a 101, after which the
connection carries raw bytes both ways: the client's stdin in, the process's output out (see
``Stream``).
"""

from __future__ import annotations

import asyncio
import json
import os
import struct

from aiohttp import web

STDIN, STDOUT, STDERR = 0, 1, 2
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"
_STREAM_NO = {"stdout": STDOUT, "stderr": STDERR}


def frame(stream: int | str, data: bytes) -> bytes:
    if isinstance(stream, str):
        stream = _STREAM_NO[stream]
    return struct.pack(">BxxxL", stream, len(data)) + data


def flag(request: web.Request, name: str, default: bool = False) -> bool:
    v = request.query.get(name)
    if v is None or v == "":
        return default
    return v.lower() not in ("0", "false", "no")


def filters_of(request: web.Request) -> dict:
    """docker's filters parameter: {"key": ["v", ...]} or the older {"key": {"v": true}}."""
    from layerbox.api.app import ApiError

    raw = request.query.get("filters")
    if not raw:
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        raise ApiError(400, f"invalid filter: {raw}") from None
    if not isinstance(doc, dict):
        raise ApiError(400, f"invalid filter: {raw}")
    out = {}
    for k, v in doc.items():
        if isinstance(v, dict):
            out[k] = [x for x, on in v.items() if on]
        elif isinstance(v, list):
            out[k] = [str(x) for x in v]
        else:
            out[k] = [str(v)]
    return out


class Stream:
    """An output stream to the client: a hijacked connection (101) when it asked for one,
    otherwise an ordinary streamed response.

    Hijacked: once the 101 is out, the socket is taken from aiohttp (its transport paused, a
    duplicate of the descriptor used with the event loop's socket calls), because the
    connection is now a raw pipe both ways: the client half-closes it at the end of its stdin
    and still reads the output, which aiohttp's protocol, closing on EOF, would not allow."""

    def __init__(self, request: web.Request, resp: web.StreamResponse, sock=None,
                 stdin: asyncio.Queue | None = None):
        self.request = request
        self.resp = resp
        self.sock = sock
        self.hijacked = sock is not None
        self.stdin = stdin  # bytes the client sends (b"" at its end of input); hijacked only
        self.closed = False
        self._reader = None

    @classmethod
    async def open(cls, request: web.Request, content_type: str) -> "Stream":
        import socket as _socket

        upgrade = request.headers.get("Upgrade", "").lower() == "tcp"
        if not upgrade:
            resp = web.StreamResponse(status=200, headers={"Content-Type": content_type})
            resp.force_close()  # the connection ends with the stream
            await resp.prepare(request)
            return cls(request, resp)
        resp = web.StreamResponse(status=101, headers={"Content-Type": content_type,
                                                       "Connection": "Upgrade", "Upgrade": "tcp"})
        resp.force_close()
        await resp.prepare(request)
        t = request.transport
        t.pause_reading()
        while t.get_write_buffer_size():
            await asyncio.sleep(0.001)
        tail = bytes(getattr(request.protocol, "_message_tail", b"") or b"")
        raw = t.get_extra_info("socket")
        sock = _socket.socket(fileno=os.dup(raw.fileno()))
        sock.setblocking(False)
        queue: asyncio.Queue = asyncio.Queue()
        if tail:
            queue.put_nowait(tail)
        st = cls(request, resp, sock, queue)
        st._reader = asyncio.ensure_future(st._read())
        # Clients read the 101's headers through a buffer and only then take the raw socket
        # (docker-py through http.client): bytes that came with the headers would be lost in
        # that buffer. dockerd's output comes later by the nature of its start; ours may be
        # ready at once (a log's backlog), so it waits for the headers to be read.
        await asyncio.sleep(0.01)
        return st

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await loop.sock_recv(self.sock, 65536)
                self.stdin.put_nowait(data)
                if not data:
                    return
        except OSError:
            self.stdin.put_nowait(b"")

    def input_ended(self) -> bool:
        """Whether the client ended its side (or went away), for a stream without stdin."""
        if self.hijacked:
            return self.closed or (self._reader is not None and self._reader.done())
        t = self.request.transport
        return t is None or t.is_closing()

    async def write(self, data: bytes) -> None:
        if self.closed or not data:
            return
        if self.hijacked:
            try:
                await asyncio.get_running_loop().sock_sendall(self.sock, data)
            except OSError as e:
                self.closed = True
                raise ConnectionResetError("the client went away") from e
            return
        t = self.request.transport
        if t is None or t.is_closing():
            self.closed = True
            raise ConnectionResetError("the client went away")
        await self.resp.write(data)

    async def close(self) -> None:
        if self.closed and not self.hijacked:
            return
        if self.hijacked:
            if self.sock.fileno() < 0:
                return
            try:
                # The end of the output; the client closes its side once it has read it.
                self.sock.shutdown(2 if self.closed else 1)
            except OSError:
                pass
            if self._reader is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(self._reader), 5)
                except asyncio.TimeoutError:
                    self._reader.cancel()
            self.closed = True
            self.sock.close()
            return
        self.closed = True
        try:
            await self.resp.write_eof()
        except ConnectionResetError:
            pass


async def pump_fd(fd: int, write) -> None:
    """Reads fd (non-blocking, through the event loop) until its end, awaiting write(chunk)
    for each chunk; closes fd. EIO is the end of a terminal's output."""
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    ready = asyncio.Event()
    loop.add_reader(fd, ready.set)
    try:
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                ready.clear()
                await ready.wait()
                continue
            except OSError as e:
                if e.errno == 5:  # EIO: every holder of the terminal closed it
                    return
                raise
            if not data:
                return
            await write(data)
    finally:
        loop.remove_reader(fd)
        os.close(fd)


async def feed_fd(queue: asyncio.Queue, fd: int) -> None:
    """Writes what the client sends into fd until the client's end of input; closes fd."""
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    try:
        while True:
            data = await queue.get()
            if not data:
                return
            view = memoryview(data)
            while view:
                try:
                    n = os.write(fd, view)
                    view = view[n:]
                except BlockingIOError:
                    ready = asyncio.Event()
                    loop.add_writer(fd, ready.set)
                    try:
                        await ready.wait()
                    finally:
                        loop.remove_writer(fd)
    except (BrokenPipeError, OSError):
        return  # the process closed its stdin
    finally:
        os.close(fd)


async def json_lines(request: web.Request, gen_thread, svc) -> web.StreamResponse:
    """Streams the events a blocking producer emits as JSON lines: ``gen_thread(emit)`` runs
    in the engine's pool, each ``emit(dict)`` goes out as one line as soon as it is made."""
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    end = object()

    def emit(doc: dict) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, doc)

    def work():
        try:
            gen_thread(emit)
        except Exception as e:  # noqa: BLE001 - reported in-band, as docker does
            from layerbox.api.app import message_of

            msg = message_of(e)
            emit({"errorDetail": {"message": msg}, "error": msg})
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, end)

    fut = loop.run_in_executor(svc.pool, work)
    gone = False
    while True:
        doc = await queue.get()
        if doc is end:
            break
        if gone:
            continue
        try:
            await resp.write(json.dumps(doc).encode() + b"\r\n")
        except ConnectionResetError:
            gone = True  # the work still finishes (a pull is not left half done)
    await fut
    if not gone:
        await resp.write_eof()
    return resp


async def iterate(svc, gen, write) -> None:
    """Sends each item of a blocking generator (read in the pool) through write."""
    end = object()
    while True:
        item = await svc.run(next, gen, end)
        if item is end:
            return
        await write(item)


async def tar_response(request: web.Request, svc, gen, headers: dict | None = None):
    """A tar made by a blocking generator (export, archive GET, image save) as the response,
    the generator closed however the client goes."""
    resp = web.StreamResponse(headers={"Content-Type": "application/x-tar", **(headers or {})})
    await resp.prepare(request)
    try:
        await iterate(svc, gen, resp.write)
    finally:
        await svc.run(gen.close)
    await resp.write_eof()
    return resp
