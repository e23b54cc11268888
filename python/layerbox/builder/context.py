"""The build context: the files COPY and ADD read, with ``.dockerignore`` applied.

A context is a directory: the one given on the command line, or a tar read from stdin (or the
API's ``fileobj``) extracted into a staging directory of the store. Nothing is copied for a
directory context: sources are read in place, as docker's daemon reads the tar the CLI sent it,
which holds what ``.dockerignore`` lets through. So here:

- a path is *in* the context when the ``.dockerignore`` patterns do not exclude it (docker's
  CLI always sends the Dockerfile and ``.dockerignore`` but the daemon drops them again when
  the patterns exclude them, so for COPY they are excluded like any file);
- a source path is cleaned; one that leads out of the context (``../x``) is refused with
  docker's message; symbolic links met while resolving it are followed *inside* the context
  (an absolute target is taken from the context's root), never to the host's files;
- a directory source is walked without following links: its links are copied as links.

Sources are described by :class:`Source` and their files by :class:`Item`. :class:`TarWriter`
turns items into the tar stream that is extracted into the image, and :func:`items_digest`
gives the checksum the build cache keys COPY/ADD on: names, types, modes, sizes, link
targets and contents, but not times or owners (as docker's classic builder: a ``touch`` does
not invalidate the cache; the result's owner is root or ``--chown`` anyway).
"""

from __future__ import annotations

import os
import stat as S

from layerbox.errors import InvalidArgument

from .cache import sha256
from .dockerignore import Matcher, parse_dockerignore
from .fnmatch_go import BadPattern, go_clean, go_match

TYPE_CHECKING = False  # typing costs 3 ms to import; annotations here are never evaluated
if TYPE_CHECKING:
    from typing import Callable, Iterable, List, Optional

# tarfile's type flags (tarfile itself is imported only to write: a cached build never does)
REGTYPE, LNKTYPE, SYMTYPE, CHRTYPE, BLKTYPE, DIRTYPE, FIFOTYPE = (b"0", b"1", b"2", b"3", b"4",
                                                                 b"5", b"6")
_BIG = 1 << 20  # files larger than this are hashed by OpenSSL (SHA-NI) rather than Python

__all__ = ["BuildContext", "Item", "Source", "SourceError", "TarWriter", "items_digest",
           "contains_wildcards", "clean_source"]


class SourceError(InvalidArgument):
    """A COPY/ADD source that cannot be used (missing, excluded, outside the context)."""


class Item:
    """One file, directory, link or special file to write: ``rel`` is its path below the
    source ("" for the source itself), ``path`` where to read it, ``st`` its lstat."""

    __slots__ = ("rel", "path", "st")

    def __init__(self, rel: str, path: str, st: os.stat_result):
        self.rel = rel
        self.path = path
        self.st = st

    def __repr__(self) -> str:
        return f"Item({self.rel!r}, {self.path!r})"


class Source:
    """A resolved COPY/ADD source: ``orig`` (as written, for the destination's base name),
    ``rel`` (its real path inside the context), ``path`` (on the host), ``is_dir`` and
    ``items`` (the source's own item first when a file; everything below it when a dir)."""

    __slots__ = ("orig", "rel", "path", "is_dir", "items", "cache", "_digest")

    def __init__(self, orig: str, rel: str, path: str, is_dir: bool, items: List[Item], cache=None):
        self.orig = orig
        self.rel = rel
        self.path = path
        self.is_dir = is_dir
        self.items = items
        self.cache = cache
        self._digest = None

    @property
    def digest(self) -> str:
        """``file:<hex>`` or ``dir:<hex>``: what docker's history shows for the source."""
        if self._digest is None:
            self._digest = (("dir:" if self.is_dir else "file:")
                            + items_digest(self.items, self.cache))
        return self._digest

    def __repr__(self) -> str:
        return f"Source({self.orig!r} -> {self.rel!r}, dir={self.is_dir})"


def contains_wildcards(path: str) -> bool:
    """docker's containsWildcards: ``*``, ``?`` or ``[`` not escaped by a backslash."""
    i = 0
    while i < len(path):
        c = path[i]
        if c == "\\":
            i += 2
            continue
        if c in "*?[":
            return True
        i += 1
    return False


