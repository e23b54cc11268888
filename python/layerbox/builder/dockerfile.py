"""The Dockerfile parser: text in, typed and checked build stages out.

Everything follows the Dockerfile reference and BuildKit's ``frontend/dockerfile/parser`` and
``instructions`` packages (which docker's classic builder also uses):

- Parser directives (``# syntax=``, ``# escape=``, ``# check=``) are read only from the very top
  of the file, before any blank line, comment or instruction; keys are case-insensitive and
  each may appear once. ``escape`` (``\\`` or ``\\```) changes line continuation and escapes.
- ``#`` as the first non-blank character makes a comment. A line ending in the escape character
  continues on the next line; comment lines and blank lines inside a continuation are skipped
  (a blank one produces a warning, as docker prints). Instructions are case-insensitive.
- Here-documents (``RUN <<EOF``, ``<<-EOF`` strips leading tabs, ``<<"EOF"`` disables
  expansion, several per instruction, ``COPY <<EOF /dest``) are read after the instruction line
  for RUN, COPY and ADD in shell form (and ONBUILD of those).

``parse`` returns a :class:`Dockerfile`; any mistake raises :class:`DockerfileError`, whose
message names the file and line (``Dockerfile:7: unknown instruction: FOO``). Arguments are
kept *unexpanded*, exactly as written (quotes included where docker keeps them for later);
each instruction's :meth:`Instruction.expanded` returns a copy with variables substituted where
docker substitutes them, given the environment of that step.

Which instructions docker expands (``Instruction.expands``): ADD, ARG, COPY, ENV, EXPOSE (split
into words too), FROM (with the ARGs declared before the first FROM only), LABEL, STOPSIGNAL,
USER, VOLUME, WORKDIR and RUN's ``--mount`` values. Not expanded: RUN/CMD/ENTRYPOINT/
HEALTHCHECK commands (the shell does it at run time), SHELL, MAINTAINER, ONBUILD (its trigger is
expanded when it fires in a child build). Within one ENV (or ARG, LABEL) instruction every
value sees the environment from *before* that instruction: ``ENV a=1 b=$a`` gives ``b`` the old
``a``.
"""

from __future__ import annotations

import re

import _json

from layerbox import _jsonfast
from layerbox import signals as _signals
from layerbox.errors import InvalidArgument

from .shellwords import ShellLex, SubstitutionError, env_mapping, expand_heredoc, go_quote, lexer

TYPE_CHECKING = False  # typing costs 3 ms to import; annotations here are never evaluated
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union

    from .shellwords import Env as EnvLike

__all__ = [
    "Add", "Arg", "Cmd", "Copy", "Dockerfile", "DockerfileError", "Entrypoint", "Env", "Expose",
    "From", "Healthcheck", "Heredoc", "Instruction", "Label", "Maintainer", "Onbuild", "Run",
    "RunMount", "Shell", "Stage", "StopSignal", "User", "Volume", "Workdir", "parse",
    "parse_duration", "parse_file", "parse_heredoc", "INSTRUCTIONS",
]

INSTRUCTIONS = (
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
)

_DIRECTIVES = ("syntax", "escape", "check")
_HEREDOC_INSTRUCTIONS = ("ADD", "COPY", "RUN")


class DockerfileError(InvalidArgument):
    """A Dockerfile is wrong. ``str()`` is ``FILE:LINE: what is wrong``.

    ``filename``, ``line`` (1-based, or None when the whole file is at fault) and ``reason``
    (the message without the location) are attributes.
    """

    def __init__(self, filename: str, line: Optional[int], reason: str):
        where = f"{filename}:{line}" if line else filename
        super().__init__(f"{where}: {reason}")
        self.filename = filename
        self.line = line
        self.reason = reason


class _Fail(Exception):
    """An error found while parsing one line; the caller adds file and line."""


# -- a tiny record base (dataclass-like without importing dataclasses) -------------------------
class _Record:
    __slots__ = ()
    _defaults: Dict[str, Any] = {}

    @classmethod
    def _fields(cls) -> Tuple[str, ...]:
        f = cls.__dict__.get("_field_cache")
        if f is None:
            names: List[str] = []
            for klass in reversed(cls.__mro__):
                for name in klass.__dict__.get("__slots__", ()):
                    if name not in names:
                        names.append(name)
            f = tuple(names)
            setattr(cls, "_field_cache", f)
        return f

    def __init__(self, **kw: Any):
        defaults = self._defaults
        for name in self._fields():
            if name in kw:
                value = kw.pop(name)
            elif name in defaults:
                value = defaults[name]
                if isinstance(value, (list, dict)):
                    value = type(value)()
            else:
                raise TypeError(f"{type(self).__name__} needs {name}")
            object.__setattr__(self, name, value)
        if kw:
            raise TypeError(f"{type(self).__name__} has no field(s) {sorted(kw)}")

    def replace(self, **changes: Any):
        """A shallow copy with some fields changed."""
        new = object.__new__(type(self))
        for name in self._fields():
            object.__setattr__(new, name, changes.pop(name) if name in changes else getattr(self, name))
        if changes:
            raise TypeError(f"{type(self).__name__} has no field(s) {sorted(changes)}")
        return new

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._fields())

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        body = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields())
        return f"{type(self).__name__}({body})"


