"""What the parser shares with Go: its whitespace, Go's time.ParseDuration and strconv.ParseInt
(with their error messages), and the "did you mean" suggestions BuildKit makes."""

from __future__ import annotations

from ..shellwords import go_quote


# -- helpers used by several parts -------------------------------------------------------------
_GO_SPACE = "\t\n\v\f\r \x85\xa0"
_TOKEN_SPACE = "\t\v\f\r "


# The parser does without `re`: importing it (and enum with it) was 9 ms of a cached build's
# ~50 here. Regular expressions stay only where a rare construct needs them (directives,
# ONBUILD, ${x#pattern}, .dockerignore), imported there.
def split_token_ws(s: str, maxsplit: int = 0) -> list:
    """re.split(r"[\t\v\f\r ]+", s, maxsplit): a separator at either end gives an empty
    first or last item, as there."""
    out = []
    i, n, start = 0, len(s), 0
    while i < n:
        if s[i] in _TOKEN_SPACE:
            j = i
            while j < n and s[j] in _TOKEN_SPACE:
                j += 1
            out.append(s[start:i])
            start = i = j
            if maxsplit and len(out) == maxsplit:
                break
        else:
            i += 1
    out.append(s[start:])
    return out


def is_decimal_int(s: str) -> bool:
    """[+-]?[0-9]+ with ASCII digits only, as Go's strconv reads them."""
    t = s[1:] if s[:1] in ("+", "-") else s
    return bool(t) and all("0" <= c <= "9" for c in t)


def _is_space(ch: str) -> bool:
    return ch in _GO_SPACE or (ch > "\xff" and ch.isspace())


def _lstrip(s: str) -> str:
    i = 0
    while i < len(s) and _is_space(s[i]):
        i += 1
    return s[i:]


def _strip(s: str) -> str:
    s = _lstrip(s)
    j = len(s)
    while j > 0 and _is_space(s[j - 1]):
        j -= 1
    return s[:j]


def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _suggest(value: str, options, upper: bool = False) -> str:
    """`` (did you mean X?)`` when ``value`` is a near miss of one of ``options``."""
    if len(value) <= 1:
        return ""
    low = value.lower()
    best, score = None, (2 if len(value) <= 4 else 3)
    for opt in options:
        d = _levenshtein(low, opt.lower())
        if d < score:
            best, score = opt, d
    if best is None or best.lower() == low:
        return ""
    return f" (did you mean {best.upper() if upper else best}?)"


# -- Go's time.ParseDuration and strconv.ParseInt --------------------------------------------------
_UNITS = {"ns": 1, "us": 10**3, "\u00b5s": 10**3, "\u03bcs": 10**3, "ms": 10**6, "s": 10**9,
          "m": 60 * 10**9, "h": 3600 * 10**9}
_MAX_INT64 = (1 << 63) - 1


def parse_duration(s: str) -> int:
    """Go's ``time.ParseDuration``: ``"1h30m"``, ``"1.5s"``, ``"300ms"`` to nanoseconds.

    Raises ``ValueError`` with Go's message (``time: invalid duration "x"``,
    ``time: missing unit in duration "1"``, ``time: unknown unit "d" in duration "1d"``).
    """
    orig = s
    quoted = go_quote(orig)
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f"time: invalid duration {quoted}")
    total = 0
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            raise ValueError(f"time: invalid duration {quoted}")
        i = 0
        while i < len(s) and "0" <= s[i] <= "9":
            i += 1
        pre = i > 0
        v = int(s[:i]) if pre else 0
        s = s[i:]
        frac, scale, post = 0, 1, False
        if s.startswith("."):
            s = s[1:]
            i = 0
            while i < len(s) and "0" <= s[i] <= "9":
                i += 1
            post = i > 0
            if post:
                digits = s[:i]
                frac, scale = int(digits), 10 ** len(digits)
            s = s[i:]
        if not pre and not post:
            raise ValueError(f"time: invalid duration {quoted}")
        i = 0
        while i < len(s) and not (s[i] == "." or "0" <= s[i] <= "9"):
            i += 1
        unit = s[:i]
        s = s[i:]
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        mult = _UNITS.get(unit)
        if mult is None:
            raise ValueError(f"time: unknown unit {go_quote(unit)} in duration {quoted}")
        total += v * mult + (frac * mult) // scale
        if total > _MAX_INT64 + (1 if neg else 0):
            raise ValueError(f"time: invalid duration {quoted}")
    return -total if neg else total


def _parse_int32(s: str) -> int:
    """Go's strconv.ParseInt(s, 10, 32), with its error messages."""
    if not is_decimal_int(s):
        raise ValueError(f"strconv.ParseInt: parsing {go_quote(s)}: invalid syntax")
    v = int(s)
    if not -(1 << 31) <= v < (1 << 31):
        raise ValueError(f"strconv.ParseInt: parsing {go_quote(s)}: value out of range")
    return v


def go_duration(ns: int) -> str:
    """Go's time.Duration.String(): 0s, 1.5s, 5m0s, 1h2m3s, 300ms."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    ns = abs(ns)
    if ns < 10**9:
        for unit, div in (("ms", 10**6), ("\u00b5s", 10**3), ("ns", 1)):
            if ns >= div:
                return ("-" if neg else "") + _frac(ns, div) + unit
    h, rem = divmod(ns, 3600 * 10**9)
    m, rem = divmod(rem, 60 * 10**9)
    s = _frac(rem, 10**9) + "s"
    out = (f"{h}h{m}m" if h else f"{m}m" if m else "") + s
    return ("-" if neg else "") + out


def _frac(v: int, div: int) -> str:
    whole, rem = divmod(v, div)
    if not rem:
        return str(whole)
    digits = str(rem).rjust(len(str(div)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"
