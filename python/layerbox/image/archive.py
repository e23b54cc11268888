"""`save` and `load`: images in the archive formats the ecosystem reads.

save writes what current docker writes: an OCI image layout (oci-layout, index.json,
blobs/sha256/...) with docker's manifest.json and repositories beside it in the same tar, so
the file loads in docker (old and new) and opens as an OCI layout (skopeo oci-archive:,
umoci after unpacking). Layers go out as the uncompressed tars the store already keeps, whose
digest is their diff_id. The tar itself is written by the C++ layer writer from a staging
directory of hard links to the store's blobs: one pass over the bytes, no copy, no Python loop.

load reads docker archives (old format: <v1id>/layer.tar; new: blobs/sha256), our own, and
OCI layout archives, plain or compressed. It extracts the archive into staging (paths
resolved inside it, so a hostile archive cannot write elsewhere), checks every blob it uses
against its digest (config = image ID, layers' diff_ids against the config, blobs against
the names and descriptors that point at them), and only when all of it checks out publishes
the layers, then the images, then the tags. A mismatch anywhere changes nothing.
"""

from __future__ import annotations

import errno
import os

from layerbox import _jsonfast, _util, shape
from layerbox.errors import ImageLoadError, InvalidArgument, KernelError, NotFound
from layerbox.image import reference
from layerbox.image.store import image_event
from layerbox.store import fault

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ANN_IMAGE_NAME = "io.containerd.image.name"
ANN_REF_NAME = "org.opencontainers.image.ref.name"
OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


def _sha256(data: bytes) -> str:
    # small documents (manifests, configs): Python's own SHA-256, not OpenSSL's through
    # hashlib (3 ms to load)
    return "sha256:" + _util.sha256(data).hexdigest()


def _dumps(obj) -> bytes:
    return _jsonfast.dumps(obj).encode()


# -- which images ------------------------------------------------------------------------------

def select(images, names) -> list[tuple[str, list[str]]]:
    """docker save's reading of its arguments: (image id, tags to record) in order. A name
    with a tag names that tag; a bare repository name every tag of it; an ID the image with no
    tag recorded."""
    out: dict[str, list[str]] = {}
    refs = images.refs()
    for name in names:
        tags: list[str] = []
        try:
            r = reference.parse(name)
            if r.digest is None and r.tag is None:
                prefix = r.name + ":"
                tags = sorted(k for k in refs if k.startswith(prefix))
        except InvalidArgument:
            r = None
        if tags:
            for t in tags:
                lst = out.setdefault(refs[t], [])
                if t not in lst:
                    lst.append(t)
            continue
        image_id = images.resolve(name)
        lst = out.setdefault(image_id, [])
        if r is not None and r.digest is None and not reference.looks_like_id(name):
            key = r.tagged()
            if refs.get(key) == image_id and key not in lst:
                lst.append(key)
    return list(out.items())


# -- save ------------------------------------------------------------------------------------

class _Layout:
    """An OCI image layout being staged in a directory: blobs by hard link (or verified
    copy), the JSON documents written."""

    def __init__(self, images, root: str, link: bool):
        self.images = images
        self.root = root
        self.link = link
        self.blobs = os.path.join(root, "blobs", "sha256")
        os.makedirs(self.blobs, 0o755, exist_ok=True)
        os.chmod(os.path.join(root, "blobs"), 0o755)
        os.chmod(root, 0o755)

    def has(self, digest: str) -> bool:
        return os.path.exists(os.path.join(self.blobs, digest.split(":", 1)[1]))

    def add_store_blob(self, digest: str) -> int:
        """The store's blob `digest` into the layout; returns its size."""
        from layerbox import _core

        src = self.images.store.blob_path(digest)
        dst = os.path.join(self.blobs, digest.split(":", 1)[1])
        if not os.path.exists(src):
            raise NotFound(f"blob {digest} is missing from the store")
        if not os.path.exists(dst):
            if self.link:
                os.link(src, dst)  # staging inside the store: the same file, no copy
            else:
                sfd = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
                    try:
                        _core.copy_verify(sfd, dfd, digest)  # a corrupt store blob is not handed out
                    finally:
                        os.close(dfd)
                finally:
                    os.close(sfd)
        return os.stat(dst).st_size

    def add_bytes(self, data: bytes) -> str:
        d = _sha256(data)
        path = os.path.join(self.blobs, d.split(":", 1)[1])
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(data)
        return d

    def write(self, name: str, data: bytes) -> None:
        with open(os.path.join(self.root, name), "wb") as f:
            f.write(data)


