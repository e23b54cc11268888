"""`export`, `cp`, and the API's get_archive/put_archive: tars out of and into a container.

Where the container's tree comes from:
- running (or paused): /proc/PID/root, the root its processes see, so its own mounts
  (volumes, /etc/hosts) count and writes go through its overlay;
- stopped or created: its overlay mounted by a C++ helper thread in a private mount namespace
  (never on the host), read-only for reading, with upper and work dirs for writing, so copy-up
  and whiteouts are the kernel's; its volumes and binds are mounted over it there, as dockerd's
  mountVolumes does, so a path in a volume is the volume's in both cases.
Every path inside the container is resolved inside that root by the C++ core (openat2
RESOLVE_IN_ROOT): a symlink in the container never leads out of it.

`export` flattens the container's view into one tar (no whiteouts): upper dir as the top lower
dir of a read-only overlay, then the image's layers; the store's init layer is not part of it.
"""

from __future__ import annotations

import os
import posixpath

from layerbox.errors import Conflict, Forbidden, InvalidArgument, NotFound


# -- the container's root --------------------------------------------------------------------

class _Root:
    """Where to find a container's tree: `root` (a path) or `overlay` (for the helper)."""

    def __init__(self, engine, ref: str, write: bool):
        self.engine = engine
        self.write = write
        self.cid = engine.resolve(ref)
        self.name = ref
        self.mounts: list = []
        self.readonly_rootfs = False
        self.root = ""
        self.overlay = None
        self._fd = -1
        self._lock = None

    def __enter__(self):
        from layerbox import _core

        engine = self.engine
        c = engine.load(self.cid)
        if not c.running:
            # Stopped: nobody may start it while the helper has its upper dir mounted.
            self._lock = engine.store.container_lock(self.cid)
            self._lock.__enter__()
            c = engine.load(self.cid, reconcile=False)
        self.mounts = list(c.config.get("Mounts") or ())
        self.readonly_rootfs = bool(c.config["HostConfig"].get("ReadonlyRootfs"))
        if c.running:
            pid = c.state.get("Pid") or 0
            try:
                self._fd = os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                raise Conflict(f"container {self.name} is not running any more") from None
            # Opened first, checked second: the fd is the container's root even if the pid
            # were reused right after.
            if _core.process_start_time(pid) != c.state.get("PidStartTime"):
                raise Conflict(f"container {self.name} is not running any more")
            self.root = f"/proc/self/fd/{self._fd}"
            return self
        lowers = engine.layer_dirs(c)
        upper = os.path.join(c.dir, "upper")
        if self.write:
            self.overlay = {"lower": [engine.store.init_layer, *lowers], "upper": upper,
                            "work": os.path.join(c.dir, "work"), "target": os.path.join(c.dir, "merged")}
        else:
            self.overlay = {"lower": [upper, engine.store.init_layer, *lowers],
                            "target": os.path.join(c.dir, "merged")}
        self.overlay["mounts"] = engine.volume_binds(c)
        return self

    def __exit__(self, *exc):
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._lock is not None:
            self._lock.__exit__(*exc)
            self._lock = None

    def check_writable(self, into: str, name: str = "") -> None:
        """dockerd's checks before extracting into a container (containerExtractToDir): a path
        in a read-only volume or bind is refused, and a path outside every mount of a
        --read-only container. The path compared is where `into` leads inside the container,
        symlinks resolved there (as dockerd's resolvedPath), plus `name`: a symlink in a
        writable volume that points into the root (or one in the root pointing into a read-only
        volume) must not pass as the place it was named. (For a running container the kernel
        refuses such writes anyway; this gives docker's words, and keeps a stopped --read-only
        container's layer unchanged.)"""
        resolved = self.stat(into, follow=True).get("resolved") or "/"
        p = posixpath.normpath(posixpath.join(resolved, name) if name else resolved)
        inside = [m for m in self.mounts
                  if p == m["Destination"] or p.startswith(m["Destination"].rstrip("/") + "/")]
        if inside:
            if not max(inside, key=lambda m: len(m["Destination"])).get("RW", True):
                raise Forbidden("mounted volume is marked read-only")
        elif self.readonly_rootfs:
            raise Forbidden("container rootfs is marked read-only")

    def stat(self, path: str, follow: bool = False) -> dict:
        from layerbox import _core

        return _core.path_stat(self.root, path, follow=follow, overlay=self.overlay)

    def archive(self, path: str, out_fd: int, follow: bool = False, contents: bool = False) -> dict:
        from layerbox import _core

        return _core.archive_path(self.root, path, out_fd, follow=follow, contents_only=contents,
                                  overlay=self.overlay)

    def extract(self, src_fd: int, dir_: str, rename_to: str = "", chown=None) -> dict:
        from layerbox import _core

        return _core.extract_path(src_fd, self.root, dir_, rename_to=rename_to, chown=chown,
                                  overlay=self.overlay)


