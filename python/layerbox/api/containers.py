"""/containers/...: the container lifecycle, logs, attach, archives, stats."""

from __future__ import annotations

import asyncio
import base64
import json
import os

from aiohttp import web

from layerbox import _util
from layerbox.container import stats as _stats
from layerbox.api import shapes, streams
from layerbox.api.app import ApiError, Service, json_body, json_response
from layerbox.api.streams import flag
from layerbox.container.engine import WouldWait
from layerbox.errors import LayerboxError, NotFound


def _svc(request) -> Service:
    return request.app["svc"]


def _int(request, name: str, default=None):
    v = request.query.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise ApiError(400, f"invalid value for {name}: {v}") from None


# -- create, list, inspect, remove ------------------------------------------------------------

async def create(request):
    svc = _svc(request)
    image, opts = shapes.create_options(await json_body(request), request.query.get("name"),
                                        request.query.get("platform"))
    warnings: list = []
    c = await svc.run(svc.engine.create_container, image, warnings=warnings, **opts)
    return json_response({"Id": c.id, "Warnings": warnings}, status=201)


# A listing of at most this many containers is read on the event loop instead of in the
# pool: a thread hop each way costs ~100 us on this machine, more on a busy one, which was most
# of `docker ps`'s time in the service. Through the listing's C++ rows and cache a container
# costs ~10 us; through Python's summaries 30-60.
INLINE_LISTING = 64
INLINE_LISTING_PY = 16


def _list(svc, all_, limit, size, filters, inline=False):
    """GET /containers/json's answer: JSON bytes, or the entries. `inline`: on the event loop,
    so None (ask the pool) when the listing could take long: sizes to measure, many
    containers, the engine not yet loaded, or a container to settle under its lock."""
    if inline and (size or svc.loading()):
        return None
    engine = svc.engine
    for k in filters:
        if k not in ("status", "name", "id", "label", "ancestor", "exited", "network",
                     "volume", "before", "since", "health", "is-task", "publish", "expose"):
            raise ApiError(400, f"invalid filter '{k}'")
    net = filters.pop("network", None)
    vol = filters.pop("volume", None)
    for k in ("is-task", "publish", "expose", "before", "since"):
        if filters.get(k):
            raise ApiError(400, f"the filter '{k}' is not supported by layerbox")
        filters.pop(k, None)
    show_all = all_ or limit > 0 or "status" in filters
    if not (filters or net or vol or size):  # `docker ps [-a]`: every row as it is
        out = _summaries(svc, show_all, limit, inline)
        if out is not None or inline:
            return out
    if inline:
        if engine.count(all=show_all) > INLINE_LISTING_PY:
            return None
        try:
            items = engine.list(all=show_all, wait=False)
        except WouldWait:
            return None
    else:
        items = engine.list(all=show_all)
    items = engine.filter(items, filters)
    if net:
        items = [c for c in items if c.config["HostConfig"].get("NetworkMode") in net]
    if vol:
        items = [c for c in items if any(m.get("Name") in vol or m.get("Destination") in vol
                                         for m in c.config.get("Mounts") or ())]
    if limit > 0:
        items = items[:limit]
    return [shapes.container_summary(engine, c, size) for c in items]


def _summaries(svc, show_all: bool, limit: int, inline: bool) -> bytes | None:
    """The answer without filters, built in C++ from the listing's rows and cache
    (views.api_summaries); None when that cannot answer (see _list's `inline`, and a running
    container with a healthcheck started since the listing began)."""
    from layerbox.container import views

    engine = svc.engine
    if inline and engine.count(all=show_all) > INLINE_LISTING:
        return None
    try:
        running = engine.list(wait=not inline)  # read and reconciled: their rows' states
    except WouldWait:
        return None
    ids = engine.ids() if show_all else [c.id for c in running]
    return views.api_summaries(engine, ids, running, last=limit, complete=show_all)


async def list_(request):
    svc = _svc(request)
    args = (svc, flag(request, "all"), _int(request, "limit", -1) or -1, flag(request, "size"))
    filters = streams.filters_of(request)
    out = _list(*args, dict(filters), inline=True)  # _list takes what it handles out of filters
    if out is None:
        out = await svc.run(_list, *args, filters)
    if type(out) is bytes:
        return web.Response(body=out, content_type="application/json")
    return json_response(out)