def _stage(images, selected, root: str, *, link: bool, docker: bool) -> None:
    """Stages the selected images as an OCI layout in root (plus manifest.json and
    repositories when `docker`)."""
    lay = _Layout(images, root, link)
    index, manifest_json, repositories = [], [], {}
    ids = {i for i, _ in selected}
    for image_id, tags in selected:
        rec = images.record(image_id)
        layers = []
        for d in rec["Layers"]:
            size = lay.add_store_blob(d)
            layers.append({"mediaType": MT_OCI_LAYER, "digest": d, "size": size})
        config_size = lay.add_store_blob(image_id)
        manifest = {"schemaVersion": 2, "mediaType": MT_OCI_MANIFEST,
                    "config": {"mediaType": MT_OCI_CONFIG, "digest": image_id, "size": config_size},
                    "layers": layers}
        mdata = _dumps(manifest)
        mdigest = lay.add_bytes(mdata)
        desc = {"mediaType": MT_OCI_MANIFEST, "digest": mdigest, "size": len(mdata)}
        for t in tags:
            r = reference.parse(t)
            index.append(dict(desc, annotations={ANN_IMAGE_NAME: f"{r.full_name}:{r.tag or 'latest'}",
                                                 ANN_REF_NAME: r.tag or "latest"}))
            if rec["Layers"]:
                repositories.setdefault(r.name, {})[r.tag or "latest"] = digest_hex(rec["Layers"][-1])
        if not tags:
            index.append(desc)
        item = {"Config": f"blobs/sha256/{digest_hex(image_id)}", "RepoTags": list(tags) or None,
                "Layers": [f"blobs/sha256/{digest_hex(d)}" for d in rec["Layers"]]}
        if rec.get("Parent") in ids:
            item["Parent"] = rec["Parent"]
        manifest_json.append(item)
    lay.write("index.json", _dumps({"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": index}))
    lay.write("oci-layout", OCI_LAYOUT)
    if docker:
        lay.write("manifest.json", _dumps(manifest_json))
        if repositories:
            lay.write("repositories", _dumps(repositories))


def digest_hex(d: str) -> str:
    return d.split(":", 1)[-1]


def save_to_fd(images, names, out_fd: int) -> None:
    """Writes the docker archive of `names` to out_fd."""
    from layerbox import _core

    store = images.store.ensure()
    staging = store.mkdtemp("save")
    try:
        with store.lock(shared=True):  # nothing we link can be removed before it is linked
            chosen = select(images, names)
            _stage(images, chosen, staging, link=True, docker=True)
        _core.write_layer(staging, out_fd, hash=False)  # nobody checks a digest of the archive
    finally:
        _core.remove_tree(staging)
    for image_id, _tags in chosen:
        image_event(store, "save", image_id)


