"""The line parser (BuildKit's parser package): directives, comments, continuation lines,
heredocs, and each instruction line split into a node of words or JSON."""

from __future__ import annotations


import _json

from layerbox import _jsonfast
from layerbox.errors import InvalidArgument

from ..shellwords import ShellLex, SubstitutionError, go_quote
from .instructions import _DIRECTIVES, DockerfileError, _Fail, Heredoc, _HEREDOC_INSTRUCTIONS
from .gocompat import _is_space, _lstrip, _strip, split_token_ws

TYPE_CHECKING = False  # typing costs 3 ms to import; annotations here are never evaluated
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple


# -- line-level parsing (BuildKit's parser package) -------------------------------------------------
class _Directives:
    __slots__ = ("escape", "values", "done")

    def __init__(self):
        self.values: Dict[str, str] = {}
        self.done = False
        self.set_escape("\\")

    def set_escape(self, token: str) -> None:
        if token not in ("`", "\\"):
            raise _Fail(f"invalid escape token '{token}' does not match ` or \\\\")
        self.escape = token

    def check(self, line: str) -> bool:
        """Look for a parser directive; True if ``line`` was one."""
        if self.done:
            return False
        if not line.startswith("#"):
            self.done = True
            return False
        import re  # only for a Dockerfile that starts with a comment

        m = re.match(r"([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*\Z", _lstrip(line[1:]), re.S)
        if not m:
            self.done = True
            return False
        key = m.group(1).lower()
        if key not in _DIRECTIVES:
            self.done = True
            return False
        if key in self.values:
            raise _Fail(f"only one {key} parser directive can be used")
        self.values[key] = m.group(2)
        if key == "escape":
            self.set_escape(m.group(2))
        return True

    def trim_continuation(self, line: str) -> Tuple[str, bool]:
        """(line without its continuation mark, True if the line ends the instruction)."""
        # The escape token at the end (spaces and tabs after it allowed), not itself escaped.
        t = line.rstrip(" \t")
        if t.endswith(self.escape) and (len(t) == 1 or t[-2] != self.escape):
            return t[:-1], False
        return line, True


def _is_comment(line: str) -> bool:
    return _lstrip(line).startswith("#")


def _trim_newline(line: str) -> str:
    return line.rstrip("\r\n")


class _Node:
    """One instruction as the line parser sees it."""

    __slots__ = ("cmd", "original", "flags", "args", "json", "sub", "heredocs", "kv",
                 "start", "end")

    def __init__(self, cmd: str, original: str, flags: List[str]):
        self.cmd = cmd
        self.original = original
        self.flags = flags
        self.args: List[str] = []
        self.json = False
        self.sub: Optional[_Node] = None
        self.heredocs: List[Heredoc] = []
        self.kv: List[Tuple[str, str]] = []
        self.start = 0
        self.end = 0

    @property
    def keyword(self) -> str:
        return self.cmd.upper()

    def can_contain_heredoc(self) -> bool:
        node = self
        if node.keyword == "ONBUILD" and node.sub is not None:
            node = node.sub
        return node.keyword in _HEREDOC_INSTRUCTIONS and not node.json


def _split_command(line: str) -> Tuple[str, List[str], str]:
    parts = split_token_ws(_strip(line), 1)
    cmd = parts[0]
    flags: List[str] = []
    args = ""
    if len(parts) == 2:
        args, flags = _extract_builder_flags(parts[1])
    return cmd, flags, _strip(args)


def _extract_builder_flags(line: str) -> Tuple[str, List[str]]:
    """Split leading ``--flag[=value]`` words off ``line`` (BuildKit's extractBuilderFlags)."""
    words: List[str] = []
    in_spaces, in_word, in_quote = 0, 1, 2
    phase = in_spaces
    word: List[str] = []
    quote = ""
    blank_ok = False
    n = len(line)
    pos = 0
    while pos <= n:
        ch = line[pos] if pos < n else ""
        if phase == in_spaces:
            if pos == n:
                break
            if _is_space(ch):
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or line[pos + 1] != "-":
                return line[pos:], words
            phase = in_word
        if phase in (in_word, in_quote) and pos == n:
            w = "".join(word)
            if w != "--" and (blank_ok or w):
                words.append(w)
            break
        if phase == in_word:
            if _is_space(ch):
                phase = in_spaces
                w = "".join(word)
                if w == "--":
                    return line[pos:], words
                if blank_ok or w:
                    words.append(w)
                word = []
                blank_ok = False
                pos += 1
                continue
            if ch in "'\"":
                quote = ch
                blank_ok = True
                phase = in_quote
                pos += 1
                continue
            if ch == "\\":
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word.append(ch)
            pos += 1
            continue
        if phase == in_quote:
            if ch == quote:
                phase = in_word
                pos += 1
                continue
            if ch == "\\":
                if pos + 1 == n:
                    phase = in_word
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word.append(ch)
            pos += 1
    return "", words


