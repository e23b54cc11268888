"""``.dockerignore``: reading it, matching paths against it, and listing a build context.

The rules are moby's (``github.com/moby/patternmatcher`` and its ``ignorefile`` reader, used by
the docker CLI and BuildKit):

- A line whose first character is ``#`` is a comment (``#`` after leading spaces is not).
  Every other line is trimmed of surrounding whitespace; blank lines are skipped.
- A leading ``!`` makes the pattern an exception (whitespace after ``!`` is trimmed too).
- Patterns are cleaned like Go's ``filepath.Clean`` and a leading ``/`` is dropped, so
  ``/foo/bar/`` is ``foo/bar``: patterns are always relative to the context root.
- ``*`` matches any run of characters but ``/``, ``?`` one character but ``/``, ``[...]`` is a
  class (``^`` negates), ``\\`` escapes the next character; ``**`` matches any number of
  directories, zero included (``**/x`` matches ``x`` and ``a/b/x``; ``a/**`` everything under
  ``a``).
- A pattern excludes a path if it matches the path *or one of its parent directories*, so
  excluding a directory excludes its whole subtree.
- Patterns are applied in order and the last one that matches decides: a later ``!pattern``
  re-includes what earlier lines excluded, a later plain pattern excludes it again.
- The Dockerfile and ``.dockerignore`` are sent to the builder even if excluded
  (:func:`context_files` adds ``!`` exceptions for them, as the docker CLI does).

Paths given to :meth:`Matcher.matches` are relative to the context with ``/`` separators.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs 3 ms to import; annotations here are never evaluated
if TYPE_CHECKING:
    from typing import Iterable, List, Optional, Union

from layerbox.errors import InvalidArgument

from .fnmatch_go import BadPattern, go_clean, go_match, validate_pattern

__all__ = [
    "BadPattern", "Matcher", "Pattern", "context_files", "go_match", "parse_dockerignore",
    "read_dockerignore",
]

_EXACT, _PREFIX, _SUFFIX, _REGEX = range(4)


def parse_dockerignore(text: Union[str, bytes]) -> List[str]:
    """The patterns of a ``.dockerignore`` file's content, normalized as docker does."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    out: List[str] = []
    for line in text.split("\n"):
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern[0] == "!"
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern[0] == "/":
                pattern = pattern[1:]
        if invert:
            pattern = "!" + pattern
        out.append(pattern)
    return out


def read_dockerignore(context_dir: Union[str, os.PathLike]) -> List[str]:
    """The patterns of ``context_dir/.dockerignore``; an empty list if there is none."""
    path = os.path.join(os.fspath(context_dir), ".dockerignore")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    return parse_dockerignore(data)


class Pattern:
    """One compiled pattern: ``cleaned`` (the text matched), ``exclusion`` (it began with
    ``!``), ``dirs`` (``cleaned`` split on ``/``)."""

    __slots__ = ("cleaned", "exclusion", "dirs", "_kind", "_regex")

    def __init__(self, cleaned: str, exclusion: bool):
        self.cleaned = cleaned
        self.exclusion = exclusion
        self.dirs = cleaned.split("/")
        self._kind, self._regex = _compile(cleaned)

    def __repr__(self) -> str:
        return f"Pattern({'!' if self.exclusion else ''}{self.cleaned})"

    def match(self, path: str) -> bool:
        """Does the pattern match ``path`` itself (no parent-directory rule)?"""
        kind = self._kind
        if kind == _EXACT:
            return path == self.cleaned
        if kind == _PREFIX:
            return path.startswith(self.cleaned[:-2])
        if kind == _SUFFIX:
            suffix = self.cleaned[2:]
            if path.endswith(suffix):
                return True
            return suffix[:1] == "/" and path == suffix[1:]
        return self._regex.match(path) is not None

    def could_match_below(self, directory: str) -> bool:
        """Could this pattern match something strictly inside ``directory``?

        Conservative (may answer yes when it cannot); used to decide whether an excluded
        directory may be pruned from a walk.
        """
        # moby's own test: the pattern text starts with the directory
        if (self.cleaned + "/").startswith(directory + "/"):
            return True
        parts = directory.split("/")
        for i, part in enumerate(parts):
            if i >= len(self.dirs):
                return False
            comp = self.dirs[i]
            if "**" in comp:
                return True
            try:
                if not go_match(comp, part):
                    return False
            except BadPattern:
                return True
        return len(self.dirs) > len(parts)


def _class_regex(pattern: str, i: int):
    """Translate the class starting after ``[`` at ``pattern[i]``; returns (regex, next i).

    The pattern was validated by Go's rules, so the class is well formed.
    """
    import re  # only with a .dockerignore: a build without one never imports it

    out = ["["]
    if i < len(pattern) and pattern[i] == "^":
        out.append("^")
        i += 1
    first = True
    while True:
        if pattern[i] == "]" and not first:
            return "".join(out) + "]", i + 1
        first = False
        if pattern[i] == "\\":
            i += 1
        lo = pattern[i]
        i += 1
        if pattern[i] == "-":
            i += 1
            if pattern[i] == "\\":
                i += 1
            hi = pattern[i]
            i += 1
            out.append(re.escape(lo) + "-" + re.escape(hi))
        else:
            out.append(re.escape(lo))