def produce_to_file(path: str, produce, what: str) -> None:
    """produce(fd) into path by rename: a failure leaves no half-written file (as docker's -o)."""
    d = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(d, f".{os.path.basename(path)}.tmp-{os.urandom(4).hex()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise InvalidArgument(f"failed to {what}: open {path}: {(e.strerror or '').lower()}") from None
    try:
        try:
            produce(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def save_to_file(images, names, path: str) -> None:
    select(images, names)  # unknown names fail before a file is created
    produce_to_file(path, lambda fd: save_to_fd(images, names, fd), "save image")


def save_oci_dir(images, names, path: str) -> None:
    """A plain OCI image layout in the directory `path` (which must not exist, or be empty):
    staged beside it, blobs copied with their digests checked, then renamed into place."""
    from layerbox import _core

    path = os.path.abspath(path.rstrip("/") or "/")
    if os.path.lexists(path) and not (os.path.isdir(path) and not os.listdir(path)):
        raise InvalidArgument(f"failed to save image: {path} exists and is not an empty directory")
    selected = select(images, names)
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise InvalidArgument(f"failed to save image: no such directory: {parent}")
    tmp = os.path.join(parent, f".{os.path.basename(path)}.tmp-{os.urandom(4).hex()}")
    os.mkdir(tmp, 0o755)
    try:
        _stage(images, selected, tmp, link=False, docker=False)
        os.rename(tmp, path)
    except BaseException:
        _core.remove_tree(tmp)
        raise


def pipe_chunks(produce, chunk_size: int):
    """Runs produce(write_fd) in a thread and yields what it writes, chunk by chunk. Stopping
    early closes the pipe, so the producer fails (EPIPE) and ends instead of blocking."""
    r, t, err = _util.start_producer(produce)
    try:
        while True:
            chunk = os.read(r, chunk_size)
            if not chunk:
                break
            yield chunk
    finally:
        os.close(r)
        t.join()
    if err and not isinstance(err[0], BrokenPipeError):
        raise err[0]


def save_chunks(images, names, chunk_size: int = 2 * 1024 * 1024):
    """The SDK's Image.save(): the archive as a generator of byte chunks."""
    select(images, names)  # unknown names fail here, not inside the generator's thread
    return pipe_chunks(lambda fd: save_to_fd(images, names, fd), chunk_size)


# -- load ------------------------------------------------------------------------------------

# The archive's own documents, checked before any field is used (see layerbox.shape).
# docker-archive's manifest.json (moby's image/tarexport manifestItem).
_MANIFEST_JSON = [{"Config": shape.Req(str), "RepoTags": [str], "Layers": shape.Req([str]),
                   "Parent": str, "LayerSources": dict}]
# A JSON document in an archive is a few kB; a larger one is not read into memory.
_MAX_JSON = 32 << 20


class _Archive:
    """The extracted archive: files read and opened only through paths resolved inside it."""

    def __init__(self, root: str):
        self.root = root

    def read(self, path: str) -> bytes | None:
        from layerbox import _core

        if not isinstance(path, str) or not path:
            return None
        try:  # a regular file only (a FIFO the archive made is not waited on), bounded
            return _core.read_in_root(self.root, path, _MAX_JSON)
        except OSError as e:
            if e.errno != errno.EINVAL:
                return None
            raise ImageLoadError(f"invalid archive: {path} is larger than {_MAX_JSON >> 20} MiB") from None

    def json(self, path: str, what: str, want=None):
        data = self.read(path)
        if data is None:
            raise ImageLoadError(f"invalid archive: {what} {path} is missing")
        doc = shape.parse(data, path, ImageLoadError, "invalid archive: ")
        if want is not None:
            shape.check(doc, want, path, ImageLoadError, "invalid archive: ")
        return data, doc

    def open(self, path: str) -> int:
        from layerbox import _core

        try:
            return _core.open_in_root(self.root, path)
        except OSError as e:
            raise ImageLoadError(f"invalid archive: layer {path}: {e.strerror or e}") from None


def _is_hex64(s: str) -> bool:
    return len(s) == 64 and all(c in "0123456789abcdef" for c in s)


def _named_digest(path: str) -> str | None:
    """The digest a path in an archive names, if it names one: "blobs/sha256/<hex>", or an old
    docker archive's "<hex>.json" config."""
    parts = [p for p in path.split("/") if p and p != "."]
    if not parts:
        return None
    base = parts[-1]
    if len(parts) >= 2 and parts[-2] == "sha256" and _is_hex64(base):
        return "sha256:" + base
    if base.endswith(".json") and _is_hex64(base[:-5]):
        return "sha256:" + base[:-5]
    return None


class _Image:
    __slots__ = ("config", "image_id", "tags", "layers", "parent")

    def __init__(self, config: bytes, image_id: str, tags: list, layers: list, parent: str = ""):
        self.config = config
        self.image_id = image_id
        self.tags = tags
        self.layers = layers  # [(path in archive, expected blob digest or None, diff_id)]
        self.parent = parent


def _check_config(data: bytes, expected: str | None, where: str) -> tuple[str, dict]:
    image_id = _sha256(data)
    if expected and expected != image_id:
        raise ImageLoadError(f"invalid archive: config {where} has digest {image_id}, expected {expected}")
    cfg = shape.load(data, shape.IMAGE_CONFIG, f"config {where}", ImageLoadError, "invalid archive: ")
    return image_id, cfg


def _docker_images(arc: _Archive) -> list[_Image]:
    _raw, items = arc.json("manifest.json", "manifest", _MANIFEST_JSON)
    out = []
    for it in items:
        cpath = it["Config"]
        data = arc.read(cpath)
        if data is None:
            raise ImageLoadError(f"invalid archive: config {cpath} is missing")
        image_id, cfg = _check_config(data, _named_digest(cpath), cpath)
        diff_ids = cfg["rootfs"].get("diff_ids") or []
        paths = it.get("Layers") or []
        if len(paths) != len(diff_ids):
            raise ImageLoadError(f"invalid archive: {len(paths)} layers for {len(diff_ids)} diff_ids "
                                 f"in the config of {image_id}")
        tags = []
        for t in it.get("RepoTags") or []:
            try:
                tags.append(reference.parse_tag_target(t).tagged())
            except InvalidArgument as e:
                raise ImageLoadError(f"invalid archive: invalid tag {t!r} in manifest.json: {e}") from None
        out.append(_Image(data, image_id, tags,
                          [(p, _named_digest(p), d) for p, d in zip(paths, diff_ids)],
                          it.get("Parent") or ""))
    return out


def _blob_path(desc) -> str:
    d = (desc.get("digest") if isinstance(desc, dict) else None) or ""
    algo, _, hexpart = d.partition(":")
    if algo != "sha256" or not _is_hex64(hexpart):
        raise ImageLoadError(f"invalid archive: unsupported digest {d!r}")
    return f"blobs/sha256/{hexpart}"


def _verified_blob(arc: _Archive, desc: dict, what: str) -> bytes:
    path = _blob_path(desc)
    data = arc.read(path)
    if data is None:
        raise ImageLoadError(f"invalid archive: {what} {desc.get('digest')} is missing")
    got = _sha256(data)
    if got != desc["digest"]:
        raise ImageLoadError(f"invalid archive: {what} {path} has digest {got}, expected {desc['digest']}")
    return data


def _oci_images(arc: _Archive) -> list[_Image]:
    _raw, index = arc.json("index.json", "index", shape.INDEX)
    out: list[_Image] = []

    def visit(manifests, inherited_name):
        for desc in manifests or []:
            mt = desc.get("mediaType", "")
            ann = desc.get("annotations") or {}
            name = ann.get(ANN_IMAGE_NAME) or inherited_name
            if not name and ann.get(ANN_REF_NAME):
                ref_name = ann[ANN_REF_NAME]
                # A ref name may be a whole reference (podman, buildah) or only a tag (docker,
                # skopeo); only the former names an image.
                try:
                    name = ref_name if ("/" in ref_name or ":" in ref_name) and reference.parse(ref_name) else ""
                except InvalidArgument:
                    name = ""
            data = _verified_blob(arc, desc, "manifest")
            doc = shape.parse(data, f"manifest {desc['digest']}", ImageLoadError, "invalid archive: ")
            if not isinstance(doc, dict):
                shape.check(doc, dict, f"manifest {desc['digest']}", ImageLoadError, "invalid archive: ")
            is_index = mt in (MT_OCI_INDEX, MT_DOCKER_LIST) or "manifests" in doc
            shape.check(doc, shape.INDEX if is_index else shape.MANIFEST, f"manifest {desc['digest']}",
                        ImageLoadError, "invalid archive: ")
            mt = mt or doc.get("mediaType", "")
            if is_index:
                plats = [m for m in doc.get("manifests") or []
                         if (m.get("platform") or {}).get("os", "linux") == "linux"
                         and (m.get("platform") or {}).get("architecture", "amd64") == "amd64"]
                visit(plats[:1], name)
                continue
            cdata = _verified_blob(arc, doc.get("config") or {}, "config")
            image_id, cfg = _check_config(cdata, None, doc["config"]["digest"])
            diff_ids = cfg["rootfs"].get("diff_ids") or []
            layers = doc.get("layers") or []
            if len(layers) != len(diff_ids):
                raise ImageLoadError(f"invalid archive: {len(layers)} layers for {len(diff_ids)} diff_ids "
                                     f"in the config of {image_id}")
            tags = []
            if name:
                try:
                    tags.append(reference.tag_key(name))
                except InvalidArgument as e:
                    raise ImageLoadError(f"invalid archive: invalid image name {name!r}: {e}") from None
            for prev in out:
                if prev.image_id == image_id:
                    prev.tags += [t for t in tags if t not in prev.tags]
                    break
            else:
                out.append(_Image(cdata, image_id, tags,
                                  [(_blob_path(l), l["digest"], d) for l, d in zip(layers, diff_ids)]))

    visit(index.get("manifests"), "")
    return out


def extract_to_staging(images, src_fd: int, **source) -> tuple[str, dict]:
    """Extracts the layer read from src_fd (plain, gzip or zstd) into a new staging dir of the
    store (diff/ and the uncompressed tar as blob), in one C++ pass that also hashes the raw
    bytes (res["digest"]) and the tar (res["diff_id"]). `source`: extract_layer's other source
    arguments (src_prefix, src_limit, src_timeout, progress). Returns (staging, extract_layer's
    result); nothing is published, and a failure leaves no staging behind."""
    from layerbox import _core

    staging = images.store.mkdtemp("layer")
    try:
        diff = os.path.join(staging, "diff")
        os.mkdir(diff, 0o755)
        bfd = os.open(os.path.join(staging, "blob"), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            return staging, _core.extract_layer(src_fd, diff, blob_fd=bfd, min_free=images.store.min_free(),
                                                **source)
        finally:
            os.close(bfd)
    except BaseException:
        _core.remove_tree(staging)
        raise


def write_layer_meta(staging: str, res: dict) -> dict:
    """The meta.json of a staged layer, from extract_layer's result."""
    meta = {"DiffID": res["diff_id"], "Size": res["unpacked_size"], "TarSize": res["size"],
            "Created": _util.now_rfc3339()}
    _util.write_atomic(os.path.join(staging, "meta.json"), _util.dump_json(meta))
    return meta


def _stage_layer(images, arc: _Archive, path: str, blob_digest: str | None, diff_id: str) -> str | None:
    """Extracts and checks one layer into a staging dir (returned), or only checks it when the
    store has it already (returns None). Raises ImageLoadError on any digest mismatch."""
    from layerbox import _core

    fd = arc.open(path)
    staging = None
    try:
        if images.has_layer(diff_id) and blob_digest:
            got = _core.sha256_fd(fd)
            if got != blob_digest:
                raise ImageLoadError(f"invalid archive: layer {path} has digest {got}, expected {blob_digest}")
            return None
        try:
            staging, res = extract_to_staging(images, fd)
        except KernelError as e:
            if e.errno == errno.ENOSPC:
                raise
            raise ImageLoadError(f"invalid archive: layer {path}: {e}") from None
        if blob_digest and res["digest"] != blob_digest:
            raise ImageLoadError(f"invalid archive: layer {path} has digest {res['digest']}, "
                                 f"expected {blob_digest}")
        if res["diff_id"] != diff_id:
            raise ImageLoadError(f"invalid archive: layer {path} has diff_id {res['diff_id']}, "
                                 f"expected {diff_id}")
        if images.has_layer(diff_id):  # checked now; the store's copy stays
            _core.remove_tree(staging)
            return None
        write_layer_meta(staging, res)
        return staging
    except BaseException:
        if staging and os.path.exists(staging):
            _core.remove_tree(staging)
        raise
    finally:
        os.close(fd)


def load_fd(images, fd: int, emit=None) -> list[str]:
    """Loads the archive read from fd. Returns docker's output lines ("Loaded image: ...").
    `emit` gets docker's "Loading layer" progress messages, one layer's line each (named by
    its chain ID, as docker's), before and after the layer is unpacked and checked."""
    from layerbox import _core

    store = images.store.ensure()
    staging = store.mkdtemp("load")
    layer_stagings: list[str] = []
    leased: list[str] = []
    try:
        arc_root = os.path.join(staging, "archive")
        os.mkdir(arc_root, 0o700)
        try:
            _core.extract_tree(fd, arc_root, "", whiteouts="none", min_free=store.min_free())
        except KernelError as e:
            if e.errno == errno.ENOSPC:
                raise  # not the archive's fault as such: the disk's message, as docker's
            raise ImageLoadError(f"invalid archive: {e}") from None
        fault("load-extracted")
        arc = _Archive(arc_root)
        if arc.read("manifest.json") is not None:
            loaded = _docker_images(arc)
        elif arc.read("index.json") is not None:
            loaded = _oci_images(arc)
        else:
            raise ImageLoadError("invalid archive: no manifest.json (docker) or index.json (OCI layout) in it")
        if not loaded:
            raise ImageLoadError("invalid archive: it holds no image")
        # Every layer is checked before anything is published.
        seen = set()
        existing = []
        for img in loaded:
            chain = ""
            for path, blob_digest, diff_id in img.layers:
                chain = diff_id if not chain else _sha256(f"{chain} {diff_id}".encode())
                if diff_id in seen:
                    continue
                seen.add(diff_id)
                # docker draws a line only for a layer it loads, not for one it has
                meter = None if images.has_layer(diff_id) else _load_meter(emit, arc, path, chain)
                s = _stage_layer(images, arc, path, blob_digest, diff_id)
                if meter is not None:
                    meter.current = meter.total
                    meter.done()
                if s:
                    layer_stagings.append(s)
                else:
                    existing.append((path, blob_digest, diff_id))
        # All checked: the layers the store has are leased until the images name them (one
        # nothing names yet, a crash's orphan or one an rmi is collecting, would go meanwhile);
        # one that went before it could be leased is staged after all.
        for path, blob_digest, diff_id in existing:
            leased.append(diff_id)
            while not images.lease_existing(diff_id):
                s = _stage_layer(images, arc, path, blob_digest, diff_id)
                if s:
                    layer_stagings.append(s)
                    break
        for s in layer_stagings:
            meta = _util.read_json(os.path.join(s, "meta.json"))
            images.publish_layer(s, meta)
        lines = []
        refs = images.refs()
        for img in loaded:
            for t in img.tags:
                old = refs.get(t)
                if old and old != img.image_id:
                    lines.append(f"The image {t} already exists, renaming the old one with ID {old} "
                                 "to empty string")
            parent = img.parent if img.parent and os.path.exists(store.image_record(img.parent)) else ""
            images.add_image_bytes(img.config, parent=parent, tags=tuple(img.tags))
            image_event(store, "load", img.image_id)
            lines += [f"Loaded image: {t}" for t in img.tags] or [f"Loaded image ID: {img.image_id}"]
        return lines
    except BaseException:
        if leased:
            images._lease_release(leased)
        raise
    finally:
        for s in layer_stagings:
            if os.path.exists(s):
                _core.remove_tree(s)
        _core.remove_tree(staging)


def _load_meter(emit, arc, path: str, chain_id: str):
    if emit is None:
        return None
    from layerbox.progress import Meter

    try:
        size = _member_size(arc, path)
    except (OSError, ImageLoadError):
        size = 0  # _stage_layer says what is wrong with it
    meter = Meter(emit, "Loading layer", chain_id[7:19], size)
    meter.done()  # 0 of the layer's bytes: its line appears
    return meter


def _member_size(arc, path: str) -> int:
    fd = arc.open(path)
    try:
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def load_file(images, path: str, emit=None) -> list[str]:
    if os.path.isdir(path):
        return load_dir(images, path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise ImageLoadError(f"open {path}: {(e.strerror or '').lower()}") from None
    try:
        return load_fd(images, fd, emit)
    finally:
        os.close(fd)


def load_dir(images, path: str) -> list[str]:
    """`load -i DIR`: an OCI image layout directory (what `save --format oci-dir` writes), or
    an unpacked docker archive. The directory is streamed as a tar (the `cp` helper's C++
    archiver, resolving nothing outside it) into the same checked load as an archive: so a
    symlink in it is a symlink in the archive, never followed out, and every digest is checked
    as for a tar."""
    from layerbox import _core

    def produce(w):
        _core.archive_path(path, "/", w, contents_only=True)

    r, t, err = _util.start_producer(produce)
    try:
        lines = load_fd(images, r)
    finally:
        os.close(r)
        t.join()
    if err and not isinstance(err[0], BrokenPipeError):
        raise err[0]
    return lines


def feed(data):
    """A pipe read end fed, from a thread, with `data` (bytes, or an iterable of byte chunks,
    or a file object): how the API hands caller data to the C++ readers. Returns (fd, thread);
    the caller closes fd and joins the thread."""
    r, w = os.pipe()

    def run():
        try:
            if hasattr(data, "read"):
                chunks = iter(lambda: data.read(1 << 20), b"")
            elif isinstance(data, (bytes, bytearray, memoryview)):
                chunks = [data]
            else:
                chunks = data
            for c in chunks:
                view = memoryview(c)
                while view:
                    n = os.write(w, view)
                    view = view[n:]
        except BrokenPipeError:
            pass  # the reader stopped (and reports why)
        finally:
            os.close(w)

    return r, _util.spawn(run)


def load_bytes(images, data) -> list[str]:
    """The SDK's images.load(data): bytes or an iterable of byte chunks. Returns image IDs."""
    r, t = feed(data)
    try:
        lines = load_fd(images, r)
    finally:
        os.close(r)
        t.join()
    ids = []
    for line in lines:
        if line.startswith("Loaded image ID: "):
            ids.append(line[len("Loaded image ID: "):])
        elif line.startswith("Loaded image: "):
            i = images.resolve(line[len("Loaded image: "):])
            if i not in ids:
                ids.append(i)
    return ids