def _parse_words(rest: str, escape: str) -> List[str]:
    """Split on whitespace outside quotes, keeping quotes and escapes (BuildKit's parseWords)."""
    words: List[str] = []
    in_spaces, in_word, in_quote = 0, 1, 2
    phase = in_spaces
    word: List[str] = []
    quote = ""
    blank_ok = False
    n = len(rest)
    pos = 0
    while pos <= n:
        ch = rest[pos] if pos < n else ""
        if phase == in_spaces:
            if pos == n:
                break
            if _is_space(ch):
                pos += 1
                continue
            phase = in_word
        if phase in (in_word, in_quote) and pos == n:
            if blank_ok or word:
                words.append("".join(word))
            break
        if phase == in_word:
            if _is_space(ch):
                phase = in_spaces
                if blank_ok or word:
                    words.append("".join(word))
                word = []
                blank_ok = False
                pos += 1
                continue
            if ch in "'\"":
                quote = ch
                blank_ok = True
                phase = in_quote
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue  # an escape at the very end is dropped
                word.append(ch)
                pos += 1
                ch = rest[pos]
            word.append(ch)
            pos += 1
            continue
        if phase == in_quote:
            if ch == quote:
                phase = in_word
            if ch == escape and quote != "'":
                if pos + 1 == n:
                    phase = in_word
                    pos += 1
                    continue
                pos += 1
                word.append(ch)
                ch = rest[pos]
            word.append(ch)
            pos += 1
    return words


class _NotJSON(Exception):
    pass


def _reject_constant(name: str) -> Any:
    raise _NotJSON(name)


class _ScanContext(_jsonfast.ScanContext):
    # _jsonfast's scanner context (the `json` package would cost an import of its own), but
    # NaN and Infinity are no JSON here, as for Go's decoder.
    parse_constant = staticmethod(_reject_constant)
    memo: dict = {}


_scan_json = _json.make_scanner(_ScanContext())


def _json_loads(text: str):
    """json.loads(text, parse_constant=_reject_constant), ValueError when it is no JSON."""
    i, n = 0, len(text)
    while i < n and text[i] in " \t\n\r":
        i += 1
    try:
        value, end = _scan_json(text, i)
    except StopIteration:
        raise ValueError("not JSON") from None
    finally:
        _ScanContext.memo.clear()
    while end < n and text[end] in " \t\n\r":
        end += 1
    if end != n:
        raise ValueError("extra data")
    return value


