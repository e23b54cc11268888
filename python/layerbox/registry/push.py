"""push: an image of the store to a registry, as docker pushes it.

The store keeps each layer as its uncompressed tar. For each layer (three at a time):
1. a gzip blob this layer is known as in the target repository (see manifest.known_blobs)
   and that the registry still has (HEAD): "Layer already exists", nothing compressed;
2. else one known in another repository of the same registry: a cross-repository mount
   (POST ...?mount=&from=): "Mounted from <repo>";
3. else `_core.gzip_fd` compresses the store's tar into a staging file in C++, hashing both
   sides (the tar must still hash to its diff_id); HEAD again (the same bytes may be there
   from another machine's push), else a monolithic upload (POST, then PUT ?digest= with the
   file as the body, sent with sendfile(2) on plain connections): "Pushed".
Then the config blob, then the manifest (Docker Image Manifest v2 schema 2 with gzip layers,
what `docker push` writes) under the tag; the image records name@digest in its RepoDigests.
"""

from __future__ import annotations

import os
import threading
import urllib.parse

from layerbox import _util
from layerbox.errors import ImageNotFound, NotFound
from layerbox.image import reference
from layerbox.registry import manifest as mf
from layerbox.registry.pull import WORKERS, sha256, short
from layerbox.registry.transport import RegistryError