class Heredoc(_Record):
    """One here-document.

    ``name``: the delimiter word (quotes removed); ``content``: the body exactly as written, each
    line with its newline; ``chomp``: ``<<-`` (leading tabs are stripped from each body line);
    ``expand``: the delimiter was unquoted, so variables in the body are expanded for COPY/ADD
    (for RUN the shell sees the body); ``fd``: the file descriptor before ``<<`` (``3<<EOF``), 0
    if none.
    """

    __slots__ = ("name", "content", "chomp", "expand", "fd")
    _defaults = {"chomp": False, "expand": True, "fd": 0}

    @property
    def data(self) -> str:
        """The body with leading tabs stripped when ``chomp``: what the file or script holds."""
        if self.chomp:
            return re.sub(r"(?m)^\t+", "", self.content)
        return self.content


class RunMount(_Record):
    """One ``RUN --mount=...`` spec, split into its fields (values as written or expanded).

    ``type`` (bind, cache, tmpfs, secret, ssh; default bind), ``target``, ``source``, ``from_``,
    ``readonly`` (None when not given), ``options`` (every ``key=value`` field, keys lower-case,
    including the ones above) and ``raw`` (the spec as written). In an unexpanded
    :class:`Run`, a field whose value holds a ``$`` is only recorded in ``options``; use
    :meth:`Run.expanded` to get every field resolved and checked.
    """

    __slots__ = ("type", "target", "source", "from_", "readonly", "options", "raw")
    _defaults = {"type": "bind", "target": None, "source": None, "from_": None, "readonly": None,
                 "options": {}}


# -- instructions --------------------------------------------------------------------------
class Instruction(_Record):
    """Base of every instruction.

    ``keyword``: upper-case name (``RUN``); ``original``: the instruction as docker prints it in
    ``Step N/M : ...`` (continuation lines joined, comments dropped, heredoc bodies not
    included); ``line`` / ``end_line``: first and last source line (1-based; ``end_line``
    covers heredoc bodies); ``flags``: the ``--flags`` given, name to value (``str``; ``True`` /
    ``False`` for boolean flags; a ``list`` for repeatable ones like ``--mount``);
    ``filename`` and ``escape`` (the file's escape character) are kept for messages and
    substitution.
    """

    __slots__ = ("keyword", "original", "line", "end_line", "flags", "filename", "escape")
    _defaults = {"flags": {}, "filename": "Dockerfile", "escape": "\\"}
    expands = False  #: whether docker substitutes variables in this instruction

    def __str__(self) -> str:
        return self.original

    def error(self, reason: str) -> DockerfileError:
        """A :class:`DockerfileError` located at this instruction."""
        return DockerfileError(self.filename, self.line, reason)

    def _lex(self) -> ShellLex:
        return lexer(self.escape)

    def _word(self, word: Optional[str], env: Mapping[str, str]) -> Optional[str]:
        if word is None:
            return None
        try:
            return self._lex().process_word(word, env)
        except SubstitutionError as e:
            raise self.error(str(e)) from None

    def _words(self, word: str, env: Mapping[str, str]) -> List[str]:
        try:
            return self._lex().process_words(word, env)
        except SubstitutionError as e:
            raise self.error(str(e)) from None

    def expanded(self, env: EnvLike = None):
        """A copy with variables substituted (and quotes removed) where docker does it, using
        ``env`` (a mapping or ``["K=V", ...]``): the step's environment, i.e. the image's ENV
        plus the ARGs in scope. Instructions docker does not expand return an equal copy.
        Raises :class:`DockerfileError` (located at this instruction) for a bad substitution."""
        return self.replace()


class From(Instruction):
    """``FROM [--platform=P] IMAGE [AS NAME]``. ``image`` and ``platform`` are unexpanded;
    ``name`` is the lower-cased stage name or None."""

    __slots__ = ("image", "name", "platform")
    _defaults = dict(Instruction._defaults, name=None, platform=None)
    expands = True

    def expanded(self, env: EnvLike = None) -> "From":
        """Expand ``image`` and ``platform`` with ``env``, which for FROM is only the ARGs
        declared before the first FROM (docker's rule). An image that expands to nothing is an
        error (``base name (${X}) should not be blank``)."""
        m = env_mapping(env)
        image = self._word(self.image, m)
        if not image:
            raise self.error(f"base name ({self.image}) should not be blank")
        return self.replace(image=image, platform=self._word(self.platform, m))


class _CommandLine(Instruction):
    __slots__ = ("cmd", "prepend_shell")
    _defaults = dict(Instruction._defaults, prepend_shell=True)