def _inspect(svc, ref, size):
    from layerbox.container import views

    engine = svc.engine
    c = engine.get(ref)
    doc = views.inspect(engine, c)
    doc["ExecIDs"] = [e.id for e in svc.execs.values() if e.cid == c.id and e.running] or None
    _user_network_aliases(c, doc)
    # what clients read without checking (docker-py's run reads the log driver's name)
    doc["HostConfig"].setdefault("LogConfig", {"Type": "json-file", "Config": {}})
    if size:
        s = shapes.container_summary(engine, c, True)
        doc["SizeRw"], doc["SizeRootFs"] = s["SizeRw"], s["SizeRootFs"]
    return doc


def _user_network_aliases(c, doc: dict) -> None:
    """On a user network a container answers to its aliases and its short id (what docker
    reports in Aliases, and what docker-compose checks before it would reconnect it)."""
    mode = c.config["HostConfig"].get("NetworkMode", "")
    if mode in ("bridge", "host", "none", "default", ""):
        return
    nets = doc.setdefault("NetworkSettings", {}).setdefault("Networks", {})
    ep = nets.get(mode)
    if ep is None:
        ep = nets[mode] = {}
    want = list((c.config.get("NetworkingConfig") or {}).get("Aliases") or ())
    have = list(ep.get("Aliases") or ())
    for a in want + [c.id[:12]]:
        if a not in have:
            have.append(a)
    ep["Aliases"] = have


async def inspect(request):
    svc = _svc(request)
    return json_response(await svc.run(_inspect, svc, request.match_info["id"], flag(request, "size")))


async def delete(request):
    svc = _svc(request)
    ref = request.match_info["id"]
    if flag(request, "link"):
        raise ApiError(400, "links are not supported by layerbox")
    await svc.run(svc.engine.remove, ref, force=flag(request, "force"), volumes=flag(request, "v"))
    return web.Response(status=204)


async def prune(request):
    svc = _svc(request)
    flt = streams.filters_of(request)
    for k in flt:
        if k not in ("label",):
            raise ApiError(400, f"invalid filter '{k}' (layerbox prunes by label)")
    out = await svc.run(svc.engine.prune, filters=flt)
    return json_response(out)


# -- start, stop, wait and friends ------------------------------------------------------------

async def start(request):
    svc = _svc(request)
    ref = request.match_info["id"]
    if request.query.get("checkpoint"):
        raise ApiError(400, "checkpoints are not supported by layerbox")
    engine = svc.engine
    c, pending = None, []
    if svc.attaches:  # an attach waits for a start: the pipes it is given need the config
        c = await svc.run(engine.get, ref)
        if c.running and c.status != "paused":
            return web.Response(status=304)
        ref = c.id
        pending = svc.attaches.pop(c.id, [])
    fds = _start_fds(c, pending)
    try:
        # One trip to the pool: engine.start loads the container itself (None: running).
        cid, mon = await svc.run(_start, engine, ref, stdin=fds["stdin"], stdout=fds["stdout"],
                                 stderr=fds["stderr"])
    except BaseException as e:
        for fd in fds["ours"] + fds["theirs"]:
            os.close(fd)
        for a in pending:
            if not a.future.done():
                a.future.set_exception(e if isinstance(e, Exception) else RuntimeError(str(e)))
        raise
    for fd in fds["theirs"]:
        os.close(fd)  # the monitor has them now
    if mon is None:
        for fd in fds["ours"]:
            os.close(fd)
        return web.Response(status=304)
    watch_exit(svc, cid, mon, pending, fds)
    return web.Response(status=204)


def _start(engine, ref: str, **kw) -> tuple:
    """(the container's id, engine.start's monitor handle or None)."""
    cid = engine.resolve(ref)
    return cid, engine.start(cid, **kw)


