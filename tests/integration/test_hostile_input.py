"""Hostile input gets a clear error, docker's exit code, no traceback, and leaves the store as it
was: archives with JSON of the wrong shape, image references outside docker's grammar on every
command that takes one, a decompression bomb against a small store, and a full disk."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile

import pytest

from conftest import Cli
from layerbox.store import Store

pytestmark = pytest.mark.privileged

DIGEST = "sha256:" + "ab" * 32


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_of(files: dict) -> bytes:
    """A tar of {name: bytes}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1_000_000_000
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


LAYER = tar_of({"hello.txt": b"hello\n"})


def config_of(diff_ids, **extra) -> bytes:
    cfg = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
           "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cfg.update(extra)
    return json.dumps(cfg).encode()


def docker_archive(manifest, config: bytes | None = None, extra: dict | None = None) -> bytes:
    """A docker-archive with one layer, the config, and `manifest` as manifest.json (a value to
    serialize, or raw bytes)."""
    config = config if config is not None else config_of([sha(LAYER)])
    files = {"layer.tar": LAYER, f"{sha(config)[7:]}.json": config}
    files["manifest.json"] = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
    files.update(extra or {})
    return tar_of(files)


def good_item(**over):
    config = config_of([sha(LAYER)])
    item = {"Config": f"{sha(config)[7:]}.json", "RepoTags": ["hostile:ok"], "Layers": ["layer.tar"]}
    item.update(over)
    return item


def snapshot(root: str) -> dict:
    """What a command could leave behind in a store: every name under it but the lock and the
    leases of processes that are gone."""
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.relpath(os.path.join(d, n), root)
            if p in ("lock", "leases") or p.startswith("leases/"):
                continue
            out[p] = os.lstat(os.path.join(d, n)).st_size if n in files else "dir"
    return out


def assert_clean_failure(r, code: int, *needles: str) -> None:
    assert r.returncode == code, (r.returncode, r.out, r.err)
    assert "Traceback" not in r.err and "[Errno" not in r.err, r.err
    for n in needles:
        assert n in r.err, (n, r.err)


# -- JSON of the wrong shape ------------------------------------------------------------------