class Run(_CommandLine):
    """``RUN``. ``cmd``: the exec-form list, or for shell form a one-item list holding the
    command text; ``prepend_shell``: shell form (run as ``SHELL + [cmd[0]]``); ``heredocs``: the
    here-documents in the command; ``mounts``: the ``--mount`` specs; ``network`` /
    ``security``: ``--network`` / ``--security`` or None.

    For a shell-form RUN with heredocs use :meth:`shell_script` to get what the shell runs.
    """

    __slots__ = ("heredocs", "mounts", "network", "security")
    _defaults = dict(_CommandLine._defaults, heredocs=[], mounts=[], network=None, security=None)
    expands = True

    def shell_script(self) -> Optional[str]:
        """What goes after ``SHELL`` for a shell-form RUN (None for exec form), docker's way.

        Without heredocs: the command text. ``RUN <<EOF`` alone: the heredoc body (docker runs
        the body as the script). A command using heredocs (``RUN python3 <<EOF``): the command
        followed by each body and delimiter on the next lines, for the shell to read as real
        heredocs. See also :meth:`shebang_heredoc`.
        """
        if not self.prepend_shell:
            return None
        text = self.cmd[0] if self.cmd else ""
        if not self.heredocs:
            return text
        if parse_heredoc(text) is not None:
            return self.heredocs[0].data
        for h in self.heredocs:
            text += "\n" + h.content + h.name
        return text

    def shebang_heredoc(self) -> Optional[Heredoc]:
        """The heredoc when the RUN is only ``<<EOF`` and the body starts with ``#!``: docker
        then writes the body to an executable file and runs that file instead of the shell."""
        if not (self.prepend_shell and self.heredocs and self.cmd):
            return None
        if parse_heredoc(self.cmd[0]) is not None and self.heredocs[0].data.startswith("#!"):
            return self.heredocs[0]
        return None

    def expanded(self, env: EnvLike = None) -> "Run":
        """Expand the ``--mount`` values (the command itself is the shell's business)."""
        m = env_mapping(env)
        mounts = [_parse_mount(mt.raw, self, m) for mt in self.mounts]
        return self.replace(mounts=mounts)


class Cmd(_CommandLine):
    """``CMD``: ``cmd`` (exec list, or ``[text]`` in shell form) and ``prepend_shell``."""

    __slots__ = ()


class Entrypoint(_CommandLine):
    """``ENTRYPOINT``: like :class:`Cmd`; an empty ``cmd`` (``ENTRYPOINT []``) resets it
    (docker stores null)."""

    __slots__ = ()


class Shell(Instruction):
    """``SHELL ["executable", "params"]`` (JSON form only)."""

    __slots__ = ("shell",)


class Maintainer(Instruction):
    """``MAINTAINER name`` (deprecated: docker stores it as the image's Author)."""

    __slots__ = ("maintainer",)


class _KeyValues(Instruction):
    __slots__ = ("pairs",)
    expands = True

    def expanded(self, env: EnvLike = None):
        m = env_mapping(env)
        return self.replace(pairs=[(self._word(k, m), self._word(v, m)) for k, v in self.pairs])


class Env(_KeyValues):
    """``ENV K=V ...`` or legacy ``ENV K V``: ``pairs`` of unexpanded (key, value) in order.
    Values keep their quotes until :meth:`expanded` (``ENV A="a b"`` has value ``'"a b"'``)."""

    __slots__ = ()


class Label(_KeyValues):
    """``LABEL k=v ...`` or legacy ``LABEL k v``: ``pairs`` like :class:`Env`."""

    __slots__ = ()


class Arg(Instruction):
    """``ARG NAME[=default] ...``: ``pairs`` of (name, default or None), unexpanded."""

    __slots__ = ("pairs",)
    expands = True

    @property
    def names(self) -> List[str]:
        return [k for k, _ in self.pairs]

    def expanded(self, env: EnvLike = None) -> "Arg":
        m = env_mapping(env)
        return self.replace(pairs=[(self._word(k, m), self._word(v, m)) for k, v in self.pairs])


class Expose(Instruction):
    """``EXPOSE port[/proto] ...``: ``ports`` unexpanded; :meth:`expanded` also splits words
    (``EXPOSE $PORTS`` with ``PORTS="80 443"`` gives two ports)."""

    __slots__ = ("ports",)
    expands = True

    def expanded(self, env: EnvLike = None) -> "Expose":
        m = env_mapping(env)
        ports: List[str] = []
        for p in self.ports:
            ports.extend(self._words(p, m))
        return self.replace(ports=ports)


class _SingleValue(Instruction):
    __slots__ = ()
    _value = ""
    expands = True

    def expanded(self, env: EnvLike = None):
        m = env_mapping(env)
        return self.replace(**{self._value: self._word(getattr(self, self._value), m)})


class User(_SingleValue):
    """``USER user[:group]``."""

    __slots__ = ("user",)
    _value = "user"


class Workdir(_SingleValue):
    """``WORKDIR path`` (relative paths are relative to the previous WORKDIR)."""

    __slots__ = ("path",)
    _value = "path"


class StopSignal(_SingleValue):
    """``STOPSIGNAL signal``. Docker checks the signal only after expansion: see
    :meth:`expanded` and :mod:`layerbox.signals`."""

    __slots__ = ("signal",)
    _value = "signal"

    def expanded(self, env: EnvLike = None) -> "StopSignal":
        """Expand, then check the signal like docker (``Invalid signal: X``)."""
        new = _SingleValue.expanded(self, env)
        if not _signals.valid(new.signal):
            raise self.error(f"Invalid signal: {new.signal}")
        return new


class Volume(Instruction):
    """``VOLUME ["/a", "/b"]`` or ``VOLUME /a /b``: ``paths`` unexpanded."""

    __slots__ = ("paths",)
    expands = True

    def expanded(self, env: EnvLike = None) -> "Volume":
        m = env_mapping(env)
        paths = [self._word(p, m) for p in self.paths]
        for p in paths:
            if p == "":
                raise self.error("VOLUME specified can not be an empty string")
        return self.replace(paths=paths)