def watch_exit(svc, cid: str, mon, pending: list, fds: dict) -> None:
    """After a start made here: the attaches given its stdio, and a pool thread that waits
    for the monitor's exit report, then ends the waits and log follows on it (the exit
    event's exit_code: a wait of this container's exit needs no thread of its own)."""
    for i, a in enumerate(pending):
        if not a.future.done():
            a.future.set_result(fds["given"] if i == 0 else None)
    waiters = svc.waiters.pop(cid, [])
    exited = svc.exits[cid] = asyncio.Event()  # log follows end on it, not on their next poll
    # With a tty the monitor hands its starter the terminal's master: kept for resize.
    pty = os.dup(mon.pty) if mon.pty >= 0 else -1
    if pty >= 0:
        svc.ptys[cid] = pty
    loop = asyncio.get_running_loop()

    def watch():
        try:
            r = mon.wait()
            code = r["exit_code"]
        except Exception:  # noqa: BLE001 - the state file has it then
            code = None
        finally:
            mon.close()
            if pty >= 0:
                if svc.ptys.get(cid) == pty:
                    del svc.ptys[cid]
                os.close(pty)
        for w in waiters:
            loop.call_soon_threadsafe(lambda w=w: w.done() or w.set_result(code))
        loop.call_soon_threadsafe(_exited, svc, cid, exited, code)

    loop.run_in_executor(svc.pool, watch)


def _exited(svc, cid: str, ev: asyncio.Event, code) -> None:
    """The monitor reported the exit (its log drained and its state written before)."""
    ev.exit_code = code
    ev.set()
    if svc.exits.get(cid) is ev:
        del svc.exits[cid]


def _start_fds(c, pending) -> dict:
    """The stdio a start gives the container when a client attached before it: pipes, whose
    other ends the attach pumps (stdout only with a tty: the terminal is one stream)."""
    out = {"stdin": -1, "stdout": -1, "stderr": -1, "ours": [], "theirs": [], "given": None}
    if not pending:
        return out
    a = pending[0]
    tty = bool(c.config["Config"].get("Tty"))
    given = {}
    if a.stdin and c.config["Config"].get("OpenStdin"):
        r, w = os.pipe2(os.O_CLOEXEC)
        out["stdin"], given["stdin"] = r, w
        out["theirs"].append(r)
        out["ours"].append(w)
    r, w = os.pipe2(os.O_CLOEXEC)
    out["stdout"], given["stdout"] = w, r
    out["theirs"].append(w)
    out["ours"].append(r)
    if not tty:
        r, w = os.pipe2(os.O_CLOEXEC)
        out["stderr"], given["stderr"] = w, r
        out["theirs"].append(w)
        out["ours"].append(r)
    out["given"] = given
    return out


async def stop(request):
    svc = _svc(request)
    engine = svc.engine
    c = await svc.run(engine.get, request.match_info["id"])
    if not c.running:
        return web.Response(status=304)
    await svc.run(engine.stop, c.id, _int(request, "t"), request.query.get("signal") or None)
    return web.Response(status=204)


async def kill(request):
    svc = _svc(request)
    c = await svc.run(svc.engine.kill, request.match_info["id"], request.query.get("signal") or "SIGKILL")
    return web.Response(status=204)


async def restart(request):
    svc = _svc(request)
    c = await svc.run(svc.engine.get, request.match_info["id"])
    if c.running:
        await svc.run(svc.engine.stop, c.id, _int(request, "t"), request.query.get("signal") or None)
        await svc.run(svc.engine.wait, c.id)
    await svc.run(svc.engine.start, c.id)
    return web.Response(status=204)


async def pause(request):
    svc = _svc(request)
    await svc.run(svc.engine.pause, request.match_info["id"])
    return web.Response(status=204)


async def unpause(request):
    svc = _svc(request)
    await svc.run(svc.engine.unpause, request.match_info["id"])
    return web.Response(status=204)


async def rename(request):
    svc = _svc(request)
    name = request.query.get("name") or ""
    if not name:
        raise ApiError(400, "name is required: rename?name=NEW")
    await svc.run(svc.engine.rename, request.match_info["id"], name)
    return web.Response(status=204)


def _gone(svc, cid) -> bool:
    return not os.path.isdir(os.path.join(svc.store.containers, cid))


