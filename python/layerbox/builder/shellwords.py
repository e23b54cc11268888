"""Docker's variable substitution and word splitting for Dockerfile instructions.

This follows BuildKit's ``frontend/dockerfile/shell`` lexer, which the classic builder uses
too. It is not a shell: there is no command substitution, globbing or arithmetic. What it does:

- ``$NAME`` and ``${NAME}``; names are letters, digits and ``_``; ``$1`` (digits) and the
  special parameters ``$@ $* $# $? $- $$ $! $0`` are looked up like any name (so they are
  normally empty). A ``$`` not followed by a name stays a literal ``$``.
- ``${NAME:-word}`` word if unset *or empty*; ``${NAME-word}`` word only if unset.
- ``${NAME:+word}`` word if set and not empty; ``${NAME+word}`` word if set.
- ``${NAME:?msg}`` error if unset or empty; ``${NAME?msg}`` error if unset.
- ``${NAME#pat}`` ``${NAME##pat}`` ``${NAME%pat}`` ``${NAME%%pat}`` remove the shortest /
  longest matching prefix / suffix (``*`` and ``?`` wildcards, ``\\`` escapes them).
- ``${NAME/pat/repl}`` replaces the first match, ``${NAME//pat/repl}`` every match.
- The ``word`` is itself processed, so ``${a:-${b}}`` and ``${a:-"x y"}`` work.
- ``'...'`` is literal; ``"..."`` expands ``$`` and lets the escape character escape
  ``"``, ``$`` and itself (other escapes stay as written); outside quotes the escape character
  (``\\`` or the Dockerfile's ``# escape=`` token) makes the next character literal.
- Word splitting (:func:`expand_words`) happens after substitution: whitespace from a
  variable's value splits words, quoted whitespace does not, and empty words are dropped.

Variable lookup is case-sensitive (Linux). ``env`` may be a mapping or docker's list of
``"KEY=VALUE"`` strings (a later entry wins, an entry without ``=`` is set and empty).
"""

from __future__ import annotations


from layerbox.errors import InvalidArgument
from layerbox._util import go_quote  # noqa: F401 (builder modules import it from here)

TYPE_CHECKING = False  # typing costs 3 ms to import; annotations here are never evaluated
if TYPE_CHECKING:
    from typing import Iterable, List, Mapping, Optional, Set, Tuple, Union

__all__ = [
    "Env", "ProcessResult", "ShellLex", "SubstitutionError", "env_mapping", "expand",
    "expand_heredoc", "expand_words", "go_quote",
]

if TYPE_CHECKING:
    Env = Union[Mapping[str, str], Iterable[str], None]

_SPECIAL_PARAMS = "@*#?-$!0"
_GO_SPACE = frozenset("\t\n\v\f\r \x85\xa0")


def _is_space(ch: str) -> bool:
    """Go's unicode.IsSpace."""
    return ch in _GO_SPACE or (ch > "\xff" and ch.isspace())



class SubstitutionError(InvalidArgument):
    """A word could not be processed (bad ``${...}`` syntax, unmatched quote, ``${a:?}``).

    ``str()`` is docker's message: ``failed to process "WORD": REASON``; ``word`` and
    ``reason`` hold the parts.
    """

    def __init__(self, word: str, reason: str):
        super().__init__(f"failed to process {go_quote(word)}: {reason}")
        self.word = word
        self.reason = reason


class _LexError(Exception):
    pass


def env_mapping(env: Env) -> Mapping[str, str]:
    """Turn ``env`` (mapping, ``["K=V", ...]`` or None) into a mapping."""
    if env is None:
        return {}
    if hasattr(env, "keys") and hasattr(env, "__getitem__"):  # a mapping
        return env
    out: dict = {}
    for item in env:
        k, sep, v = item.partition("=")
        out[k] = v if sep else ""
    return out


