"""COPY, ADD and WORKDIR: files written into the image through a private overlay mount.

A step's files are written through an overlay of the previous image's layers with an upper
directory of its own (:class:`Workspace`), mounted only inside a helper thread's private mount
namespace by the C++ core (the same helper ``cp`` into a stopped container uses): every
destination is resolved inside the image's root by the kernel's overlay and openat2, so an
image whose ``/app`` is a link to ``/etc`` gets ``COPY x /app/`` in *its* /etc, never the
host's, and copy-up and whiteouts are the kernel's. The upper directory becomes the layer.

What is copied follows docker's classic builder (``builder/dockerfile/copy.go``):

- each source is resolved in the context (or, with ``--from``, in a stage's or an image's
  tree); wildcards (Go's ``filepath.Match``) are matched against every path of the context;
  several sources need a destination ending in ``/``;
- a directory source copies its contents into the destination; a file source lands at the
  destination, or inside it when it ends in ``/`` or is an existing directory (links on the
  way followed inside the image);
- a relative destination is relative to WORKDIR; missing directories are made 0755;
- files keep their mode and modification time (whole seconds); every owner becomes root, or
  ``--chown`` (names looked up in the image's own /etc/passwd and /etc/group); ``--chmod``
  sets every mode (BuildKit's; docker's classic builder refuses the flag);
- ADD extracts a local tar archive (plain, gzip, bzip2 or xz: docker's list; a zstd file is
  copied as it is, as docker does) into the destination, keeping the archive's owners; an ADD of a URL downloads it (mode 0600); an unreachable URL
  is an error naming it.
"""

from __future__ import annotations

import errno
import os
import posixpath
import time
from stat import S_IMODE

from layerbox.errors import BuildError, describe

from .cache import sha256
from .context import Item, Source, SourceError, TarWriter, clean_source, contains_wildcards
from .fnmatch_go import BadPattern, go_clean, go_match

URL_TIMEOUT = float(os.environ.get("LAYERBOX_BUILD_URL_TIMEOUT", "5"))