MALFORMED = {
    "manifest-not-objects": (["x", 1], "manifest.json: [0]: a string ('x') where an object was expected"),
    "layer-path-number": ([good_item(Layers=[123])], "manifest.json: [0].Layers[0]: a number (123)"),
    "repotags-string": ([good_item(RepoTags="abc")], "manifest.json: [0].RepoTags: a string ('abc')"),
    "config-missing": ([good_item(Config=None)], "manifest.json: [0].Config: null where a string"),
    "manifest-object": ({"Config": "x"}, "manifest.json: an object where an array was expected"),
    "not-json": (b"[{", "manifest.json is not valid JSON"),
    "too-deep": (b"[" * 100_000 + b"]" * 100_000, "manifest.json is nested too deeply"),
    "tag-digest": ([good_item(RepoTags=[f"x@{DIGEST}"])], "refusing to create a tag with a digest reference"),
    "tag-traversal": ([good_item(RepoTags=["../x"])], "invalid reference format"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_load_refuses_a_manifest_of_the_wrong_shape(cli, busybox_image, store_root, tmp_path, case):
    manifest, expected = MALFORMED[case]
    path = tmp_path / "a.tar"
    path.write_bytes(docker_archive(manifest))
    before = snapshot(store_root)
    r = cli("load", "-i", path)
    assert_clean_failure(r, 1, "Error: invalid archive: ", expected)
    assert snapshot(store_root) == before


@pytest.mark.parametrize("config,expected", [
    (config_of([sha(LAYER)], config={"Env": "PATH=/bin"}), ".json: config.Env: a string ('PATH=/bin') where an array"),
    (config_of([123]), ".json: rootfs.diff_ids[0]: a number (123) where a sha256 digest was expected"),
    (config_of(["sha256:../../etc"]), ".json: rootfs.diff_ids[0]: a string ('sha256:../../etc') where a sha256"),
    (json.dumps({"architecture": "amd64"}).encode(), ".json: rootfs: missing"),
    (b'"just a string"', "where an object was expected"),
])
def test_load_refuses_an_image_config_of_the_wrong_shape(cli, busybox_image, store_root, tmp_path, config,
                                                         expected):
    item = {"Config": f"{sha(config)[7:]}.json", "RepoTags": ["hostile:cfg"], "Layers": ["layer.tar"]}
    path = tmp_path / "a.tar"
    path.write_bytes(docker_archive([item], config=config))
    before = snapshot(store_root)
    r = cli("load", "-i", path)
    assert_clean_failure(r, 1, "Error: invalid archive: config ", expected)
    assert snapshot(store_root) == before


def oci_archive(index) -> bytes:
    return tar_of({"oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
                   "index.json": json.dumps(index).encode()})


@pytest.mark.parametrize("index,expected", [
    ({"manifests": "x"}, "index.json: manifests: a string ('x') where an array was expected"),
    ({"manifests": [{"digest": 5, "size": 1}]}, "index.json: manifests[0].digest: a number (5)"),
    ({"manifests": [{"digest": DIGEST, "size": "1"}]}, "manifests[0].size: a string ('1') where an integer"),
    ({"manifests": [{"digest": DIGEST, "size": 1, "annotations": {"a": 1}}]}, "annotations['a']: a number"),
])
def test_load_refuses_an_oci_index_of_the_wrong_shape(cli, busybox_image, store_root, tmp_path, index, expected):
    path = tmp_path / "oci.tar"
    path.write_bytes(oci_archive(index))
    before = snapshot(store_root)
    r = cli("load", "-i", path)
    assert_clean_failure(r, 1, "Error: invalid archive: ", expected)
    assert snapshot(store_root) == before


def test_a_well_formed_archive_still_loads(cli, tmp_path):
    path = tmp_path / "a.tar"
    path.write_bytes(docker_archive([good_item()]))
    r = cli("load", "-i", path)
    try:
        assert r.returncode == 0, r.err
        assert r.out == "Loaded image: hostile:ok\n"
    finally:
        cli("rmi", "hostile:ok")


def test_a_damaged_store_file_is_named_not_a_traceback(cli, busybox_image, store_root):
    refs = os.path.join(store_root, "refs.json")
    with open(refs) as f:
        good = f.read()
    try:
        with open(refs, "w") as f:
            f.write('{"busybox:latest": ["not", "an", "id"]}')
        r = cli("images")
        assert_clean_failure(r, 1, "Error: the store is damaged: ", "refs.json: ['busybox:latest']: an array")
    finally:
        with open(refs, "w") as f:
            f.write(good)


def test_ps_names_a_damaged_container_file(cli, busybox_image, store_root):
    """ps -a reads stopped containers' files in C++ (csrc/listing): a file that is not JSON is
    named, as the Python reader names it, and ps works again once it is gone."""
    cid = cli("create", "busybox", "true", check=True).out.strip()
    cli("ps", "-a", check=True)  # the running index exists: the stopped one is read by the core only
    path = os.path.join(store_root, "containers", cid, "config.json")
    with open(path) as f:
        good = f.read()
    try:
        for junk in ("{bad", "[1, 2]", ""):
            with open(path, "w") as f:
                f.write(junk)
            r = cli("ps", "-a")
            assert_clean_failure(r, 1, "Error: the store is damaged: ", f"{cid}/config.json: not a JSON object")
    finally:
        with open(path, "w") as f:
            f.write(good)
    r = cli("ps", "-a", "--no-trunc", "-q")
    assert r.returncode == 0 and cid in r.out, r.err
    cli("rm", cid)


# -- image references -------------------------------------------------------------------------

BAD_NAMES = ["../x", "x:../y", "x!y.com/z", "a/../b", "x:", ":y", "x y"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_tag_refuses_a_reference_outside_the_grammar(cli, busybox_image, store_root, name):
    before = snapshot(store_root)
    r = cli("tag", "busybox", name)
    assert_clean_failure(r, 1, f'Error: Error parsing reference: "{name}" is not a valid repository/tag: '
                               "invalid reference format")
    assert snapshot(store_root) == before


def test_tag_refuses_uppercase_a_digest_and_an_id(cli, busybox_image, store_root):
    before = snapshot(store_root)
    assert_clean_failure(cli("tag", "busybox", "Upper"), 1, "repository name (library/Upper) must be lowercase")
    assert_clean_failure(cli("tag", "busybox", "team/Upper:1"), 1, "must be lowercase")
    assert_clean_failure(cli("tag", "busybox", f"x@{DIGEST}"), 1,
                         "Error: refusing to create a tag with a digest reference")
    assert_clean_failure(cli("tag", "busybox", "ab" * 32), 1, "cannot specify 64-byte hexadecimal strings")
    assert_clean_failure(cli("tag", "busybox", "x@sha256:abc"), 1, "invalid reference format")
    assert_clean_failure(cli("tag", "busybox", "x@md5:" + "a" * 32), 1, "unsupported digest algorithm")
    assert snapshot(store_root) == before
    # what the grammar allows still works: a registry with a port, separators, an IPv6 host
    for good in ("localhost:5000/a__b/c-d.e:v1.0_x", "[::1]:5000/x:1", "Host.Example:1/x"):
        r = cli("tag", "busybox", good)
        assert r.returncode == 0, r.err
        cli("rmi", good)


def test_every_command_that_takes_a_reference_refuses_a_bad_one(cli, busybox_image, busybox_tar, store_root,
                                                                 tmp_path):
    cid = cli("create", "busybox", "true", check=True).out.strip()
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\n")
    try:
        before = snapshot(store_root)
        for name in ("../x", "x!y.com/z"):
            assert_clean_failure(cli("import", busybox_tar, name), 1, "invalid reference format")
            assert_clean_failure(cli("commit", cid, name), 1, "invalid reference format")
            assert_clean_failure(cli("pull", name), 1, "invalid reference format")
            assert_clean_failure(cli("push", name), 1, "invalid reference format")
            assert_clean_failure(cli("save", "-o", tmp_path / "s.tar", name), 1, "invalid reference format")
            assert_clean_failure(cli("build", "-t", name, ctx), 125,
                                 f'invalid argument "{name}" for "-t, --tag" flag: invalid reference format')
            assert_clean_failure(cli("run", "--rm", name), 125, "invalid reference format")
            assert_clean_failure(cli("create", name), 125, "invalid reference format")
        for cmd in (("import", busybox_tar), ("commit", cid)):
            assert_clean_failure(cli(*cmd, f"x@{DIGEST}"), 1, "refusing to create a tag with a digest reference")
        assert not (tmp_path / "s.tar").exists()
        assert snapshot(store_root) == before
    finally:
        cli("rm", "-f", cid)


# -- decompression bombs and a full disk --------------------------------------------------------

@contextlib.contextmanager
def tmpfs_store(path, size="64m"):
    """A store on a tmpfs of its own: a small disk to fill."""
    os.makedirs(path)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        Store(str(path)).ensure()  # the store's layout, as any first command makes it
        yield Cli(str(path))
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)
        os.rmdir(path)


def gzip_bomb(path, inflated: int, wrap=lambda t: t) -> int:
    """A gzip'd tar with one file of `inflated` zero bytes (a few hundred kB on disk); `wrap`
    may put the tar inside another one. Streams, never holding the inflated bytes."""
    class Zeros(io.RawIOBase):
        def __init__(self, n):
            self.left = n

        def readable(self):
            return True

        def readinto(self, b):
            k = min(len(b), self.left)
            b[:k] = bytes(k)
            self.left -= k
            return k

    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9) as gz:
        with tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as t:
            ti = tarfile.TarInfo("zeros")
            ti.size = inflated
            t.addfile(ti, io.BufferedReader(Zeros(inflated), 1 << 20))
    return os.path.getsize(path)


def free_bytes(path) -> int:
    st = os.statvfs(path)
    return st.f_bfree * st.f_frsize


def test_a_gzip_bomb_stops_at_the_reserve_and_leaves_nothing(tmp_path):
    bomb = tmp_path / "bomb.tar.gz"
    size = gzip_bomb(bomb, 512 << 20)  # 512 MiB of zeros in a store of 64 MiB
    assert size < 1 << 20
    # the same bomb as a docker-archive's only file: load inflates the archive itself
    with tmpfs_store(tmp_path / "store") as s:
        before = snapshot(s.root)
        env = {"LAYERBOX_MIN_FREE": "16M"}
        for args in (("import", bomb, "bomb:1"), ("load", "-i", bomb)):
            r = s(*args, env=env)
            assert_clean_failure(r, 1, "no space left on device", "the store keeps 16.8MB free",
                                 "LAYERBOX_MIN_FREE")
            assert snapshot(s.root) == before, args
            assert free_bytes(s.root) > 60 << 20  # everything written was removed again
        # as a percent of the file system
        r = s("import", bomb, "bomb:1", env={"LAYERBOX_MIN_FREE": "50%"})
        assert_clean_failure(r, 1, "no space left on device", "the store keeps 33.6MB free")
        assert snapshot(s.root) == before
        r = s("import", bomb, env={"LAYERBOX_MIN_FREE": "lots"})
        assert_clean_failure(r, 1, "invalid LAYERBOX_MIN_FREE 'lots'")


def test_a_full_disk_reads_as_docker_says_it(tmp_path, busybox_tar):
    bomb = tmp_path / "bomb.tar.gz"
    gzip_bomb(bomb, 256 << 20)
    with tmpfs_store(tmp_path / "store", size="32m") as s:
        before = snapshot(s.root)
        # no reserve: the kernel's ENOSPC, worded as docker's, and nothing left behind
        r = s("import", bomb, "bomb:1", env={"LAYERBOX_MIN_FREE": "0"})
        assert_clean_failure(r, 1, "no space left on device")
        assert snapshot(s.root) == before
        # a disk full of something else: even writing a tag fails cleanly
        assert s("import", busybox_tar, "bb:1").returncode == 0
        filler = os.path.join(s.root, "filler")
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(bytes(1 << 20))
                    f.flush()
            except OSError:
                pass
        try:
            r = s("tag", "bb:1", "bb:2")
            assert_clean_failure(r, 1, "no space left on device")
            assert "bb:2" not in s("images", "--format", "{{.Repository}}:{{.Tag}}").out
        finally:
            os.unlink(filler)


def test_a_pulled_bomb_stops_at_the_reserve_and_leaves_nothing(tmp_path, tmp_path_factory):
    """A registry serving a layer whose digests all check out, but which inflates past the
    store: the pull stops at the reserve, publishes nothing, and says why."""
    from test_registry import Registry

    bomb = tmp_path / "layer.tar.gz"
    gzip_bomb(bomb, 256 << 20)
    tar_hash = hashlib.sha256()
    with gzip.open(bomb, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            tar_hash.update(chunk)
    reg = Registry(str(tmp_path_factory.mktemp("bomb-registry")))
    try:
        layer = reg.put_blob("lb/bomb", bomb.read_bytes())
        config = config_of(["sha256:" + tar_hash.hexdigest()])
        cdesc = reg.put_blob("lb/bomb", config)
        mt = "application/vnd.docker.distribution.manifest.v2+json"
        reg.put_manifest("lb/bomb", "1", {
            "schemaVersion": 2, "mediaType": mt,
            "config": dict(cdesc, mediaType="application/vnd.docker.container.image.v1+json"),
            "layers": [dict(layer, mediaType="application/vnd.docker.image.rootfs.diff.tar.gzip")]}, mt)
        with tmpfs_store(tmp_path / "store") as s:
            before = snapshot(s.root)
            r = s("pull", f"{reg.host}/lb/bomb:1", env={"LAYERBOX_MIN_FREE": "16M"})
            assert_clean_failure(r, 1, "no space left on device", "the store keeps 16.8MB free")
            assert snapshot(s.root) == before
            assert free_bytes(s.root) > 60 << 20
    finally:
        reg.stop()