# -- export ----------------------------------------------------------------------------------

def export_to_fd(engine, ref: str, out_fd: int) -> dict:
    from layerbox import _core

    c = engine.get(ref)
    lowers = engine.layer_dirs(c)
    upper = os.path.join(c.dir, "upper")
    # overlayfs wants two lower dirs when there is no upper; an image without layers has only
    # the container's own files, which are then the whole view.
    if not lowers:
        return _core.write_layer(upper, out_fd)
    return _core.export_overlay([upper, *lowers], os.path.join(c.dir, "merged"), out_fd)


def export_to_file(engine, ref: str, path: str) -> None:
    from layerbox.image.archive import produce_to_file

    engine.get(ref)  # an unknown container fails before a file is created
    produce_to_file(path, lambda fd: export_to_fd(engine, ref, fd), "export container")


def export_chunks(engine, ref: str, chunk_size: int = 2 * 1024 * 1024):
    from layerbox.image.archive import pipe_chunks

    engine.get(ref)
    return pipe_chunks(lambda fd: export_to_fd(engine, ref, fd), chunk_size)


# -- cp --------------------------------------------------------------------------------------

def split_arg(arg: str) -> tuple[str, str]:
    """docker's splitCpArg: ("container", "path") or ("", local path). An absolute path, or a
    relative one starting with ".", is local even with a colon in it."""
    if arg.startswith("/"):
        return "", arg
    container, colon, path = arg.partition(":")
    if not colon or container.startswith("."):
        return "", arg
    return container, path


def _contents_only(path: str) -> bool:
    """docker: SRC ending in "/." copies the directory's contents, not the directory."""
    return path == "." or path.endswith("/.")


def _plan(src: dict, src_name: str, contents: bool, dest: dict, dest_path: str, where: str):
    """docker cp's destination rules: (directory to extract into, name to give the single top
    entry or "", whether to send only the directory's contents)."""
    dest_dir_syntax = dest_path.endswith("/") or dest_path.endswith("/.")
    is_dir = src["type"] == "dir"
    if contents and not is_dir:
        raise InvalidArgument(f"source is not a directory: {src_name}")
    parent, base = _split(dest_path)
    if dest["exists"] and dest["type"] == "dir":
        if is_dir and contents:
            return dest_path, "", True
        # into the directory, under the source's own name (-L: the link's name, not the target's)
        return dest_path, (src_name if src["name"] != src_name else ""), False
    if dest["exists"]:
        if is_dir:
            raise InvalidArgument(f"cannot copy a directory to a file: {where}")
        if dest_dir_syntax:
            raise InvalidArgument(f"destination is not a directory: {where}")
        return parent, base, False
    if dest_dir_syntax and not is_dir:
        raise InvalidArgument(f"destination directory does not exist: {where}")
    return parent, base, False


def _split(path: str) -> tuple[str, str]:
    p = path.rstrip("/")
    if p.endswith("/."):
        p = p[:-2].rstrip("/")
    if not p:
        return "/", ""
    parent, _, base = p.rpartition("/")
    return (parent or ("/" if path.startswith("/") else ".")), base


def _base(path: str) -> str:
    return _split(path)[1] or "/"


def _local_stat(path: str, follow: bool) -> dict:
    import stat as S

    try:
        st = os.stat(path) if follow else os.lstat(path)
    except FileNotFoundError:
        return {"exists": False, "type": "", "name": ""}
    kind = "dir" if S.S_ISDIR(st.st_mode) else "file" if S.S_ISREG(st.st_mode) else \
        "symlink" if S.S_ISLNK(st.st_mode) else "other"
    name = os.path.basename(os.path.realpath(path)) if follow else _base(path)
    return {"exists": True, "type": kind, "name": name}


def copy_from_container(engine, ref: str, src: str, dest: str, *, follow: bool = False,
                        archive: bool = False, stdout_fd: int = 1) -> None:
    """docker cp CONTAINER:SRC DEST (DEST "-": a tar on stdout)."""
    from layerbox import _core, _util

    if not src:
        raise InvalidArgument("filepath in the container cannot be empty")
    with _Root(engine, ref, write=False) as root:
        st = root.stat(src, follow=follow)
        if not st["exists"]:
            raise NotFound(f"Could not find the file {src} in container {ref}")
        contents = _contents_only(src)
        if contents and st["type"] != "dir":
            raise InvalidArgument(f"source is not a directory: {ref}:{src}")
        if dest == "-":
            root.archive(src, stdout_fd, follow=follow, contents=contents)
            return
        dstat = _local_stat(dest, follow=True)
        dest_path = os.path.abspath(dest) + ("/" if dest.endswith(("/", "/.")) else "")
        if not dstat["exists"] and not os.path.isdir(_split(dest_path)[0]):
            raise InvalidArgument(f"destination directory does not exist: {_split(dest_path)[0]}")
        into, rename, contents = _plan(st, _base(src), contents, dstat, dest_path, dest)
        chown = None if archive else (os.getuid(), os.getgid())
        _util.pump(lambda w: root.archive(src, w, follow=follow, contents=contents),
                   lambda r: _core.extract_path(r, "/", into, rename_to=rename, chown=chown))