class _Files(Instruction):
    """Shared by COPY and ADD."""

    __slots__ = ("sources", "dest", "contents", "chown", "chmod", "link", "exclude")
    _defaults = dict(Instruction._defaults, contents=[], chown=None, chmod=None, link=False,
                     exclude=[])
    expands = True

    def _expand_files(self, m: Mapping[str, str]) -> Dict[str, Any]:
        contents = []
        for h in self.contents:
            data = h.data
            if h.expand:
                try:
                    data = expand_heredoc(data, m)
                except SubstitutionError as e:
                    raise self.error(str(e)) from None
            contents.append(h.replace(content=data, chomp=False))
        return dict(
            sources=[self._word(s, m) for s in self.sources],
            dest=self._word(self.dest, m),
            contents=contents,
            chown=self._word(self.chown, m),
            chmod=self._word(self.chmod, m),
            exclude=[self._word(x, m) for x in self.exclude],
        )


class Copy(_Files):
    """``COPY [--from=S] [--chown=U:G] [--chmod=M] [--link] [--parents] [--exclude=P] src... dest``.

    ``sources``: source paths (unexpanded; shell form splits on whitespace without honouring
    quotes, as docker); ``dest``; ``contents``: heredoc sources (``COPY <<EOF /x``), each a
    :class:`Heredoc` whose ``name`` is the file name; ``from_``: ``--from`` value or None.
    """

    __slots__ = ("from_", "parents")
    _defaults = dict(_Files._defaults, from_=None, parents=False)

    def expanded(self, env: EnvLike = None, meta_env: EnvLike = None) -> "Copy":
        """Expand sources, dest, ``--chown``, ``--chmod``, ``--exclude`` and expandable heredoc
        bodies with ``env``. ``--from`` is expanded only if ``meta_env`` is given: BuildKit
        resolves ``--from=$X`` with the ARGs declared before the first FROM, not the stage's."""
        m = env_mapping(env)
        kw = self._expand_files(m)
        if meta_env is not None:
            kw["from_"] = self._word(self.from_, env_mapping(meta_env))
        return self.replace(**kw)


class Add(_Files):
    """``ADD [--chown] [--chmod] [--link] [--keep-git-dir] [--checksum=D] [--unpack] src... dest``:
    like :class:`Copy` (no ``--from``); sources may be URLs or git repositories."""

    __slots__ = ("keep_git_dir", "checksum", "unpack")
    _defaults = dict(_Files._defaults, keep_git_dir=False, checksum=None, unpack=None)

    def expanded(self, env: EnvLike = None) -> "Add":
        m = env_mapping(env)
        kw = self._expand_files(m)
        kw["checksum"] = self._word(self.checksum, m)
        return self.replace(**kw)


class Healthcheck(Instruction):
    """``HEALTHCHECK NONE`` or ``HEALTHCHECK [options] CMD ...``.

    ``test`` is docker's config form: ``["NONE"]``, ``["CMD", arg, ...]`` (exec form) or
    ``["CMD-SHELL", text]``. Durations are nanoseconds (0 = not given, docker's default),
    ``retries`` 0 = not given.
    """

    __slots__ = ("test", "interval", "timeout", "start_period", "start_interval", "retries")
    _defaults = dict(Instruction._defaults, interval=0, timeout=0, start_period=0,
                     start_interval=0, retries=0)


class Onbuild(Instruction):
    """``ONBUILD INSTRUCTION``: ``expression`` is the trigger text docker stores in the image
    (heredoc bodies appended as docker does); ``trigger`` is that instruction parsed (checked
    here, run in the child build)."""

    __slots__ = ("expression", "trigger")


# -- stages and the file -------------------------------------------------------------------
class Stage(_Record):
    """One build stage: its FROM and the instructions after it.

    ``index`` (0-based), ``name`` (lower-case, or None), ``image`` (the FROM argument,
    unexpanded), ``platform`` (unexpanded or None), ``line`` (of the FROM), ``from_`` (the
    :class:`From`), ``instructions`` (in order, not counting FROM) and ``base_stage`` (the index
    of an earlier stage that ``image`` names literally, else None; after expanding ``image``
    use :meth:`Dockerfile.stage_for`).
    """

    __slots__ = ("index", "name", "image", "platform", "line", "from_", "instructions",
                 "base_stage")
    _defaults = {"instructions": [], "base_stage": None}


class Dockerfile(_Record):
    """A parsed Dockerfile.

    ``filename``; ``directives`` (lower-case name to value, e.g. ``{"syntax": ...}``);
    ``escape`` (``\\`` or ``\\```); ``meta_args`` (the :class:`Arg` instructions before the
    first FROM); ``stages``; ``warnings`` (``"FILE:LINE: text"`` strings docker would print).
    """

    __slots__ = ("filename", "directives", "escape", "meta_args", "stages", "warnings")
    _defaults = {"directives": {}, "escape": "\\", "meta_args": [], "stages": [], "warnings": []}

    @property
    def syntax(self) -> Optional[str]:
        """The ``# syntax=`` directive, if any (accepted and otherwise ignored)."""
        return self.directives.get("syntax")

    @property
    def step_count(self) -> int:
        """Docker's ``M`` in ``Step N/M``: meta ARGs + FROMs + every other instruction."""
        return len(self.meta_args) + sum(1 + len(s.instructions) for s in self.stages)

    def steps(self) -> Iterator[Instruction]:
        """Every instruction in order (meta ARGs, then each stage's FROM and instructions)."""
        yield from self.meta_args
        for s in self.stages:
            yield s.from_
            yield from s.instructions

    def stage(self, ref: Union[str, int]) -> Stage:
        """The stage with this name (case-insensitive) or index; KeyError if none."""
        if isinstance(ref, int):
            return self.stages[ref]
        low = ref.lower()
        for s in self.stages:
            if s.name == low:
                return s
        if ref.isdigit() and int(ref) < len(self.stages):
            return self.stages[int(ref)]
        raise KeyError(ref)

    def stage_for(self, ref: str, before: int) -> Optional[int]:
        """Resolve a ``COPY --from`` / ``FROM`` reference (already expanded) seen in stage
        ``before``: the index of the earlier stage it names (by name, case-insensitive, or by
        number), or None when it names no stage (it is then an image). Raises
        :class:`InvalidArgument` for a stage number that is not an earlier stage, with docker's
        wording."""
        low = ref.lower()
        for s in self.stages[:before]:
            if s.name == low:
                return s.index
        if re.fullmatch(r"[+-]?[0-9]+", ref):
            i = int(ref)
            if i == before:
                raise InvalidArgument(f"invalid from flag value {ref}: refers to current build stage")
            if i < 0 or i > before:
                raise InvalidArgument(f"invalid from flag value {ref}: index out of bounds")
            return i
        return None