class ProcessResult:
    """What :meth:`ShellLex.process` found.

    ``result``: the processed word (quotes removed, variables substituted, no splitting);
    ``words``: the same split into words; ``matched`` / ``unmatched``: the variable names
    that were looked up and found / not found.
    """

    __slots__ = ("result", "words", "matched", "unmatched")

    def __init__(self, result: str, words: List[str], matched: Set[str], unmatched: Set[str]):
        self.result = result
        self.words = words
        self.matched = matched
        self.unmatched = unmatched

    def __repr__(self) -> str:
        return f"ProcessResult(result={self.result!r}, words={self.words!r})"


class ShellLex:
    """Docker's shell-word lexer.

    ``escape`` is the escape character (``\\`` or ``\\```). The switches mirror BuildKit's:
    ``raw_quotes`` keeps quote characters in the output, ``raw_escapes`` keeps escape
    characters, ``skip_process_quotes`` treats quotes as ordinary characters (used for heredoc
    bodies) and ``skip_unset_env`` leaves references to unset variables as written.
    """

    __slots__ = ("escape", "raw_quotes", "raw_escapes", "skip_process_quotes", "skip_unset_env",
                 "heredoc_operator")

    def __init__(self, escape: str = "\\", *, raw_quotes: bool = False, raw_escapes: bool = False,
                 skip_process_quotes: bool = False, skip_unset_env: bool = False,
                 heredoc_operator: bool = False):
        if len(escape) != 1:
            raise ValueError(f"escape must be one character, not {escape!r}")
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_process_quotes = skip_process_quotes
        self.skip_unset_env = skip_unset_env
        #: keep ``<<``, ``<<-`` and the blanks after them in the word that follows
        #: (``<< EOF`` is one word), as BuildKit does when it looks for heredocs
        self.heredoc_operator = heredoc_operator

    def process(self, word: str, env: Env = None) -> ProcessResult:
        """Process ``word``; raises :class:`SubstitutionError`."""
        sc = _Scanner(self, word, env_mapping(env))
        try:
            result, words = sc.stop_on(None, self.raw_escapes)
        except _LexError as e:
            raise SubstitutionError(word, str(e)) from None
        return ProcessResult(result, words, sc.matched, sc.unmatched)

    def process_word(self, word: str, env: Env = None) -> str:
        """The processed word, without word splitting (docker's ProcessWord)."""
        return self.process(word, env).result

    def process_words(self, word: str, env: Env = None) -> List[str]:
        """The processed word split into words (docker's ProcessWords)."""
        return self.process(word, env).words


