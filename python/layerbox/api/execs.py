"""/containers/{id}/exec and /exec/{id}/...: processes run in a running container.

An exec instance lives in this service's memory (as in dockerd's): created, then started once,
detached or hijacked; its exit code is kept for inspect until the service ends.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import struct
import termios

from aiohttp import web

from layerbox.api import streams
from layerbox.api.app import ApiError, Service, json_response
from layerbox.errors import NotFound


class Exec:
    def __init__(self, eid: str, cid: str, body: dict):
        self.id = eid
        self.cid = cid
        self.body = body
        self.running = False
        self.started = False
        self.exit_code = None
        self.pid = 0
        self.pty = -1  # the terminal's master while the process runs (for resize)

    def doc(self) -> dict:
        b = self.body
        cmd = b.get("Cmd") or []
        return {
            "ID": self.id, "Running": self.running, "ExitCode": self.exit_code,
            "ProcessConfig": {"tty": bool(b.get("Tty")), "entrypoint": cmd[0] if cmd else "",
                              "arguments": cmd[1:], "privileged": bool(b.get("Privileged")),
                              "user": b.get("User") or ""},
            "OpenStdin": bool(b.get("AttachStdin")), "OpenStderr": bool(b.get("AttachStderr")),
            "OpenStdout": bool(b.get("AttachStdout")), "CanRemove": False,
            "ContainerID": self.cid, "DetachKeys": b.get("DetachKeys") or "", "Pid": self.pid,
        }


def _svc(request) -> Service:
    return request.app["svc"]


def _get(svc: Service, eid: str) -> Exec:
    e = svc.execs.get(eid)
    if e is None:
        raise NotFound(f"No such exec instance: {eid}")
    return e


async def create(request):
    from layerbox.api.app import json_body

    svc = _svc(request)
    body = await json_body(request)
    c = await svc.run(svc.engine.get, request.match_info["id"])
    if not c.running:
        raise ApiError(409, f"Container {c.id} is not running")
    if c.status == "paused":
        raise ApiError(409, f"Container {c.id} is paused, unpause the container before exec")
    cmd = body.get("Cmd")
    if not cmd or not isinstance(cmd, list):
        raise ApiError(400, "No exec command specified")
    if body.get("Privileged"):
        raise ApiError(400, "privileged exec is not supported by layerbox")
    if body.get("DetachKeys"):
        raise ApiError(400, "detachKeys are not supported by layerbox")
    eid = os.urandom(32).hex()
    svc.execs[eid] = Exec(eid, c.id, body)
    await svc.run(_event, svc, eid, "exec_create: " + " ".join(cmd))
    return json_response({"Id": eid}, status=201)


def _event(svc: Service, eid: str, action: str, **attributes) -> None:
    """The exec's event (execution.record_event), for the container as it is now."""
    from layerbox.container import execution
    from layerbox.errors import LayerboxError

    e = svc.execs.get(eid)
    try:
        c = svc.engine.load(e.cid)
    except LayerboxError:
        return  # removed meanwhile: nothing to say it of
    execution.record_event(svc.engine, c, action, eid, **attributes)


def _start_event(svc: Service, e: Exec) -> None:
    _event(svc, e.id, "exec_start: " + " ".join(e.body["Cmd"]))


def _die_event(svc: Service, e: Exec) -> None:
    _event(svc, e.id, "exec_die", exitCode=e.exit_code if e.exit_code is not None else 0)


async def inspect(request):
    svc = _svc(request)
    return json_response(_get(svc, request.match_info["id"]).doc())