# -- helpers used by several parts -------------------------------------------------------------
_GO_SPACE = "\t\n\v\f\r \x85\xa0"
_TOKEN_WS = re.compile(r"[\t\v\f\r ]+")


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
    if not re.fullmatch(r"[+-]?[0-9]+", s):
        raise ValueError(f"strconv.ParseInt: parsing {go_quote(s)}: invalid syntax")
    v = int(s)
    if not -(1 << 31) <= v < (1 << 31):
        raise ValueError(f"strconv.ParseInt: parsing {go_quote(s)}: value out of range")
    return v


# -- line-level parsing (BuildKit's parser package) -------------------------------------------------
class _Directives:
    __slots__ = ("escape", "values", "done", "_cont")

    def __init__(self):
        self.values: Dict[str, str] = {}
        self.done = False
        self.set_escape("\\")

    def set_escape(self, token: str) -> None:
        if token not in ("`", "\\"):
            raise _Fail(f"invalid escape token '{token}' does not match ` or \\\\")
        self.escape = token
        e = re.escape(token)
        self._cont = re.compile(r"([^%s])%s[ \t]*\Z|^%s[ \t]*\Z" % (e, e, e))

    def check(self, line: str) -> bool:
        """Look for a parser directive; True if ``line`` was one."""
        if self.done:
            return False
        if not line.startswith("#"):
            self.done = True
            return False
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
        m = self._cont.search(line)
        if m:
            return line[:m.start()] + (m.group(1) or ""), False
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
    parts = _TOKEN_WS.split(_strip(line), 1)
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
    return _TOKEN_WS.split(rest)


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
        parts = re.split(r"[\t\v\f\r ]+", rest, 1)
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


_HEREDOC_RE = re.compile(r"([0-9]*)<<(-?)\s*([^<]*)", re.S)


def parse_heredoc(word: str) -> Optional[Heredoc]:
    """The heredoc a word like ``<<EOF``, ``<<-"EOF"``, ``<< EOF`` or ``3<<EOF`` opens (with empty
    ``content``), or None if the word is not one. Raises ``InvalidArgument`` for a malformed
    delimiter."""
    m = _HEREDOC_RE.fullmatch(word)
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


# -- instruction-level parsing (BuildKit's instructions package) -----------------------------------
_BOOL, _STR, _STRS = "bool", "str", "strs"

_FLAGS: Dict[str, Dict[str, str]] = {
    "ADD": {"chown": _STR, "chmod": _STR, "link": _BOOL, "keep-git-dir": _BOOL,
            "checksum": _STR, "unpack": _BOOL, "exclude": _STRS},
    "COPY": {"chown": _STR, "from": _STR, "chmod": _STR, "link": _BOOL, "parents": _BOOL,
             "exclude": _STRS},
    "FROM": {"platform": _STR},
    "RUN": {"mount": _STRS, "network": _STR, "security": _STR},
    "HEALTHCHECK": {"interval": _STR, "timeout": _STR, "start-period": _STR,
                    "start-interval": _STR, "retries": _STR},
}
_NO_FLAGS: Dict[str, str] = {}


def _parse_flags(args: List[str], spec: Dict[str, str]) -> Dict[str, Any]:
    used: Dict[str, Any] = {}
    for arg in args:
        if not arg.startswith("--"):
            raise _Fail(f"Arg should start with -- : {arg}")
        if arg == "--":
            break
        body = arg[2:]
        name, eq, value = body.partition("=")
        kind = spec.get(name)
        if kind is None:
            raise _Fail(f"Unknown flag: {name}{_suggest(name, spec)}")
        if name in used and kind != _STRS:
            raise _Fail(f"Duplicate flag specified: {name}")
        if kind == _BOOL:
            if eq and value == "":
                raise _Fail(f"Missing a value on flag: {name}")
            low = value.lower()
            if low == "":
                used[name] = True
            elif low in ("true", "false"):
                used[name] = low == "true"
            else:
                raise _Fail(f"Expecting boolean value for flag {name}, not: {value}")
        elif kind == _STR:
            if not eq:
                raise _Fail(f"Missing a value on flag: {name}")
            used[name] = value
        else:
            if not eq:
                raise _Fail(f"Missing a value on flag: {name}")
            used.setdefault(name, []).append(value)
    return used


def _handle_json_args(args: List[str], is_json: bool) -> List[str]:
    if not args:
        return []
    if is_json:
        return list(args)
    return [" ".join(args)]


