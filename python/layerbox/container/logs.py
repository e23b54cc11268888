"""Reading a container's log (CRI format, written by the monitor; see csrc/core/logfile.hpp)."""

from __future__ import annotations

import os
import time

from layerbox import _util


def parse_time(s: str | int | float | None, now: float | None = None) -> float | None:
    """docker's --since/--until: RFC 3339, a unix timestamp, or a duration ago ("10m", "1h30m")."""
    if s is None or s == "":
        return None
    if isinstance(s, (int, float)):
        return float(s)
    now = time.time() if now is None else now
    t = s.strip()
    units = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    if t and t[-1] in "smh" and t[0].isdigit():
        total, num = 0.0, ""
        i = 0
        while i < len(t):
            ch = t[i]
            if ch.isdigit() or ch == ".":
                num += ch
                i += 1
                continue
            u = t[i:i + 2] if t[i:i + 2] in units else ch
            if u not in units or not num:
                break
            total += float(num) * units[u]
            num = ""
            i += len(u)
        else:
            if not num:
                return now - total
    try:
        return float(t)
    except ValueError:
        pass
    if "T" not in t and len(t) == 10:
        t += "T00:00:00Z"
    try:
        return _util.parse_rfc3339(t)
    except (ValueError, IndexError):
        from layerbox.errors import InvalidArgument

        raise InvalidArgument(f"invalid time value: {s!r}") from None


def records(path: str, start: int = 0, join_partial: bool = True):
    """Yields (timestamp_str, stream, bytes): whole lines with P fragments joined (or, with
    ``join_partial`` False, each fragment as it was written, for following). The generator's
    return value is the offset after the last complete record."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return start
    with f:
        f.seek(start)
        pending: dict[bytes, list] = {}
        offset = start
        for raw in f:
            if not raw.endswith(b"\n"):
                break  # a record being written; picked up next time
            offset += len(raw)
            line = raw[:-1]
            try:
                ts, stream, tag, content = line.split(b" ", 3)
            except ValueError:
                if line.count(b" ") == 2:  # empty content
                    ts, stream, tag = line.split(b" ")
                    content = b""
                else:
                    continue
            if tag == b"P" and not join_partial:
                yield ts.decode(), stream.decode(), content
                continue
            if tag == b"P":
                pending.setdefault(stream, [ts, b""])[1] += content
                continue
            if stream in pending:
                first_ts, acc = pending.pop(stream)
                yield first_ts.decode(), stream.decode(), acc + content + b"\n"
            else:
                yield ts.decode(), stream.decode(), content + b"\n"
        for stream, (ts, acc) in pending.items():
            if acc:
                yield ts.decode(), stream.decode(), acc
        return offset


def read(path: str, *, stdout: bool = True, stderr: bool = True, timestamps: bool = False,
         tail: int | None = None, since: float | None = None, until: float | None = None):
    """The selected lines as (stream, bytes) pairs."""
    out = []
    for ts, stream, data in records(path):
        if (stream == "stdout" and not stdout) or (stream == "stderr" and not stderr):
            continue
        if since is not None or until is not None:
            t = _util.parse_rfc3339(ts)
            if since is not None and t < since:
                continue
            if until is not None and t > until:
                continue
        out.append((stream, (ts.encode() + b" " + data) if timestamps else data))
    if tail is not None and tail >= 0:
        out = out[-tail:] if tail else []
    return out


def follow_log(path: str, is_running, *, stdout=True, stderr=True, timestamps=False, since=None,
           start_offset: int | None = None, poll: float = 0.1):
    """Yields (stream, bytes) as they are written until the container stops."""
    offset = os.path.getsize(path) if start_offset is None and os.path.exists(path) else (start_offset or 0)
    while True:
        running = is_running()
        gen = records(path, offset, join_partial=False)
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
            yield stream, (ts.encode() + b" " + data) if timestamps else data
        if not running:
            return
        time.sleep(poll)


def parse_tail(tail) -> int | None:
    """docker's ``--tail`` and the SDK's ``tail``: "all" (or nothing) for every line, a number
    for the last n; a negative number means all, as in docker."""
    if tail is None or tail == "" or tail == "all":
        return None
    if isinstance(tail, int) and not isinstance(tail, bool):
        n = tail
    else:
        text = str(tail)
        if not text.lstrip("-").isdigit() or not text.isascii():
            from layerbox.errors import InvalidArgument

            raise InvalidArgument(f'invalid value for "tail": "{tail}"')
        n = int(text)
    return None if n < 0 else n


def container_logs(engine, ref: str, *, stdout: bool = True, stderr: bool = True,
                   timestamps: bool = False, tail="all", since=None, until=None,
                   follow: bool = False):
    """`logs` for the CLI and the API alike: (what the log holds now, as a list of (stream,
    bytes), and, when following a running container, an iterator of what it writes next, else
    None). Bad arguments and a missing container raise here, before anything is read."""
    c = engine.get(ref)
    n = parse_tail(tail)
    since_t, until_t = parse_time(since), parse_time(until)
    path = engine.log_path(c)
    backlog = read(path, stdout=stdout, stderr=stderr, timestamps=timestamps, tail=n,
                   since=since_t, until=until_t)
    if not (follow and c.running):
        return backlog, None

    def running() -> bool:
        from layerbox.errors import NotFound

        try:
            return engine.load(c.id).running
        except NotFound:
            return False

    return backlog, follow_log(path, running, stdout=stdout, stderr=stderr, timestamps=timestamps)
