"""JSON without importing the `json` package.

`json` imports `re` (and with it enum, functools, collections): about 6 ms of the ~25 ms a hot
CLI command has. The C accelerator `_json` that `json` itself uses needs none of that, so the
hot path reads and writes its small documents through it directly. Output matches
json.dumps(obj, separators=(",", ":")); input is whatever json.loads accepts.
"""

from __future__ import annotations

import _json

_INF = float("inf")


class ScanContext:
    """The attributes _json.make_scanner reads from its context object (a subclass may change
    them, as the Dockerfile parser does to refuse NaN and Infinity)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo: dict = {}

    @staticmethod
    def parse_constant(name):
        return {"NaN": float("nan"), "Infinity": _INF, "-Infinity": -_INF}[name]


_scan = _json.make_scanner(ScanContext())


def _default(o):
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def _encoder(indent):
    return _json.make_encoder(
        {}, _default, _json.encode_basestring_ascii, indent, ": " if indent else ":",
        ("," if indent is None else ","), False, False, True)


_compact = _encoder(None)


def valid_text(s: str) -> str:
    """``s`` as a JSON document can hold it: a command line argument that is not UTF-8 reaches
    Python as lone surrogates (surrogateescape), which JSON readers refuse (the C++ core's
    among them). Each byte that is not UTF-8 becomes U+FFFD, as Go's encoding/json writes it in
    what docker's CLI sends dockerd."""
    try:
        b = s.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate from elsewhere (a client's "\ud800")
        b = s.encode("utf-8", "surrogatepass")
    return b.decode("utf-8", "replace")


def _encode_valid_text(s: str) -> str:
    return _json.encode_basestring_ascii(valid_text(s))


_compact_valid = _json.make_encoder({}, _default, _encode_valid_text, None, ":", ",", False, False, True)


def dumps(obj) -> str:
    out = "".join(_compact(obj, 0))
    # A surrogate escape: a character beyond the BMP (a valid pair), or one that is no text
    # (see valid_text); only then is the document written again, every string checked.
    return out if "\\ud" not in out else "".join(_compact_valid(obj, 0))


def loads(s: str | bytes):
    if isinstance(s, (bytes, bytearray)):
        s = s.decode("utf-8")
    i = 0
    n = len(s)
    while i < n and s[i] in " \t\n\r":
        i += 1
    try:
        obj, end = _scan(s, i)
    except StopIteration as e:
        raise ValueError(f"Expecting value: char {e.value}") from None
    except SystemError:
        # _json's scanner, called without json's wrapper, can end a truncated document ("[{")
        # this way instead of with a StopIteration.
        raise ValueError("Unexpected end of data") from None
    while end < n and s[end] in " \t\n\r":
        end += 1
    if end != n:
        raise ValueError(f"Extra data: char {end}")
    return obj
