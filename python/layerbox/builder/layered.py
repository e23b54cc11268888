"""Paths in an image, looked up in its layer directories without mounting them.

A COPY destination or a WORKDIR is resolved the way docker's builder resolves it
(``FollowSymlinkInScope``): every link on the way is followed *inside the image's root*, a
missing part is created below the last one that exists. Finding where a path leads does not
need the overlay mounted: the merged view of layer directories (top first) is read with
layerbox.store.layerview (whiteouts and opaque directories honoured, every directory opened with
O_NOFOLLOW so that a link inside a layer never leads out of it).

This only computes a path; the files themselves are then written through the overlay by the C++
core, which resolves every path inside the root again, so a wrong answer here could misplace a
file inside the image but never write outside it.
"""

from __future__ import annotations

from layerbox.store import layerview


class NotADirectory(Exception):
    """A path goes through something that is not a directory (``path`` says where)."""

    def __init__(self, path: str):
        super().__init__(path)
        self.path = path


def _entry(layers: list, parts: list):
    """("d"|"f"|"l"|"o", link target) for what the merged view of ``layers`` has at ``parts``
    (whose parents are directories in that view), or None when there is nothing."""
    hit = layerview.find(layers, parts)
    return None if hit is None else hit[:2]


def _parts(path: str) -> list:
    return [p for p in path.split("/") if p and p != "."]


def follow_links(path: str, lookup, follow_last: bool = True):
    """docker's FollowSymlinkInScope over any tree: (the real path, absolute and clean, and the
    kind of what is there, or None when it does not exist). ``lookup(parts)`` says what the
    tree has at ``parts`` (whose parents are real directories): ("d"|"f"|"l"|"o", link
    target) or None. Links are followed inside the root (an absolute target starts from it,
    ".." stops at it); a missing part is kept as written and what follows is looked up below
    it. Raises NotADirectory when a parent is not a directory, ValueError on a loop."""
    todo = _parts(path)
    todo.reverse()
    done: list = []
    hops = 0
    kind = "d"
    while todo:
        c = todo.pop()
        if c == "..":
            if done:
                done.pop()
            e = lookup(done) if done else ("d", "")
            kind = e[0] if e else None
            continue
        e = lookup(done + [c])
        if e is None:
            done.append(c)  # missing: taken as written, and what follows is looked up below it
            kind = None
            continue
        kind, target = e
        if kind == "l" and (todo or follow_last):
            hops += 1
            if hops > 40:
                raise ValueError(f"too many levels of symbolic links: {path}")
            if target.startswith("/"):
                done = []
            todo.extend(reversed(_parts(target)))
            continue
        if todo and kind != "d" and todo[-1] != "..":
            raise NotADirectory("/" + "/".join(done + [c]))
        done.append(c)
    return "/" + "/".join(done), kind


def resolve(layers: list, path: str, follow_last: bool = True):
    """Where ``path`` leads in the image whose layer directories are ``layers`` (top first):
    see :func:`follow_links`."""
    return follow_links(path, lambda parts: _entry(layers, parts), follow_last)


def missing_parents(layers: list, real: str) -> list:
    """The directories above ``real`` (a resolved path) that do not exist, top first."""
    parts = _parts(real)[:-1]
    out = []
    for i in range(len(parts), 0, -1):
        if _entry(layers, parts[:i]) is not None:
            break
        out.append("/" + "/".join(parts[:i]))
    out.reverse()
    return out
