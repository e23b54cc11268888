"""`commit`: a container's read-write layer becomes a new read-only layer on its image.

One pass over the bytes, in C++ without the GIL: write_layer reads the overlay upper dir
(whiteouts and opaque dirs become .wh. entries), writes the layer tar into the blob file and,
from the same chunks, the unpacked layer directory; both are published by rename. A running
container is frozen meanwhile (docker's --pause=true), so the layer is one consistent moment.

The new image's config is docker's: the container's config (its Cmd, Env, ... as it was
created), then the API's `conf`, then the --change instructions; a history entry whose
created_by is the container's command; the container's image as parent. A container that
changed nothing adds no layer (an "empty_layer" history entry), as docker does.
"""

from __future__ import annotations

import os

from layerbox import _util
from layerbox.errors import Conflict, NotFound
from layerbox.image import reference

# What of a container's Config makes sense in an image's (the rest, like Hostname or
# AttachStdin, describes one container).
IMAGE_CONFIG_KEYS = ("User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Healthcheck", "Volumes",
                     "WorkingDir", "Labels", "OnBuild", "StopSignal", "Shell", "ArgsEscaped")
EMPTY_TAR_DIGEST = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"


def image_config_from_container(cconf: dict, image_conf: dict) -> dict:
    out = {}
    for k in IMAGE_CONFIG_KEYS:
        v = cconf.get(k)
        if v is None or v == [] or v == {} or v == "":
            continue
        out[k] = v
    # The engine records SIGTERM when none was asked for; an image only names a signal it chose.
    if out.get("StopSignal") == "SIGTERM" and not image_conf.get("StopSignal"):
        del out["StopSignal"]
    return out


def write_container_layer(images, upper: str, adopt_upper: bool = False, staged: bool = False):
    """The upper dir as a published layer; None when it holds no change.

    Only the layer's tar is written (hashed in the same pass): the unpacked layer dir is made
    from it when something first runs the image (ImageStore.unpacked). With `adopt_upper`
    (the caller removes the container right after, as a build step does) the upper dir itself
    becomes the unpacked layer: an overlay upper dir is already in lower-layer format.
    `staged` (a build step, with adopt_upper): nothing is published or synced here; returns
    (staging, meta) with the tar in staging/blob and the upper dir moved to staging/diff, for
    ImageStore.add_step_image, which publishes the layer with the step's image (or None).
    """
    from layerbox import _core

    store = images.store
    staging = store.mkdtemp("commit")
    try:
        bfd = os.open(os.path.join(staging, "blob"), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                      0o644)
        try:
            res = _core.write_layer(upper, bfd, source="overlay-upper", durable=True)
        finally:
            os.close(bfd)
        if res["files"] == 0:
            return None
        meta = {"DiffID": res["diff_id"], "Size": res["content_size"], "TarSize": res["size"],
                "Created": _util.now_rfc3339()}
        if staged:
            os.rename(upper, os.path.join(staging, "diff"))
            staged_layer, staging = (staging, meta), ""  # the caller's from here
            return staged_layer
        meta = images.publish_layer(staging, meta)
        if adopt_upper:
            final = store.layer_diff(meta["DiffID"])
            with store.lock():
                if not os.path.isdir(final):
                    os.rename(upper, final)
        return meta
    finally:
        if staging and os.path.exists(staging):
            _core.remove_tree(staging)


def commit(engine, ref: str, repository: str | None = None, *, message: str = "", author: str = "",
           pause: bool = True, changes=None, config: dict | None = None,
           adopt_upper: bool = False) -> str:
    """Commits the container `ref`; returns the new image ID (tagged `repository` if given).
    `adopt_upper`: the container is about to be removed (a build step): its upper dir becomes
    the new layer's unpacked dir instead of being unpacked again from the tar later."""
    from layerbox.image.changes import apply_changes

    if repository:
        reference.parse_tag_target(repository)  # a bad name fails before any work
    apply_changes({}, changes or [])  # and so does a bad change: no layer is written for nothing
    images = engine.images
    store = engine.store
    cid = engine.resolve(ref)
    c = engine.load(cid)
    paused_here = False
    if pause and c.status == "running":
        try:
            engine.pause(cid)
            paused_here = True
        except Conflict:
            pass  # it stopped (or another paused it) since: its files hold still as they are
    try:
        with store.container_lock(cid):
            c = engine.load(cid, reconcile=False)
            meta = write_container_layer(images, os.path.join(c.dir, "upper"),
                                         adopt_upper=adopt_upper and c.status != "running")
    finally:
        if paused_here:
            try:
                engine.unpause(cid)
            except (Conflict, NotFound):
                pass  # it stopped meanwhile

    image_id = c.config.get("Image", "")
    try:
        base = images.config(image_id)
        parent = image_id
    except (OSError, NotFound):
        # The image was removed (rmi -f) while the container kept its layers.
        base = {"rootfs": {"type": "layers", "diff_ids": list(c.config.get("Layers") or [])}}
        parent = ""
    conf = image_config_from_container(c.config.get("Config") or {}, base.get("config") or {})
    if config:
        conf.update(config)
    conf = apply_changes(conf, changes or [])

    now = _util.now_rfc3339()
    entry = {"created": now}
    if author:
        entry["author"] = author
    entry["created_by"] = " ".join(c.config["Config"].get("Cmd") or [])
    if message:
        entry["comment"] = message
    diff_ids = list((base.get("rootfs") or {}).get("diff_ids") or [])
    if meta is None:
        entry["empty_layer"] = True
    else:
        diff_ids.append(meta["DiffID"])
    new = {"architecture": base.get("architecture", "amd64")}
    if author:
        new["author"] = author
    new["config"] = conf
    new["container"] = cid
    new["created"] = now
    new["history"] = list(base.get("history") or []) + [entry]
    new["os"] = base.get("os", "linux")
    new["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    for k in ("variant", "os.version"):
        if k in base:
            new[k] = base[k]
    new_id = images.add_image(new, parent=parent, tags=(repository,) if repository else ())
    from layerbox import events

    events.record(store, "container", "commit", cid, {"name": c.name, "image": c.config["Config"].get("Image"),
                                                      "imageID": new_id, "comment": message or None})
    return new_id