async def wait(request):
    """Answers its headers once the wait is in place (the docker CLI starts the container
    after that), the exit status when the condition is met."""
    svc = _svc(request)
    engine = svc.engine
    cond = request.query.get("condition") or "not-running"
    if cond not in ("not-running", "next-exit", "removed"):
        raise ApiError(400, f"invalid condition: \"{cond}\"")
    c = await svc.run(engine.get, request.match_info["id"])
    fut = None
    if not c.running and (cond == "next-exit" or (cond == "removed" and c.status == "created")):
        # resolved by the start this service makes (from its monitor's report); a start by
        # another client is seen by polling
        fut = asyncio.get_running_loop().create_future()
        svc.waiters.setdefault(c.id, []).append(fut)
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    try:
        code = await _wait_for(svc, c, fut)
        if cond == "removed":
            while not _gone(svc, c.id):
                await asyncio.sleep(0.05)
    finally:
        if fut is not None and c.id in svc.waiters and fut in svc.waiters[c.id]:
            svc.waiters[c.id].remove(fut)
            if not svc.waiters[c.id]:
                del svc.waiters[c.id]
    await resp.write(json.dumps({"StatusCode": code if code is not None else 0, "Error": None}).encode() + b"\n")
    await resp.write_eof()
    return resp


async def _wait_for(svc, c, fut):
    engine = svc.engine
    if fut is None and not c.running:
        return c.state.get("ExitCode", 0)
    if fut is None:  # running: the monitor tells its exit (engine.wait looks again if it ends)
        exited = svc.exits.get(c.id)
        policy = (c.config["HostConfig"].get("RestartPolicy") or {}).get("Name") or "no"
        if exited is not None and policy == "no":
            # started here: the exit report its watcher gets (no restart to wait through)
            await exited.wait()
            if getattr(exited, "exit_code", None) is not None:
                return exited.exit_code
        try:
            return (await svc.run(engine.wait, c.id))["StatusCode"]
        except NotFound:
            return 0
    # Not running yet: the start this service makes resolves fut; another client's start is
    # seen by polling.
    finished = c.state.get("FinishedAt")
    while True:
        try:
            return await asyncio.wait_for(asyncio.shield(fut), 0.25)
        except asyncio.TimeoutError:
            pass
        try:
            now = await svc.run(engine.load, c.id)
        except NotFound:
            return fut.result() if fut.done() else 0
        if now.running:
            try:
                return (await svc.run(engine.wait, c.id))["StatusCode"]
            except NotFound:
                return fut.result() if fut.done() else 0
        if now.state.get("FinishedAt") != finished:
            return now.state.get("ExitCode", 0)


async def top(request):
    svc = _svc(request)
    ps_args = request.query.get("ps_args")
    if ps_args and ps_args != "-ef":
        raise ApiError(400, f"ps_args {ps_args} are not supported by layerbox (it lists as ps -ef)")
    return json_response(await svc.run(svc.engine.top, request.match_info["id"]))


async def changes(request):
    from layerbox.container import changes as _changes

    svc = _svc(request)
    out = await svc.run(_changes.diff, svc.engine, request.match_info["id"])
    return json_response(out or None)


async def export(request):
    from layerbox.container import archive

    svc = _svc(request)
    gen = await svc.run(archive.export_chunks, svc.engine, request.match_info["id"])
    return await streams.tar_response(request, svc, gen)


# -- logs and attach -----------------------------------------------------------------------

async def follow(svc, c, path, offset, write_record, stdout=True, stderr=True, since=None):
    """Sends what the log gets from offset on until the container stops (polling, as the
    CLI's logs -f: the monitor writes the log; nothing tells us)."""
    from layerbox.container import logs as _logs

    # The exit of a container this service started wakes the follow at once (the monitor
    # reports it after draining the output into the log); others are seen by the poll.
    exited = svc.exits.get(c.id)
    while True:
        try:
            running = (await svc.run(svc.engine.load, c.id)).running
        except NotFound:
            running = False
        gen = _logs.records(path, offset, join_partial=False)
        while True:
            try:
                ts, stream, data = next(gen)
            except StopIteration as stop:
                offset = stop.value if stop.value is not None else offset
                break
            if (stream == "stdout" and not stdout) or (stream == "stderr" and not stderr):
                continue
            if since is not None and _util.parse_rfc3339(ts) < since:
                continue
            await write_record(ts, stream, data)
        if not running:
            return
        if exited is not None and not exited.is_set():
            try:
                await asyncio.wait_for(exited.wait(), 0.05)
            except asyncio.TimeoutError:
                pass
        else:
            await asyncio.sleep(0.05)


