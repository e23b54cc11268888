"""The on-disk store: where images, layers and containers live, and how changes are published.

Layout (root: ``--root``, ``LAYERBOX_ROOT`` or /var/lib/layerbox)::

    blobs/sha256/<hex>     content-addressed bytes: layer tars (uncompressed), configs, manifests
    layers/<diff-hex>/     diff/ (an unpacked layer, an overlay lowerdir) and meta.json
    images/<id-hex>.json   image record: its layers, parent, config digest
    refs.json              repository:tag -> image id
    containers/<id>/       config.json, state.json, upper/, work/, merged/, container.log, ...
    names/<name>           symlink to a container id: creating it is how a name is claimed
    running/<id>           an entry per container that may be running (started, not yet seen
                           stopped): `ps` reads these names, not every container (the index);
                           a second link of its config.json (no inode of its own to allocate
                           and free per start), or an empty file
    ps-cache               what `ps -a` reads of each container, stamped with its dir's ctime
                           and mtime: a cache, rebuilt when missing or damaged, an entry read
                           again when its dir changed (csrc/listing/pslist.cpp); written as
                           tmp/pscache-<pid>-<start>-<hex>, renamed into place
    init/                  the shared "init layer": mount points every container needs
    tmp/                   staging: <kind>-<pid>-<start time>-<name>, owned by that process
    leases/<pid>-<start>   layers a live process publishes, and its new image until tagged
    lock                   fcntl lock for metadata changes
    events.log[.1]         docker's events, appended by every client (layerbox/events.py)
    private-v1             marker: the store has its private modes (see ensure())

Publishing is by rename: work happens in tmp/, then one rename() makes it visible. A tag is
written last, so it never points at something half there. Many layerbox processes use the same
store at once (there is no daemon): metadata changes take ``lock`` briefly; long work (hashing,
extracting) happens outside it.

Crashes: a staging dir is named after its owner (pid and start time, as leases are); one whose
owner is gone is garbage, reclaimed by the next process that takes the store lock (one readdir
of tmp/ when it is empty) and by `system prune`; a void lease makes the next exclusive locker
collect what it held (layer.heal). `LAYERBOX_FAULT=<point>` kills the process at a named point
(fault()), so tests can crash every step of publishing.

Privacy: the root is 0700 (layer, upper and diff dirs, config.json and its environment are
nobody else's; no other host user can run a setuid file a container left in its upper dir).
Containers need no traversal by their own users: without user namespaces overlayfs reaches its
layers with the mounter's credentials, and binds are resolved when mounted, as root.
"""

from __future__ import annotations

import fcntl
import os

DEFAULT_ROOT = "/var/lib/layerbox"
# What imports, loads and pulls leave free on the store's file system (LAYERBOX_MIN_FREE).
DEFAULT_MIN_FREE = "5%"
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}

# Read once: the hot path pays one string compare per fault point.
_FAULT = os.environ.get("LAYERBOX_FAULT", "")


def fault(point: str) -> None:
    """Ends this process with SIGKILL when LAYERBOX_FAULT names `point` (crash tests)."""
    if _FAULT == point:
        os.kill(os.getpid(), 9)


_OWNER: list = []  # [pid, "pid-start time"] of this process (recomputed after a fork)


def owner() -> str:
    """This process as "<pid>-<start time>": what staging dirs and leases are named after."""
    pid = os.getpid()
    if not _OWNER or _OWNER[0] != pid:
        from layerbox import _core

        _OWNER[:] = [pid, f"{pid}-{_core.process_start_time(pid)}"]
    return _OWNER[1]


def owner_alive(token: str) -> bool:
    """Whether the process a "<pid>-<start time>" token names still runs (not a reused pid)."""
    pid, _, start = token.partition("-")
    if not (pid.isdigit() and start.isdigit()):
        return False
    from layerbox import _core

    return _core.process_start_time(int(pid)) == int(start)


def staging_owner(name: str) -> str:
    """The owner token of a staging dir's name (<kind>-<pid>-<start>-<name>), "" if none."""
    parts = name.rsplit("-", 3)
    return f"{parts[1]}-{parts[2]}" if len(parts) == 4 else ""


