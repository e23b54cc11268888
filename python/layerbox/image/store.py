"""Image records, tags and layers in the store (see layerbox.store for the layout).

An image is its config blob (whose sha256 is the image ID, as in Docker and OCI) plus a record
naming its layers by diff_id. A layer is an unpacked directory (an overlay lowerdir) plus its
uncompressed tar kept as a blob, so `save` and `push` hand out exactly the bytes the diff_id
names. Layers are shared between images and removed only when no image refers to them.
"""

from __future__ import annotations

import os

from layerbox import _jsonfast, _util
from layerbox.errors import Conflict, ImageNotFound, InvalidArgument, NotFound
from layerbox.image import reference
from layerbox.store import Store


def digest_hex(d: str) -> str:
    return d.split(":", 1)[-1]


class ImageStore:
    def __init__(self, store: Store):
        self.store = store
        # An image's config and layers never change for a given ID (content addressed), so a
        # process keeps what it read once (the hot path: every create reads them).
        self._layers: dict = {}
        self._configs: dict = {}

    # -- tags --------------------------------------------------------------------------------
    def refs(self) -> dict:
        """name:tag -> image id."""
        try:
            return _util.read_json(self.store.refs_file)
        except FileNotFoundError:
            return {}

    def _write_refs(self, refs: dict) -> None:
        _util.write_atomic(self.store.refs_file, _jsonfast.dumps(dict(sorted(refs.items()))).encode(),
                           fsync=True)

    def tag(self, image_id: str, name: str) -> str:
        """Points name:tag at image_id (published last, after the image is complete)."""
        key = reference.normalize(name)
        with self.store.lock():
            if not os.path.exists(self.store.image_record(image_id)):
                raise ImageNotFound(f"No such image: {image_id}")
            refs = self.refs()
            refs[key] = image_id
            self._write_refs(refs)
        return key

    def untag(self, key: str) -> None:
        with self.store.lock():
            refs = self.refs()
            refs.pop(key, None)
            self._write_refs(refs)

    def tags_of(self, image_id: str, refs: dict | None = None) -> list[str]:
        refs = self.refs() if refs is None else refs
        return sorted(k for k, v in refs.items() if v == image_id)

    # -- lookup ------------------------------------------------------------------------------
    def resolve(self, name_or_id: str) -> str:
        """An image ID from a name[:tag], a full ID, or a unique ID prefix (docker's order:
        a reference first, then an ID)."""
        if not name_or_id:
            raise InvalidArgument("image name cannot be empty")
        refs = self.refs()
        ref_err = None
        try:
            key = reference.normalize(name_or_id)
            if key in refs:
                return refs[key]
        except InvalidArgument as e:
            ref_err = e
        if reference.looks_like_id(name_or_id):
            h = digest_hex(name_or_id)
            if len(h) == 64 and os.path.exists(os.path.join(self.store.images, h + ".json")):
                return "sha256:" + h
            try:
                names = os.listdir(self.store.images)
            except FileNotFoundError:
                names = []
            matches = [n[:-5] for n in names if n.startswith(h) and n.endswith(".json")]
            if len(matches) == 1:
                return "sha256:" + matches[0]
            if len(matches) > 1:
                raise Conflict(f"multiple IDs found with provided prefix: {name_or_id}")
        if ref_err is not None and not reference.looks_like_id(name_or_id):
            raise ref_err
        raise ImageNotFound(f"No such image: {name_or_id}")

    def record(self, image_id: str) -> dict:
        try:
            return _util.read_json(self.store.image_record(image_id))
        except FileNotFoundError:
            raise ImageNotFound(f"No such image: {image_id}") from None

    def layers(self, image_id: str) -> list:
        """The image's diff_ids, bottom first (cached: they are part of its identity)."""
        ls = self._layers.get(image_id)
        if ls is None:
            ls = self._layers[image_id] = list(self.record(image_id)["Layers"])
        return ls

    def config_bytes(self, image_id: str) -> bytes:
        with open(self.store.blob_path(image_id), "rb") as f:
            return f.read()

    def config(self, image_id: str) -> dict:
        """The image's config, freshly parsed (callers may change it)."""
        return _jsonfast.loads(self.config_bytes(image_id))

    def config_view(self, image_id: str) -> dict:
        """The image's config, cached: read it, never change it."""
        cfg = self._configs.get(image_id)
        if cfg is None:
            cfg = self._configs[image_id] = self.config(image_id)
        return cfg

    def ids(self) -> list[str]:
        try:
            return ["sha256:" + n[:-5] for n in os.listdir(self.store.images) if n.endswith(".json")]
        except FileNotFoundError:
            return []

    def layer_dirs(self, record: dict) -> list[str]:
        """The image's layer dirs, top-most first (overlayfs order)."""
        return [os.path.join(self.store.layer_dir(d), "diff") for d in reversed(record["Layers"])]

    # -- adding ------------------------------------------------------------------------------
    def has_layer(self, diff_id: str) -> bool:
        return os.path.exists(os.path.join(self.store.layer_dir(diff_id), "meta.json"))

    def layer_meta(self, diff_id: str) -> dict:
        return _util.read_json(os.path.join(self.store.layer_dir(diff_id), "meta.json"))

    def add_layer_from_fd(self, fd: int) -> dict:
        """Extracts a layer tar (plain, gzip or zstd) read from fd into the store.

        One pass in C++: read, decompress, hash, write the files and the uncompressed blob.
        Returns the layer's meta (diff_id, sizes). An existing identical layer is reused.
        """
        from layerbox import _core

        staging = self.store.mkdtemp("layer")
        try:
            diff = os.path.join(staging, "diff")
            os.mkdir(diff, 0o755)
            blob = os.path.join(staging, "blob")
            bfd = os.open(blob, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            try:
                res = _core.extract_layer(fd, diff, blob_fd=bfd)
            finally:
                os.close(bfd)
            meta = {
                "DiffID": res["diff_id"],
                "Size": res["unpacked_size"],
                "TarSize": res["size"],
                "Created": _util.now_rfc3339(),
            }
            return self._publish_layer(staging, meta)
        finally:
            if os.path.exists(staging):
                _core.remove_tree(staging)

    def _publish_layer(self, staging: str, meta: dict) -> dict:
        """staging/ holds diff/ and blob: publish both by rename unless the layer exists."""
        diff_id = meta["DiffID"]
        final = self.store.layer_dir(diff_id)
        _util.write_atomic(os.path.join(staging, "meta.json"), _util.dump_json(meta))
        # Durable before visible: one syncfs flushes the layer's files; cheaper than fsyncing
        # each of thousands of files and it covers the blob too.
        _syncfs(staging)
        with self.store.lock():
            if self.has_layer(diff_id):
                return self.layer_meta(diff_id)
            blob = os.path.join(staging, "blob")
            if os.path.exists(blob):
                os.rename(blob, self.store.blob_path(diff_id))
            os.rename(staging, final)
            _util.fsync_dir(self.store.layers)
        return meta

    def add_image(self, config: dict, parent: str = "", tags: tuple = ()) -> str:
        """Writes the config blob and the record (the layers must be in the store already),
        then the tags. Returns the image ID."""
        data = _jsonfast.dumps(config).encode()
        return self.add_image_bytes(data, parent=parent, tags=tags)

    def add_image_bytes(self, data: bytes, parent: str = "", tags: tuple = (),
                        repo_digests: tuple = ()) -> str:
        import hashlib

        image_id = "sha256:" + hashlib.sha256(data).hexdigest()
        config = _jsonfast.loads(data)
        diff_ids = config.get("rootfs", {}).get("diff_ids", [])
        for d in diff_ids:
            if not self.has_layer(d):
                raise NotFound(f"layer {d} of image {image_id} is not in the store")
        size = sum(self.layer_meta(d).get("Size", 0) for d in diff_ids)
        rec = {
            "Id": image_id,
            "Parent": parent,
            "Layers": diff_ids,
            "Created": config.get("created", _util.now_rfc3339()),
            "Size": size,
            "RepoDigests": list(repo_digests),
            "Added": _util.now_rfc3339(),
        }
        with self.store.lock():
            blob = self.store.blob_path(image_id)
            if not os.path.exists(blob):
                _util.write_atomic(blob, data, fsync=True)
            path = self.store.image_record(image_id)
            if os.path.exists(path):
                old = _util.read_json(path)
                rec["Parent"] = old.get("Parent") or parent
                rec["RepoDigests"] = sorted(set(old.get("RepoDigests", [])) | set(repo_digests))
                rec["Added"] = old.get("Added", rec["Added"])
            _util.write_atomic(path, _util.dump_json(rec), fsync=True)
            if tags:
                refs = self.refs()
                for t in tags:
                    refs[reference.normalize(t)] = image_id
                self._write_refs(refs)
        return image_id


    # -- removal -----------------------------------------------------------------------------

    def remove(self, ref: str, force: bool = False, prune: bool = True) -> RemoveResult:
        """docker rmi: untag, and delete what is no longer tagged, used or depended on."""
        res = RemoveResult()
        with self.store.lock():
            image_id = self.resolve(ref)
            refs = self.refs()
            tags = [k for k, v in refs.items() if v == image_id]
            by_tag = None
            try:
                key = reference.normalize(ref)
                if refs.get(key) == image_id:
                    by_tag = key
            except InvalidArgument:
                pass
            users = [(cid, running) for cid, img, _l, running in _container_refs(self.store)
                     if img == image_id]
            children = [i for i in self.ids() if self.record(i).get("Parent") == image_id]
            if by_tag and len(tags) > 1:
                # One of several tags: just the tag goes.
                del refs[by_tag]
                self._write_refs(refs)
                res.untagged(by_tag)
                return res
            if by_tag is None and len(tags) > 1 and not force:
                raise Conflict(f"conflict: unable to delete {image_id[7:19]} (must be forced) - image is "
                               "referenced in multiple repositories")
            running = [cid for cid, r in users if r]
            if running:
                raise Conflict(f"conflict: unable to delete {ref} (cannot be forced) - image is being "
                               f"used by running container {running[0][:12]}")
            if users and not force:
                which = "remove repository reference \"%s\"" % ref if by_tag else f"delete {image_id[7:19]}"
                raise Conflict(f"conflict: unable to {which} (must force) - container "
                               f"{users[0][0][:12]} is using its referenced image {image_id[7:19]}")
            if children and not (by_tag and users):
                if by_tag:  # untag; the image stays as the parent of others
                    del refs[by_tag]
                    self._write_refs(refs)
                    res.untagged(by_tag)
                    return res
                raise Conflict(f"conflict: unable to delete {image_id[7:19]} (cannot be forced) - image "
                               "has dependent child images")
            for t in sorted(tags):
                del refs[t]
                res.untagged(t)
            self._write_refs(refs)
            if users:
                return res  # forced: untagged, kept for the containers that use it
            self._delete_chain(image_id, res, prune)
            self._gc_locked(res)
        return res


    def _delete_chain(self, image_id: str, res: RemoveResult, prune: bool) -> None:
        refs = self.refs()
        used = {img for _c, img, _l, _r in _container_refs(self.store)}
        while image_id:
            parent = self.record(image_id).get("Parent", "")
            os.unlink(self.store.image_record(image_id))
            try:
                os.unlink(self.store.blob_path(image_id))
            except FileNotFoundError:
                pass
            res.deleted(image_id)
            if not prune or not parent or not os.path.exists(self.store.image_record(parent)):
                break
            # An untagged parent nothing else needs goes too (docker's prune of intermediates).
            if any(v == parent for v in refs.values()) or parent in used:
                break
            if any(self.record(i).get("Parent") == parent for i in self.ids()):
                break
            image_id = parent


    def _gc_locked(self, res: RemoveResult | None = None) -> list[str]:
        """Removes layers (and their blobs) that no image and no container refers to. The caller
        holds the store lock."""
        keep = set()
        for i in self.ids():
            try:
                keep.update(self.record(i).get("Layers", []))
            except NotFound:
                pass
        for _c, _img, layers, _r in _container_refs(self.store):
            keep.update(layers)
        removed = []
        from layerbox import _core

        try:
            names = os.listdir(self.store.layers)
        except FileNotFoundError:
            names = []
        for h in names:
            d = "sha256:" + h
            if d in keep:
                continue
            # Rename out of sight first: a reader never sees half a layer.
            tmp = self.store.mkdtemp("gc")
            os.rename(os.path.join(self.store.layers, h), os.path.join(tmp, "layer"))
            try:
                os.unlink(self.store.blob_path(d))
            except FileNotFoundError:
                pass
            _core.remove_tree(tmp)
            removed.append(d)
            if res is not None:
                res.deleted(d)
        return removed


    def prune(self, all_: bool = False) -> dict:
        """docker image prune: dangling images (or, with all_, every image no container uses)."""
        deleted: list[dict] = []
        with self.store.lock():
            used = {img for _c, img, _l, _r in _container_refs(self.store)}
            changed = True
            while changed:
                changed = False
                refs = self.refs()
                tagged = set(refs.values())
                parents = {self.record(i).get("Parent") for i in self.ids()}
                for i in self.ids():
                    if i in used or i in parents:
                        continue
                    if i in tagged and not all_:
                        continue
                    res = RemoveResult()
                    for t in sorted(k for k, v in refs.items() if v == i):
                        del refs[t]
                        res.untagged(t)
                    self._write_refs(refs)
                    self._delete_chain(i, res, prune=False)
                    deleted.extend(res.lines)
                    changed = True
                    break
            gc = RemoveResult()
            self._gc_locked(gc)
            deleted.extend(gc.lines)
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": 0}


def _syncfs(path: str) -> None:
    from layerbox import _core

    _core.syncfs(path)


class RemoveResult:
    def __init__(self):
        self.lines: list[dict] = []  # {"Untagged": ref} or {"Deleted": id}

    def untagged(self, ref: str):
        self.lines.append({"Untagged": ref})

    def deleted(self, what: str):
        self.lines.append({"Deleted": what})


def _container_refs(store: Store):
    """(image id, layers, running) of every container in the store."""
    try:
        ids = os.listdir(store.containers)
    except FileNotFoundError:
        return
    for cid in ids:
        try:
            cfg = _util.read_json(os.path.join(store.containers, cid, "config.json"))
            st = _util.read_json(os.path.join(store.containers, cid, "state.json"))
        except (FileNotFoundError, ValueError):
            continue
        yield cid, cfg.get("Image", ""), cfg.get("Layers") or [], st.get("Status") in (
            "running", "restarting", "paused")