def clean_source(orig: str) -> str:
    """A source path relative to the context root, cleaned ("." for the root itself); raises
    :class:`SourceError` for one that leads outside the context (docker's wording)."""
    p = orig
    while p.startswith("/"):
        p = p[1:]
    while p.startswith("./"):
        p = p[2:]
    p = go_clean(p) if p else "."
    if p == ".." or p.startswith("../"):
        raise SourceError(f"forbidden path outside the build context: {orig} ()")
    return p


class BuildContext:
    """A directory whose files COPY/ADD may read, minus what ``excluded`` says is not there.

    ``cleanup`` runs on :meth:`close` (a context extracted from a tar removes its staging
    directory). Use :meth:`from_dir` and :meth:`from_tar_dir`.
    """

    def __init__(self, root: str, excluded: Callable[[str], bool], matcher: Optional[Matcher] = None,
                 cleanup: Optional[Callable[[], None]] = None):
        self.root = os.path.abspath(root)
        self.excluded = excluded
        self.matcher = matcher
        self._cleanup = cleanup
        self._walk_cache: Optional[List[Item]] = None
        self.digests: Optional[DigestCache] = None  # set for a lasting directory (from_dir)

    @classmethod
    def from_dir(cls, root: str, patterns: Optional[Iterable[str]] = None) -> "BuildContext":
        """A directory context with its ``.dockerignore`` (or the ``patterns`` given)."""
        if patterns is None:
            patterns = _read_patterns(root)
        matcher = Matcher(list(patterns))
        if not matcher.patterns:
            return cls(root, _never)
        return cls(root, matcher.matches, matcher)

    @classmethod
    def from_tar_dir(cls, root: str, dockerfile: str, cleanup=None) -> "BuildContext":
        """A context that came as a tar: docker's CLI sends such a tar untouched and the daemon
        only drops the Dockerfile and ``.dockerignore`` when ``.dockerignore`` excludes them."""
        matcher = Matcher(_read_patterns(root))
        dropped = {p for p in (".dockerignore", go_clean(dockerfile)) if matcher.matches(p)}
        return cls(root, (lambda rel: rel in dropped) if dropped else _never, None, cleanup)

    @classmethod
    def empty(cls, root: str, cleanup=None) -> "BuildContext":
        """No files at all (``build - < Dockerfile``); ``root`` must be an empty directory."""
        return cls(root, _never, None, cleanup)

    @property
    def excludes_nothing(self) -> bool:
        """No path of the directory is left out (no .dockerignore, or one that drops nothing)."""
        return self.excluded is _never

    def remember_digests(self, store) -> None:
        """Keep the content digests of this (lasting) directory's files in ``store``."""
        self.digests = DigestCache(store, self.root)

    def close(self) -> None:
        if self.digests is not None:
            try:
                self.digests.save()
            except OSError:
                pass  # only a speed-up
            self.digests = None
        if self._cleanup is not None:
            cleanup, self._cleanup = self._cleanup, None
            cleanup()

    def __enter__(self) -> "BuildContext":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- resolving sources ---------------------------------------------------------------
    def sources(self, orig: str) -> List[Source]:
        """The sources one COPY/ADD argument names: one, or with wildcards every matching
        entry of the context (possibly none)."""
        rel = clean_source(orig)
        if contains_wildcards(rel):
            out = []
            for item in self.walk():
                try:
                    hit = go_match(rel, item.rel)
                except BadPattern:
                    raise SourceError(f"syntax error in pattern: {orig}") from None
                if hit:
                    out.append(self._source(item.rel, item.rel))
            return out
        return [self._source(orig, rel)]

    def _source(self, orig: str, rel: str) -> Source:
        real = self.real_path(rel)
        if real is None or (real and self.excluded(real)):
            raise SourceError("file not found in build context or excluded by .dockerignore: "
                              f"stat {rel}: file does not exist")
        path = os.path.join(self.root, real) if real else self.root
        st = os.stat(path)  # every link on the way was resolved inside the context
        if S.S_ISDIR(st.st_mode):
            return Source(orig, real, path, True, self._items_below(path, real), self.digests)
        return Source(orig, real, path, False, [Item("", path, st)], self.digests)

    def real_path(self, rel: str) -> Optional[str]:
        """rel's real path inside the root (links followed inside it), or None if missing."""
        from .layered import NotADirectory, follow_links

        try:
            real, kind = follow_links(rel, self._lookup)
        except (NotADirectory, ValueError):
            return None
        return None if kind is None else real[1:]

    def _lookup(self, parts: list):
        try:
            st = os.lstat(os.path.join(self.root, *parts))  # every parent is a real directory
        except (FileNotFoundError, NotADirectoryError):
            return None
        if S.S_ISLNK(st.st_mode):
            return "l", os.readlink(os.path.join(self.root, *parts))
        return ("d" if S.S_ISDIR(st.st_mode) else "f"), ""

    # -- listing ---------------------------------------------------------------------------
    def walk(self) -> List[Item]:
        """Every entry of the context (not the root), parents first, names sorted; ``rel`` is
        the path from the root. Computed once per context."""
        if self._walk_cache is None:
            self._walk_cache = self._items_below(self.root, "")
        return self._walk_cache

    def tar_size(self) -> int:
        """How many bytes docker's CLI would send of this context: the tar of what
        .dockerignore leaves (a 512-byte header per entry, more for a name beyond ustar's
        255, contents padded to 512, two zero blocks at the end)."""
        total = 1024
        for it in self.walk():
            name = it.rel + ("/" if S.S_ISDIR(it.st.st_mode) else "")
            total += 512 if len(name.encode()) <= 255 else 1536 + _pad512(len(name.encode()))
            if S.S_ISREG(it.st.st_mode):
                total += _pad512(it.st.st_size)
        return total

    def _items_below(self, top: str, top_rel: str) -> List[Item]:
        """Items below the directory ``top`` (context path ``top_rel``); their ``rel`` is
        relative to ``top``. Excluded entries are left out; an excluded directory is entered
        only when an exception pattern could bring back something inside it."""
        out: List[Item] = []
        excluded = self.excluded
        matcher = self.matcher

        def walk(abs_dir: str, rel_dir: str, ctx_dir: str) -> None:
            with os.scandir(abs_dir) as it:
                entries = sorted(it, key=lambda e: e.name)
            for e in entries:
                rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
                ctx_rel = f"{ctx_dir}/{e.name}" if ctx_dir else e.name
                st = e.stat(follow_symlinks=False)
                is_dir = S.S_ISDIR(st.st_mode)
                if excluded(ctx_rel):
                    if is_dir and matcher is not None and matcher.could_reinclude_below(ctx_rel):
                        walk(e.path, rel, ctx_rel)
                    continue
                out.append(Item(rel, e.path, st))
                if is_dir:
                    walk(e.path, rel, ctx_rel)

        walk(top, "", top_rel)
        return out