class _Words:
    __slots__ = ("word", "words", "in_word")

    def __init__(self):
        self.word = ""
        self.words: List[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if _is_space(ch):
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.word += ch
        self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw_string(self, s: str) -> None:
        self.word += s
        self.in_word = True

    def get(self) -> List[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class _Scanner:
    __slots__ = ("lex", "src", "pos", "n", "env", "raw_escapes", "matched", "unmatched")

    def __init__(self, lex: ShellLex, src: str, env: Mapping[str, str]):
        self.lex = lex
        self.src = src
        self.pos = 0
        self.n = len(src)
        self.env = env
        self.raw_escapes = lex.raw_escapes
        self.matched: Set[str] = set()
        self.unmatched: Set[str] = set()

    # -- character access (None is end of input) --------------------------------------------
    def peek(self) -> Optional[str]:
        return self.src[self.pos] if self.pos < self.n else None

    def next(self) -> Optional[str]:
        if self.pos < self.n:
            ch = self.src[self.pos]
            self.pos += 1
            return ch
        return None

    def getenv(self, name: str) -> Tuple[str, bool]:
        if name in self.env:
            self.matched.add(name)
            return self.env[name], True
        self.unmatched.add(name)
        return "", False

    # -- the grammar -----------------------------------------------------------------------
    def stop_on(self, stop: Optional[str], raw_escapes: bool) -> Tuple[str, List[str]]:
        saved = self.raw_escapes
        self.raw_escapes = raw_escapes
        try:
            return self._stop_on(stop)
        finally:
            self.raw_escapes = saved

    def _stop_on(self, stop: Optional[str]) -> Tuple[str, List[str]]:
        result: List[str] = []
        words = _Words()
        esc = self.lex.escape
        quotes = not self.lex.skip_process_quotes
        while self.pos < self.n:
            ch = self.src[self.pos]
            if stop is not None and ch == stop:
                self.pos += 1
                return "".join(result), words.get()
            if ch == "$":
                tmp = self.dollar()
                result.append(tmp)
                words.add_string(tmp)
            elif ch == "<" and self.lex.heredoc_operator:
                tmp = self.heredoc_operator()
                result.append(tmp)
                words.add_raw_string(tmp)
            elif quotes and ch == "'":
                tmp = self.single_quote()
                result.append(tmp)
                words.add_raw_string(tmp)
            elif quotes and ch == '"':
                tmp = self.double_quote()
                result.append(tmp)
                words.add_raw_string(tmp)
            else:
                self.pos += 1
                if ch == esc:
                    if self.raw_escapes:
                        words.add_raw_char(ch)
                        result.append(ch)
                    nxt = self.next()
                    if nxt is None:
                        break
                    ch = nxt
                    words.add_raw_char(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
        if stop is not None:
            raise _LexError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.get()

    def heredoc_operator(self) -> str:
        self.pos += 1
        if self.peek() != "<":
            return "<"
        self.pos += 1
        start = self.pos
        if self.peek() == "-":
            self.pos += 1
        while self.pos < self.n and _is_space(self.src[self.pos]):
            self.pos += 1
        return "<<" + self.src[start:self.pos]

    def single_quote(self) -> str:
        out: List[str] = []
        ch = self.next()
        if self.lex.raw_quotes:
            out.append(ch)
        while True:
            ch = self.next()
            if ch is None:
                raise _LexError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        out: List[str] = []
        esc = self.lex.escape
        ch = self.next()
        if self.lex.raw_quotes:
            out.append(ch)
        while True:
            p = self.peek()
            if p is None:
                raise _LexError("unexpected end of statement while looking for matching double-quote")
            if p == '"':
                self.pos += 1
                if self.lex.raw_quotes:
                    out.append(p)
                return "".join(out)
            if p == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == esc:
                if self.raw_escapes:
                    out.append(ch)
                p = self.peek()
                if p is None:
                    continue  # a lone escape at the end is dropped; the loop then fails
                if p == '"' or p == "$" or p == esc:
                    ch = self.next()
            out.append(ch)

    def name(self) -> str:
        out: List[str] = []
        while self.pos < self.n:
            ch = self.src[self.pos]
            if not out and ch.isdecimal():
                while self.pos < self.n and self.src[self.pos].isdecimal():
                    out.append(self.src[self.pos])
                    self.pos += 1
                return "".join(out)
            if not out and ch in _SPECIAL_PARAMS:
                self.pos += 1
                return ch
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            out.append(ch)
            self.pos += 1
        return "".join(out)

    def dollar(self) -> str:
        self.pos += 1  # the '$'
        if self.peek() != "{":
            name = self.name()
            if name == "":
                return "$"
            value, found = self.getenv(name)
            if not found and self.lex.skip_unset_env:
                return "$" + name
            return value

        self.pos += 1  # the '{'
        p = self.peek()
        if p is None:
            raise _LexError("syntax error: missing '}'")
        if p in "{}:":
            raise _LexError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        if ch is None:
            raise _LexError("syntax error: missing '}'")
        chs = ch
        if ch == "}":
            value, found = self.getenv(name)
            if not found and self.lex.skip_unset_env:
                return "${%s}" % name
            return value

        if ch == "/":
            return self._replace(name)

        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            chs += ch if ch is not None else ""
        elif ch not in "+-?#%":
            raise _LexError(f"unsupported modifier ({chs}) in substitution")

        try:
            word, _ = self.stop_on("}", ch == "#" or ch == "%")
        except _LexError:
            if self.peek() is None:
                raise _LexError("syntax error: missing '}'") from None
            raise
        value, is_set = self.getenv(name)
        if self.lex.skip_unset_env and not is_set:
            return "${%s%s%s}" % (name, chs, word)
        empty = not is_set or (null_is_unset and value == "")
        if ch == "-":
            return word if empty else value
        if ch == "+":
            return "" if empty else word
        if ch == "?":
            if not is_set:
                raise _LexError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise _LexError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if ch == "%" or ch == "#":
            greedy = False
            if word and word[0] == ch:
                greedy = True
                word = word[1:]
            if ch == "%":
                return _trim_suffix(word, value, greedy)
            return _trim_prefix(word, value, greedy)
        raise _LexError(f"unsupported modifier ({chs}) in substitution")

    def _replace(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.pos += 1
        try:
            pattern, _ = self.stop_on("/", True)
        except _LexError:
            if self.peek() is None:
                raise _LexError("syntax error: missing '/' in ${}") from None
            raise
        try:
            replacement, _ = self.stop_on("}", True)
        except _LexError:
            if self.peek() is None:
                raise _LexError("syntax error: missing '}'") from None
            raise
        value, is_set = self.getenv(name)
        if self.lex.skip_unset_env and not is_set:
            return "${%s/%s/%s}" % (name, pattern, replacement)
        rx = _shell_pattern_regex(pattern, greedy=True, anchored=False)
        if replace_all:
            return rx.sub(lambda m: replacement, value)
        m = rx.search(value)
        if m:
            value = value[:m.start()] + replacement + value[m.end():]
        return value


_REGEX_SPECIAL = frozenset("[]{}.+()|^$")


def _shell_pattern_regex(pattern: str, greedy: bool, anchored: bool) -> "re.Pattern[str]":
    """A ``${x#pat}`` / ``${x/pat/r}`` pattern as a regex: ``*`` any string, ``?`` one char."""
    import re  # only a Dockerfile with such a pattern needs it

    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    n = len(pattern)
    while i < n:
        tok = pattern[i]
        i += 1
        if tok == "*":
            out.append(star)
        elif tok == "?":
            out.append(".")
        elif tok == "\\":
            # '\}' and '\/' inside ${} are escapes of the ${} syntax, not of the pattern.
            if i < n and pattern[i] in "}/":
                continue
            nxt = pattern[i] if i < n else ""
            i += 1
            if nxt not in ("*", "?", "\\") or nxt == "":
                raise _LexError(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{nxt}'")
            out.append(re.escape(nxt))
        else:
            out.append(re.escape(tok))
    return re.compile("".join(out), re.DOTALL)


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    m = _shell_pattern_regex(pattern, greedy, True).search(value)
    if m:
        return value[m.end():]
    return value


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern, keeping each ``\\x`` escape in order."""
    units: List[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        if pattern[i] == "\\" and i != n - 1:
            units.append(pattern[i:i + 2])
            i += 2
        else:
            units.append(pattern[i])
            i += 1
    return "".join(reversed(units))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # Shortest-rightmost is found by a leftmost search on the reversed strings.
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


# -- convenience -------------------------------------------------------------------------------
_LEXERS: dict = {}


def lexer(escape: str) -> ShellLex:
    """The shared ShellLex for an escape character (one per process, reused)."""
    lex = _LEXERS.get(escape)
    if lex is None:
        lex = _LEXERS[escape] = ShellLex(escape)
    return lex


def expand(word: str, env: Env = None, escape: str = "\\") -> str:
    """Substitute variables in ``word`` and remove its quotes, as docker does for one word
    (the arguments of ENV, LABEL, ARG, WORKDIR, USER, COPY, ... ). Raises
    :class:`SubstitutionError`."""
    return lexer(escape).process_word(word, env)


def expand_words(word: str, env: Env = None, escape: str = "\\") -> List[str]:
    """Like :func:`expand`, then split into words (docker does this for EXPOSE)."""
    return lexer(escape).process_words(word, env)


_HEREDOC_LEX = ShellLex("\\", skip_process_quotes=True)


def expand_heredoc(content: str, env: Env = None) -> str:
    """Expand a heredoc body whose delimiter was not quoted (``COPY <<EOF``): variables are
    substituted and ``\\`` escapes, but quotes are ordinary characters. The escape character is
    always ``\\`` here, whatever the Dockerfile's ``# escape=`` says (as BuildKit does)."""
    return _HEREDOC_LEX.process_word(content, env)
