"""The on-disk store: where images, layers and containers live, and how changes are published.

Layout (root: ``--root``, ``LAYERBOX_ROOT`` or /var/lib/layerbox)::

    blobs/sha256/<hex>     content-addressed bytes: layer tars (uncompressed), configs, manifests
    layers/<diff-hex>/     diff/ (an unpacked layer, an overlay lowerdir) and meta.json
    images/<id-hex>.json   image record: its layers, parent, config digest
    refs.json              repository:tag -> image id
    containers/<id>/       config.json, state.json, upper/, work/, merged/, container.log, ...
    names/<name>           symlink to a container id: creating it is how a name is claimed
    init/                  the shared "init layer": mount points every container needs
    tmp/                   staging; whatever is here after a crash is garbage
    lock                   fcntl lock for metadata changes

Publishing is by rename: work happens in tmp/, then one rename() makes it visible. A tag is
written last, so it never points at something half there. Many layerbox processes use the same
store at once (there is no daemon): metadata changes take ``lock`` briefly; long work (hashing,
extracting) happens outside it.
"""

from __future__ import annotations

import fcntl
import os

DEFAULT_ROOT = "/var/lib/layerbox"
# What imports, loads and pulls leave free on the store's file system (LAYERBOX_MIN_FREE).
DEFAULT_MIN_FREE = "5%"
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def default_root() -> str:
    return os.environ.get("LAYERBOX_ROOT") or DEFAULT_ROOT


class _Lock:
    __slots__ = ("path", "shared", "fd")

    def __init__(self, path: str, shared: bool):
        self.path = path
        self.shared = shared
        self.fd = -1

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX)
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


class Store:
    """Paths and locks of one store root. Cheap to create; creates directories on first use."""

    def __init__(self, root: str | None = None):
        self.root = os.path.abspath(root or default_root())
        self.blobs = os.path.join(self.root, "blobs", "sha256")
        self.layers = os.path.join(self.root, "layers")
        self.images = os.path.join(self.root, "images")
        self.containers = os.path.join(self.root, "containers")
        self.names = os.path.join(self.root, "names")
        self.tmp = os.path.join(self.root, "tmp")
        self.init_layer = os.path.join(self.root, "init")
        self.volumes = os.path.join(self.root, "volumes")
        self.refs_file = os.path.join(self.root, "refs.json")
        self._ready = False

    def ensure(self) -> "Store":
        """Creates the layout once per process (a stat when it already exists)."""
        if self._ready:
            return self
        if not os.path.isdir(self.init_layer):
            for d in (self.blobs, self.layers, self.images, self.containers, self.names,
                      self.tmp, self.volumes):
                os.makedirs(d, mode=0o755, exist_ok=True)
            self._ready = True
            _make_init_layer(self)
        self._ready = True
        return self

    def lock(self, shared: bool = False) -> _Lock:
        return _Lock(os.path.join(self.root, "lock"), shared)

    def container_lock(self, cid: str) -> _DirLock:
        return _DirLock(os.path.join(self.containers, cid))

    def blob_path(self, digest: str) -> str:
        return os.path.join(self.blobs, digest.split(":", 1)[-1])

    def layer_dir(self, diff_id: str) -> str:
        return os.path.join(self.layers, diff_id.split(":", 1)[-1])

    def image_record(self, image_id: str) -> str:
        return os.path.join(self.images, image_id.split(":", 1)[-1] + ".json")

    def container_dir(self, cid: str) -> str:
        return os.path.join(self.containers, cid)

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

    def mkdtemp(self, prefix: str) -> str:
        """A fresh staging directory under tmp/ (same filesystem, so rename publishes it)."""
        self.ensure()
        for _ in range(100):
            path = os.path.join(self.tmp, f"{prefix}-{os.urandom(8).hex()}")
            try:
                os.mkdir(path, 0o700)
                return path
            except FileExistsError:
                continue
        raise FileExistsError(path)


# What every container's root needs to exist as mount points, created once per store and used
# as the top read-only layer of every container (docker calls it the init layer). Because these
# live in a lower layer, a container's upper dir never gets them, so `diff` and `commit` do not
# show them, and an image's /etc/hosts symlink cannot redirect our bind mount.
_INIT_DIRS = ("dev", "proc", "sys", "etc")
_INIT_FILES = ("etc/hostname", "etc/hosts", "etc/resolv.conf", ".dockerenv")


def _make_init_layer(store: Store) -> None:
    if os.path.isdir(store.init_layer):
        return
    tmp = store.mkdtemp("init")
    for d in _INIT_DIRS:
        os.mkdir(os.path.join(tmp, d), 0o755)
    for f in _INIT_FILES:
        os.close(os.open(os.path.join(tmp, f), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
    os.chmod(tmp, 0o755)
    try:
        os.rename(tmp, store.init_layer)
    except OSError:
        # Another process published it first; theirs is identical.
        from layerbox import _core

        _core.remove_tree(tmp)