class Workspace:
    """An overlay of layers (diff_ids, bottom first) plus an upper dir of its own, never
    mounted on the host: each operation mounts it in a private helper thread. Its staging
    directory is made on first use (a step found in the cache never needs one), and in it only
    the directories an operation asks for: each one made is one more to remove, and a removal
    waits for the disk's discard here."""

    def __init__(self, images, layers: list):
        self.images = images
        self.store = images.store
        self.layers = list(layers)
        self.dir = ""
        self._lowers = None
        self.direct = False  # writes go straight into the upper dir (see go_direct)

    def _ensure(self) -> str:
        if not self.dir:
            self.dir = self.store.mkdtemp("build")
        return self.dir

    def _sub(self, name: str) -> str:
        path = os.path.join(self._ensure(), name)
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            pass
        return path

    @property
    def upper(self) -> str:
        return self._sub("upper")

    @property
    def lowers(self) -> list:
        """The layer directories, top first (unpacked from their tars if need be)."""
        if self._lowers is None:
            self._lowers = self.images.unpacked(self.layers)
        return self._lowers

    @property
    def overlay(self) -> dict:
        return {"lower": self.lowers or [self._sub("empty")], "upper": self.upper,
                "work": self._sub("work"), "target": self._sub("merged")}

    def resolve(self, path: str, what: str):
        """(real path, kind or None) of ``path`` in the image: see :mod:`.layered`."""
        from . import layered

        try:
            return layered.resolve(self.lowers, path)
        except layered.NotADirectory as e:
            raise BuildError(f"{what}: {e.path} is not a directory") from None
        except ValueError as e:
            raise BuildError(f"{what}: {e}") from None

    def extract(self, fd: int, dest: str = "/", chown=None) -> dict:
        from layerbox import _core

        if self.direct:  # the same options as extract_path's (docker cp's rules)
            return _core.extract_tree(fd, self.upper, dest, whiteouts="none", chown=chown,
                                      no_overwrite_dir_non_dir=True)
        return _core.extract_path(fd, "", dest, chown=chown, overlay=self.overlay)

    def go_direct(self, real: str) -> bool:
        """Whether what the step writes, all of it at or below ``real`` (a resolved path),
        can go straight into the upper dir, without mounting the overlay (its mount, its
        work dir and the sync_fs of its unmount): when ``real`` is new to every layer (no
        whiteout of it, nothing of it hidden by an opaque dir), nothing below it exists to
        copy up or hide, and the overlay would only copy up the directories above it, which
        is done here as overlayfs does (mode, owner, xattrs but the overlay's own). Then the
        extractor writes into the upper dir as into any root (paths resolved inside it)."""
        from layerbox.store import layerview

        parts = [p for p in real.split("/") if p]
        lowers = self.lowers
        if not parts or not lowers:
            return False
        i = 0
        while i < len(parts):
            hit = layerview.find(lowers, parts[:i + 1])
            if hit is None:
                break
            if hit[0] != "d":
                return False
            i += 1
        if i == len(parts) or any(_lexists_in(layer, parts[:i + 1]) for layer in lowers):
            return False  # there already, or hidden (a whiteout, an opaque dir above it)
        upper = os.open(self.upper, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for k in range(1, i + 1):
                _copy_up_dir(layerview.find(lowers, parts[:k])[2], parts[:k], upper)
                nfd = os.open(parts[k - 1], os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                              dir_fd=upper)
                os.close(upper)
                upper = nfd
        finally:
            os.close(upper)
        self.direct = True
        return True

    def commit(self):
        """The upper dir as the step's layer (it becomes the unpacked layer itself: the
        workspace goes right after), staged for the step's image (see
        Builder.commit_step), or None when nothing changed."""
        from layerbox.container.commit import write_container_layer

        return write_container_layer(self.images, self.upper, adopt_upper=True, staged=True)

    def staging(self, name: str) -> str:
        path = os.path.join(self._ensure(), name)
        os.makedirs(path, 0o700, exist_ok=True)
        return path

    def readonly(self, layers: list) -> dict:
        """A read-only overlay of other layers (a COPY --from source) for the helper."""
        lowers = self.images.unpacked(layers)
        # overlayfs without an upper dir wants two lower dirs: an empty one at the bottom.
        return {"lower": lowers + [self._sub("empty")], "target": self._sub("src")}

    def close(self) -> None:
        """The staging directory goes after the caller went on (this process's `later`
        worker, as a removed container's files): nothing in it is used any more, and
        it is staging of ours, which the next command reclaims should we die first."""
        if self.dir:
            from layerbox import _core, _util

            _util.later(_core.remove_tree, self.dir)
            self.dir = ""

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_dir_in(layer: str, parts: list):
    """An fd of the directory ``parts`` in one layer dir, walked without following a link;
    None when it is not a directory there."""
    fd = os.open(layer, _OPEN_DIR)
    for p in parts:
        try:
            nfd = os.open(p, _OPEN_DIR, dir_fd=fd)
        except OSError:
            os.close(fd)
            return None
        os.close(fd)
        fd = nfd
    return fd


def _lexists_in(layer: str, parts: list) -> bool:
    """Does one layer dir hold anything (a whiteout too) at ``parts``?"""
    fd = _open_dir_in(layer, parts[:-1])
    if fd is None:
        return False
    try:
        os.lstat(parts[-1], dir_fd=fd)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _copy_up_dir(layer: str, parts: list, upper_parent: int) -> None:
    """overlayfs's copy-up of the directory ``parts`` (as the layer dir ``layer`` has it) into
    the upper dir, whose directory above it is open at ``upper_parent``: its mode, owner and
    xattrs, but not overlayfs's own (trusted.*, which no layer tar carries either)."""
    src = _open_dir_in(layer, parts)
    if src is None:
        raise BuildError(f"failed to copy files: /{'/'.join(parts)} is not a directory")
    try:
        st = os.fstat(src)
        name = parts[-1]
        try:
            os.mkdir(name, 0o700, dir_fd=upper_parent)
        except FileExistsError:
            return  # copied up already (an earlier source of the step)
        fd = os.open(name, _OPEN_DIR, dir_fd=upper_parent)
        try:
            os.fchown(fd, st.st_uid, st.st_gid)
            os.fchmod(fd, S_IMODE(st.st_mode))
            for x in os.listxattr(src):
                if not x.startswith("trusted."):
                    try:
                        os.setxattr(fd, x, os.getxattr(src, x))
                    except OSError as e:  # as overlayfs: what the upper fs cannot hold is dropped
                        if e.errno not in (errno.ENOTSUP, errno.EPERM, errno.ENODATA):
                            raise
            os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(fd)
    finally:
        os.close(src)


_EMPTY_TAR = b"\0" * 1024


def _feed_bytes(data: bytes) -> int:
    """A pipe's read end holding ``data`` (which must fit in the pipe's buffer)."""
    r, w = os.pipe()
    try:
        os.write(w, data)
    finally:
        os.close(w)
    return r


def make_workdir(b, st, path: str):
    """WORKDIR's directory, made as docker makes it (0755, root; links on the way followed
    inside the image) when missing; the layer's meta, or None when it was there already."""
    with Workspace(b.images, st.layers) as ws:
        real, kind = ws.resolve(path, "Cannot mkdir")
        if kind == "d":
            return None
        if kind is not None:
            raise BuildError(f"Cannot mkdir: {path} is not a directory")
        ws.go_direct(real)
        r = _feed_bytes(_EMPTY_TAR)
        try:
            ws.extract(r, real)
        finally:
            os.close(r)
        return ws.commit()


# -- COPY / ADD ------------------------------------------------------------------------------------

class _ImageSource:
    """A source in another image's tree (``COPY --from``). An image never changes, so its ID
    and the path are the cache's checksum; the path is looked at (mounting the image in a
    private helper) only when the step runs."""

    __slots__ = ("ws", "orig", "rel", "image_id", "layers", "pattern", "_is_dir")

    def __init__(self, ws, orig, rel, image_id, layers, pattern=None):
        self.ws = ws
        self.orig = orig
        self.rel = rel
        self.image_id = image_id
        self.layers = layers
        self.pattern = pattern  # a wildcard: rel is the directory the matches are looked for in
        self._is_dir = None

    @property
    def is_dir(self) -> bool:
        if self._is_dir is None:
            from layerbox import _core

            info = _core.path_stat("", self.rel or "/", follow=True,
                                   overlay=self.ws.readonly(self.layers))
            if not info["exists"] or (self.pattern and info["type"] != "dir"):
                if self.pattern:
                    raise SourceError("no source files were specified")
                raise SourceError(f"file not found in the --from image: stat {self.rel}: file "
                                  "does not exist")
            self._is_dir = info["type"] == "dir"
        return self._is_dir

    @property
    def digest(self) -> str:
        what = f"{self.image_id}\0{self.rel}\0{self.pattern or ''}".encode("utf-8", "surrogateescape")
        return f"from:{sha256(what).hexdigest()}"


class _Archive:
    """An ADD source that is a local tar archive: extracted, not copied."""

    __slots__ = ("source", "compression")

    def __init__(self, source: Source, compression: str):
        self.source = source
        self.compression = compression

    @property
    def digest(self) -> str:
        return self.source.digest


def copy(b, st, inst) -> None:
    """A COPY or ADD instruction, already expanded."""
    name = inst.keyword
    if getattr(inst, "parents", False) or inst.exclude:
        raise BuildError(f"{name} --parents and --exclude need BuildKit; layerbox build does not "
                         "support them")
    if name == "ADD" and (inst.unpack is not None or inst.keep_git_dir):
        raise BuildError("ADD --unpack and --keep-git-dir need BuildKit; layerbox build does not "
                         "support them")
    chmod = parse_chmod(inst.chmod) if inst.chmod else None
    dest = normalize_dest(st.run.get("WorkingDir") or "/", inst.dest)
    with Workspace(b.images, st.layers) as ws:
        sources = _sources(b, st, inst, ws)
        if not sources:
            raise BuildError(f"{name} failed: no source files were specified")
        if len(sources) > 1 and not dest.endswith("/"):
            raise BuildError(f"When using {name} with more than one source file, the destination "
                             "must be a directory and end with a /")
        digests = [s.digest for s in sources]
        src_hash = digests[0] if len(digests) == 1 else \
            "multi:" + sha256(",".join(digests).encode()).hexdigest()
        chown_text = f"--chown={inst.chown} " if inst.chown else ""
        created_by = f"{b.nop_prefix(st)}{name} {chown_text}{src_hash} in {inst.dest} "
        extra = f"chmod={inst.chmod or ''}"  # --chown is in created_by, as in docker's

        def make_layer():
            # the names of --chown are looked up in the image's files: only when the step runs
            chown = resolve_chown(inst.chown, ws) if inst.chown else None
            return _write(b, ws, sources, dest, chown, chmod)

        b.commit_step(st, created_by, make_layer, extra=extra)


def normalize_dest(workdir: str, dest: str) -> str:
    """docker's normalizeDest: a relative destination joined to WORKDIR (cleaned, keeping a
    trailing slash); an absolute one as given."""
    if dest.startswith("/"):
        return dest
    ends = dest.endswith("/")
    out = go_clean(posixpath.join("/", workdir, dest))
    return out + "/" if ends and not out.endswith("/") else out


def parse_chmod(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o7777:
        raise BuildError(f"invalid chmod parameter: {text}. it should be octal string and "
                         "between 0 and 07777")
    return mode


def resolve_chown(spec: str, ws: Workspace) -> tuple:
    """docker's parseChownFlag: "user[:group]" to (uid, gid), names from the image's own
    /etc/passwd and /etc/group; a user alone names the group too."""
    from layerbox.container.users import read_layered

    parts = spec.split(":")
    if len(parts) > 2:
        raise BuildError(f"invalid chown string format: {spec}")
    user, group = (parts[0], parts[0]) if len(parts) == 1 else parts
    dirs = ws.lowers if not (user.isdigit() and group.isdigit()) else []

    def lookup(name, rel, what, idx):
        if name.isdigit():
            return int(name)
        data = read_layered(dirs, rel) or b""
        for line in data.decode(errors="replace").splitlines():
            f = line.split(":")
            if len(f) > idx and f[0] == name and f[idx].isdigit():
                return int(f[idx])
        raise BuildError("unable to convert uid/gid chown string to host mapping: can't find "
                         f"{'uid' if what == 'user' else 'gid'} for {what} {name}: no such {what}: {name}")

    return lookup(user, "etc/passwd", "user", 2), lookup(group, "etc/group", "group", 2)


def _sources(b, st, inst, ws: Workspace) -> list:
    name = inst.keyword
    out: list = []
    from_ = getattr(inst, "from_", None)
    image = None
    if from_:
        image = _from_image(b, st, from_)
    for orig in inst.sources:
        if name == "ADD" and _is_url(orig):
            out.append(_download(orig, ws, inst.dest.endswith("/"), inst.checksum))
            continue
        try:
            if image is not None:
                out.extend(_image_sources(ws, image, orig))
                continue
            for src in b.context.sources(orig):
                kind = archive_compression(src.path) if name == "ADD" and not src.is_dir else None
                out.append(_Archive(src, kind) if kind else src)
        except SourceError as e:
            raise BuildError(f"{name} failed: {e}") from None
    for i, h in enumerate(inst.contents):
        d = ws.staging(f"heredoc-{i}")
        path = os.path.join(d, "f")
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(h.data)
        os.chmod(path, 0o644)
        out.append(Source(h.name, h.name, path, False, [Item("", path, os.lstat(path))]))
    return out


def _from_image(b, st, ref: str):
    """(image ID, layers) that ``--from=ref`` names: an earlier stage or an image."""
    idx = b.df.stage_for(ref, st.index)
    if idx is not None:
        image_id = b.results.get(idx, "")
        if not image_id:
            raise BuildError(f"invalid from flag value {ref}: the stage has no image (FROM scratch "
                             "with no step)")
    else:
        image_id = b.resolve_image(ref, f"invalid from flag value {ref}: ")
    return image_id, list(b.images.layers(image_id))


def _image_sources(ws: Workspace, image, orig: str) -> list:
    image_id, layers = image
    rel = clean_source(orig)
    rel = "" if rel == "." else rel
    if contains_wildcards(rel):
        fixed = []
        for p in rel.split("/"):
            if contains_wildcards(p):
                break
            fixed.append(p)
        return [_ImageSource(ws, orig, "/".join(fixed), image_id, layers, pattern=rel)]
    return [_ImageSource(ws, orig, rel, image_id, layers)]


def _is_url(s: str) -> bool:
    return s.startswith("http://") or s.startswith("https://")


def _download(url: str, ws: Workspace, dest_is_dir: bool, checksum) -> Source:
    """ADD <url>: the file, fetched now (docker's classic builder fetches it on every build
    and keys the cache on its content)."""
    import email.utils
    import urllib.error
    import urllib.parse
    import urllib.request

    d = ws.staging(f"url-{sha256(url.encode()).hexdigest()[:12]}")
    try:
        with urllib.request.urlopen(url, timeout=URL_TIMEOUT) as resp:
            path_part = urllib.parse.urlparse(url).path
            filename = posixpath.basename(path_part) if path_part and not path_part.endswith("/") else ""
            if not filename:
                cd = resp.headers.get("Content-Disposition") or ""
                for part in cd.split(";"):
                    k, _, v = part.strip().partition("=")
                    if k.lower() == "filename" and v.strip('"') and not v.strip('"').endswith("/"):
                        filename = posixpath.basename(v.strip('"'))
            if not filename:
                if dest_is_dir:
                    raise BuildError(f"ADD failed: cannot determine filename for source {url}")
                filename = "__unnamed__"
            path = os.path.join(d, filename)
            h = sha256()
            with open(path, "wb") as f:
                while True:
                    chunk = resp.read(1 << 20)
                    if not chunk:
                        break
                    h.update(chunk)
                    f.write(chunk)
            mtime = 0.0
            lm = resp.headers.get("Last-Modified")
            if lm:
                try:
                    mtime = email.utils.parsedate_to_datetime(lm).timestamp()
                except (TypeError, ValueError):
                    mtime = 0.0
    except urllib.error.HTTPError as e:
        raise BuildError(f"ADD failed: failed to GET {url} with status {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise BuildError(f"ADD failed: failed to GET {url}: {reason}") from None
    if checksum and checksum != "sha256:" + h.hexdigest():
        raise BuildError(f"ADD failed: digest mismatch for {url}: {checksum} expected, "
                         f"sha256:{h.hexdigest()} downloaded")
    os.chmod(path, 0o600)
    os.utime(path, (mtime, mtime))
    return Source(filename, filename, path, False, [Item("", path, os.lstat(path))])


# -- archives (ADD) --------------------------------------------------------------------------

_MAGIC = ((b"\x1f\x8b\x08", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"),
          (b"\x28\xb5\x2f\xfd", "zstd"))


def archive_compression(path: str):
    """"none", "gzip", "bzip2" or "xz" when the file is a tar archive (docker's isArchivePath:
    it decompresses and a first tar header reads); else None (zstd included: docker's ADD
    copies such a file as it is)."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        # unreadable here: not an archive, ADD copies it as it is (and reports the error then)
        return None
    kind = "none"
    for magic, name in _MAGIC:
        if head.startswith(magic):
            kind = name
            break
    if kind == "zstd":
        return None
    try:
        if kind == "gzip":
            import zlib

            block = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 512)
        elif kind == "bzip2":
            import bz2

            block = bz2.BZ2Decompressor().decompress(head, 512)
        elif kind == "xz":
            import lzma

            block = lzma.LZMADecompressor().decompress(head, 512)
        else:
            block = head[:512]
    except (OSError, EOFError, ValueError, Exception):  # noqa: BLE001 - not an archive
        return None
    return kind if looks_like_tar(block) else None


def looks_like_tar(block: bytes) -> bool:
    """Does ``block`` start with a tar header: a good checksum, and not the zero block that ends
    an archive (what Go's tar.Reader.Next and Python's tarfile check)."""
    if len(block) < 512:
        return False
    hdr = block[:512]
    if not hdr.strip(b"\0"):
        return False
    field = hdr[148:156].split(b"\0", 1)[0].strip()
    try:
        want = int(field, 8)
    except ValueError:
        return False
    unsigned = sum(hdr[:148]) + 8 * 32 + sum(hdr[156:])
    signed = unsigned - 256 * sum(1 for b in hdr[:148] + hdr[156:] if b > 127)
    return want in (unsigned, signed)


def _open_archive(src: _Archive):
    """(fd the extractor reads a tar from, thread or None). bzip2 and xz are decompressed here
    (the extractor does plain, gzip and zstd)."""
    fd = os.open(src.source.path, os.O_RDONLY | os.O_CLOEXEC)
    if src.compression not in ("bzip2", "xz"):
        return fd, None
    import bz2
    import lzma

    from layerbox._util import start_producer

    def produce(w):
        try:
            with os.fdopen(fd, "rb") as raw:
                dec = bz2.BZ2File(raw) if src.compression == "bzip2" else lzma.LZMAFile(raw)
                with dec:
                    while True:
                        chunk = dec.read(1 << 20)
                        if not chunk:
                            break
                        view = memoryview(chunk)
                        while view:
                            view = view[os.write(w, view):]
        except (OSError, EOFError, lzma.LZMAError) as e:
            raise BuildError(f"ADD failed: {src.source.orig}: {describe(e)}") from None

    r, t, err = start_producer(produce)
    return r, (t, err)


# -- writing --------------------------------------------------------------------------------

def _write(b, ws: Workspace, sources: list, dest: str, chown, chmod):
    """Writes every source into the workspace (in order); the layer's meta, or None."""
    from layerbox._util import pump

    from . import layered

    # Where the destination leads in the image (docker's FollowSymlinkInScope): the tar's
    # names are then real paths, and no link of the image is met on the way.
    real, kind = ws.resolve(dest, "failed to copy files")
    if kind is None:
        ws.go_direct(real)
    dest_rel = real.lstrip("/")
    into_dir = dest.endswith("/") or kind == "d"
    now = time.time()
    batch: list = []

    def flush():
        if not batch:
            return
        todo = list(batch)
        batch.clear()
        pump(lambda w: _produce(w, ws, todo, chmod),
             lambda r: ws.extract(r, "/", chown=chown))

    made_dirs: set = set()
    for s in sources:
        if isinstance(s, _Archive):
            flush()
            fd, thread = _open_archive(s)
            try:
                ws.extract(fd, real)
            finally:
                os.close(fd)
                if thread is not None:
                    thread[0].join()
                    if thread[1]:
                        raise thread[1][0]
            continue
        if s.is_dir:
            if kind in (None, "d") and _whole_dir(b, s, chown, chmod):
                flush()
                _copy_dir(ws, s, dest_rel)
                continue
            # docker makes a missing destination 0755 and gives it the --chown owner
            if kind is None and dest_rel and dest_rel not in made_dirs and (chown or chmod is not None):
                batch.append(("dir", dest_rel, 0o755, now))
                made_dirs.add(dest_rel)
            batch.append(("src", s, dest_rel, None))
            continue
        target = _join(dest_rel, posixpath.basename(s.orig.rstrip("/")) or s.orig) if into_dir else dest_rel
        if chown and chown != (0, 0):
            # ... and a file's missing parents get the --chown owner too
            for d in layered.missing_parents(ws.lowers, "/" + target):
                if d.lstrip("/") not in made_dirs:
                    batch.append(("dir", d.lstrip("/"), 0o755, now))
                    made_dirs.add(d.lstrip("/"))
        batch.append(("src", s, dest_rel, target))
    flush()
    return ws.commit()


def _whole_dir(b, s, chown, chmod) -> bool:
    """Is ``s`` a context directory copied whole and as it is (nothing of it excluded, no
    --chown, no --chmod)? Then the C++ core archives it straight from the context."""
    return (isinstance(s, Source) and s.is_dir and chown is None and chmod is None
            and b.context.excludes_nothing)


def _copy_dir(ws: Workspace, s: Source, dest_rel: str) -> None:
    """A context directory's contents into ``dest_rel``: the tar the builder's TarWriter would
    make of them (every entry as it is, owners root, whole-second times, no xattrs, hard links
    kept, sockets skipped), written by the C++ core from the directory itself (nothing
    followed, no other filesystem entered) and extracted by it, the GIL released: no tarfile
    import and no Python per file."""
    from layerbox import _core
    from layerbox._util import pump

    pump(lambda w: _core.write_layer(s.path, w, source="host", hash=False),
         lambda r: ws.extract(r, "/" + dest_rel, chown=(0, 0)))


def _join(a: str, b: str) -> str:
    return f"{a}/{b}" if a else b


def _produce(w: int, ws: Workspace, batch: list, chmod) -> None:
    tw = TarWriter(w, chmod)
    try:
        for op in batch:
            if op[0] == "dir":
                tw.add_dir(op[1], op[2], op[3])
                continue
            _, s, dest_rel, target = op
            if isinstance(s, _ImageSource):
                _copy_image_source(tw, ws, s, dest_rel, target)
            elif s.is_dir:
                for it in s.items:
                    tw.add_item(_join(dest_rel, it.rel), it)
            else:
                tw.add_item(target, s.items[0])
    finally:
        tw.close()


def _copy_image_source(tw: TarWriter, ws: Workspace, s: _ImageSource, dest_rel: str, target) -> None:
    """Copies from another image: the C++ core archives the path from a private read-only
    mount of its layers; the members are renamed here into the destination."""
    import tarfile

    from layerbox import _core
    from layerbox._util import start_producer

    ro = ws.readonly(s.layers)
    path = s.rel or "/"
    r, t, err = start_producer(lambda fd: _core.archive_path("", path, fd, follow=True,
                                                             contents_only=s.is_dir, overlay=ro))
    try:
        with os.fdopen(r, "rb", closefd=False) as f:
            src = tarfile.open(fileobj=f, mode="r|", encoding="utf-8", errors="surrogateescape")
            matched: list = []  # wildcard: the directories whose contents are being copied
            for ti in src:
                name = ti.name[2:] if ti.name.startswith("./") else ti.name
                name = name.rstrip("/")
                if not name or name == ".":
                    continue
                if s.pattern is not None:
                    out = _match_member(s, name, matched, dest_rel, ti)
                    if out is None:
                        continue
                elif s.is_dir:
                    out = _join(dest_rel, name)
                else:
                    out = target
                link = None
                if ti.islnk():
                    lk = ti.linkname[2:] if ti.linkname.startswith("./") else ti.linkname
                    link = _join(dest_rel, lk) if s.is_dir and s.pattern is None else lk
                tw.add_member(ti, out, src.extractfile(ti) if ti.isreg() else None, link)
    finally:
        os.close(r)
        t.join()
    if err:
        raise err[0]


def _match_member(s: _ImageSource, name: str, matched: list, dest_rel: str, ti):
    """Where a member of the searched directory goes for a wildcard source, or None."""
    full = _join(s.rel, name)
    for m in matched:
        if full.startswith(m + "/"):
            return _join(dest_rel, full[len(m) + 1:])
    try:
        hit = go_match(s.pattern, full)
    except BadPattern:
        raise SourceError(f"syntax error in pattern: {s.orig}") from None
    if not hit:
        return None
    if ti.isdir():
        matched.append(full)
        return None  # a directory's contents go into the destination, not the directory
    return _join(dest_rel, posixpath.basename(full))
