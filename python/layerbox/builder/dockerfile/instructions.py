"""The Dockerfile's typed instructions, stages and the parsed file, and DockerfileError.

Each instruction keeps its arguments as written; :meth:`Instruction.expanded` substitutes
variables where docker does (see the package's docstring)."""

from __future__ import annotations


from layerbox import signals as _signals
from layerbox.errors import InvalidArgument

from ..shellwords import ShellLex, SubstitutionError, env_mapping, expand_heredoc, lexer
from .gocompat import is_decimal_int

TYPE_CHECKING = False  # typing costs 3 ms to import; annotations here are never evaluated
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union

    from ..shellwords import Env as EnvLike


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
            return "\n".join(line.lstrip("\t") for line in self.content.split("\n"))
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
        from .lines import parse_heredoc  # that module imports this one

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
        from .lines import parse_heredoc  # that module imports this one

        if not (self.prepend_shell and self.heredocs and self.cmd):
            return None
        if parse_heredoc(self.cmd[0]) is not None and self.heredocs[0].data.startswith("#!"):
            return self.heredocs[0]
        return None

    def expanded(self, env: EnvLike = None) -> "Run":
        """Expand the ``--mount`` values (the command itself is the shell's business)."""
        from .instruction_builder import _parse_mount  # that module imports this one

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
        if is_decimal_int(ref):
            i = int(ref)
            if i == before:
                raise InvalidArgument(f"invalid from flag value {ref}: refers to current build stage")
            if i < 0 or i > before:
                raise InvalidArgument(f"invalid from flag value {ref}: index out of bounds")
            return i
        return None