def _parse_json(rest: str) -> Optional[List[str]]:
    """The strings of a JSON array; None if ``rest`` is not a JSON array."""
    rest = _lstrip(rest)
    if not rest.startswith("["):
        return None
    try:
        value = _json_loads(rest)
    except (ValueError, _NotJSON):
        return None
    if not isinstance(value, list):
        return None
    for item in value:
        if not isinstance(item, str):
            raise _Fail("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _ws_split(rest: str) -> List[str]:
    if rest == "":
        return []
    return split_token_ws(rest)


def _node_from_line(line: str, directives: _Directives) -> _Node:
    cmd, flags, rest = _split_command(line)
    node = _Node(cmd, line, flags)
    kw = node.keyword
    if kw in ("ADD", "COPY", "VOLUME"):
        arr = _parse_json(rest)
        if arr is not None:
            node.args, node.json = arr, True
        else:
            node.args = _ws_split(rest)
    elif kw in ("RUN", "CMD", "ENTRYPOINT", "SHELL"):
        _maybe_json(node, rest)
    elif kw in ("EXPOSE", "FROM"):
        node.args = _ws_split(rest)
    elif kw in ("MAINTAINER", "STOPSIGNAL", "USER", "WORKDIR"):
        node.args = [rest] if rest else []
    elif kw in ("ENV", "LABEL"):
        node.kv = _parse_name_val(rest, kw, directives.escape)
    elif kw == "ARG":
        node.args = _parse_words(rest, directives.escape)
    elif kw == "HEALTHCHECK":
        i = 0
        while i < len(rest) and not _is_space(rest[i]):
            i += 1
        j = i
        while j < len(rest) and _is_space(rest[j]):
            j += 1
        if i:
            node.args = [rest[:i]]
            sub = _Node("", "", [])
            _maybe_json(sub, rest[j:])
            node.args += sub.args
            node.json = sub.json
    elif kw == "ONBUILD":
        if rest:
            node.sub = _node_from_line(rest, directives)
    return node


def _maybe_json(node: _Node, rest: str) -> None:
    if rest == "":
        return
    arr = _parse_json(rest)
    if arr is not None:
        node.args, node.json = arr, True
    else:
        node.args = [rest]


def _parse_name_val(rest: str, key: str, escape: str) -> List[Tuple[str, str]]:
    words = _parse_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = split_token_ws(rest, 1)
        if len(parts) < 2:
            raise _Fail(f"{key} must have two arguments")
        return [(parts[0], parts[1])]
    out = []
    for w in words:
        if "=" not in w:
            raise _Fail(f"Syntax error - can't find = in {go_quote(w)}. Must be of the form: name=value")
        k, _, v = w.partition("=")
        out.append((k, v))
    return out


_heredoc_re = None  # compiled at the first word with "<<" in it


def parse_heredoc(word: str) -> Optional[Heredoc]:
    """The heredoc a word like ``<<EOF``, ``<<-"EOF"``, ``<< EOF`` or ``3<<EOF`` opens (with empty
    ``content``), or None if the word is not one. Raises ``InvalidArgument`` for a malformed
    delimiter."""
    global _heredoc_re
    if "<<" not in word:
        return None
    if _heredoc_re is None:
        import re

        _heredoc_re = re.compile(r"([0-9]*)<<(-?)\s*([^<]*)", re.S)
    m = _heredoc_re.fullmatch(word)
    if not m:
        return None
    rest = m.group(3)
    if not rest:
        return None
    lex = ShellLex("\\", skip_unset_env=True)
    words = lex.process_words(rest, {})
    if len(words) != 1:
        return None
    raw = ShellLex("\\", raw_quotes=True, skip_unset_env=True).process_words(rest, {})
    if len(raw) != len(words):
        raise InvalidArgument(f"internal lexing of heredoc produced inconsistent results: {rest}")
    name = words[0]
    quotes = name.count("'") + name.count('"')
    raw_quotes = raw[0].count("'") + raw[0].count('"')
    return Heredoc(name=name, content="", chomp=m.group(2) == "-", expand=quotes == raw_quotes,
                   fd=int(m.group(1)) if m.group(1) else 0)


_HEREDOC_LINE_LEX = ShellLex("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True,
                             heredoc_operator=True)


def _heredocs_from_line(line: str) -> List[Heredoc]:
    try:
        words = _HEREDOC_LINE_LEX.process_words(line, {})
    except SubstitutionError:
        words = []
    out = []
    for w in words:
        try:
            h = parse_heredoc(w)
        except InvalidArgument as e:
            raise _Fail(str(e)) from None
        if h is not None:
            out.append(h)
    return out


def _split_lines(text: str) -> List[str]:
    """Lines with their ``\\n`` (Go's scanner splits on ``\\n`` only)."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _parse_nodes(text: str, filename: str, directives: _Directives,
                 warnings: List[str]) -> List[_Node]:
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = _split_lines(text)
    total = len(lines)
    nodes: List[_Node] = []
    i = 0

    def fail(line: int, e: Exception) -> DockerfileError:
        return DockerfileError(filename, line, str(e))

    while i < total:
        token = _lstrip(_trim_newline(lines[i]))
        try:
            directives.check(token)
        except _Fail as e:
            raise fail(i + 1, e) from None
        if _is_comment(token):
            token = ""
        i += 1
        start = i
        line, end_of_line = directives.trim_continuation(token)
        if end_of_line and line == "":
            continue
        buf = [line]
        empty_continuation = False
        while not end_of_line and i < total:
            raw = lines[i]
            tok = _trim_newline(raw)
            try:
                directives.check(tok)
            except _Fail as e:
                raise fail(i + 1, e) from None
            i += 1
            if _is_comment(raw):
                continue
            if _lstrip(tok) == "":
                empty_continuation = True
                continue
            tok, end_of_line = directives.trim_continuation(tok)
            buf.append(tok)
        line = "".join(buf)
        if empty_continuation:
            warnings.append(f"{filename}:{start}: empty continuation line found in: {line}"
                            " (empty continuation lines will become errors in a future release)")
        try:
            node = _node_from_line(line, directives)
        except _Fail as e:
            raise fail(start, e) from None
        if node.can_contain_heredoc() and "<<" in line:
            try:
                heredocs = _heredocs_from_line(line)
            except _Fail as e:
                raise fail(start, e) from None
            for h in heredocs:
                body: List[str] = []
                terminated = False
                while i < total:
                    raw = lines[i]
                    i += 1
                    candidate = _trim_newline(raw)
                    if h.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == h.name:
                        terminated = True
                        break
                    body.append(raw)
                if not terminated:
                    raise DockerfileError(filename, start, "unterminated heredoc")
                h.content = "".join(body)
            node.heredocs = heredocs
            if node.sub is not None:
                node.sub.heredocs = heredocs
        node.start, node.end = start, i
        nodes.append(node)
    return nodes
