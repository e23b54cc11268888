"""pull: an image from a registry into the store.

1. The manifest, by tag or digest, its bytes checked against the digest asked for (or the
   Docker-Content-Digest the registry announces). An index or manifest list picks the entry
   for the platform (linux/amd64 by default), fetched by digest and checked the same way.
2. The config, checked against the manifest's config digest (which is the image ID); the
   manifest's layers and the config's diff_ids must pair up.
3. Each layer the store lacks (by diff_id) is read by `_core.extract_layer` straight from the
   socket (a pipe a thread fills for TLS or chunked bodies), which decompresses (gzip, zstd or
   plain, told by the bytes), writes the files and the uncompressed tar into a staging dir,
   and hashes both the raw bytes and the tar in the same pass: the raw digest must be the
   manifest's, the tar's the config's diff_id. Three at a time, as docker does.
4. Each layer is fetched under its Download (tmp/download-<hex>, flock()ed): another process
   pulling the same blob waits and then finds it published, and the raw bytes kept there let
   the next pull resume one that was cut off (Range). A layer that checked out is published
   at once (leased until the image names it); then the image, its tag and RepoDigest
   (name@manifest digest). A failed pull collects the layers it published.

Concurrent pulls and other commands on the same store: everything is staged in tmp/;
publishing a layer that another process published first keeps theirs; a layer that an `rmi`
or `prune` collected between our publishing it and our image naming it is fetched again.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading

from layerbox import _util, progress, shape
from layerbox.errors import ImageNotFound, KernelError, NotFound
from layerbox.image import reference
from layerbox.registry import manifest as mf
from layerbox.registry.transport import RegistryError, connection_error

WORKERS = 3  # layers moved at a time, as docker (pull and push)
_MAX_CONFIG = 8 << 20


class ManifestUnknown(RegistryError, ImageNotFound):
    """The registry has no such tag, digest or repository (docker's "manifest unknown")."""


def short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _manifest(reg, repo: str, want: str, scopes: tuple, shown: str) -> tuple[bytes, dict, str, str]:
    """(bytes, document, media type, digest) of manifest `want` (a tag or digest), checked."""
    try:
        resp = reg.request("GET", f"/v2/{repo}/manifests/{want}", scopes=scopes,
                           headers={"Accept": mf.ACCEPT})
    except RegistryError as e:
        if e.status_code == 404:
            raise ManifestUnknown(f"manifest for {shown} not found: {e}", 404, e.code) from None
        raise
    data = resp.read(mf.MAX_MANIFEST)
    got = sha256(data)
    expected = want if want.startswith("sha256:") else resp.header("docker-content-digest")
    if expected and expected != got:
        raise RegistryError(f"manifest verification failed for digest {expected}: the registry sent {got}",
                            400, "DIGEST_INVALID")
    doc = shape.parse(data, f"manifest {got} of {shown}", _invalid)
    if not isinstance(doc, dict):
        raise RegistryError(f"manifest {got} of {shown} is not a JSON object", 400, "MANIFEST_INVALID")
    mt = mf.media_type(doc, resp.header("content-type"))
    if mt in mf.MT_SCHEMA1:
        raise RegistryError(f"{shown}: Docker Image manifest version 2, schema 1 is not supported: "
                            "push the image again with a current tool", 400, "MANIFEST_INVALID")
    if mt not in mf.INDEXES and mt not in mf.MANIFESTS:
        raise RegistryError(f"{shown}: unsupported manifest media type {mt}", 400, "MANIFEST_INVALID")
    shape.check(doc, shape.INDEX if mt in mf.INDEXES else shape.MANIFEST, f"manifest {got} of {shown}",
                _invalid)
    return data, doc, mt, got


def _invalid(msg: str) -> RegistryError:
    """A registry's document of the wrong shape (see layerbox.shape)."""
    return RegistryError(msg, 400, "MANIFEST_INVALID")


def _blob_bytes(reg, repo: str, desc: dict, scopes: tuple, what: str, limit: int) -> bytes:
    mf.check_descriptor(desc, what)
    if desc["size"] > limit:
        raise RegistryError(f"{what} {desc['digest']} is too large ({desc['size']} bytes)", 400, "SIZE_INVALID")
    resp = reg.request("GET", f"/v2/{repo}/blobs/{desc['digest']}", scopes=scopes, follow=True)
    data = resp.read(limit)
    if sha256(data) != desc["digest"]:
        raise RegistryError(f"{what} verification failed for digest {desc['digest']}", 400, "DIGEST_INVALID")
    return data


def _pump(resp, w: int, limit: int, meter=None) -> None:
    """The response body into the pipe w, 1 MiB at a time through one reused buffer (the
    reads and writes release the GIL); more than `limit` bytes is an error. `meter`
    (progress.Meter) counts the bytes for the "Downloading" messages."""
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    total = 0
    while True:
        n = resp.readinto(view)
        if not n:
            return
        total += n
        if total > limit:
            raise RegistryError(f"blob from {resp.url} is larger than its descriptor says ({limit} bytes)",
                                400, "SIZE_INVALID")
        chunk = view[:n]
        while chunk:
            k = os.write(w, chunk)
            chunk = chunk[k:]
        if meter is not None:
            meter.add(n)


def _stream_blob(reg, repo: str, desc: dict, scopes: tuple, consume, meter=None, direct: bool = False,
                 have: int = 0):
    """consume(source) over the blob's bytes as they arrive; returns what consume returns.
    source: extract_layer's source arguments ({"src_fd": ...}; with `direct`, the socket
    itself when the response allows it: Response.body_source), else a pipe a thread fills.
    `have`: the blob's first bytes are at hand (a partial download): only the rest is asked
    for (Range), and source["resumed"] says whether the registry sent only that (206) or all.
    A network failure is raised as itself, not as the consumer's view of a short stream."""
    from layerbox._util import start_producer

    if have >= desc["size"] > 0:
        return consume({"src_fd": -1, "src_limit": 0, "resumed": True})  # all here already
    headers = {"Range": f"bytes={have}-"} if have else None
    resp = reg.request("GET", f"/v2/{repo}/blobs/{desc['digest']}", scopes=scopes, follow=True,
                       headers=headers, ok=(200, 206) if have else (200,))
    resumed = resp.status == 206
    if resumed and not resp.header("content-range").startswith(f"bytes {have}-"):
        resp.close()
        raise RegistryError(f"blob from {resp.url}: asked for bytes {have}-, got {resp.header('content-range')}",
                            400, "BLOB_INVALID")
    limit = desc["size"] - (have if resumed else 0)
    src = resp.body_source() if direct else None
    if src is not None:
        if src["src_limit"] + len(src["src_prefix"]) > limit:
            resp.abandon()
            raise RegistryError(f"blob from {resp.url} is larger than its descriptor says ({desc['size']} bytes)",
                                400, "SIZE_INVALID")
        if meter is not None:
            src["progress"] = lambda n: meter.add(n - meter.current)
        src["resumed"] = resumed
        ok = False
        try:
            result = consume(src)
            ok = True
            return result
        except KernelError as e:
            if e.errno in _NETWORK_ERRNOS:  # the socket: cut off, timed out
                raise connection_error("GET", resp.url, OSError(e.errno, os.strerror(e.errno))) from None
            raise
        finally:
            if ok:
                resp.close()
            else:
                resp.abandon()
    r, t, err = start_producer(lambda w: _pump(resp, w, limit, meter))
    result, failure = None, None
    try:
        result = consume({"src_fd": r, "resumed": resumed})
    except KernelError as e:
        failure = e
    finally:
        os.close(r)  # a consumer that stopped early makes the producer fail with EPIPE and end
        t.join()
        resp.close()
    if err and not isinstance(err[0], BrokenPipeError):
        if isinstance(err[0], RegistryError):
            raise err[0]
        raise connection_error("GET", resp.url, err[0]) from None  # cut off, timed out, ...
    if failure is not None:
        raise failure
    return result


# What extract_layer raises when the socket it reads fails (not the data): ECONNABORTED is
# a body that ended before its Content-Length.
_NETWORK_ERRNOS = (errno.ECONNABORTED, errno.ECONNRESET, errno.ETIMEDOUT, errno.EPIPE, errno.ENOTCONN)


class Download:
    """tmp/download-<hex of the blob digest>: one blob being fetched, flock()ed by the process
    fetching it. Another pull of the same blob waits for the lock, so each layer is fetched
    once however many processes pull it. `data` keeps the raw bytes as they arrive: a pull
    killed midway leaves it (unlocked), and the next pull of that blob goes on from there
    with a Range request. Not a staging dir of one process: the lock, not the name, says
    whether someone works on it (what `system check` and `system prune` ask)."""

    def __init__(self, store, digest: str):
        self.store = store
        self.path = os.path.join(store.tmp, "download-" + digest.split(":", 1)[-1])
        self.fd = -1
        self.resumed = False  # the last open_data found bytes to go on from

    def __enter__(self) -> "Download":
        import fcntl

        self.store.ensure()
        while True:
            try:
                os.mkdir(self.path, 0o700)
            except FileExistsError:
                pass
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # its last holder removed it between our mkdir and open
            fcntl.flock(fd, fcntl.LOCK_EX)  # another process fetching it: wait (the GIL is free)
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return self
            os.close(fd)  # removed (and maybe made again) while we waited: once more

    def open_data(self) -> tuple[int, int]:
        """(fd of `data`, the bytes it holds): what an interrupted fetch left, or a new file."""
        fd = os.open(os.path.join(self.path, "data"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        have = os.fstat(fd).st_size
        self.resumed = have > 0
        return fd, have

    def discard(self) -> None:
        """The bytes are no longer wanted (used, or not the blob's)."""
        try:
            os.unlink(os.path.join(self.path, "data"))
        except FileNotFoundError:
            pass

    def __exit__(self, exc_type, exc, tb) -> None:
        # Kept for resuming only when the fetch was cut off (the network, a signal); the
        # directory goes while we hold its lock (a waiter then sees it gone and makes it anew).
        keep = exc_type is not None and (issubclass(exc_type, (KeyboardInterrupt, SystemExit)) or (
            isinstance(exc, RegistryError) and exc.status_code == 500 and not exc.code))
        try:
            if not keep:
                self.discard()
                try:
                    os.rmdir(self.path)
                except OSError:
                    pass
        finally:
            os.close(self.fd)
            self.fd = -1


def _download_layer(images, reg, repo: str, desc: dict, diff_id: str, scopes: tuple,
                    emit=None, dl: Download | None = None) -> tuple[str, dict]:
    """Extracts one layer blob into a staging dir with both digests checked. Returns
    (staging, its meta). `emit` gets docker's "Downloading" progress messages. `dl` (held):
    the raw bytes are kept there as they come, and what an interrupted pull left is used."""
    from layerbox import _core
    from layerbox.image.archive import extract_to_staging, write_layer_meta

    holder: list = []
    tee, have = dl.open_data() if dl is not None else (-1, 0)

    def consume(src):
        if tee >= 0:
            if not src.pop("resumed"):  # the registry sent it all: start again
                os.ftruncate(tee, 0)
                src["tee_have"] = 0
            else:
                src["tee_have"] = have
            src["tee_fd"] = tee
        else:
            src.pop("resumed")
        staging, res = extract_to_staging(images, **src)
        holder.append(staging)
        return res

    bad = RegistryError(f"filesystem layer verification failed for digest {desc['digest']}", 400, "DIGEST_INVALID")
    try:
        meter = None
        if emit is not None:
            from layerbox.progress import Meter

            meter = Meter(emit, "Downloading", short(desc["digest"]), desc["size"])
        res = _stream_blob(reg, repo, desc, scopes, consume, meter, direct=True, have=have)
    except KernelError as e:
        if e.errno == 28:  # ENOSPC: the store's reserve (a bomb) or a full disk; says which
            raise
        if dl is not None:
            if dl.resumed:  # the kept bytes may be what is wrong: the caller fetches it all again
                raise bad from None
            dl.discard()
        # Corrupt data, or a blob that is not what the manifest says? Hash it again to tell.
        if _stream_blob(reg, repo, desc, scopes, lambda src: _core.sha256_fd(src["src_fd"])) != desc["digest"]:
            raise bad from None
        raise RegistryError(f"failed to register layer {short(desc['digest'])}: {e}", 400, "BLOB_INVALID") from None
    finally:
        if tee >= 0:
            os.close(tee)
    staging = holder[0]
    try:
        if dl is not None:
            dl.discard()  # checked or not, these bytes have served (and no syncfs need write them)
        if res["digest"] != desc["digest"]:
            raise bad
        if res["diff_id"] != diff_id:
            raise RegistryError(f"layer {desc['digest']} has diff_id {res['diff_id']}, but the image config "
                                f"says {diff_id}", 400, "DIGEST_INVALID")
        return staging, write_layer_meta(staging, res)
    except BaseException:
        _core.remove_tree(staging)
        raise


class Puller:
    """Pulls from one repository. `emit(event)` gets docker's progress messages; it may be
    called from several threads at once (the caller serializes)."""

    def __init__(self, images, reg, ref: reference.Reference, emit, platform=None):
        self.images = images
        self.reg = reg
        self.ref = ref
        self.repo = ref.path
        self.scopes = (f"repository:{ref.path}:pull",)
        self.emit = emit
        self.platform = mf.parse_platform(platform)
        self._lock = threading.Lock()
        self._published: list = []  # layers this pull published (each leased)

    def tags(self) -> list[str]:
        """The repository's tags (GET /v2/<name>/tags/list, following Link pages)."""
        out, path = [], f"/v2/{self.repo}/tags/list"
        while path:
            try:
                resp = self.reg.request("GET", path, scopes=self.scopes)
            except RegistryError as e:
                if e.status_code == 404:
                    raise ManifestUnknown(f"repository {self.ref.name} not found: {e}", 404, e.code) from None
                raise
            link = resp.header("link")
            doc = shape.load(resp.read(), {"tags": [str]}, f"tag list of {self.ref.name}", _invalid)
            out += doc.get("tags") or []
            path = link.split(";", 1)[0].strip().strip("<>") if link and 'rel="next"' in link else ""
        return sorted(set(out))

    def pull(self, want: str) -> tuple[str, str, bool]:
        """Pulls tag or digest `want`. Returns (image id, manifest digest to record, whether
        the store changed: a new image, or the tag/digest now names it)."""
        images, ref = self.images, self.ref
        shown = f"{ref.name}@{want}" if want.startswith("sha256:") else f"{ref.name}:{want}"
        _data, doc, mt, digest = _manifest(self.reg, self.repo, want, self.scopes, shown)
        # after the manifest, as dockerd: a registry that does not answer or lacks the tag
        # gives only the error
        self.emit({"status": f"Pulling from {self.repo}", "id": want})
        top_digest = digest
        if mt in mf.INDEXES:
            desc = mf.choose(doc, self.platform)
            mf.check_descriptor(desc, "manifest")
            _data, doc, mt, digest = _manifest(self.reg, self.repo, desc["digest"], self.scopes, shown)
            if mt not in mf.MANIFESTS:
                raise RegistryError(f"{shown}: an index entry for the platform is {mt}, not an image", 400,
                                    "MANIFEST_INVALID")
        cdesc = doc.get("config") or {}
        cdata = _blob_bytes(self.reg, self.repo, cdesc, self.scopes, "config", _MAX_CONFIG)
        image_id = cdesc["digest"]
        config = shape.load(cdata, shape.IMAGE_CONFIG, f"config {image_id}", _invalid)
        pairs = mf.check_image(doc, mt, config, image_id)
        key = f"{ref.name}:{want}" if not want.startswith("sha256:") else ""
        repo_digest = f"{ref.name}@{top_digest}"
        before = self._state(image_id, key, repo_digest)
        try:
            for attempt in range(3):
                self._layers(pairs, quiet=attempt > 0)
                try:
                    images.add_image_bytes(cdata, tags=(key,) if key else (), repo_digests=(repo_digest,))
                    break
                except NotFound:
                    if attempt == 2:  # an rmi in another process kept taking our layers
                        raise
        except BaseException:
            images._lease_release([d for _desc, d in pairs])  # a failed pull holds nothing
            if self._published:  # and leaves no layer it published for an image it did not make
                with images.store.lock():
                    images.gc_locked()
            raise
        self.emit({"status": f"Digest: {top_digest}"})
        return image_id, top_digest, before != (True, True)

    def _state(self, image_id: str, key: str, repo_digest: str) -> tuple[bool, bool]:
        """(the image is in the store, the tag or digest already names it)."""
        try:
            rec = self.images.record(image_id)
        except NotFound:
            return False, False
        if key:
            return True, self.images.refs().get(key) == image_id
        return True, repo_digest in (rec.get("RepoDigests") or [])

    def _layers(self, pairs: list, quiet: bool) -> None:
        images = self.images
        todo, seen = [], set()
        for desc, diff_id in pairs:
            if diff_id in seen:
                continue
            seen.add(diff_id)
            if images.lease_existing(diff_id):  # kept for the image that will name it
                if not quiet:
                    self.emit({"status": "Already exists", "progressDetail": {}, "id": short(desc["digest"])})
            else:
                todo.append((desc, diff_id))
        for desc, _ in todo:
            self.emit({"status": "Pulling fs layer", "progressDetail": {}, "id": short(desc["digest"])})
        def one(item):
            desc, diff_id = item
            sid = short(desc["digest"])
            with Download(images.store, desc["digest"]) as dl:
                if images.lease_existing(diff_id):  # another pull brought it while we waited
                    self.emit({"status": "Already exists", "progressDetail": {}, "id": sid})
                    return
                try:
                    staging, meta = _download_layer(images, self.reg, self.repo, desc, diff_id, self.scopes,
                                                    self.emit, dl)
                except RegistryError as e:
                    if not dl.resumed or e.status_code != 400:
                        raise
                    # What was kept is not the blob's start after all (a crash can leave a
                    # file's tail unwritten): once more from the first byte.
                    dl.discard()
                    staging, meta = _download_layer(images, self.reg, self.repo, desc, diff_id, self.scopes,
                                                    self.emit, dl)
                self.emit({"status": "Download complete", "progressDetail": {}, "id": sid})
                # The layer was unpacked while it came in (one pass): its extraction is done too.
                size = meta.get("Size", 0)
                self.emit(progress.message("Extracting", sid, size, size))
                try:
                    # Published now, leased until the image names it: a layer is checked on its
                    # own, and another pull waiting for this download finds it.
                    images.publish_layer(staging, meta)
                    with self._lock:
                        self._published.append(diff_id)
                finally:
                    if os.path.exists(staging):
                        from layerbox import _core

                        _core.remove_tree(staging)
                mf.remember_blob(images.store, diff_id, desc["digest"], desc.get("mediaType", ""),
                                 desc["size"], f"{self.reg.ep.domain}/{self.repo}")
            self.emit({"status": "Pull complete", "progressDetail": {}, "id": sid})

        _util.parallel(todo, one, WORKERS)