# tmp/download-<hex>: a pull's fetch of one blob (registry.pull.Download). Held (flock) while a
# pull works on it (_util.flock_held tells); an unheld one is what a pull that was cut off
# left, which the next pull of the blob resumes.
DOWNLOAD_PREFIX = "download-"


def remove_download(path: str) -> bool:
    """Removes download dir `path` unless a process holds it (a pull that takes it up at the
    same moment keeps it; one waiting for its lock then sees it gone and starts afresh).
    Returns whether it went."""
    from layerbox import _core

    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _core.remove_tree(path)  # under its lock
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


PRIVATE_MARK = "private-v1"


def default_root() -> str:
    return os.environ.get("LAYERBOX_ROOT") or DEFAULT_ROOT


class _Lock:
    __slots__ = ("store", "path", "shared", "fd")

    def __init__(self, store: "Store", shared: bool):
        self.store = store
        self.path = os.path.join(store.root, "lock")
        self.shared = shared
        self.fd = -1

    def __enter__(self):
        store = self.store
        if not store._reclaimed:
            # The first lock of a process reclaims what crashed processes left (outside the
            # lock: only the owner of a staging dir ever touches it while it lives).
            store._reclaimed = True
            store.reclaim_staging()
        self.fd = os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX)
        if not self.shared and not store._leases_checked:
            store._leases_checked = True
            try:
                store.reclaim_leases()
            except OSError:
                pass  # never fails the command that happened to lock first; prune, check do it
            except BaseException:
                self.__exit__()
                raise
        return self

    def __exit__(self, *exc):
        os.close(self.fd)  # closing releases the lock; a killed holder releases it too
        self.fd = -1


class _DirLock:
    """flock on a directory itself: the per-container lock (no extra file to clean up)."""

    __slots__ = ("path", "fd")

    def __init__(self, path: str):
        self.path = path
        self.fd = -1

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)
        self.fd = -1


class _ContainerLock(_DirLock):
    """A container's lock: its directory gone (removed since the caller resolved it, by `rm`
    or an --rm container's monitor) is docker's "No such container", not a raw path error."""

    __slots__ = ()

    def __enter__(self):
        try:
            return super().__enter__()
        except FileNotFoundError:
            from layerbox.errors import ContainerNotFound

            raise ContainerNotFound(f"No such container: {os.path.basename(self.path)}") from None