def _compile(pattern: str):
    """Classify ``pattern`` and build its regex the way patternmatcher does."""
    import re

    reg = ["^"]
    kind = _EXACT
    i = 0
    pos = 0
    n = len(pattern)
    while pos < n:
        ch = pattern[pos]
        pos += 1
        if ch == "*":
            if pos < n and pattern[pos] == "*":
                pos += 1
                if pos < n and pattern[pos] == "/":
                    pos += 1
                if pos >= n:
                    if kind == _EXACT:
                        kind = _PREFIX
                    else:
                        reg.append(".*")
                        kind = _REGEX
                else:
                    reg.append("(.*/)?")
                    kind = _REGEX
                if i == 0:
                    kind = _SUFFIX
            else:
                reg.append("[^/]*")
                kind = _REGEX
        elif ch == "?":
            reg.append("[^/]")
            kind = _REGEX
        elif ch == "\\":
            if pos < n:
                reg.append(re.escape(pattern[pos]))
                pos += 1
                kind = _REGEX
            else:
                reg.append(r"\\")
        elif ch == "[":
            cls, pos = _class_regex(pattern, pos)
            reg.append(cls)
            kind = _REGEX
        else:
            reg.append(re.escape(ch))
            if ch == "]":
                kind = _REGEX
        i += 1
    if kind == _REGEX:
        reg.append("$")
        return kind, re.compile("".join(reg), re.DOTALL)
    return kind, None


class Matcher:
    """A list of ``.dockerignore`` patterns, compiled.

    ``Matcher(patterns)`` trims and cleans each pattern (skipping blank ones) like moby's
    ``patternmatcher.New`` and drops a leading ``/`` like its ``.dockerignore`` reader; a lone
    ``!`` or a malformed pattern raises ``InvalidArgument``.
    """

    __slots__ = ("patterns", "has_exclusions")

    def __init__(self, patterns: Iterable[str]):
        self.patterns: List[Pattern] = []
        self.has_exclusions = False
        for p in patterns:
            p = p.strip()
            if not p:
                continue
            p = go_clean(p)
            exclusion = False
            if p[0] == "!":
                if len(p) == 1:
                    raise InvalidArgument('illegal exclusion pattern: "!"')
                exclusion = True
                p = p[1:]
                self.has_exclusions = True
            if len(p) > 1 and p[0] == "/":
                p = p[1:]  # as the .dockerignore reader does: patterns are context-relative
            try:
                validate_pattern(p)
            except BadPattern:
                raise InvalidArgument(f"invalid .dockerignore pattern {p!r}: syntax error in pattern") from None
            self.patterns.append(Pattern(p, exclusion))

    def __repr__(self) -> str:
        return f"Matcher({[('!' if p.exclusion else '') + p.cleaned for p in self.patterns]!r})"

    def matches(self, path: str) -> bool:
        """True if ``path`` (relative, ``/``-separated) is excluded from the context."""
        path = go_clean(path.replace(os.sep, "/"))
        if path == ".":
            return False  # never exclude the context itself
        parent = path.rsplit("/", 1)[0] if "/" in path else "."
        parents: List[str] = []
        if parent != ".":
            parts = parent.split("/")
            parents = ["/".join(parts[:i + 1]) for i in range(len(parts))]
        matched = False
        for pattern in self.patterns:
            # an inclusion cannot change an excluded path, nor an exception an included one
            if pattern.exclusion != matched:
                continue
            match = pattern.match(path)
            if not match:
                for d in parents:
                    if pattern.match(d):
                        match = True
                        break
            if match:
                matched = not pattern.exclusion
        return matched

    def could_reinclude_below(self, directory: str) -> bool:
        """Could an exception pattern re-include something inside the excluded ``directory``?"""
        if not self.has_exclusions:
            return False
        return any(p.exclusion and p.could_match_below(directory) for p in self.patterns)


def _relative_dockerfile(context_dir: str, dockerfile_name: Optional[str]) -> Optional[str]:
    if not dockerfile_name:
        return None
    name = dockerfile_name
    if os.path.isabs(name):
        rel = os.path.relpath(name, context_dir)
    else:
        rel = name
    rel = go_clean(rel.replace(os.sep, "/"))
    if rel == "." or rel == ".." or rel.startswith("../") or rel.startswith("/"):
        return None  # outside the context: the CLI sends it separately
    return rel


def context_files(context_dir: Union[str, os.PathLike], patterns: Optional[Iterable[str]] = None,
                  dockerfile_name: Optional[str] = "Dockerfile") -> List[str]:
    """The relative paths that go into the build context of ``context_dir``.

    ``patterns`` defaults to the context's ``.dockerignore``. ``dockerfile_name`` is the
    Dockerfile's path relative to the context (or absolute); it and ``.dockerignore`` are kept
    even when a pattern excludes them. The walk does not follow symbolic links (a link is listed
    as itself). Directories are listed too, each before its contents; an excluded directory is
    not listed, and is not entered at all unless an exception pattern could re-include
    something inside it. The order is the walk's: names sorted within each directory, so a
    parent always comes before its children. Unreadable directories raise ``OSError``.
    """
    root = os.fspath(context_dir)
    pats = list(read_dockerignore(root) if patterns is None else patterns)
    matcher = Matcher(pats)
    # The CLI's TrimBuildFilesFromExcludes: never drop the build's own files.
    if matcher.matches(".dockerignore"):
        pats.append("!.dockerignore")
    rel_df = _relative_dockerfile(root, dockerfile_name)
    if rel_df is not None and matcher.matches(rel_df):
        pats.append("!" + rel_df)
    matcher = Matcher(pats)

    out: List[str] = []

    def walk(abs_dir: str, rel_dir: str) -> None:
        with os.scandir(abs_dir) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            rel = entry.name if not rel_dir else rel_dir + "/" + entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            if matcher.matches(rel):
                if is_dir and matcher.could_reinclude_below(rel):
                    walk(entry.path, rel)
                continue
            out.append(rel)
            if is_dir:
                walk(entry.path, rel)

    walk(root, "")
    return out
