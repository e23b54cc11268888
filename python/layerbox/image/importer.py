"""`import`: a one-layer image from a rootfs tarball (plain, gzip or zstd; a file or stdin)."""

from __future__ import annotations

import os

from layerbox import _util
from layerbox.errors import InvalidArgument
from layerbox.image import reference
from layerbox.image.store import ImageStore, image_event


def new_config(diff_ids: list, *, created: str, config: dict | None = None, history=None,
               author: str = "", comment_parent=None) -> dict:
    """An OCI image config (the shape docker writes), keys in docker's order."""
    cfg = {"architecture": "amd64"}
    if author:
        cfg["author"] = author
    cfg["config"] = config or {}
    cfg["created"] = created
    cfg["history"] = history or []
    cfg["os"] = "linux"
    cfg["rootfs"] = {"type": "layers", "diff_ids": list(diff_ids)}
    return cfg


def import_tar(images: ImageStore, source: str, repository: str | None = None,
               changes: list | None = None, message: str = "") -> str:
    """Imports `source` (a path, or "-" for stdin) and returns the new image ID."""
    if repository:
        reference.parse_tag_target(repository)  # refuse a bad name before doing any work
    images.store.ensure()
    if source == "-":
        fd, close = 0, False
    else:
        if "://" in source:
            raise InvalidArgument(f"importing from a URL is not supported here: {source}")
        try:
            fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise InvalidArgument(f"open {source}: {(e.strerror or '').lower()}") from None
        close = True
    try:
        meta = images.add_layer_from_fd(fd)
    finally:
        if close:
            os.close(fd)
    now = _util.now_rfc3339()
    conf: dict = {}
    if changes:
        from layerbox.image.changes import apply_changes

        conf = apply_changes(conf, changes)
    hist = {"created": now, "created_by": "", "comment": message or f"Imported from {source}"}
    cfg = new_config([meta["DiffID"]], created=now, config=conf, history=[hist])
    image_id = images.add_image(cfg, tags=(repository,) if repository else ())
    image_event(images.store, "import", image_id)
    return image_id