def set_size(fd: int, h: int, w: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", h, w, 0, 0))


async def resize(request):
    svc = _svc(request)
    e = _get(svc, request.match_info["id"])
    try:
        h, w = int(request.query.get("h") or 0), int(request.query.get("w") or 0)
    except ValueError:
        raise ApiError(400, "h and w must be numbers") from None
    if not e.running:
        raise ApiError(409, f"exec {e.id} is not running")
    if e.pty >= 0:
        set_size(e.pty, h, w)
    return web.Response(status=200)


async def start(request):
    from layerbox.api.app import json_body
    from layerbox.container import execution
    from layerbox.container import process as _process

    svc = _svc(request)
    e = _get(svc, request.match_info["id"])
    body = await json_body(request)
    if e.started:
        raise ApiError(409, f"exec {e.id} has already been started")
    b = e.body
    tty = bool(body.get("Tty", b.get("Tty")))
    detach = bool(body.get("Detach"))
    size = body.get("ConsoleSize") or b.get("ConsoleSize") or [0, 0]
    env = _process.parse_env_list(b.get("Env") or [])
    kw = dict(env=env, workdir=b.get("WorkingDir") or None, user=b.get("User") or None, tty=tty,
              tty_size=(int(size[0] or 0), int(size[1] or 0)))
    e.started = True
    if detach:
        p = await svc.run(execution.start, svc.engine, e.cid, b["Cmd"], detach=True, **kw)
        e.running, e.pid = True, getattr(p, "pid", 0)
        await svc.run(_start_event, svc, e)
        _reap(svc, e, p)
        return web.Response(status=200, content_type="application/json", text="")
    want_in = bool(b.get("AttachStdin"))
    want_out, want_err = b.get("AttachStdout", True), b.get("AttachStderr", True)
    # The 101 first, then the process (as dockerd): its output must not travel with the
    # answer's headers, which clients read through a buffer before taking the raw socket.
    st = await streams.Stream.open(request, streams.RAW if tty else streams.MULTIPLEXED)
    fds = {}
    ours, theirs = [], []
    try:
        if not tty:
            for name in ("stdout", "stderr"):
                r, w = os.pipe2(os.O_CLOEXEC)
                fds[name] = w
                ours.append(r)
                theirs.append(w)
            if want_in:
                r, w = os.pipe2(os.O_CLOEXEC)
                fds["stdin"] = r
                ours.append(w)
                theirs.append(r)
        p = await svc.run(execution.start, svc.engine, e.cid, b["Cmd"], stdin=fds.get("stdin", -1),
                          stdout=fds.get("stdout", -1), stderr=fds.get("stderr", -1), **kw)
    except Exception as ex:  # noqa: BLE001 - told in the stream, as dockerd does
        from layerbox.api.app import message_of

        for fd in ours + theirs:
            os.close(fd)
        e.exit_code = getattr(ex, "exit_code", None) or 126
        msg = (message_of(ex) + "\r\n").encode()
        try:
            await st.write(msg if tty else streams.frame(streams.STDERR, msg))
        except ConnectionResetError:
            pass
        await st.close()
        return st.resp
    for fd in theirs:
        os.close(fd)
    e.running, e.pid = True, p.pid
    await svc.run(_start_event, svc, e)
    tasks = []
    try:
        if tty:
            master = os.dup(p.pty)
            e.pty = master
            if want_in and st.stdin is not None:
                tasks.append(asyncio.ensure_future(streams.feed_fd(st.stdin, os.dup(master))))

            async def out(data):
                if want_out:
                    await st.write(data)

            await streams.pump_fd(master, out)
            e.pty = -1
        else:
            out_r, err_r = ours[0], ours[1]
            if want_in:
                if st.stdin is not None:
                    tasks.append(asyncio.ensure_future(streams.feed_fd(st.stdin, ours[2])))
                else:
                    os.close(ours[2])

            async def out(data):
                if want_out:
                    await st.write(streams.frame(streams.STDOUT, data))

            async def err(data):
                if want_err:
                    await st.write(streams.frame(streams.STDERR, data))

            await asyncio.gather(streams.pump_fd(out_r, out), streams.pump_fd(err_r, err))
    except ConnectionResetError:
        pass
    finally:
        for t in tasks:
            t.cancel()
        e.exit_code = await svc.run(p.wait)
        e.running = False
        await svc.run(_die_event, svc, e)
        await st.close()
    return st.resp


def _reap(svc, e: Exec, p) -> None:
    """A detached exec's exit code, for inspect."""
    loop = asyncio.get_running_loop()

    def work():
        try:
            code = p.wait() if hasattr(p, "wait") else None
        except Exception:  # noqa: BLE001 - the process is gone either way
            code = None
        e.exit_code, e.running = code, False
        _die_event(svc, e)

    loop.run_in_executor(svc.pool, work)


def register(r) -> None:
    r.add("POST", "/containers/{id}/exec", create)
    r.add("POST", "/exec/{id}/start", start)
    r.add("POST", "/exec/{id}/resize", resize)
    r.add("GET", "/exec/{id}/json", inspect)
