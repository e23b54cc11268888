"""Image records, tags and layers in the store (see layerbox.store for the layout).

An image is its config blob (whose sha256 is the image ID, as in Docker and OCI) plus a record
naming its layers by diff_id. A layer is an unpacked directory (an overlay lowerdir) plus its
uncompressed tar kept as a blob, so `save` and `push` hand out exactly the bytes the diff_id
names. Layers are shared between images and removed only when no image refers to them.
"""

from __future__ import annotations

import os

from layerbox import _jsonfast, _util, shape
from layerbox.errors import Conflict, ImageNotFound, InvalidArgument, NotFound
from layerbox.image import reference
from layerbox.store import Store, fault


def digest_hex(d: str) -> str:
    return d.split(":", 1)[-1]


class ImageStore:
    def __init__(self, store: Store):
        self.store = store
        # An image's config and layers never change for a given ID (content addressed), so a
        # process keeps what it read once (the hot path: every create reads them).
        self._layers: dict = {}
        self._configs: dict = {}
        # Images add_step_image made whose record waits for a sync (its `pending`): this
        # process (the build that made them) already knows their config and layers, so the next
        # RUN step's container is created from them without a sync of its own just to put the
        # record in place. Nobody else sees them until the record is there.
        self._staged: dict = {}

    # -- tags --------------------------------------------------------------------------------
    def refs(self) -> dict:
        """name:tag -> image id."""
        try:
            return shape.read(self.store.refs_file, shape.REFS, error=shape.damaged)
        except FileNotFoundError:
            return {}

    def _write_refs(self, refs: dict) -> None:
        _util.write_atomic(self.store.refs_file, _jsonfast.dumps(dict(sorted(refs.items()))).encode(),
                           fsync=True)

    def tag(self, image_id: str, name: str) -> str:
        """Points name:tag at image_id (published last, after the image is complete)."""
        key = reference.tag_key(name)
        with self.store.lock():
            if not os.path.exists(self.store.image_record(image_id)):
                raise ImageNotFound(f"No such image: {image_id}")
            refs = self.refs()
            refs[key] = image_id
            self._write_refs(refs)
            self._set_last_tag_time(image_id)
        image_event(self.store, "tag", image_id, key)
        return key

    def _set_last_tag_time(self, image_id: str) -> None:
        """inspect's Metadata.LastTagTime (the lock is held)."""
        path = self.store.image_record(image_id)
        rec = _util.read_json(path)
        rec["LastTagTime"] = _util.now_rfc3339()
        _util.write_atomic(path, _util.dump_json(rec), fsync=True)

    def tags_of(self, image_id: str, refs: dict | None = None) -> list[str]:
        refs = self.refs() if refs is None else refs
        return sorted(k for k, v in refs.items() if v == image_id)

    # -- lookup ------------------------------------------------------------------------------
    def resolve(self, name_or_id: str) -> str:
        """An image ID from a name[:tag], a full ID, or a unique ID prefix (docker's order:
        a reference first, then an ID)."""
        if not name_or_id:
            raise InvalidArgument("image name cannot be empty")
        if name_or_id in self._staged:
            return name_or_id
        if "@" in name_or_id:
            return self.resolve_repo_digest(name_or_id)
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

    def resolve_repo_digest(self, ref: str) -> str:
        """The image a name@sha256:... reference names: the one whose RepoDigests (recorded
        by pull and push) hold it."""
        r = reference.parse(ref)
        want = f"{r.name}@{r.digest}"
        for image_id in self.ids():
            try:
                if want in (self.record(image_id).get("RepoDigests") or []):
                    return image_id
            except NotFound:
                pass
        raise ImageNotFound(f"No such image: {ref}")

    def record(self, image_id: str) -> dict:
        try:
            return shape.read(self.store.image_record(image_id), shape.IMAGE_RECORD, error=shape.damaged)
        except FileNotFoundError:
            raise ImageNotFound(f"No such image: {image_id}") from None

    def layers(self, image_id: str) -> list:
        """The image's diff_ids, bottom first (cached: they are part of its identity)."""
        ls = self._layers.get(image_id)
        if ls is None and image_id in self._staged:
            return self._staged[image_id][1]
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
        if cfg is None and image_id in self._staged:
            return self._staged[image_id][0]
        if cfg is None:
            cfg = self._configs[image_id] = self.config(image_id)
        return cfg

    def ids(self) -> list[str]:
        try:
            return ["sha256:" + n[:-5] for n in os.listdir(self.store.images) if n.endswith(".json")]
        except FileNotFoundError:
            return []

    def layer_dirs(self, record: dict) -> list[str]:
        """The image's layer dirs, top-most first (overlayfs order). Paths only: see
        unpacked() for dirs that must exist."""
        return [self.store.layer_diff(d) for d in reversed(record["Layers"])]

    def unpacked(self, diff_ids: list) -> list[str]:
        """The layer dirs of `diff_ids` (bottom first in, top first out, overlayfs order),
        unpacking from its blob any layer that has none yet.

        A layer is its tar blob; the unpacked dir is what overlayfs needs, made when first
        needed. `commit` only writes the blob, so committing 2000 files costs writing one file
        (about a fifth of writing the 2000), and a layer nobody runs is never unpacked."""
        dirs = []
        for d in reversed(diff_ids):
            path = self.store.layer_diff(d)
            if not os.path.isdir(path):
                self._unpack(d)
            dirs.append(path)
        return dirs

    def _unpack(self, diff_id: str) -> None:
        from layerbox import _core
        from layerbox.errors import ImageLoadError

        final = self.store.layer_diff(diff_id)
        staging = self.store.mkdtemp("unpack")
        try:
            diff = os.path.join(staging, "diff")
            os.mkdir(diff, 0o755)
            try:
                fd = os.open(self.store.blob_path(diff_id), os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                raise NotFound(f"layer {diff_id}: its blob is missing from the store") from None
            try:
                res = _core.extract_layer(fd, diff)
            finally:
                os.close(fd)
            if res["diff_id"] != diff_id:
                raise ImageLoadError(f"layer {diff_id}: its blob hashes to {res['diff_id']}; "
                                     "the store is damaged")
            _syncfs(diff)  # a layer dir is trusted once published: durable first
            with self.store.lock():
                if not os.path.isdir(final):
                    os.rename(diff, final)
        finally:
            _core.remove_tree(staging)

    # -- adding ------------------------------------------------------------------------------
    def has_layer(self, diff_id: str) -> bool:
        return os.path.exists(os.path.join(self.store.layer_dir(diff_id), "meta.json"))

    def layer_meta(self, diff_id: str) -> dict:
        return shape.read(os.path.join(self.store.layer_dir(diff_id), "meta.json"), shape.LAYER_META,
                          error=shape.damaged)

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
                res = _core.extract_layer(fd, diff, blob_fd=bfd, min_free=self.store.min_free())
            finally:
                os.close(bfd)
            meta = {
                "DiffID": res["diff_id"],
                "Size": res["unpacked_size"],
                "TarSize": res["size"],
                "Created": _util.now_rfc3339(),
            }
            return self.publish_layer(staging, meta)
        finally:
            if os.path.exists(staging):
                _core.remove_tree(staging)

    def publish_layer(self, staging: str, meta: dict) -> dict:
        """staging/ holds blob and maybe diff/ (the unpacked layer): publish both by rename
        unless the layer exists."""
        diff_id = meta["DiffID"]
        final = self.store.layer_dir(diff_id)
        _util.write_atomic(os.path.join(staging, "meta.json"), _util.dump_json(meta))
        # Durable before visible: one syncfs flushes the layer's files; cheaper than fsyncing
        # each of thousands of files and it covers the blob too. A blob alone gets its fsync.
        if os.path.isdir(os.path.join(staging, "diff")):
            _syncfs(staging)
        else:
            fd = os.open(os.path.join(staging, "blob"), os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fdatasync(fd)
            finally:
                os.close(fd)
        fault("layer-staged")
        with self.store.lock():
            self._lease_add(diff_id)  # until an image names it (add_image_bytes)
            if self.has_layer(diff_id):
                return self.layer_meta(diff_id)
            blob = os.path.join(staging, "blob")
            if os.path.exists(blob):
                os.rename(blob, self.store.blob_path(diff_id))
                fault("layer-blob-published")
            os.rename(staging, final)
            _util.fsync_dir(self.store.layers)
        fault("layer-published")
        return meta

    # -- leases: a layer published ahead of the image that will name it ------------------------
    # Between publishing a layer (commit, import, load, pull, a build step) and writing the image
    # record that refers to it, nothing refers to the layer: a concurrent rmi or prune would
    # collect it. So the publishing process leases it (leases/<pid>-<start time>, under the store
    # lock) until add_image_bytes names it; a lease of a process that is gone is void.
    # A new image written with tags is leased too ("image <id>"), from its record to its tags:
    # one whose process died in between was never finished, and goes (collect_void_leases).
    def _lease_file(self) -> str:
        from layerbox.store import owner

        return os.path.join(self.store.leases, owner())

    def _lease_add(self, diff_id: str) -> None:
        path = self._lease_file()
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(path, "a") as f:
            f.write(diff_id + "\n")

    def lease_existing(self, diff_id: str) -> bool:
        """Whether the store has the layer; if so it is leased to this process until an image
        names it (add_image_bytes), so that an image about to reuse a layer nothing names yet
        (a crash's orphan, or one an rmi is about to collect) does not lose it meanwhile."""
        if not self.has_layer(diff_id):
            return False
        with self.store.lock():
            if not self.has_layer(diff_id):
                return False
            self._lease_add(diff_id)
            return True

    def _lease_release(self, diff_ids) -> None:
        path = self._lease_file()
        try:
            with open(path) as f:
                held = [line for line in f.read().split("\n") if line]
        except FileNotFoundError:
            return
        gone = set(diff_ids)
        left = [d for d in held if d not in gone]
        if left:
            _util.write_atomic(path, ("\n".join(left) + "\n").encode())
        else:
            os.unlink(path)

    def _leased(self) -> set:
        """Layers leased by live processes; void leases are removed. Under the store lock."""
        from layerbox import _core

        d = os.path.join(self.store.root, "leases")
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            return set()
        held = set()
        for n in names:
            pid, _, start = n.partition("-")
            if pid.isdigit() and start.isdigit() and _core.process_start_time(int(pid)) == int(start):
                try:
                    with open(os.path.join(d, n)) as f:
                        held.update(f.read().split())
                except FileNotFoundError:
                    pass
        return held

    def void_leases(self) -> dict:
        """lease file -> what it held, for every lease whose process is gone."""
        from layerbox.store import owner_alive

        try:
            names = os.listdir(self.store.leases)
        except FileNotFoundError:
            return {}
        out = {}
        for n in names:
            if owner_alive(n):
                continue
            path = os.path.join(self.store.leases, n)
            try:
                with open(path) as f:
                    out[path] = f.read().split("\n")
            except FileNotFoundError:
                pass
        return out

    def collect_void_leases(self) -> list[str]:
        """Under the exclusive store lock: what processes that died while publishing left.
        An image they wrote but never tagged goes (if nothing else came to use it meanwhile),
        then every layer and blob nothing names. Returns what was removed."""
        void = self.void_leases()
        if not void:
            return []
        res = RemoveResult()
        for held in void.values():
            for line in held:
                kind, _, image_id = line.partition(" ")
                if kind != "image" or not os.path.exists(self.store.image_record(image_id)):
                    continue
                if self.tags_of(image_id) or self._children(image_id):
                    continue
                try:
                    self._delete_image(image_id, res, force=False, prune=False, quiet=True)
                except Conflict:
                    pass
        for path in void:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        self.gc_locked(res)
        return [next(iter(line.values())) for line in res.lines]

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
        rec = {
            "Id": image_id,
            "Parent": parent,
            "Layers": diff_ids,
            "Created": config.get("created", _util.now_rfc3339()),
            "Size": 0,
            "RepoDigests": list(repo_digests),
            "Added": _util.now_rfc3339(),
        }
        with self.store.lock():
            # Checked under the lock: a layer cannot be collected between this and the record.
            for d in diff_ids:
                if not self.has_layer(d):
                    raise NotFound(f"layer {d} of image {image_id} is not in the store")
            rec["Size"] = sum(self.layer_meta(d).get("Size", 0) for d in diff_ids)
            blob = self.store.blob_path(image_id)
            if not os.path.exists(blob):
                _util.write_atomic(blob, data, fsync=True)
                fault("image-config-written")
            path = self.store.image_record(image_id)
            leased = ()
            if os.path.exists(path):
                old = _util.read_json(path)
                rec["Parent"] = old.get("Parent") or parent
                rec["RepoDigests"] = sorted(set(old.get("RepoDigests", [])) | set(repo_digests))
                rec["Added"] = old.get("Added", rec["Added"])
            elif tags:
                leased = (f"image {image_id}",)  # until its tags are written
                self._lease_add(leased[0])
            _util.write_atomic(path, _util.dump_json(rec), fsync=True)
            fault("image-written")
            if tags:
                refs = self.refs()
                for t in tags:
                    refs[reference.tag_key(t)] = image_id
                self._write_refs(refs)
                self._set_last_tag_time(image_id)
                fault("image-tagged")
            self._lease_release([*diff_ids, *leased])
        return image_id


    def add_step_image(self, config: dict, parent: str = "", layer=None, leases=None,
                       pending=None, scratch: str = "") -> str:
        """A build step's image and, when ``layer`` is (staging, meta) as publish_layer takes
        them (staging/blob, staging/diff), its new layer: published with two syncs of the
        store's file system in all, where publish_layer and add_image fsync each file and
        directory (5 a layer step, 3 a metadata step: most of a step's time on a busy disk).

        Every byte is written first (the layer's tar, files and meta; the config blob and the
        record in a staging dir of ours) and made durable by one syncfs; then the layer and the
        config blob are renamed into place and a second syncfs makes those renames durable;
        only then is the record renamed into place. So, whatever order the file system (ext4
        without a journal here) writes things in, nothing is visible before its bytes are
        durable and no record is durable before what it names. The record's own rename
        becomes durable with the next step's first sync, or with the images directory's
        fsync that the build makes before it tags (see _util.deferred_dir_syncs): until then
        a crash loses only an untagged image (a cache miss), never half of one.

        With ``pending`` (a list, the build's), the second sync is the next step's first:
        the record is left in ``pending`` and renamed into place by the next add_step_image
        right after its first sync (which made this step's renames durable), or by
        settle_step_images, which the caller calls before anything reads the record (a RUN
        step's container, another stage) and at its end: one sync a step instead of two. A
        metadata step (no layer) makes no sync of its own at all: its config is renamed in
        after the next sync and its record after the one after.

        ``scratch``: a staging dir of the caller's (one a build, removed at its end) to write
        the config and the record in, instead of a new one each call.

        What is published is leased (as publish_layer does) until the caller gives
        ``leases`` (a list the lines are added to) to release_leases, once, at its end: a
        process killed between the two renames leaves a void lease, and the next command
        collects what nothing names. Returns the image ID."""
        from layerbox import _core

        data = _jsonfast.dumps(config).encode()
        image_id = "sha256:" + _util.sha256(data).hexdigest()
        diff_ids = config.get("rootfs", {}).get("diff_ids", [])
        staging, meta = layer if layer is not None else ("", None)
        new_id = meta["DiffID"] if meta else ""
        sizes = {new_id: meta.get("Size", 0)} if meta else {}
        for d in diff_ids:
            if d not in sizes:
                try:
                    sizes[d] = self.layer_meta(d).get("Size", 0)
                except FileNotFoundError:
                    raise NotFound(f"layer {d} of image {image_id} is not in the store") from None
        now = _util.now_rfc3339()
        rec = {"Id": image_id, "Parent": parent, "Layers": diff_ids,
               "Created": config.get("created", now), "Size": sum(sizes.values()),
               "RepoDigests": [], "Added": now}
        blob = self.store.blob_path(image_id)
        path = self.store.image_record(image_id)
        own = not scratch
        mine = self.store.mkdtemp("image") if own else scratch
        cfg_tmp = os.path.join(mine, image_id[7:] + ".config")
        rec_tmp = os.path.join(mine, image_id[7:] + ".record")
        # What is left to do for the record, in pending: its config blob renamed in after a
        # sync made its bytes durable ("bytes"), then the record after a sync made that
        # rename durable ("renamed").
        entry = {"rec": rec_tmp, "path": path, "cfg": cfg_tmp, "blob": blob,
                 "dir": mine if own else "", "stage": "bytes", "id": image_id}
        done = False
        try:
            # Plain writes, not write_atomic's rename: nobody reads a staging dir of ours.
            if meta is not None:
                _write_file(os.path.join(staging, "meta.json"), _util.dump_json(meta))
            _write_file(cfg_tmp, data)
            _write_file(rec_tmp, _util.dump_json(rec))
            if meta is None and pending is not None:
                # A metadata step: nothing of it is needed before the record, so even its
                # bytes wait for the next step's sync.
                with self.store.lock():
                    self._check_layers(diff_ids, new_id, image_id)
                    self._lease(f"config {image_id}", leases=leases)
                pending.append(entry)
                self._staged[image_id] = (config, list(diff_ids))
                done = True
                return image_id
            _syncfs(mine)  # 1: every byte (and what pending steps did before)
            fault("step-image-staged")
            with self.store.lock():
                self._advance(pending)
                self._check_layers(diff_ids, new_id, image_id)
                # the layer and the config: until the record names the config (a sync later,
                # after the next step's container has run), a gc of another command (or of an
                # rm whose image is gone) would take a config blob nothing names
                self._lease(*([new_id] if new_id else []), f"config {image_id}", leases=leases)
                if meta is not None and not self.has_layer(new_id):
                    layer_blob = os.path.join(staging, "blob")
                    if os.path.exists(layer_blob):
                        os.rename(layer_blob, self.store.blob_path(new_id))
                    os.rename(staging, self.store.layer_dir(new_id))
                self._advance([entry])  # the config renamed in
                if pending is not None:
                    pending.append(entry)
                    self._staged[image_id] = (config, list(diff_ids))
                else:
                    _syncfs(self.store.root)  # 2: the renames, before the record that names them
                    self._advance([entry])
                done = True
        finally:
            if own and not done:
                _util.later(_core.remove_tree, mine)
            elif not own and not done:
                for p in (cfg_tmp, rec_tmp):
                    try:
                        os.unlink(p)
                    except FileNotFoundError:
                        pass
        return image_id

    def settle_step_images(self, pending) -> None:
        """Renames the records add_step_image left in ``pending`` into place (and their
        configs before them), each after the sync that makes what it names durable."""
        while pending:
            _syncfs(self.store.root)
            with self.store.lock():
                self._advance(pending)

    def _check_layers(self, diff_ids, new_id: str, image_id: str) -> None:
        """Under the lock: a layer cannot be collected between this and the record."""
        for d in diff_ids:
            if d != new_id and not self.has_layer(d):
                raise NotFound(f"layer {d} of image {image_id} is not in the store")

    def _lease(self, *lines: str, leases) -> None:
        self._lease_add("\n".join(lines))
        if leases is not None:
            leases.extend(lines)

    def _advance(self, pending) -> None:
        """Under the lock, right after a sync: each record whose config's rename that sync made
        durable is renamed into place; each config whose bytes it made durable is renamed in.
        Done in place on ``pending`` (entries of add_step_image), oldest first."""
        from layerbox import _core

        if not pending:
            return
        left = []
        for e in pending:
            if e["stage"] == "renamed":
                fault("step-image-named")
                if not os.path.exists(e["path"]):  # else the same image again: its record stays
                    os.rename(e["rec"], e["path"])
                    _util.fsync_dir(self.store.images)  # the build defers it to its end
                self._staged.pop(e.get("id"), None)
                if e["dir"]:
                    _util.later(_core.remove_tree, e["dir"])
                continue
            if not os.path.exists(e["blob"]):
                os.rename(e["cfg"], e["blob"])
            e["stage"] = "renamed"
            left.append(e)
        pending[:] = left

    def release_leases(self, lines) -> None:
        """Ends the leases add_step_image took (its ``leases`` list)."""
        if lines:
            self._lease_release(lines)

    def add_repo_digest(self, image_id: str, repo_digest: str) -> None:
        """Adds name@sha256:... (the manifest digest a registry holds the image under, after
        a push) to the image's RepoDigests; nothing when the image went meanwhile."""
        with self.store.lock():
            path = self.store.image_record(image_id)
            try:
                rec = _util.read_json(path)
            except FileNotFoundError:
                return
            if repo_digest not in (rec.get("RepoDigests") or []):
                rec["RepoDigests"] = sorted(set(rec.get("RepoDigests") or []) | {repo_digest})
                _util.write_atomic(path, _util.dump_json(rec), fsync=True)

    # -- removal -----------------------------------------------------------------------------

    def remove(self, ref: str, force: bool = False, prune: bool = True) -> RemoveResult:
        """docker rmi, following moby's ImageService.ImageDelete.

        Given a tag: that tag goes (refused without force when it is the image's only tag and
        a container uses the image); the image itself goes too once nothing else names it,
        quietly staying when it is still needed (children, containers). Given an ID: the image
        goes with its only tag, refused when it has children or a running container (cannot be
        forced), or other tags or a stopped container (must be forced). Then untagged parents
        that nothing else needs go (unless prune=False), and layers no image or container uses.
        """
        res = RemoveResult()
        try:
            self._remove_locked(ref, force, prune, res)
        finally:
            res.record_events(self.store)
        return res

    def _remove_locked(self, ref: str, force: bool, prune: bool, res: "RemoveResult") -> None:
        with self.store.lock():
            image_id = self.resolve(ref)
            refs = self.refs()
            tags = sorted(k for k, v in refs.items() if v == image_id)
            by_tag = None
            try:
                key = reference.normalize(ref)
                if refs.get(key) == image_id:
                    by_tag = key
            except InvalidArgument:
                pass
            if by_tag:
                if not force and len(tags) == 1:
                    user = next((cid for cid, img, _l, _r in _container_refs(self.store) if img == image_id), None)
                    if user:
                        raise Conflict(f'conflict: unable to remove repository reference "{ref}" (must force) - '
                                       f"container {user[:12]} is using its referenced image {image_id[7:19]}")
                del refs[by_tag]
                self._write_refs(refs)
                res.untagged(by_tag, image_id)
                if len(tags) > 1:
                    return
                self._delete_image(image_id, res, force, prune, quiet=True)
                return
            if len(tags) == 1:
                # An ID given and one tag: the tag goes with the image, if the image may go.
                conflict = self._conflict(image_id, children=True, running=True, tags=False,
                                          stopped=not force)
                if conflict:
                    raise conflict
                del refs[tags[0]]
                self._write_refs(refs)
                res.untagged(tags[0], image_id)
            self._delete_image(image_id, res, force, prune, quiet=False)

    def _children(self, image_id: str) -> list[str]:
        out = []
        for i in self.ids():
            try:
                if self.record(i).get("Parent") == image_id:
                    out.append(i)
            except NotFound:
                pass
        return out

    def _conflict(self, image_id: str, *, children: bool, running: bool, tags: bool, stopped: bool):
        """moby's checkImageDeleteConflict: the first reason the image cannot go, or None.
        Returns (error, used) where `used` says a container uses it."""
        def err(msg, hard, used=False):
            e = Conflict(f"conflict: unable to delete {image_id[7:19]} "
                         f"({'cannot be forced' if hard else 'must be forced'}) - {msg}")
            e.used = used
            return e

        users = [(cid, r) for cid, img, _l, r in _container_refs(self.store) if img == image_id]
        if children and self._children(image_id):
            return err("image has dependent child images", True)
        if running:
            run = [cid for cid, r in users if r]
            if run:
                return err(f"image is being used by running container {run[0][:12]}", True, True)
        if tags and any(v == image_id for v in self.refs().values()):
            return err("image is referenced in one or more repositories", False)
        if stopped:
            st = [cid for cid, r in users if not r]
            if st:
                return err(f"image is being used by stopped container {st[0][:12]}", False, True)
        return None

    def _delete_image(self, image_id: str, res: RemoveResult, force: bool, prune: bool, quiet: bool) -> None:
        """moby's imageDeleteHelper (the store lock is held)."""
        while image_id:
            conflict = self._conflict(image_id, children=True, running=True, tags=not force, stopped=not force)
            if conflict:
                dangling = not self.tags_of(image_id) and not self._children(image_id)
                if quiet and (not dangling or conflict.used):
                    return  # still needed: it stays, silently
                raise conflict
            parent = self.record(image_id).get("Parent", "")
            refs = self.refs()
            for t in sorted(k for k, v in refs.items() if v == image_id):
                del refs[t]
                res.untagged(t, image_id)
            self._write_refs(refs)
            os.unlink(self.store.image_record(image_id))
            try:
                os.unlink(self.store.blob_path(image_id))
            except FileNotFoundError:
                pass
            res.deleted(image_id, image=True)
            self.gc_locked(res)
            if not prune or not parent or not os.path.exists(self.store.image_record(parent)):
                return
            # The parent goes too if nothing needs it (never forced, quietly stopping).
            image_id, force, quiet = parent, False, True

    def gc_locked(self, res: RemoveResult | None = None) -> list[str]:
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
        keep |= self._leased()
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
        # Blobs: a layer's tar (named by its diff_id) or an image's config (by its ID); any
        # other is what a crash left between writing it and publishing what names it.
        try:
            blobs = os.listdir(self.store.blobs)
        except FileNotFoundError:
            blobs = []
        for h in blobs:
            if ("sha256:" + h) in keep or os.path.exists(os.path.join(self.store.images, h + ".json")):
                continue
            if os.path.isdir(os.path.join(self.store.layers, h)):
                continue
            try:
                os.unlink(os.path.join(self.store.blobs, h))
            except FileNotFoundError:
                pass
        return removed


    def prune(self, all_: bool = False, labels=()) -> dict:
        """docker image prune: the dangling images (untagged, no children), or with all_ every
        image no container uses; each removed as `rmi` would (parents that nothing needs any
        more go too). labels: "k" or "k=v" filters an image's config must match."""
        deleted: list[dict] = []
        before = self._layer_sizes()
        gone = RemoveResult()  # whose events are recorded once the lock is released
        try:
            self._prune_locked(all_, labels, deleted, gone)
        finally:
            gone.record_events(self.store)
        after = self._layer_sizes()
        reclaimed = sum(v for k, v in before.items() if k not in after)
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    def _prune_locked(self, all_: bool, labels, deleted: list, gone: "RemoveResult") -> None:
        with self.store.lock():
            used = {img for _c, img, _l, _r in _container_refs(self.store)}
            refs = self.refs()
            tagged = set(refs.values())
            parents = set()
            for i in self.ids():
                parents.add(self.record(i).get("Parent"))
            for i in sorted(self.ids()):
                if not os.path.exists(self.store.image_record(i)):
                    continue  # went with an earlier one
                if i in used or (i in parents and i not in tagged) or (i in tagged and not all_):
                    continue
                if labels and not _labels_match((self.config(i).get("config") or {}).get("Labels") or {}, labels):
                    continue
                res = RemoveResult()
                try:
                    self._delete_image(i, res, force=all_, prune=True, quiet=False)
                except Conflict:
                    continue
                finally:
                    gone.events.extend(res.events)
                deleted.extend(res.lines)
            # Layers and blobs nothing names (a crash between publishing a layer and its
            # image leaves one): collected here too, not only when an image goes.
            res = RemoveResult()
            self.gc_locked(res)
            deleted.extend(res.lines)

    def _layer_sizes(self) -> dict:
        out = {}
        try:
            names = os.listdir(self.store.layers)
        except FileNotFoundError:
            return out
        for h in names:
            try:
                m = self.layer_meta("sha256:" + h)
                out[h] = m.get("Size", 0)
            except (OSError, ValueError):
                pass  # a layer removed meanwhile or half-written by a crash: it has no size to show
        return out


def _labels_match(have: dict, wanted) -> bool:
    for w in wanted:
        k, eq, v = w.partition("=")
        if k not in have or (eq and have[k] != v):
            return False
    return True


def _write_file(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        _util._write_all(fd, data)
    finally:
        os.close(fd)


def _syncfs(path: str) -> None:
    from layerbox import _core

    _core.syncfs(path)


def image_event(store, action: str, image_id: str, name: str = "") -> None:
    """An image event in the store's event log (layerbox.events), as moby's LogImageEvent:
    the actor is the image (its ID, or for pull and push the reference), name what it was
    called by."""
    from layerbox import events

    events.record(store, "image", action, image_id, {"name": name or image_id})


class RemoveResult:
    def __init__(self):
        self.lines: list[dict] = []  # {"Untagged": ref} or {"Deleted": id}
        self.events: list[tuple] = []  # (action, image id, name): docker's untag and delete

    def untagged(self, ref: str, image_id: str):
        self.lines.append({"Untagged": ref})
        self.events.append(("untag", image_id, image_id))

    def deleted(self, what: str, image: bool = False):
        self.lines.append({"Deleted": what})
        if image:
            self.events.append(("delete", what, what))

    def record_events(self, store) -> None:
        """The events of what went (outside the store's lock: nothing waits on the log)."""
        for action, image_id, name in self.events:
            image_event(store, action, image_id, name)


def _container_refs(store: Store):
    """(image id, layers, running) of every container in the store."""
    try:
        ids = os.listdir(store.containers)
    except FileNotFoundError:
        return
    for cid in ids:
        try:
            cfg = _util.read_json(os.path.join(store.containers, cid, "config.json"))
        except (FileNotFoundError, ValueError):
            continue
        try:
            st = _util.read_json(os.path.join(store.containers, cid, "state.json"))
        except (FileNotFoundError, ValueError):
            st = {}  # never started: created
        yield cid, cfg.get("Image", ""), cfg.get("Layers") or [], st.get("Status") in (
            "running", "restarting", "paused")