def _backlog(path, stdout=True, stderr=True, timestamps=False, tail=None, since=None, until=None):
    """(the log's records as (stream, bytes), selected as logs.read selects them; the offset
    where they end): a follow goes on from exactly there, neither repeating nor losing a line
    written meanwhile."""
    from layerbox.container import logs as _logs

    gen = _logs.records(path)
    recs = []
    while True:
        try:
            recs.append(next(gen))
        except StopIteration as stop:
            offset = stop.value or 0
            break
    out = []
    for ts, stream, data in recs:
        if (stream == "stdout" and not stdout) or (stream == "stderr" and not stderr):
            continue
        if since is not None or until is not None:
            t = _util.parse_rfc3339(ts)
            if (since is not None and t < since) or (until is not None and t > until):
                continue
        out.append((stream, (ts.encode() + b" " + data) if timestamps else data))
    if tail is not None and tail >= 0:
        out = out[-tail:] if tail else []
    return out, offset


async def logs(request):
    from layerbox.container import logs as _logs

    svc = _svc(request)
    engine = svc.engine
    out, err = flag(request, "stdout"), flag(request, "stderr")
    if not (out or err):
        raise ApiError(400, "you must choose at least one stream")
    ts = flag(request, "timestamps")
    tail = _logs.parse_tail(request.query.get("tail") or "all")
    since = _logs.parse_time(request.query.get("since") or None)
    until = _logs.parse_time(request.query.get("until") or None)
    if since == 0:
        since = None

    def read():  # one trip to the pool: the container, then its log
        c = engine.get(request.match_info["id"])
        path = engine.log_path(c)
        return (c, path, *_backlog(path, out, err, ts, tail, since, until))

    c, path, backlog, size = await svc.run(read)
    tty = bool(c.config["Config"].get("Tty"))
    resp = web.StreamResponse(headers={"Content-Type": streams.RAW if tty else streams.MULTIPLEXED})
    await resp.prepare(request)

    def enc(stream, data):
        return data if tty else streams.frame(stream, data)

    try:
        await resp.write(b"".join(enc(s, d) for s, d in backlog))
        if flag(request, "follow") and c.running and until is None:
            async def rec(t, stream, data):
                await resp.write(enc(stream, (t.encode() + b" " + data) if ts else data))

            await follow(svc, c, path, size, rec, out, err, since)
        await resp.write_eof()
    except ConnectionResetError:
        pass
    return resp


class _Attach:
    __slots__ = ("stdin", "future")

    def __init__(self, stdin: bool, future):
        self.stdin = stdin
        self.future = future


async def attach(request):
    """Hijacked: with a container not yet started, its stdio become pipes this service pumps
    (given to the start that comes next); with a running one, its output as the log gets it,
    and with stdin the client's input goes to the container's (engine.stdin_of)."""
    svc = _svc(request)
    engine = svc.engine
    c = await svc.run(engine.get, request.match_info["id"])
    tty = bool(c.config["Config"].get("Tty"))
    want_in, want_out, want_err = flag(request, "stdin"), flag(request, "stdout"), flag(request, "stderr")
    if request.query.get("detachKeys"):
        raise ApiError(400, "detachKeys are not supported by layerbox")
    pending = None
    stdin_fd = -1
    if flag(request, "stream") and not c.running:
        pending = _Attach(want_in, asyncio.get_running_loop().create_future())
        svc.attaches.setdefault(c.id, []).append(pending)
    elif want_in and flag(request, "stream") and c.running and c.config["Config"].get("OpenStdin"):
        # (without OpenStdin a container has no stdin to attach to, here as in dockerd)
        stdin_fd = await svc.run(engine.stdin_of, c.id)
    try:
        st = await streams.Stream.open(request, streams.RAW if tty else streams.MULTIPLEXED)
    except BaseException:
        if stdin_fd >= 0:
            os.close(stdin_fd)
        raise
    feeder = None

    def enc(stream, data):
        return data if tty else streams.frame(stream, data)

    path = engine.log_path(c)
    try:
        # Where following starts, taken before any input reaches the container: its answer to
        # that input comes after this offset, never lost in between.
        backlog, size = await svc.run(_backlog, path, want_out, want_err)
        if stdin_fd >= 0:
            if st.stdin is not None:
                # The client's input goes in as it comes; its end of input closes our copy, and
                # with StdinOnce the container's stdin too (without, it stays open for the next
                # attach, as docker's).
                feeder = asyncio.ensure_future(_feed_stdin(svc, c, st, stdin_fd, tty))
            else:
                os.close(stdin_fd)
            stdin_fd = -1
        if flag(request, "logs"):
            await st.write(b"".join(enc(s, d) for s, d in backlog))
        if flag(request, "stream"):
            if pending is not None:
                await _attached_start(svc, c, st, pending, enc, want_out, want_err)
            else:

                async def rec(t, stream, data):
                    await st.write(enc(stream, data))

                await follow(svc, c, path, size, rec, want_out, want_err)
    except ConnectionResetError:
        pass
    finally:
        if feeder is not None:
            feeder.cancel()  # feed_fd closes the descriptor on its way out
        elif stdin_fd >= 0:
            os.close(stdin_fd)  # the backlog's read failed before the feeder took it
        if pending is not None:
            lst = svc.attaches.get(c.id)
            if lst and pending in lst:
                lst.remove(pending)
        await st.close()
    return st.resp