class Pusher:
    """Pushes to one repository. `emit(event)` gets docker's progress messages (from several
    threads; the caller serializes)."""

    def __init__(self, images, reg, ref: reference.Reference, emit):
        self.images = images
        self.reg = reg
        self.ref = ref
        self.repo = ref.path
        self.here = f"{reg.ep.domain}/{ref.path}"
        self.scopes = (f"repository:{ref.path}:pull,push",)
        self.emit = emit
        self._lock = threading.Lock()

    def tags(self) -> list[str]:
        """The tags of this repository in the store (push -a)."""
        prefix = self.ref.name + ":"
        return sorted(k[len(prefix):] for k in self.images.refs() if k.startswith(prefix))

    def push(self, tag: str) -> tuple[str, int]:
        """Pushes name:tag. Returns (manifest digest, manifest size)."""
        images = self.images
        key = f"{self.ref.name}:{tag}"
        store = images.store.ensure()
        fds: dict = {}
        try:
            # Open everything we send under the shared lock: an rmi meanwhile cannot take
            # a blob from under us (an open file outlives its unlink).
            with store.lock(shared=True):
                image_id = images.refs().get(key)
                if not image_id:
                    raise ImageNotFound(f"An image does not exist locally with the tag: {self.ref.name}")
                layers = list(images.record(image_id)["Layers"])
                config = images.config_bytes(image_id)
                for d in layers:
                    if d not in fds:
                        try:
                            fds[d] = os.open(store.blob_path(d), os.O_RDONLY | os.O_CLOEXEC)
                        except FileNotFoundError:
                            raise NotFound(f"blob {d} of image {image_id} is missing from the store") from None
            descs = _util.parallel(layers, lambda d: self._layer(d, fds[d]), WORKERS)
        finally:
            for fd in fds.values():
                os.close(fd)
        cdesc = {"mediaType": mf.MT_DOCKER_CONFIG, "size": len(config), "digest": image_id}
        if not self._exists(image_id):
            self._upload(config, len(config), image_id)
        doc = {"schemaVersion": 2, "mediaType": mf.MT_DOCKER_MANIFEST, "config": cdesc, "layers": descs}
        data = _util.dump_json(doc)
        digest = sha256(data)
        resp = self.reg.request("PUT", f"/v2/{self.repo}/manifests/{urllib.parse.quote(tag)}", scopes=self.scopes,
                                headers={"Content-Type": mf.MT_DOCKER_MANIFEST}, body=data, ok=(200, 201))
        resp.read()
        said = resp.header("docker-content-digest")
        if said and said != digest:
            raise RegistryError(f"the registry stored manifest {said}, not the {digest} we sent", 500, "DIGEST_INVALID")
        images.add_repo_digest(image_id, f"{self.ref.name}@{digest}")
        self.emit({"status": f"{tag}: digest: {digest} size: {len(data)}"})
        self.emit({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": len(data)}})
        return digest, len(data)

    # -- one layer
    def _layer(self, diff_id: str, fd: int) -> dict:
        sid = short(diff_id)
        self.emit({"status": "Preparing", "progressDetail": {}, "id": sid})
        store = self.images.store
        domain = self.reg.ep.domain
        known = [e for e in mf.known_blobs(store, diff_id) if e.get("MediaType") in mf.GZIP_LAYERS]
        for e in known:
            if e["SourceRepository"] == self.here and self._exists(e["Digest"]):
                return self._done(diff_id, e["Digest"], e["Size"], "Layer already exists")
        for e in known:
            src = e["SourceRepository"]
            if src != self.here and src.startswith(domain + "/"):
                src_path = src[len(domain) + 1:]
                if self._mount(e["Digest"], src_path):
                    return self._done(diff_id, e["Digest"], e["Size"], f"Mounted from {src_path}")
        from layerbox import _core

        staging = store.mkdtemp("push")
        try:
            out = os.open(os.path.join(staging, "blob.gz"), os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                os.lseek(fd, 0, os.SEEK_SET)
                gz = _core.gzip_fd(fd, out, expected_diff_id=diff_id)
                if self._exists(gz["digest"]):
                    return self._done(diff_id, gz["digest"], gz["size"], "Layer already exists")
                from layerbox.progress import Meter

                meter = Meter(self.emit, "Pushing", sid, gz["size"])
                self._upload((out, gz["size"], meter), gz["size"], gz["digest"])
                meter.done()
                return self._done(diff_id, gz["digest"], gz["size"], "Pushed")
            finally:
                os.close(out)
        finally:
            _core.remove_tree(staging)

    def _done(self, diff_id: str, digest: str, size: int, status: str) -> dict:
        mf.remember_blob(self.images.store, diff_id, digest, mf.MT_DOCKER_LAYER_GZIP, size, self.here)
        self.emit({"status": status, "progressDetail": {}, "id": short(diff_id)})
        return {"mediaType": mf.MT_DOCKER_LAYER_GZIP, "size": size, "digest": digest}

    # -- blobs
    def _exists(self, digest: str) -> bool:
        try:
            self.reg.request("HEAD", f"/v2/{self.repo}/blobs/{digest}", scopes=self.scopes).read()
            return True
        except RegistryError as e:
            if e.status_code == 404:
                return False
            raise

    def _mount(self, digest: str, src: str) -> bool:
        """A cross-repository mount; False when the registry would rather have an upload."""
        q = urllib.parse.urlencode({"mount": digest, "from": src})
        try:
            resp = self.reg.request("POST", f"/v2/{self.repo}/blobs/uploads/?{q}",
                                    scopes=self.scopes + (f"repository:{src}:pull",), ok=(201, 202))
        except RegistryError as e:
            if e.status_code in (401, 403, 404):
                return False  # no pull right on the source, or it is gone there: upload instead
            raise
        resp.read()
        if resp.status == 201:
            return True
        loc = resp.header("location")
        if loc:  # the upload session it opened instead is not used
            try:
                self.reg.request("DELETE", loc, scopes=self.scopes, ok=(200, 202, 204)).read()
            except RegistryError:
                pass
        return False

    def _upload(self, body, size: int, digest: str) -> None:
        """A monolithic upload: POST opens a session, PUT ?digest= sends the bytes (bytes, or
        (fd, size) of a file) and closes it."""
        resp = self.reg.request("POST", f"/v2/{self.repo}/blobs/uploads/", scopes=self.scopes,
                                headers={"Content-Length": "0"}, body=b"", ok=(202,))
        resp.read()
        loc = resp.header("location")
        if not loc:
            raise RegistryError(f"{self.here}: the registry opened an upload without a Location", 500)
        loc = urllib.parse.urljoin(self.reg.url(f"/v2/{self.repo}/blobs/uploads/"), loc)
        url = loc + ("&" if "?" in loc else "?") + urllib.parse.urlencode({"digest": digest})
        self.reg.request("PUT", url, scopes=self.scopes, headers={"Content-Type": "application/octet-stream"},
                         body=body, ok=(201, 204)).read()

