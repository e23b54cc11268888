"""Reading a container's log, written by the monitor in docker's json-file format (or, for
containers made before it, the CRI format): see csrc/core/logfile.hpp and logdriver.py."""

from __future__ import annotations

import os
import time

from layerbox import _jsonfast, _util


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


def _parse(line: bytes, fmt: str):
    """One record of either format (see csrc/core/logfile.hpp) -> (time, stream, bytes,
    partial), or None for a line that is not a record. json-file keeps the newline in "log";
    CRI marks a line's fragments P and its last part F."""
    if fmt == "json":
        try:
            d = _jsonfast.loads(line)
            return d["time"], d["stream"], d["log"].encode(), not d["log"].endswith("\n")
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
    try:
        ts, stream, tag, content = line.split(b" ", 3)
    except ValueError:
        if line.count(b" ") != 2:  # empty content
            return None
        ts, stream, tag = line.split(b" ")
        content = b""
    if tag == b"P":
        return ts.decode(), stream.decode(), content, True
    return ts.decode(), stream.decode(), content + b"\n", False


def _format(f) -> str:
    """A log file's format, from its first byte: docker's json-file or the older CRI text."""
    pos = f.tell()
    f.seek(0)
    first = f.read(1)
    f.seek(pos)
    return "json" if first == b"{" else "cri"


def files(path: str) -> list[str]:
    """The log and what rotation left of it, oldest first: FILE.N ... FILE.1, FILE."""
    d, base = os.path.split(path)
    try:
        names = os.listdir(d or ".")
    except FileNotFoundError:
        return []
    rotated = sorted((int(n[len(base) + 1:]), n) for n in names
                     if n.startswith(base + ".") and n[len(base) + 1:].isdigit())
    out = [os.path.join(d, n) for _, n in reversed(rotated)]
    if base in names:
        out.append(path)
    return out


def records(path: str, start: int = 0, join_partial: bool = True):
    """Yields (timestamp_str, stream, bytes): whole lines with partial fragments joined (or,
    with ``join_partial`` False, each fragment as it was written, for following). The
    generator's return value is the offset after the last complete record."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return start
    with f:
        fmt = _format(f)
        f.seek(start)
        pending: dict[str, list] = {}
        offset = start
        for raw in f:
            if not raw.endswith(b"\n"):
                break  # a record being written; picked up next time
            offset += len(raw)
            rec = _parse(raw[:-1], fmt)
            if rec is None:
                continue
            ts, stream, content, partial = rec
            if partial and not join_partial:
                yield ts, stream, content
                continue
            if partial:
                pending.setdefault(stream, [ts, b""])[1] += content
                continue
            if stream in pending:
                first_ts, acc = pending.pop(stream)
                yield first_ts, stream, acc + content
            else:
                yield ts, stream, content
        for stream, (ts, acc) in pending.items():
            if acc:
                yield ts, stream, acc
        return offset


def fixed_time(ts: str) -> str:
    """docker's `logs -t` stamp: RFC 3339 with exactly nine digits of fraction (json-file
    stores Go's RFC3339Nano, which drops trailing zeros)."""
    if not ts.endswith("Z"):
        return ts
    head, dot, frac = ts[:-1].partition(".")
    return f"{head}.{frac.ljust(9, '0')[:9]}Z"


def read(path: str, *, stdout: bool = True, stderr: bool = True, timestamps: bool = False,
         tail: int | None = None, since: float | None = None, until: float | None = None,
         position: list | None = None):
    """The selected lines as (stream, bytes) pairs, rotated files included. ``position``, when
    given, gets where reading stopped: (inode of the current file, offset), for follow_log."""
    out = []
    for name in files(path):
        gen = records(name)
        ino = None
        if position is not None and name == path:
            try:
                ino = os.stat(name).st_ino
            except FileNotFoundError:
                ino = None  # rotated meanwhile: the follower then reads every file it finds
        while True:
            try:
                ts, stream, data = next(gen)
            except StopIteration as stop:
                if ino is not None:
                    position[:] = [ino, stop.value or 0]
                break
            if (stream == "stdout" and not stdout) or (stream == "stderr" and not stderr):
                continue
            if since is not None or until is not None:
                t = _util.parse_rfc3339(ts)
                if since is not None and t < since:
                    continue
                if until is not None and t > until:
                    continue
            out.append((stream, (fixed_time(ts).encode() + b" " + data) if timestamps else data))
    if tail is not None and tail >= 0:
        out = out[-tail:] if tail else []
    return out