_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")
_MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
_MOUNT_KEYS = ("type", "target", "dst", "destination", "src", "source", "from", "readonly", "ro",
               "readwrite", "rw", "required", "id", "sharing", "mode", "uid", "gid", "size", "env")
_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def _csv_fields(spec: str) -> List[str]:
    """Split a mount spec on commas, honouring double quotes like Go's encoding/csv."""
    fields: List[str] = []
    cur: List[str] = []
    quoted = False
    i = 0
    while i < len(spec):
        ch = spec[i]
        if quoted:
            if ch == '"':
                if i + 1 < len(spec) and spec[i + 1] == '"':
                    cur.append('"')
                    i += 1
                else:
                    quoted = False
            else:
                cur.append(ch)
        elif ch == '"' and not cur:
            quoted = True
        elif ch == ",":
            fields.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    fields.append("".join(cur))
    return fields


def _parse_mount(spec: str, inst: Optional[Instruction], env: Optional[Mapping[str, str]]) -> RunMount:
    """Parse one ``--mount`` value. Without ``env`` only what docker checks at parse time is
    checked; with it every value is expanded and validated."""

    def fail(msg: str) -> Exception:
        return inst.error(msg) if inst is not None and env is not None else _Fail(msg)

    mount = RunMount(raw=spec)
    options: Dict[str, str] = {}
    for field in _csv_fields(spec):
        if field == "":
            continue
        key, eq, value = field.partition("=")
        key = key.lower()
        if not eq:
            if key in ("readonly", "ro"):
                mount.readonly = True
                continue
            if key in ("readwrite", "rw"):
                mount.readonly = False
                continue
            if key == "required":
                if mount.type in ("secret", "ssh"):
                    options["required"] = "true"
                    continue
                raise fail(f"unexpected key '{key}' for mount type '{mount.type}'")
            raise fail(f"invalid field '{field}' must be a key=value pair")
        if env is not None and inst is not None:
            value = inst._word(value, env)
        elif key == "from" and ("$" in value or "\\" in value):
            raise fail(f"'{key}' doesn't support variable expansion, define alias stage instead")
        if key not in _MOUNT_KEYS:
            raise fail(f"unexpected key '{key}' in '{field}'")
        options[key] = value
        if env is None and "$" in value:
            continue  # checked after expansion
        if key == "type":
            if value.lower() not in _MOUNT_TYPES:
                raise fail(f"unsupported mount type {go_quote(value)}{_suggest(value, _MOUNT_TYPES)}")
            mount.type = value.lower()
        elif key in ("target", "dst", "destination"):
            mount.target = value
        elif key in ("src", "source"):
            mount.source = value
        elif key == "from":
            mount.from_ = value
        elif key in ("readonly", "ro", "readwrite", "rw"):
            if value in _GO_TRUE:
                b = True
            elif value in _GO_FALSE:
                b = False
            else:
                raise fail(f"invalid value for {key}: {value}")
            mount.readonly = b if key in ("readonly", "ro") else not b
        elif key == "sharing" and value not in ("shared", "private", "locked"):
            raise fail(f"unsupported sharing value {go_quote(value)}")
    mount.options = options
    return mount


