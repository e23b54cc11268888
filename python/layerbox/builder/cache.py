"""The build cache: which image a build step already produced, on disk, across invocations.

Docker's classic builder finds a cache hit by walking the children of the parent image and
comparing each child's ContainerConfig (whose Cmd carries the instruction text) with the
step's. We keep an explicit index instead, ``<store>/buildcache/<key>`` holding the image ID:

- a lookup is one small read, where finding children means reading every image record of the
  store (there is no parent-to-children index);
- the key says exactly what the result depends on (:func:`step_key`): the parent image, the
  instruction as docker records it with its arguments substituted (and, for RUN, the build
  args in scope; for COPY/ADD the checksum of the copied files), and the whole config the step
  produces, so two steps that differ only in state docker keeps outside the Cmd (``cmdSet``
  for ENTRYPOINT, the maintainer) never share an image;
- entries are written by rename, so concurrent builds of the same Dockerfile share them
  without ever reading half of one (both may run a step that neither found; the last one to
  finish wins the entry and both images stay valid); an entry whose image was removed since
  (``rmi``) is a miss and is dropped.
"""

from __future__ import annotations

import os

from layerbox import _jsonfast

from layerbox._util import sha256  # noqa: F401 - Python's own: hashlib loads OpenSSL (3 ms)

KEY_VERSION = "layerbox-build-cache-1"


def step_key(parent: str, created_by: str, config: dict, extra: str = "") -> str:
    """The cache key (hex) of a step: its parent image ID ("" for scratch), the history text
    docker would record for it, the image config it produces (the whole document but its
    history and creation time) and anything else the result depends on (``extra``)."""
    doc = {k: v for k, v in config.items() if k not in ("created", "history", "container")}
    h = sha256()
    for part in (KEY_VERSION, parent, created_by, _jsonfast.dumps(doc), extra):
        data = part.encode("utf-8", "surrogateescape")
        h.update(b"%d:" % len(data))
        h.update(data)
    return h.hexdigest()


class BuildCache:
    """The index of one store. ``lookup`` and ``put`` never take the store lock: entries are
    files replaced by rename and an image, once published, never changes."""

    def __init__(self, store):
        self.store = store
        self.dir = os.path.join(store.root, "buildcache")

    def _path(self, key: str) -> str:
        return os.path.join(self.dir, key)

    def lookup(self, key: str) -> str | None:
        """The image a step with this key produced, if the store still has it."""
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                image_id = f.read().decode().strip()
        except FileNotFoundError:
            return None
        if image_id.startswith("sha256:") and os.path.exists(self.store.image_record(image_id)):
            return image_id
        try:
            os.unlink(path)  # its image went (rmi): a miss from now on
        except FileNotFoundError:
            pass
        return None

    def put(self, key: str, image_id: str) -> None:
        os.makedirs(self.dir, mode=0o755, exist_ok=True)
        # No fsync: a lost entry is only a miss, and rename never shows half of one.
        path = self._path(key)
        tmp = f"{path}.tmp.{os.getpid()}.{os.urandom(4).hex()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, image_id.encode())
        finally:
            os.close(fd)
        os.rename(tmp, path)

    def clear(self) -> int:
        """Drops every entry (the images stay); returns how many there were."""
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return 0
        for n in names:
            try:
                os.unlink(os.path.join(self.dir, n))
            except FileNotFoundError:
                pass
        return len(names)
