"""docker's progress messages (pkg/jsonmessage): what pull, push and load report per layer,
for the CLI (which draws them) and the Python API / Engine API (which hand them out as JSON).

A message is docker's JSON object: ``{"status": "Downloading", "id": "a3ed95caeb02",
"progressDetail": {"current": 1048576, "total": 2811969}, "progress": "[==> ] 1.05MB/2.81MB"}``.
`Meter` makes them for one layer's bytes, at most one per 100 ms (and the last one always), so
a fast local copy does not drown the terminal and a slow one still moves.
"""

from __future__ import annotations

import time

UPDATE_EVERY = 0.1  # seconds between two progress messages of one layer


def human_size(n: float) -> str:
    """docker's units.HumanSize (4 significant digits: "2.048kB", "1.05MB")."""
    from layerbox._util import human_size as _human_size

    return _human_size(n, 4)

def bar(current: int, total: int, width: int = 200, start: float = 0.0, now: float | None = None) -> str:
    """JSONProgress.String: "[=====>      ] 1.05MB/2.81MB 3s" (the bar only on a line wider
    than 110 columns, the time left only past 50)."""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current):>8}"
    pct = min(int(current / total * 100) // 2, 50)
    box = ""
    if width > 110:
        box = "[" + "=" * pct + ">" + " " * max(50 - pct, 0) + "] "
    numbers = f"{human_size(current):>8}/{human_size(total)}"
    if current > total:
        numbers = f"{human_size(current):>8}"
    left = ""
    if current > 0 and start > 0 and pct < 50 and width > 50:
        now = time.time() if now is None else now
        secs = int((now - start) / current * (total - current))
        left = " " + _go_duration(secs)
    return box + numbers + left


def _go_duration(secs: int) -> str:
    """time.Duration.String() of whole seconds: "0s", "45s", "2m5s", "1h0m3s"."""
    h, rest = divmod(secs, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{s}s"
    if m:
        return f"{m}m{s}s"
    return f"{s}s"


def message(status: str, id_: str = "", current: int | None = None, total: int | None = None,
            start: float = 0.0) -> dict:
    msg: dict = {"status": status}
    if current is not None:
        detail = {"current": current}
        if total:
            detail["total"] = total
        if start:
            detail["start"] = int(start)
        msg["progressDetail"] = detail
        msg["progress"] = bar(current, total or 0, start=start)
    else:
        msg["progressDetail"] = {}
    if id_:
        msg["id"] = id_
    return msg


class Meter:
    """The progress of one layer's bytes: `add(n)` as they go, each call may emit a
    `status` message (at most every UPDATE_EVERY seconds); `done()` emits the final one."""

    def __init__(self, emit, status: str, id_: str, total: int):
        self.emit = emit
        self.status = status
        self.id = id_
        self.total = total
        self.current = 0
        self.start = time.time()
        self._last = 0.0

    def add(self, n: int) -> None:
        self.current += n
        now = time.monotonic()
        if now - self._last >= UPDATE_EVERY:
            self._last = now
            self.emit(message(self.status, self.id, self.current, self.total, self.start))

    def done(self) -> None:
        self.emit(message(self.status, self.id, self.current, self.total, self.start))