async def _feed_stdin(svc, c, st, fd: int, tty: bool) -> None:
    await streams.feed_fd(st.stdin, fd)
    if c.config["Config"].get("StdinOnce") and not tty:
        try:
            await svc.run(svc.engine.close_stdin, c.id)
        except (LayerboxError, OSError):
            pass  # it stopped meanwhile: nothing left to close


async def _attached_start(svc, c, st, pending, enc, want_out, want_err):
    """Waits for the start (or the client's going away), then pumps the pipes it made."""
    while True:
        done, _ = await asyncio.wait([pending.future], timeout=0.5)
        if done:
            break
        if not pending.stdin and st.input_ended():
            return  # the client went away before the start
        try:
            now = await svc.run(svc.engine.load, c.id)
        except NotFound:
            return
        if now.running:  # started by another client: its output from the log
            pending.future.cancel()
            path = svc.engine.log_path(now)

            async def rec(ts, stream, data):
                await st.write(enc(stream, data))

            await follow(svc, now, path, 0, rec, want_out, want_err)
            return
    given = pending.future.result()
    if not given:
        return
    tasks = []
    if "stdin" in given:
        if st.stdin is not None:
            tasks.append(asyncio.ensure_future(streams.feed_fd(st.stdin, given["stdin"])))
        else:
            os.close(given["stdin"])

    async def out(data):
        if want_out:
            await st.write(enc("stdout", data))

    async def err(data):
        if want_err:
            await st.write(enc("stderr", data))

    pumps = [streams.pump_fd(given["stdout"], out)]
    if "stderr" in given:
        pumps.append(streams.pump_fd(given["stderr"], err))
    try:
        await asyncio.gather(*pumps)
    finally:
        for t in tasks:
            t.cancel()


async def resize(request):
    svc = _svc(request)
    c = await svc.run(svc.engine.get, request.match_info["id"])
    if not c.running:
        raise ApiError(409, f"Container {c.id} is not running")
    if not c.config["Config"].get("Tty"):
        return web.Response(status=200)  # docker: nothing to resize without a terminal
    try:
        h, w = int(request.query.get("h") or 0), int(request.query.get("w") or 0)
    except ValueError:
        raise ApiError(400, "h and w must be numbers") from None
    pty = svc.ptys.get(c.id, -1)
    if pty < 0:
        raise ApiError(409, f"the terminal of container {c.id} is held by the client that "
                            "started it (resize it there)")
    from layerbox.api.execs import set_size

    set_size(pty, h, w)
    return web.Response(status=200)


# -- archives ------------------------------------------------------------------------------

def _path_stat(svc, ref, path):
    from layerbox.container import archive

    with archive._Root(svc.engine, ref, write=False) as root:
        st = root.stat(path)
    if not st["exists"]:
        raise NotFound(f"Could not find the file {path} in container {ref}")
    return {"name": st["name"] or "/", "size": st["size"], "mode": archive._go_mode(st["mode"]),
            "mtime": _util.rfc3339(st["mtime"]).replace(".000000000Z", "Z"),
            "linkTarget": st["link_target"]}


def _stat_header(stat: dict) -> str:
    return base64.b64encode(json.dumps(stat).encode()).decode()


async def archive_head(request):
    svc = _svc(request)
    path = request.query.get("path") or ""
    if not path:
        raise ApiError(400, "path is required")
    stat = await svc.run(_path_stat, svc, request.match_info["id"], path)
    return web.Response(status=200, headers={"X-Docker-Container-Path-Stat": _stat_header(stat)})