def _read_lines(f, fmt: str = ""):
    """Complete records from f's position on (a record being written is left for later). The
    format is read from the file at each call: a file opened while still empty (just rotated
    in) has no first byte to tell it yet."""
    fmt = _format(f)
    while True:
        pos = f.tell()
        raw = f.readline()
        if not raw.endswith(b"\n"):
            f.seek(pos)
            return
        rec = _parse(raw[:-1], fmt)
        if rec is not None:
            yield rec


def _newer_files(path: str, after_ino) -> list:
    """The log's files written after the one with inode `after_ino` (all of them when it is
    None or rotated away), oldest first, as (name, inode)."""
    out = []
    for name in files(path):
        try:
            out.append((name, os.stat(name).st_ino))
        except FileNotFoundError:
            continue  # rotated meanwhile: the next look finds it under its new name
    inos = [i for _, i in out]
    if after_ino in inos:
        out = out[inos.index(after_ino) + 1:]
    return out


def follow_log(path: str, is_running, *, stdout=True, stderr=True, timestamps=False, since=None,
               start_offset: int | None = None, poll: float = 0.1, start=None):
    """Yields (stream, bytes) as they are written until the container stops. The current file
    is kept open: when the monitor rotates it (renames it away, or truncates it with max-file
    1), what is left in it is read to its end, then every file written since, in order."""
    def wanted(rec):
        ts, stream, data, _partial = rec
        if (stream == "stdout" and not stdout) or (stream == "stderr" and not stderr):
            return None
        if since is not None and _util.parse_rfc3339(ts) < since:
            return None
        return stream, (fixed_time(ts).encode() + b" " + data) if timestamps else data

    f = None
    fmt = "cri"
    last_ino = None  # the file finished last; None: everything there is is new
    if start is not None:
        # where the backlog stopped (inode, offset): that file, even if rotated since
        for name in files(path):
            try:
                g = open(name, "rb")
            except FileNotFoundError:
                continue
            if os.fstat(g.fileno()).st_ino == start[0]:
                f, fmt = g, _format(g)
                f.seek(start[1])
                break
            g.close()
    else:
        try:
            f = open(path, "rb")
            fmt = _format(f)
            # what the file holds now was shown already
            f.seek(start_offset if start_offset is not None else os.fstat(f.fileno()).st_size)
        except FileNotFoundError:
            f = None  # no output yet: every file made from now on is read from its start
    try:
        while True:
            running = is_running()
            if f is None:
                newer = _newer_files(path, last_ino)
                moved = False
                for i, (name, ino) in enumerate(newer):
                    # Opened by name, so checked to be the file listed: a rotation between
                    # the look and the open shifts every name; then look again.
                    try:
                        g = open(name, "rb")
                    except FileNotFoundError:
                        moved = True
                        break
                    if os.fstat(g.fileno()).st_ino != ino:
                        g.close()
                        moved = True
                        break
                    if i == len(newer) - 1:
                        f, fmt = g, _format(g)  # the newest: followed
                        break
                    with g:  # rotated already: read whole
                        gfmt = _format(g)
                        for rec in _read_lines(g, gfmt):
                            item = wanted(rec)
                            if item:
                                yield item
                    last_ino = ino
                if moved:
                    continue
            if f is not None:
                if os.fstat(f.fileno()).st_size < f.tell():
                    f.seek(0)  # truncated in place (max-file 1)
                for rec in _read_lines(f, fmt):
                    item = wanted(rec)
                    if item:
                        yield item
                ino = os.fstat(f.fileno()).st_ino
                try:
                    rotated = os.stat(path).st_ino != ino
                except FileNotFoundError:
                    rotated = True
                if rotated:
                    # renamed away after its last write: what came before the rename is there
                    for rec in _read_lines(f, fmt):
                        item = wanted(rec)
                        if item:
                            yield item
                    f.close()
                    f = None
                    last_ino = ino
                    continue  # the files written since, at once
            if not running:
                return
            time.sleep(poll)
    finally:
        if f is not None:
            f.close()


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
    lc = c.config["HostConfig"].get("LogConfig") or {}
    if lc.get("Type") == "none":
        from layerbox.errors import InvalidArgument

        raise InvalidArgument("configured logging driver does not support reading")
    n = parse_tail(tail)
    since_t, until_t = parse_time(since), parse_time(until)
    path = engine.log_path(c)
    position: list = []
    backlog = read(path, stdout=stdout, stderr=stderr, timestamps=timestamps, tail=n,
                   since=since_t, until=until_t, position=position)
    if not (follow and c.running):
        return backlog, None

    def running() -> bool:
        from layerbox.errors import NotFound

        try:
            return engine.load(c.id).running
        except NotFound:
            return False

    return backlog, follow_log(path, running, stdout=stdout, stderr=stderr, timestamps=timestamps,
                               start=tuple(position) if position else None)