def copy_to_container(engine, ref: str, src: str, dest: str, *, follow: bool = False,
                      archive: bool = False, stdin_fd: int = 0) -> None:
    """docker cp SRC CONTAINER:DEST (SRC "-": a tar read from stdin, DEST a directory)."""
    from layerbox import _core, _util

    if not dest:
        raise InvalidArgument("filepath in the container cannot be empty")
    chown = None if archive else (0, 0)
    with _Root(engine, ref, write=True) as root:
        dstat = root.stat(dest, follow=True)
        if src == "-":
            if not dstat["exists"]:
                raise NotFound(f"Could not find the file {dest} in container {ref}")
            if dstat["type"] != "dir":
                raise InvalidArgument(f"destination \"{ref}:{dest}\" must be a directory")
            root.check_writable(dest)
            root.extract(stdin_fd, dest, chown=chown)
            return
        contents = _contents_only(src)
        st = _local_stat(src, follow=follow)
        if not st["exists"]:
            raise NotFound(f"lstat {src}: no such file or directory")
        if not dstat["exists"]:
            pstat = root.stat(_split(dest)[0], follow=True)
            if not pstat["exists"] or pstat["type"] != "dir":
                raise InvalidArgument(f"destination directory does not exist: {ref}:{_split(dest)[0]}")
        into, rename, contents = _plan(st, _base(src), contents, dstat, dest, f"{ref}:{dest}")
        root.check_writable(into, rename)
        local = os.path.abspath(src)
        _util.pump(lambda w: _core.archive_path("/", local, w, follow=follow, contents_only=contents),
                   lambda r: root.extract(r, into, rename_to=rename, chown=chown))


# -- the API's get_archive / put_archive -------------------------------------------------------

def _go_mode(mode: int) -> int:
    """st_mode as Go's os.FileMode, which the API's path stat carries."""
    import stat as S

    m = mode & 0o777
    if S.S_ISDIR(mode):
        m |= 1 << 31
    elif S.S_ISLNK(mode):
        m |= 1 << 27
    elif S.S_ISFIFO(mode):
        m |= 1 << 25
    elif S.S_ISSOCK(mode):
        m |= 1 << 24
    elif S.S_ISCHR(mode):
        m |= (1 << 26) | (1 << 21)
    elif S.S_ISBLK(mode):
        m |= 1 << 26
    if mode & 0o4000:
        m |= 1 << 23
    if mode & 0o2000:
        m |= 1 << 22
    if mode & 0o1000:
        m |= 1 << 20
    return m


def get_archive(engine, ref: str, path: str, chunk_size: int = 2 * 1024 * 1024):
    """(generator of tar chunks, stat) as the SDK's Container.get_archive returns."""
    from layerbox import _util
    from layerbox.image.archive import pipe_chunks

    with _Root(engine, ref, write=False) as root:
        st = root.stat(path)
    if not st["exists"]:
        raise NotFound(f"Could not find the file {path} in container {ref}")
    stat = {"name": st["name"] or "/", "size": st["size"], "mode": _go_mode(st["mode"]),
            "mtime": _util.rfc3339(st["mtime"]).replace(".000000000Z", "Z"), "linkTarget": st["link_target"]}
    contents = _contents_only(path)

    def produce(fd):
        with _Root(engine, ref, write=False) as r:
            r.archive(path, fd, contents=contents)

    return pipe_chunks(produce, chunk_size), stat


def put_archive(engine, ref: str, path: str, data) -> bool:
    """Extracts a tar (bytes, chunks or a file object) into the existing directory `path`."""
    from layerbox.image.archive import feed

    with _Root(engine, ref, write=True) as root:
        st = root.stat(path, follow=True)
        if not st["exists"]:
            raise NotFound(f"Could not find the file {path} in container {ref}")
        if st["type"] != "dir":
            raise InvalidArgument(f"extraction point is not a directory: {path}")
        root.check_writable(path)
        r, t = feed(data)
        try:
            root.extract(r, path)
        finally:
            os.close(r)
            t.join()
    return True
