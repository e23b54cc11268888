"""Go's ``path/filepath.Match`` and ``filepath.Clean`` for Unix, as docker uses them.

Docker matches COPY/ADD source wildcards with ``filepath.Match`` and cleans every
``.dockerignore`` pattern with ``filepath.Clean``; both differ from Python's :mod:`fnmatch`
and :func:`os.path.normpath` in ways users notice:

- ``*`` and ``?`` never match ``/``; there is no ``**`` here (see :mod:`.dockerignore`).
- A character class is ``[...]`` with ranges ``a-z`` and negation with ``^`` only (``[!a]`` is
  the class of ``!`` and ``a``); ``\\`` escapes the next character, inside a class too.
- A malformed pattern (``[``, ``a[``, ``[-x]``, ``[x-]``, ``[]a]``, a trailing ``\\``) is an
  error even when the name would not match (Go 1.20+ checks the whole pattern).

Only the standard library is used; import time is negligible.
"""

from __future__ import annotations

from layerbox.errors import InvalidArgument

__all__ = ["BadPattern", "go_match", "validate_pattern", "go_clean", "has_magic"]


class BadPattern(InvalidArgument):
    """A malformed pattern (Go's ``filepath.ErrBadPattern``).

    ``str()`` is Go's message, ``syntax error in pattern``; ``pattern`` holds the pattern.
    """

    def __init__(self, pattern: str):
        super().__init__("syntax error in pattern")
        self.pattern = pattern


def _scan_chunk(pattern: str):
    """Split off leading stars and the chunk up to the next star outside a class."""
    star = False
    while pattern and pattern[0] == "*":
        pattern = pattern[1:]
        star = True
    inrange = False
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 < n:
                i += 1
        elif c == "[":
            inrange = True
        elif c == "]":
            inrange = False
        elif c == "*" and not inrange:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _get_esc(chunk: str, pattern: str):
    """One possibly escaped character of a class; returns (char, rest of chunk)."""
    if not chunk or chunk[0] in "-]":
        raise BadPattern(pattern)
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise BadPattern(pattern)
    r = chunk[0]
    rest = chunk[1:]
    if not rest:
        raise BadPattern(pattern)
    return r, rest


def _match_chunk(chunk: str, s: str, pattern: str):
    """Match ``chunk`` at the start of ``s``; returns the rest of ``s`` or None.

    The whole chunk is always scanned so that a malformed one raises even after a mismatch.
    """
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        c = chunk[0]
        if c == "[":
            r = ""
            if not failed:
                r = s[0]
                s = s[1:]
            chunk = chunk[1:]
            negated = False
            if chunk and chunk[0] == "^":
                negated = True
                chunk = chunk[1:]
            match = False
            nrange = 0
            while True:
                if chunk and chunk[0] == "]" and nrange > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_esc(chunk, pattern)
                hi = lo
                if chunk[0] == "-":
                    hi, chunk = _get_esc(chunk[1:], pattern)
                if not failed and lo <= r <= hi:
                    match = True
                nrange += 1
            if match == negated:
                failed = True
        elif c == "?":
            if not failed:
                if s[0] == "/":
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
        else:
            if c == "\\":
                chunk = chunk[1:]
                if not chunk:
                    raise BadPattern(pattern)
            if not failed:
                if chunk[0] != s[0]:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
    if failed:
        return None
    return s


def go_match(pattern: str, name: str) -> bool:
    """Report whether ``name`` matches the shell ``pattern`` exactly as Go's filepath.Match.

    Raises :class:`BadPattern` for a malformed pattern.
    """
    full = pattern
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and chunk == "":
            # A trailing star matches the rest of the name unless it has a '/'.
            return "/" not in name
        t = _match_chunk(chunk, name, full)
        # The last chunk must consume the whole name (otherwise a star may still match).
        if t is not None and (t == "" or pattern):
            name = t
            continue
        if star:
            matched = False
            i = 0
            while i < len(name) and name[i] != "/":
                t = _match_chunk(chunk, name[i + 1:], full)
                if t is not None:
                    if not pattern and t:
                        i += 1
                        continue
                    name = t
                    matched = True
                    break
                i += 1
            if matched:
                continue
        # Before answering no, check that the rest of the pattern is well formed.
        while pattern:
            _, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "", full)
        return False
    return name == ""


def validate_pattern(pattern: str) -> None:
    """Raise :class:`BadPattern` if Go's filepath.Match would reject ``pattern``."""
    go_match(pattern, ".")


def has_magic(pattern: str) -> bool:
    """True if ``pattern`` has a wildcard (``*``, ``?`` or ``[``), as docker's COPY checks."""
    return any(c in pattern for c in "*?[")


def go_clean(path: str) -> str:
    """Go's ``path.Clean`` (``filepath.Clean`` on Unix): the shortest equivalent path.

    Unlike :func:`os.path.normpath`, a leading ``//`` becomes ``/`` and ``..`` at the root of
    an absolute path is dropped; an empty path becomes ``.``.
    """
    if path == "":
        return "."
    rooted = path[0] == "/"
    out: list[str] = []
    for part in path.split("/"):
        if part == "" or part == ".":
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    cleaned = "/".join(out)
    if rooted:
        return "/" + cleaned
    return cleaned or "."
