"""Manifests as registries serve them, and what the store remembers about pushed blobs.

Media types, platform choice in an index, and the checks of a manifest against the config it
names come from here; the names of the OCI and docker media types are archive.py's, shared
with save/load.
"""

from __future__ import annotations

import os

from layerbox import _jsonfast, _util
from layerbox.image.archive import (MT_DOCKER_LIST, MT_DOCKER_MANIFEST, MT_OCI_CONFIG, MT_OCI_INDEX,
                                    MT_OCI_LAYER, MT_OCI_MANIFEST)
from layerbox.registry.transport import RegistryError

MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MT_DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
MT_OCI_LAYER_GZIP = MT_OCI_LAYER + "+gzip"
MT_OCI_LAYER_ZSTD = MT_OCI_LAYER + "+zstd"
MT_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
              "application/vnd.docker.distribution.manifest.v1+prettyjws")

ACCEPT = ", ".join((MT_OCI_INDEX, MT_DOCKER_LIST, MT_OCI_MANIFEST, MT_DOCKER_MANIFEST))
INDEXES = (MT_OCI_INDEX, MT_DOCKER_LIST)
MANIFESTS = (MT_OCI_MANIFEST, MT_DOCKER_MANIFEST)
CONFIGS = (MT_OCI_CONFIG, MT_DOCKER_CONFIG)
# Layers we can extract (extract_layer detects the compression itself from the bytes).
LAYERS = (MT_DOCKER_LAYER_GZIP, MT_OCI_LAYER, MT_OCI_LAYER_GZIP, MT_OCI_LAYER_ZSTD,
          "application/vnd.docker.image.rootfs.diff.tar")
GZIP_LAYERS = (MT_DOCKER_LAYER_GZIP, MT_OCI_LAYER_GZIP)

MAX_MANIFEST = 4 << 20  # containerd's limit


def media_type(doc: dict, header: str) -> str:
    """A manifest's media type: its own field, else the Content-Type it came with, else
    guessed from its shape."""
    mt = doc.get("mediaType") or header.split(";", 1)[0].strip()
    if mt in INDEXES or mt in MANIFESTS or mt in MT_SCHEMA1:
        return mt
    if "manifests" in doc:
        return MT_OCI_INDEX
    if "layers" in doc and "config" in doc:
        return MT_OCI_MANIFEST
    if doc.get("schemaVersion") == 1:
        return MT_SCHEMA1[0]
    return mt or "unknown"


def parse_platform(platform: str | None) -> tuple[str, str, str]:
    """"linux/amd64", "linux/arm64/v8", "arm64" -> (os, architecture, variant); the host's
    linux/amd64 by default, as docker does here."""
    if not platform:
        return "linux", "amd64", ""
    parts = platform.lower().split("/")
    if len(parts) == 1:
        parts = ["linux", parts[0]] if parts[0] not in ("linux", "windows") else [parts[0], "amd64"]
    os_, arch = parts[0], parts[1]
    variant = parts[2] if len(parts) > 2 else ""
    arch = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64"}.get(arch, arch)
    if arch == "arm64" and variant == "v8":
        variant = ""
    return os_, arch, variant


def choose(index: dict, platform: tuple[str, str, str]) -> dict:
    """The descriptor of the index entry for the platform: os and architecture must match;
    a variant asked for must match, otherwise an entry without a variant is preferred.
    Entries with no platform or an "unknown" one (build attestations) are never chosen."""
    os_, arch, variant = platform
    best = None
    for m in index.get("manifests") or []:
        p = m.get("platform") or {}
        if p.get("os") != os_ or p.get("architecture") != arch:
            continue
        v = p.get("variant") or ""
        if arch == "arm64" and v == "v8":
            v = ""
        if variant and v != variant:
            continue
        if m.get("mediaType") and m["mediaType"] not in MANIFESTS:
            continue
        if best is None or (not v and (best.get("platform") or {}).get("variant")):
            best = m
    if best is None:
        want = "/".join(x for x in platform if x)
        raise RegistryError(f"no matching manifest for {want} in the manifest list entries", 404,
                            "MANIFEST_UNKNOWN")
    return best


def check_image(manifest: dict, mt: str, config: dict, config_digest: str) -> list[tuple[dict, str]]:
    """(layer descriptor, diff_id) pairs, after checking that the manifest is an image whose
    layers and config agree."""
    cmt = (manifest.get("config") or {}).get("mediaType") or MT_OCI_CONFIG
    if cmt not in CONFIGS:
        raise RegistryError(f"unsupported media type {cmt}: not a container image", 400, "MANIFEST_INVALID")
    layers = manifest.get("layers") or []
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    if not isinstance(rootfs, dict):
        raise RegistryError(f"config {config_digest} has no rootfs", 400, "MANIFEST_INVALID")
    diff_ids = rootfs.get("diff_ids") or []
    if len(layers) != len(diff_ids):
        raise RegistryError(f"manifest has {len(layers)} layers but config {config_digest} has "
                            f"{len(diff_ids)} diff_ids", 400, "MANIFEST_INVALID")
    for layer in layers:
        lmt = layer.get("mediaType") or ""
        if lmt not in LAYERS:
            raise RegistryError(f"unsupported layer media type {lmt or '(none)'} in {mt}", 400, "MANIFEST_INVALID")
        check_descriptor(layer, "layer")
    return list(zip(layers, diff_ids))


def check_descriptor(desc: dict, what: str) -> None:
    d = desc.get("digest") or ""
    algo, _, hexpart = d.partition(":")
    if algo != "sha256" or len(hexpart) != 64 or not all(c in "0123456789abcdef" for c in hexpart):
        raise RegistryError(f"{what} descriptor has an unsupported digest {d!r}", 400, "DIGEST_INVALID")
    if not isinstance(desc.get("size"), int) or desc["size"] < 0:
        raise RegistryError(f"{what} {d} has no valid size", 400, "SIZE_INVALID")


# -- what the store knows about a layer's compressed forms --------------------------------------
#
# Docker's "v2 metadata": for each layer (by diff_id), the blobs it is known as in registries
# (digest, media type, size) and the repositories they were seen in. A pull records the blob
# it verified; a push records what it uploaded or found. A later push uses it to skip the
# compression and, when the blob is already in that repository (HEAD) or in another one of the
# same registry (a cross-repository mount), the upload. Kept in the layer's directory, so it
# goes when the layer goes; a cache: losing an update to a concurrent writer costs one
# compression, never a wrong push (every use of it is checked against the registry).

_META = "v2metadata.json"


def known_blobs(store, diff_id: str) -> list[dict]:
    try:
        doc = _util.read_json(os.path.join(store.layer_dir(diff_id), _META))
        return [e for e in doc if isinstance(e, dict) and e.get("Digest") and e.get("SourceRepository")]
    except (FileNotFoundError, NotADirectoryError, ValueError, TypeError):
        return []


def remember_blob(store, diff_id: str, digest: str, media_type: str, size: int, repository: str) -> None:
    """Records that layer diff_id is blob `digest` in `repository` ("host/path")."""
    path = os.path.join(store.layer_dir(diff_id), _META)
    with store.lock():
        if not os.path.isdir(os.path.dirname(path)):
            return  # the layer went meanwhile
        entries = [e for e in known_blobs(store, diff_id)
                   if not (e["Digest"] == digest and e["SourceRepository"] == repository)]
        entries.insert(0, {"Digest": digest, "MediaType": media_type, "Size": size,
                           "SourceRepository": repository})
        _util.write_atomic(path, _jsonfast.dumps(entries[:50]).encode())
