"""The store's event log: what happened to containers, images, networks and volumes, in
docker's event shape, appended by every client of the store (the CLI, the Python API, the
Engine API service), read by `GET /events` (and whoever else wants the history).

One JSON document per line in ``<root>/events.log``, each appended with one write(2) on an
O_APPEND descriptor: concurrent writers never interleave within a line (a regular file's
appends are serialised by the kernel). Size cap: past MAX_BYTES the writer that notices
renames the log to ``events.log.1`` (replacing the older one) under an flock, so at most twice
MAX_BYTES is kept. Recording never fails a command: an event that cannot be written is lost.
"""

from __future__ import annotations

import os
import time

MAX_BYTES = 4 << 20
LOG = "events.log"


def path(root: str) -> str:
    return os.path.join(root, LOG)


def log_part(root: str) -> dict:
    """Where the log is and its size cap, for the compiled writers (the monitor's plan, a
    running container's process.json for the compiled exec path: csrc/core/events.hpp)."""
    return {"log": path(root), "max_bytes": MAX_BYTES}


def record(store, type_: str, action: str, actor_id: str, attributes: dict | None = None) -> None:
    """Appends one event: docker's {"Type", "Action", "Actor": {"ID", "Attributes"}, "scope",
    "time", "timeNano"} (plus the older status/id/from of container and image events)."""
    from layerbox import _jsonfast

    now = time.time_ns()
    attrs = {k: str(v) for k, v in (attributes or {}).items() if v is not None}
    doc = {"Type": type_, "Action": action, "Actor": {"ID": actor_id, "Attributes": attrs},
           "scope": "local", "time": now // 1_000_000_000, "timeNano": now}
    if type_ in ("container", "image"):
        doc["status"] = action
        doc["id"] = actor_id
        if "image" in attrs:
            doc["from"] = attrs["image"]
    line = (_jsonfast.dumps(doc) + "\n").encode()
    p = path(store.root)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return  # no store yet (nothing happened in it), or not writable: nothing to record
    try:
        os.write(fd, line)
        if os.fstat(fd).st_size > MAX_BYTES:
            _rotate(p, fd)
    except OSError:
        pass  # a full disk loses the event, never the command
    finally:
        os.close(fd)


def _rotate(p: str, fd: int) -> None:
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        # Another writer may have rotated meanwhile: only the file still at p is renamed.
        st = os.fstat(fd)
        try:
            cur = os.stat(p)
        except FileNotFoundError:
            return
        if (cur.st_dev, cur.st_ino) == (st.st_dev, st.st_ino) and st.st_size > MAX_BYTES:
            os.rename(p, p + ".1")
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def read(root: str, since_ns: int = 0, until_ns: int | None = None) -> tuple[list, tuple]:
    """(events between since and until, oldest first; where the log ends: (inode, offset) to
    follow from)."""
    from layerbox import _jsonfast

    out = []
    end = (0, 0)
    for name in (LOG + ".1", LOG):
        try:
            f = open(os.path.join(root, name), "rb")
        except FileNotFoundError:
            continue
        with f:
            data = f.read()
            if name == LOG:
                end = (os.fstat(f.fileno()).st_ino, len(data))
        for line in data.splitlines():
            try:
                ev = _jsonfast.loads(line)
            except ValueError:
                continue  # a line cut by a crash
            t = ev.get("timeNano", 0)
            if t < since_ns or (until_ns is not None and t > until_ns):
                continue
            out.append(ev)
    if end == (0, 0):
        end = (0, 0)
    return out, end


def read_from(root: str, where: tuple) -> tuple[list, tuple]:
    """Events appended after `where` (from read or a previous read_from), and the new end.
    A rotation in between is followed: the rest of the old file, then the new one."""
    from layerbox import _jsonfast

    ino, off = where
    p = os.path.join(root, LOG)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        return [], where
    chunks = []
    if ino and st.st_ino != ino:
        try:
            with open(p + ".1", "rb") as f:
                if os.fstat(f.fileno()).st_ino == ino:
                    f.seek(off)
                    chunks.append(f.read())
        except FileNotFoundError:
            pass
        off = 0
    if st.st_size < off:
        off = 0
    with open(p, "rb") as f:
        f.seek(off)
        data = f.read()
        cut = data.rfind(b"\n") + 1  # a line being written is read next time
        chunks.append(data[:cut])
        where = (os.fstat(f.fileno()).st_ino, off + cut)
    out = []
    for line in b"".join(chunks).splitlines():
        try:
            out.append(_jsonfast.loads(line))
        except ValueError:
            continue
    return out, where


# docker's event filters (what `matches` reads; daemon is this machine's one store).
FILTERS = ("type", "event", "container", "image", "network", "volume", "label", "scope", "daemon")


def time_ns(text: str | None) -> int | None:
    """docker's --since/--until of events (RFC 3339, a unix timestamp, a duration ago) in
    nanoseconds; None for none."""
    from layerbox.container.logs import parse_time

    if not text:
        return None
    t = parse_time(text)
    return None if t is None else int(t * 1_000_000_000)


def matches(ev: dict, flt: dict) -> bool:
    """docker's event filters: type, event, container, image, network, volume (a name or an
    id prefix), label (all must match), scope."""
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