class Store:
    """Paths and locks of one store root. Cheap to create; creates directories on first use."""

    def __init__(self, root: str | None = None):
        self.root = os.path.abspath(root or default_root())
        self.blobs = os.path.join(self.root, "blobs", "sha256")
        self.layers = os.path.join(self.root, "layers")
        self.images = os.path.join(self.root, "images")
        self.containers = os.path.join(self.root, "containers")
        self.names = os.path.join(self.root, "names")
        self.running = os.path.join(self.root, "running")
        self.tmp = os.path.join(self.root, "tmp")
        self.ps_cache = os.path.join(self.root, "ps-cache")
        self.init_layer = os.path.join(self.root, "init")
        self.volumes = os.path.join(self.root, "volumes")
        self.refs_file = os.path.join(self.root, "refs.json")
        self.leases = os.path.join(self.root, "leases")
        self._ready = False
        self._reclaimed = False
        self._leases_checked = False
        self._spread = False

    def ensure(self) -> "Store":
        """Creates the layout, private, once per process (a stat when it exists); an older
        store is brought to the private modes the first time (then the marker says so)."""
        if self._ready:
            return self
        if not os.path.exists(os.path.join(self.root, PRIVATE_MARK)):
            _make_private(self)
            self._ready = True
            _make_init_layer(self)
            fd = os.open(os.path.join(self.root, PRIVATE_MARK), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC,
                         0o600)
            os.close(fd)
        elif not os.path.lexists(os.path.join(self.init_layer, _INIT_MTAB)):
            _add_mtab(self.init_layer)  # an init layer made before it had the link
        self._ready = True
        return self

    def lock(self, shared: bool = False) -> _Lock:
        return _Lock(self, shared)

    # -- crash leftovers ---------------------------------------------------------------------
    def reclaim_staging(self, downloads: bool = False) -> list[str]:
        """Removes the staging dirs of processes that are gone (what a SIGKILL left); returns
        their names. Cheap when there is none: one readdir. `downloads`: the partial downloads
        nobody holds too (`system prune`), which are otherwise kept for the pull that resumes
        them."""
        try:
            names = os.listdir(self.tmp)
        except FileNotFoundError:
            return []
        if downloads:
            names = [n for n in names if not (n.startswith(DOWNLOAD_PREFIX) and
                                              remove_download(os.path.join(self.tmp, n)))]
        # A download dir is no one process's: kept for the pull that resumes it (system check
        # names one that nobody holds).
        dead = [n for n in names if not n.startswith(DOWNLOAD_PREFIX) and not owner_alive(staging_owner(n))]
        if not dead:
            return []
        from layerbox.store import heal

        return heal.reclaim_staging(self, dead)

    def reclaim_leases(self) -> None:
        """Under the exclusive store lock: when a publishing process died holding a lease,
        collects what it leased and nothing names (layers, blobs, an image never tagged)."""
        try:
            names = os.listdir(self.leases)
        except FileNotFoundError:
            return
        if any(not owner_alive(n) for n in names):
            from layerbox.image.store import ImageStore

            ImageStore(self).collect_void_leases()

    def container_lock(self, cid: str) -> _DirLock:
        return _ContainerLock(os.path.join(self.containers, cid))

    def blob_path(self, digest: str) -> str:
        return os.path.join(self.blobs, digest.split(":", 1)[-1])

    def layer_dir(self, diff_id: str) -> str:
        return os.path.join(self.layers, diff_id.split(":", 1)[-1])

    def image_record(self, image_id: str) -> str:
        return os.path.join(self.images, image_id.split(":", 1)[-1] + ".json")

    def layer_diff(self, diff_id: str) -> str:
        """The layer's unpacked tree (an overlay lower dir), which may not exist yet: see
        ImageStore.unpacked."""
        return os.path.join(self.layers, diff_id.split(":", 1)[-1], "diff")

    def container_log(self, cid: str) -> str:
        """Where a container's monitor writes its output (docker's json-file records, or CRI for
        containers made before LogConfig: container/logs.py, container/logdriver.py)."""
        return os.path.join(self.containers, cid, "container.log")

    def min_free(self) -> int:
        """Bytes an untrusted stream (import, load, pull) must leave free on the store's file
        system, from LAYERBOX_MIN_FREE: a size ("512M", "2G", bytes) or a percent of the file
        system ("5%", the default); "0" turns the check off. Extraction stops with "no space
        left on device" below it, so a decompression bomb cannot fill the disk."""
        from layerbox.errors import InvalidArgument

        spec = (os.environ.get("LAYERBOX_MIN_FREE") or DEFAULT_MIN_FREE).strip().lower()
        try:
            if spec.endswith("%"):
                pct = float(spec[:-1])
                if not 0 <= pct < 100:
                    raise ValueError
                st = os.statvfs(self.root if os.path.isdir(self.root) else os.path.dirname(self.root))
                return int(st.f_blocks * st.f_frsize * pct / 100)
            num = spec.rstrip("ib")  # "512M", "512MB", "512MiB": binary units
            unit = num[-1:] if num[-1:] in _UNITS and not num[-1:].isdigit() else ""
            value = float(num[:-1] if unit else num)
            if value < 0:
                raise ValueError
            return int(value * _UNITS[unit])
        except ValueError:
            raise InvalidArgument(f"invalid LAYERBOX_MIN_FREE {spec!r}: want a size (512M, 2G) "
                                  "or a percent of the file system (5%)") from None

    def mkdtemp(self, prefix: str, name: str = "") -> str:
        """A fresh staging directory under tmp/ (same filesystem, so rename publishes it),
        named after this process so that it is garbage once the process is gone."""
        self.ensure()
        if not self._spread:
            self._spread = True
            spread_subdirs(self.tmp)
        me = owner()
        for _ in range(100):
            path = os.path.join(self.tmp, f"{prefix}-{me}-{name or os.urandom(8).hex()}")
            try:
                os.mkdir(path, 0o700)
                return path
            except FileExistsError:
                continue
        raise FileExistsError(path)