def _pad512(n: int) -> int:
    return (n + 511) // 512 * 512


def _never(_rel: str) -> bool:
    return False


def _read_patterns(root: str) -> List[str]:
    try:
        with open(os.path.join(root, ".dockerignore"), "rb") as f:
            return parse_dockerignore(f.read())
    except FileNotFoundError:
        return []


# -- checksums -----------------------------------------------------------------------------
def _kind(mode: int) -> str:
    if S.S_ISREG(mode):
        return "f"
    if S.S_ISDIR(mode):
        return "d"
    if S.S_ISLNK(mode):
        return "l"
    return "o"


def file_digest(path: str, size: int) -> str:
    with open(path, "rb") as f:
        if size > _BIG:
            import hashlib

            return hashlib.file_digest(f, "sha256").hexdigest()
        return sha256(f.read()).hexdigest()


class DigestCache:
    """Content digests of a context directory's files, kept in the store and reused while a
    file's size, modification and change times and inode stay the same (git's index trick): a
    cached rebuild then reads none of the files it copies. A file changed less than two
    seconds before it was hashed is not remembered (a change within the same clock tick would
    leave its times as they were)."""

    SETTLE_NS = 2 * 10**9

    def __init__(self, store, root: str):
        from layerbox import _jsonfast

        key = sha256(os.path.abspath(root).encode("utf-8", "surrogateescape")).hexdigest()[:32]
        self.path = os.path.join(store.root, "buildcache", f"files-{key}.json")
        try:
            with open(self.path, "rb") as f:
                self.entries = _jsonfast.loads(f.read())
        except (OSError, ValueError):
            self.entries = {}
        self.used: dict = {}
        self.dirty = False

    def digest(self, it: Item) -> str:
        st = it.st
        stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        e = self.entries.get(it.path)
        if e is not None and e[:4] == stamp:
            self.used[it.path] = e
            return e[4]
        d = file_digest(it.path, st.st_size)
        import time

        if time.time_ns() - st.st_ctime_ns > self.SETTLE_NS:
            self.used[it.path] = stamp + [d]
            self.dirty = True
        return d

    def save(self) -> None:
        """Writes what changed (nothing when every digest came from here)."""
        if not self.dirty:
            return
        from layerbox import _jsonfast

        os.makedirs(os.path.dirname(self.path), mode=0o755, exist_ok=True)
        tmp = f"{self.path}.tmp.{os.getpid()}.{os.urandom(4).hex()}"
        with open(tmp, "w") as f:
            f.write(_jsonfast.dumps({**self.entries, **self.used}))
        os.rename(tmp, self.path)