async def archive_get(request):
    from layerbox.container import archive

    svc = _svc(request)
    path = request.query.get("path") or ""
    if not path:
        raise ApiError(400, "path is required")
    gen, stat = await svc.run(archive.get_archive, svc.engine, request.match_info["id"], path)
    return await streams.tar_response(request, svc, gen,
                                      {"X-Docker-Container-Path-Stat": _stat_header(stat)})


async def archive_put(request):
    from layerbox.container import archive

    svc = _svc(request)
    path = request.query.get("path") or ""
    if not path:
        raise ApiError(400, "path is required")
    if flag(request, "copyUIDGID"):
        pass  # ownership is kept as the archive says (the extraction keeps it)
    # The tar goes through a pipe that a pool thread extracts from while we read the body.
    r, w = os.pipe2(os.O_CLOEXEC)
    reader = open(r, "rb", buffering=0)
    job = asyncio.get_running_loop().run_in_executor(
        svc.pool, lambda: archive.put_archive(svc.engine, request.match_info["id"], path, reader))
    try:
        os.set_blocking(w, True)
        async for chunk in request.content.iter_chunked(1 << 20):
            await svc.run(_util._write_all, w, chunk)
    except (BrokenPipeError, OSError):
        pass  # the extraction failed: its error is the answer
    finally:
        os.close(w)
    try:
        await job
    finally:
        reader.close()
    return web.Response(status=200)


# -- stats (layerbox.container.stats) -------------------------------------------------------

async def stats(request):
    svc = _svc(request)
    c = await svc.run(svc.engine.get, request.match_info["id"])
    stream = flag(request, "stream", True) and not flag(request, "one-shot")
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    prev = None
    try:
        while True:
            doc = await svc.run(_stats.stats_doc, svc.engine, c)
            if prev is not None:
                doc["precpu_stats"] = prev["cpu_stats"]
                doc["preread"] = prev["read"]
            elif not stream and not flag(request, "one-shot") and c.running:
                # docker's non-streamed stats carries a previous sample a second before
                await asyncio.sleep(0.1)
                prev = doc
                doc = await svc.run(_stats.stats_doc, svc.engine, c)
                doc["precpu_stats"], doc["preread"] = prev["cpu_stats"], prev["read"]
            await resp.write(json.dumps(doc).encode() + b"\n")
            if not stream:
                break
            prev = doc
            await asyncio.sleep(1)
            try:
                c = await svc.run(svc.engine.load, c.id)
            except NotFound:
                break
            if not c.running:
                break
        await resp.write_eof()
    except ConnectionResetError:
        pass
    return resp


async def update(request):
    """docker's UpdateConfig: the Resources fields and RestartPolicy (container/update.py,
    the engine's update that `layerbox update` makes too)."""
    from layerbox.container import update as _update

    svc = _svc(request)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "the update must be a JSON object")
    restart = body.get("RestartPolicy") or None
    warnings = await svc.run(_update.update, svc.engine, request.match_info["id"], body, restart)
    return json_response({"Warnings": warnings or None})


def register(r) -> None:
    r.add("POST", "/containers/create", create)
    r.add("GET", "/containers/json", list_)
    r.add("POST", "/containers/prune", prune)
    p = "/containers/{id}"
    r.add("GET", p + "/json", inspect)
    r.add("DELETE", p, delete)
    r.add("POST", p + "/start", start)
    r.add("POST", p + "/stop", stop)
    r.add("POST", p + "/kill", kill)
    r.add("POST", p + "/restart", restart)
    r.add("POST", p + "/pause", pause)
    r.add("POST", p + "/unpause", unpause)
    r.add("POST", p + "/rename", rename)
    r.add("POST", p + "/wait", wait)
    r.add("GET", p + "/top", top)
    r.add("GET", p + "/changes", changes)
    r.add("GET", p + "/export", export)
    r.add("GET", p + "/logs", logs)
    r.add("POST", p + "/attach", attach)
    r.add("POST", p + "/resize", resize)
    r.add("HEAD", p + "/archive", archive_head)
    r.add("GET", p + "/archive", archive_get)
    r.add("PUT", p + "/archive", archive_put)
    r.add("GET", p + "/stats", stats)
    r.add("POST", p + "/update", update)