class _Builder:
    """Turns line nodes into typed instructions."""

    def __init__(self, filename: str, escape: str):
        self.filename = filename
        self.escape = escape

    def base(self, node: _Node) -> Dict[str, Any]:
        return dict(keyword=node.keyword, original=_strip(node.original), line=node.start,
                    end_line=node.end, filename=self.filename, escape=self.escape)

    def build(self, node: _Node) -> Instruction:
        try:
            return self._build(node)
        except _Fail as e:
            raise DockerfileError(self.filename, node.start, str(e)) from None

    def _build(self, node: _Node) -> Instruction:
        kw = node.keyword
        fn = getattr(self, "_" + kw.lower(), None) if kw in INSTRUCTIONS else None
        if fn is None:
            raise _Fail(f"unknown instruction: {node.cmd}{_suggest(node.cmd, INSTRUCTIONS, upper=True)}")
        return fn(node)

    def _flags(self, node: _Node, kw: Optional[str] = None) -> Dict[str, Any]:
        return _parse_flags(node.flags, _FLAGS.get(kw or node.keyword, _NO_FLAGS))

    # each method follows the order of checks of BuildKit's parse functions
    def _env(self, node: _Node) -> Instruction:
        return self._kv(node, Env)

    def _label(self, node: _Node) -> Instruction:
        return self._kv(node, Label)

    def _kv(self, node: _Node, cls) -> Instruction:
        flags = self._flags(node)
        if not node.kv:
            raise _Fail(f"{node.keyword} requires at least one argument")
        for k, _ in node.kv:
            if k == "":
                raise _Fail(f"{node.keyword} names can not be blank")
        return cls(pairs=list(node.kv), flags=flags, **self.base(node))

    def _maintainer(self, node: _Node) -> Instruction:
        if len(node.args) != 1:
            raise _Fail("MAINTAINER requires exactly one argument")
        return Maintainer(maintainer=node.args[0], flags=self._flags(node), **self.base(node))

    def _files(self, node: _Node) -> Dict[str, Any]:
        kw = node.keyword
        if len(node.args) < 2:
            raise _Fail(f"{kw} requires at least two arguments, but only one was provided. "
                        "Destination could not be determined")
        flags = self._flags(node)
        srcs, dest = node.args[:-1], node.args[-1]
        if parse_heredoc_quiet(dest) is not None:
            raise _Fail(f"{kw} cannot accept a heredoc as a destination")
        by_name = {h.name: h for h in node.heredocs}
        sources: List[str] = []
        contents: List[Heredoc] = []
        for src in srcs:
            h = parse_heredoc_quiet(src) if not node.json else None
            if h is not None:
                found = by_name.get(h.name)
                contents.append(h.replace(content=found.content if found else ""))
            else:
                sources.append(src)
        return dict(sources=sources, dest=dest, contents=contents, flags=flags,
                    chown=flags.get("chown"), chmod=flags.get("chmod"),
                    link=flags.get("link", False), exclude=list(flags.get("exclude", [])),
                    **self.base(node))

    def _add(self, node: _Node) -> Instruction:
        kw = self._files(node)
        flags = kw["flags"]
        return Add(keep_git_dir=flags.get("keep-git-dir", False), checksum=flags.get("checksum"),
                   unpack=flags.get("unpack"), **kw)

    def _copy(self, node: _Node) -> Instruction:
        kw = self._files(node)
        flags = kw["flags"]
        return Copy(from_=flags.get("from") or None, parents=flags.get("parents", False), **kw)

    def _from(self, node: _Node) -> Instruction:
        args = node.args
        name = None
        if len(args) == 3 and args[1].lower() == "as":
            name = args[2].lower()
            if not _STAGE_NAME.fullmatch(name):
                raise _Fail(f"invalid name for build stage: {go_quote(args[2])}, name can't "
                            "start with a number or contain symbols")
        elif len(args) != 1:
            raise _Fail("FROM requires either one or three arguments")
        flags = self._flags(node)
        return From(image=args[0], name=name, platform=flags.get("platform") or None,
                    flags=flags, **self.base(node))

    def _onbuild(self, node: _Node) -> Instruction:
        if node.sub is None:
            raise _Fail("ONBUILD requires at least one argument")
        flags = self._flags(node)
        trigger_kw = node.sub.keyword
        if trigger_kw == "ONBUILD":
            raise _Fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger_kw in ("MAINTAINER", "FROM"):
            raise _Fail(f"{trigger_kw} isn't allowed as an ONBUILD trigger")
        node.sub.start, node.sub.end = node.start, node.end
        trigger = self._build(node.sub)
        expression = re.sub(r"(?i)^\s*ONBUILD\s*", "", node.original)
        for h in node.heredocs:
            expression += "\n" + h.content + h.name
        return Onbuild(expression=expression, trigger=trigger, flags=flags, **self.base(node))

    def _workdir(self, node: _Node) -> Instruction:
        if len(node.args) != 1:
            raise _Fail("WORKDIR requires exactly one argument")
        return Workdir(path=node.args[0], flags=self._flags(node), **self.base(node))

    def _run(self, node: _Node) -> Instruction:
        flags = self._flags(node)
        mounts = [_parse_mount(spec, None, None) for spec in flags.get("mount", [])]
        network = flags.get("network")
        if network is not None and network not in ("default", "none", "host"):
            raise _Fail(f"unsupported network mode {go_quote(network)}")
        security = flags.get("security")
        if security is not None and security not in ("sandbox", "insecure"):
            raise _Fail(f"unsupported security mode {go_quote(security)}")
        return Run(cmd=_handle_json_args(node.args, node.json), prepend_shell=not node.json,
                   heredocs=list(node.heredocs), mounts=mounts, network=network,
                   security=security, flags=flags, **self.base(node))

    def _cmd(self, node: _Node) -> Instruction:
        flags = self._flags(node)
        return Cmd(cmd=_handle_json_args(node.args, node.json), prepend_shell=not node.json,
                   flags=flags, **self.base(node))

    def _entrypoint(self, node: _Node) -> Instruction:
        flags = self._flags(node)
        return Entrypoint(cmd=_handle_json_args(node.args, node.json),
                          prepend_shell=not node.json, flags=flags, **self.base(node))

    def _healthcheck(self, node: _Node) -> Instruction:
        if not node.args:
            raise _Fail("HEALTHCHECK requires at least one argument")
        typ = node.args[0].upper()
        args = node.args[1:]
        if typ == "NONE":
            if args:
                raise _Fail("HEALTHCHECK NONE takes no arguments")
            flags = self._flags(node)
            return Healthcheck(test=["NONE"], flags=flags, **self.base(node))
        flags = self._flags(node)
        if typ != "CMD":
            raise _Fail(f"Unknown type {go_quote(typ)} in HEALTHCHECK (try CMD)")
        cmd = _handle_json_args(args, node.json)
        if not cmd:
            raise _Fail("Missing command after HEALTHCHECK CMD")
        test = ["CMD" if node.json else "CMD-SHELL"] + cmd
        durations = {}
        for flag in ("interval", "timeout", "start-period", "start-interval"):
            value = flags.get(flag, "")
            d = 0
            if value:
                try:
                    d = parse_duration(value)
                except ValueError as e:
                    raise _Fail(str(e)) from None
                if d != 0 and d < 10**6:
                    raise _Fail(f"Interval {go_quote(flag)} cannot be less than 1ms")
            durations[flag.replace("-", "_")] = d
        retries = 0
        if flags.get("retries"):
            try:
                retries = _parse_int32(flags["retries"])
            except ValueError as e:
                raise _Fail(str(e)) from None
            if retries < 0:
                raise _Fail(f"--retries cannot be negative ({retries})")
        return Healthcheck(test=test, retries=retries, flags=flags, **durations, **self.base(node))

    def _expose(self, node: _Node) -> Instruction:
        if not node.args:
            raise _Fail("EXPOSE requires at least one argument")
        return Expose(ports=list(node.args), flags=self._flags(node), **self.base(node))

    def _user(self, node: _Node) -> Instruction:
        if len(node.args) != 1:
            raise _Fail("USER requires exactly one argument")
        return User(user=node.args[0], flags=self._flags(node), **self.base(node))

    def _volume(self, node: _Node) -> Instruction:
        if not node.args:
            raise _Fail("VOLUME requires at least one argument")
        flags = self._flags(node)
        paths = []
        for v in node.args:
            v = _strip(v)
            if v == "":
                raise _Fail("VOLUME specified can not be an empty string")
            paths.append(v)
        return Volume(paths=paths, flags=flags, **self.base(node))

    def _stopsignal(self, node: _Node) -> Instruction:
        if len(node.args) != 1:
            raise _Fail("STOPSIGNAL requires exactly one argument")
        return StopSignal(signal=node.args[0], flags=self._flags(node), **self.base(node))

    def _arg(self, node: _Node) -> Instruction:
        if not node.args:
            raise _Fail("ARG requires at least one argument")
        flags = self._flags(node)
        pairs: List[Tuple[str, Optional[str]]] = []
        for a in node.args:
            if "=" in a:
                k, _, v = a.partition("=")
                if k == "":
                    raise _Fail("ARG names can not be blank")
                pairs.append((k, v))
            else:
                pairs.append((a, None))
        return Arg(pairs=pairs, flags=flags, **self.base(node))

    def _shell(self, node: _Node) -> Instruction:
        flags = self._flags(node)
        shell = _handle_json_args(node.args, node.json)
        if not shell:
            raise _Fail("SHELL requires at least one argument")
        if not node.json:
            raise _Fail("SHELL requires the arguments to be in JSON form")
        return Shell(shell=shell, flags=flags, **self.base(node))