def items_digest(items: Iterable[Item], cache: Optional[DigestCache] = None) -> str:
    """sha256 (hex) over each item's name, type, mode, size, link target and content."""
    h = sha256()
    for it in items:
        st = it.st
        mode = st.st_mode
        link = os.readlink(it.path) if S.S_ISLNK(mode) else ""
        content = ""
        if S.S_ISREG(mode) and st.st_size:
            content = cache.digest(it) if cache is not None else file_digest(it.path, st.st_size)
        rdev = f"{os.major(st.st_rdev)},{os.minor(st.st_rdev)}" if _kind(mode) == "o" else ""
        h.update(f"{it.rel}\0{_kind(mode)}\0{S.S_IMODE(mode):o}\0{st.st_size}\0{link}\0"
                 f"{content}\0{rdev}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


# -- writing ---------------------------------------------------------------------------------
_TYPES = ((S.S_ISDIR, DIRTYPE), (S.S_ISLNK, SYMTYPE), (S.S_ISFIFO, FIFOTYPE), (S.S_ISCHR, CHRTYPE),
          (S.S_ISBLK, BLKTYPE))


class TarWriter:
    """A tar stream to ``fd`` for the extractor: owners 0:0 (the extractor applies the build's
    --chown), whole-second times (docker's), ``chmod`` (when given) replacing every mode but a
    link's. Hard links within what is written stay hard links; sockets are skipped, as
    docker's tar writer skips them."""

    def __init__(self, fd: int, chmod: Optional[int] = None):
        import tarfile

        self._tarfile = tarfile
        self._out = os.fdopen(fd, "wb", buffering=1 << 20, closefd=False)
        self.tar = tarfile.open(fileobj=self._out, mode="w|", format=tarfile.PAX_FORMAT,
                                encoding="utf-8", errors="surrogateescape")
        self.chmod = chmod
        self._links: dict = {}

    def _info(self, name: str, mode: int, mtime: float, kind=REGTYPE):
        ti = self._tarfile.TarInfo(name)
        ti.type = kind
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = ""
        ti.mtime = int(mtime)
        ti.mode = mode if self.chmod is None or kind == SYMTYPE else self.chmod
        return ti

    def add_dir(self, name: str, mode: int, mtime: float) -> None:
        self.tar.addfile(self._info(name, mode, mtime, DIRTYPE))

    def add_item(self, name: str, item: Item) -> None:
        st = item.st
        mode = st.st_mode
        if S.S_ISREG(mode):
            ti = self._info(name, S.S_IMODE(mode), st.st_mtime)
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1:
                first = self._links.get(key)
                if first is not None:
                    ti.type = LNKTYPE
                    ti.linkname = first
                    self.tar.addfile(ti)
                    return
                self._links[key] = name
            with open(item.path, "rb") as f:
                ti.size = os.fstat(f.fileno()).st_size  # what is read now, should it change
                self.tar.addfile(ti, f)
            return
        for test, kind in _TYPES:
            if test(mode):
                break
        else:
            return  # a socket: nothing a tar can hold
        ti = self._info(name, S.S_IMODE(mode), st.st_mtime, kind)
        if kind == SYMTYPE:
            ti.linkname = os.readlink(item.path)
        elif kind in (CHRTYPE, BLKTYPE):
            ti.devmajor = os.major(st.st_rdev)
            ti.devminor = os.minor(st.st_rdev)
        self.tar.addfile(ti)

    def add_member(self, ti, name: str, fileobj=None, linkname=None) -> None:
        """A member read from another tar, renamed (its hard link target too)."""
        new = self._info(name, ti.mode, ti.mtime, ti.type)
        new.size = ti.size if ti.isreg() else 0
        new.linkname = linkname if linkname is not None else ti.linkname
        new.devmajor, new.devminor = ti.devmajor, ti.devminor
        self.tar.addfile(new, fileobj if ti.isreg() else None)

    def close(self) -> None:
        try:
            self.tar.close()
            self._out.flush()
        finally:
            self._out.close()