_FS_IOC_GETFLAGS, _FS_IOC_SETFLAGS, _FS_TOPDIR_FL = 0x80086601, 0x40086602, 0x00020000


def spread_subdirs(path: str) -> None:
    """Marks directory `path` as a top of a hierarchy (chattr +T, EXT4_TOPDIR_FL): ext4 places
    each new subdirectory, and so the files made in it, in a block group of its own choosing
    (Orlov's spreading) instead of the parent's. Why: ext4 without a journal (this machine's
    disk) skips inodes freed in the last 5-10 s when it allocates one, scanning them one by one
    on every create; the group of a store that just removed a layer (rmi, a pull's staging
    thrown away) holds thousands, and creating 2000 files there took 3.5-4 s against 0.13 s in
    a fresh group (measured in the commit that added this). Best effort: other file systems
    ignore or refuse the flag, which changes nothing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        buf = bytearray(8)
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, buf)
        flags = int.from_bytes(buf[:4], "little")
        if not flags & _FS_TOPDIR_FL:
            fcntl.ioctl(fd, _FS_IOC_SETFLAGS, (flags | _FS_TOPDIR_FL).to_bytes(4, "little") + bytes(4))
    except OSError:
        pass
    finally:
        os.close(fd)


# What every container's root needs to exist as mount points, created once per store and used
# as the top read-only layer of every container (docker calls it the init layer). Because these
# live in a lower layer, a container's upper dir never gets them, so `diff` and `commit` do not
# show them, and an image's /etc/hosts symlink cannot redirect our bind mount.
_INIT_DIRS = ("dev", "proc", "sys", "etc")
_INIT_FILES = ("etc/hostname", "etc/hosts", "etc/resolv.conf", ".dockerenv")
_INIT_MTAB = "etc/mtab"


def _make_private(store: Store) -> None:
    """The layout at 0700, and what an older store holds brought to the private modes: its
    containers' dirs 0700, config and state 0600, logs 0640 (as docker's). Layer, upper and
    diff dirs keep theirs (they are what a container sees as its directories' modes)."""
    os.makedirs(store.root, mode=0o700, exist_ok=True)
    os.chmod(store.root, 0o700)
    for d in (os.path.dirname(store.blobs), store.blobs, store.layers, store.images, store.containers,
              store.names, store.tmp, store.volumes, store.leases):
        os.makedirs(d, mode=0o700, exist_ok=True)
        os.chmod(d, 0o700)
    for h in os.listdir(store.layers):
        _chmod(os.path.join(store.layers, h), 0o700)
    for cid in os.listdir(store.containers):
        cdir = os.path.join(store.containers, cid)
        _chmod(cdir, 0o700)
        for f, mode in (("config.json", 0o600), ("state.json", 0o600), ("container.log", 0o640)):
            _chmod(os.path.join(cdir, f), mode)


def _chmod(path: str, mode: int) -> None:
    import stat

    try:
        if not stat.S_ISLNK(os.lstat(path).st_mode):
            os.chmod(path, mode)
    except FileNotFoundError:
        pass


def _add_mtab(init: str) -> None:
    """/etc/mtab -> /proc/mounts, the link docker's init layer has (so `mount`, `df` and
    friends work in every container, a --read-only one included)."""
    try:
        os.symlink("/proc/mounts", os.path.join(init, _INIT_MTAB))
    except (FileExistsError, FileNotFoundError):
        pass  # made by another process meanwhile, or no init layer to add it to


def _make_init_layer(store: Store) -> None:
    if os.path.isdir(store.init_layer):
        return
    tmp = store.mkdtemp("init")
    for d in _INIT_DIRS:
        os.mkdir(os.path.join(tmp, d), 0o755)
    for f in _INIT_FILES:
        os.close(os.open(os.path.join(tmp, f), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
    _add_mtab(tmp)
    os.chmod(tmp, 0o755)
    try:
        os.rename(tmp, store.init_layer)
    except OSError:
        # Another process published it first; theirs is identical.
        from layerbox import _core

        _core.remove_tree(tmp)