def parse_heredoc_quiet(word: str) -> Optional[Heredoc]:
    """:func:`parse_heredoc` that answers None instead of raising."""
    try:
        return parse_heredoc(word)
    except InvalidArgument:
        return None


# -- the whole file ---------------------------------------------------------------------------------
def parse(text: Union[str, bytes], filename: str = "Dockerfile") -> Dockerfile:
    """Parse and check a Dockerfile. Raises :class:`DockerfileError` on the first mistake.

    ``filename`` is only used in messages (use the name the user gave, e.g. ``Dockerfile``).
    Bytes are decoded as UTF-8.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="surrogateescape")
    if _strip(text.lstrip("\ufeff")) == "":
        raise DockerfileError(filename, None, "the Dockerfile cannot be empty")
    directives = _Directives()
    warnings: List[str] = []
    nodes = _parse_nodes(text, filename, directives, warnings)
    if not nodes:
        last = len(_split_lines(text))
        raise DockerfileError(filename, last, "file with no instructions")
    builder = _Builder(filename, directives.escape)
    meta_args: List[Arg] = []
    stages: List[Stage] = []
    for node in nodes:
        inst = builder.build(node)
        if isinstance(inst, From):
            stages.append(Stage(index=len(stages), name=inst.name, image=inst.image,
                                platform=inst.platform, line=inst.line, from_=inst))
        elif not stages:
            if isinstance(inst, Arg):
                meta_args.append(inst)
                continue
            raise inst.error("no build stage in current context")
        else:
            stages[-1].instructions.append(inst)
    if not stages:
        raise DockerfileError(filename, None, "dockerfile contains no stages to build")
    df = Dockerfile(filename=filename, directives=dict(directives.values),
                    escape=directives.escape, meta_args=meta_args, stages=stages,
                    warnings=warnings)
    _check_stages(df)
    return df


def _check_stages(df: Dockerfile) -> None:
    """What docker finds wrong between stages before running any step."""
    seen: Dict[str, Stage] = {}
    for stage in df.stages:
        if stage.name is not None:
            if stage.name in seen:
                raise stage.from_.error(f"{stage.name} stage name already used")
            seen[stage.name] = stage
        base = stage.image.lower()
        if "$" not in base and base in seen and seen[base].index < stage.index:
            stage.base_stage = seen[base].index
    for stage in df.stages:
        for inst in stage.instructions:
            if not isinstance(inst, Copy) or inst.from_ is None or "$" in inst.from_:
                continue
            ref = inst.from_.lower()
            if ref in seen:
                target = seen[ref]
                if target.index == stage.index:
                    raise inst.error(f"circular dependency detected on stage: {target.name}")
                if target.index > stage.index:
                    raise inst.error(
                        f"COPY --from={inst.from_} refers to stage {target.name!r} defined later "
                        f"(line {target.line}); a stage can only copy from an earlier one")
                continue
            try:
                df.stage_for(inst.from_, stage.index)
            except InvalidArgument as e:
                raise inst.error(str(e)) from None


def parse_file(path: str, filename: Optional[str] = None) -> Dockerfile:
    """Read and :func:`parse` the Dockerfile at ``path``. ``filename`` (for messages) defaults
    to ``path``'s last component."""
    import os

    with open(path, "rb") as f:
        data = f.read()
    return parse(data, filename or os.path.basename(path))
