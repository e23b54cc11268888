"""The pure parts of the builder: the build context (sources, .dockerignore, links, checksums),
destinations, ports, durations, archives, and paths resolved in layer directories."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import stat
import tarfile

import pytest

from layerbox.builder.dispatch import go_duration, ordered_config, parse_port_spec
from layerbox.builder.context import (BuildContext, DigestCache, SourceError, clean_source,
                                    contains_wildcards, items_digest)
from layerbox.builder.files import archive_compression, looks_like_tar, normalize_dest, parse_chmod
from layerbox.errors import BuildError
from layerbox.store import Store


def make(root, files: dict):
    for rel, data in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(data)
    return str(root)


# -- sources ---------------------------------------------------------------------------------

@pytest.mark.parametrize("orig,clean", [
    ("a", "a"), ("./a", "a"), ("/a/b/", "a/b"), ("a/../b", "b"), (".", "."), ("/", "."),
    ("a/./b//c", "a/b/c"), ("dir/..", "."),
])
def test_clean_source(orig, clean):
    assert clean_source(orig) == clean


@pytest.mark.parametrize("orig", ["..", "../x", "a/../../x", "./../x"])
def test_sources_outside_the_context_are_refused(orig):
    with pytest.raises(SourceError, match=r"^forbidden path outside the build context: "):
        clean_source(orig)


@pytest.mark.parametrize("path,magic", [
    ("a*", True), ("a?", True), ("[ab]", True), ("plain", False), ("a\\*", False),
    ("dir/*.txt", True), ("a\\[b", False),
])
def test_contains_wildcards(path, magic):
    assert contains_wildcards(path) is magic


def test_sources_wildcards_dirs_and_exclusions(tmp_path):
    root = make(tmp_path, {"a1.txt": "1", "a2.txt": "2", "b.log": "b", "dir/x": "x", "dir/y.log": "y",
                           "skip/z": "z", ".dockerignore": "*.log\nskip\n!skip/keep\n"})
    os.makedirs(os.path.join(root, "skip"), exist_ok=True)
    with open(os.path.join(root, "skip", "keep"), "w") as f:
        f.write("k")
    ctx = BuildContext.from_dir(root)
    assert [s.rel for s in ctx.sources("a*.txt")] == ["a1.txt", "a2.txt"]
    assert [s.rel for s in ctx.sources("*")] == [".dockerignore", "a1.txt", "a2.txt", "dir"]
    d = ctx.sources("dir")[0]
    assert d.is_dir and [i.rel for i in d.items] == ["x", "y.log"]  # *.log: the top level only
    assert ctx.sources("nomatch*") == []
    with pytest.raises(SourceError, match="excluded by .dockerignore: stat b.log"):
        ctx.sources("b.log")
    with pytest.raises(SourceError, match="stat skip/z"):
        ctx.sources("skip/z")
    assert ctx.sources("skip/keep")[0].rel == "skip/keep"  # an exception brings it back
    root_src = ctx.sources(".")[0]
    assert root_src.is_dir and "skip/keep" in [i.rel for i in root_src.items]
    assert "skip/z" not in [i.rel for i in root_src.items]


def test_links_are_followed_inside_the_context_only(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host")
    root = make(tmp_path / "ctx", {"real/file": "inside", "etc/secret": "context's own"})
    os.symlink(str(outside / "secret"), os.path.join(root, "abs"))      # absolute: taken from the root
    os.symlink("../outside/secret", os.path.join(root, "rel"))          # climbs no higher than the root
    os.symlink("real", os.path.join(root, "dirlink"))
    os.symlink("/etc/secret", os.path.join(root, "to-etc"))
    ctx = BuildContext.from_dir(root)
    for name in ("abs", "rel"):
        with pytest.raises(SourceError):
            ctx.sources(name)
    assert ctx.sources("dirlink/file")[0].path == os.path.join(root, "real", "file")
    assert ctx.sources("to-etc")[0].path == os.path.join(root, "etc", "secret")
    d = ctx.sources("dirlink")[0]
    assert d.is_dir and d.orig == "dirlink" and [i.rel for i in d.items] == ["file"]


def test_tar_context_drops_only_an_ignored_dockerfile(tmp_path):
    root = make(tmp_path, {"Dockerfile": "FROM x", "a.log": "a", ".dockerignore": "*.log\nDockerfile\n"})
    ctx = BuildContext.from_tar_dir(root, "Dockerfile")
    assert ctx.sources("a.log")[0].rel == "a.log"  # the CLI sends a tar as it is
    with pytest.raises(SourceError):
        ctx.sources("Dockerfile")


def test_digest_follows_content_and_mode_not_time(tmp_path):
    root = make(tmp_path, {"d/f": "one", "d/g": "two"})
    digest = lambda: BuildContext.from_dir(root).sources("d")[0].digest  # noqa: E731
    first = digest()
    assert first.startswith("dir:")
    os.utime(os.path.join(root, "d", "f"), (1, 1))
    assert digest() == first
    os.chmod(os.path.join(root, "d", "f"), 0o600)
    assert digest() != first
    os.chmod(os.path.join(root, "d", "f"), 0o644)
    with open(os.path.join(root, "d", "g"), "w") as f:
        f.write("TWO")
    assert digest() != first
    os.rename(os.path.join(root, "d", "g"), os.path.join(root, "d", "h"))
    assert digest() != first


def test_digest_cache_reuses_what_it_remembered(tmp_path, monkeypatch):
    store = Store(str(tmp_path / "store"))
    root = make(tmp_path / "ctx", {"a": "one", "b": "two"})
    plain = lambda ctx: items_digest(ctx.sources(".")[0].items)  # noqa: E731

    # A file changed less than two seconds ago is hashed again next time, never remembered.
    ctx = BuildContext.from_dir(root)
    ctx.remember_digests(store)
    assert ctx.sources(".")[0].digest == "dir:" + plain(ctx)
    ctx.close()
    assert DigestCache(store, root).entries == {}

    monkeypatch.setattr(DigestCache, "SETTLE_NS", -1)
    ctx = BuildContext.from_dir(root)
    ctx.remember_digests(store)
    ctx.sources(".")[0].digest
    ctx.close()
    cache = DigestCache(store, root)
    assert sorted(cache.entries) == [os.path.join(root, "a"), os.path.join(root, "b")]
    # what is remembered is used while the file's stat is the same ...
    cache.entries[os.path.join(root, "a")][4] = "0" * 64
    items = BuildContext.from_dir(root).sources(".")[0].items
    assert items_digest(items, cache) != items_digest(items)
    # ... and not once it changed
    with open(os.path.join(root, "a"), "a") as f:
        f.write("more")
    items = BuildContext.from_dir(root).sources(".")[0].items
    assert items_digest(items, cache) == items_digest(items)


# -- destinations, flags, ports, durations ---------------------------------------------------------

@pytest.mark.parametrize("workdir,dest,out", [
    ("/", "/abs", "/abs"), ("/", "/abs/", "/abs/"), ("/app", "rel", "/app/rel"),
    ("/app", "rel/", "/app/rel/"), ("/app", ".", "/app"), ("/app", "./", "/app/"),
    ("/app", "../up", "/up"), ("/", "..", "/"),
])
def test_normalize_dest(workdir, dest, out):
    assert normalize_dest(workdir, dest) == out


def test_parse_chmod():
    assert parse_chmod("755") == 0o755 and parse_chmod("0640") == 0o640
    for bad in ("u+x", "8", "17777", "-1"):
        with pytest.raises(BuildError, match="invalid chmod parameter"):
            parse_chmod(bad)


@pytest.mark.parametrize("spec,ports", [
    ("80", ["80/tcp"]), ("80/udp", ["80/udp"]), ("53/UDP", ["53/udp"]),
    ("8000-8002", ["8000/tcp", "8001/tcp", "8002/tcp"]), ("1/sctp", ["1/sctp"]),
])
def test_port_specs(spec, ports):
    assert parse_port_spec(spec) == ports


@pytest.mark.parametrize("spec", ["http", "80/xyz", "9-1", "70000", "1.2.3.4:80:80"])
def test_bad_port_specs(spec):
    with pytest.raises(BuildError):
        parse_port_spec(spec)


@pytest.mark.parametrize("ns,text", [
    (0, "0s"), (30 * 10**9, "30s"), (300 * 10**6, "300ms"), (1500 * 10**6, "1.5s"),
    (5 * 60 * 10**9, "5m0s"), (3723 * 10**9, "1h2m3s"), (1500, "1.5\u00b5s"), (7, "7ns"),
])
def test_go_duration(ns, text):
    assert go_duration(ns) == text


def test_ordered_config_is_dockers_order_without_empty_fields():
    cfg = ordered_config({"Labels": {"a": "b"}, "Cmd": ["sh"], "Env": ["A=1"], "User": "",
                          "Volumes": {}, "Entrypoint": None, "WorkingDir": "/w", "Custom": 1})
    assert list(cfg) == ["Env", "Cmd", "WorkingDir", "Labels", "Custom"]


# -- archives (ADD) --------------------------------------------------------------------------

def _tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        ti = tarfile.TarInfo("x")
        ti.size = 1
        t.addfile(ti, io.BytesIO(b"x"))
    return buf.getvalue()


@pytest.mark.parametrize("data,kind", [
    (_tar(), "none"), (gzip.compress(_tar()), "gzip"), (bz2.compress(_tar()), "bzip2"),
    (lzma.compress(_tar()), "xz"), (gzip.compress(b"just text\n" * 100), None), (b"plain text", None),
    (b"\0" * 1024, None),  # an empty archive is copied, as docker does
    (b"\x28\xb5\x2f\xfd" + b"\0" * 600, None),  # zstd: docker's ADD copies it as it is
])
def test_archive_detection(tmp_path, data, kind):
    p = tmp_path / "f"
    p.write_bytes(data)
    assert archive_compression(str(p)) == kind


def test_looks_like_tar():
    t = _tar()
    assert looks_like_tar(t)
    assert not looks_like_tar(t[:100])
    broken = bytearray(t)
    broken[0] ^= 1
    assert not looks_like_tar(bytes(broken))


# -- paths in layer directories ----------------------------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="whiteouts and trusted xattrs need root")


@needs_root
def test_resolve_in_layers(tmp_path):
    from layerbox.builder import layered

    low, mid, top = (tmp_path / n for n in ("low", "mid", "top"))
    for d in (low, mid, top):
        d.mkdir()
    (low / "etc").mkdir()
    (low / "etc" / "passwd").write_text("root")
    (low / "gone").mkdir()
    (low / "opaque").mkdir()
    (low / "opaque" / "hidden").write_text("h")
    os.symlink("/etc", low / "app")
    os.symlink("../../../etc", low / "up")
    os.symlink("/missing/deeper", low / "dangling")
    os.symlink(str(tmp_path), low / "host")  # a link to a host path: taken inside the image
    (mid / "file").write_text("f")
    os.mknod(mid / "gone", stat.S_IFCHR, 0)  # a whiteout
    (top / "opaque").mkdir()
    os.setxattr(top / "opaque", "trusted.overlay.opaque", b"y")
    layers = [str(top), str(mid), str(low)]

    assert layered.resolve(layers, "/app/passwd") == ("/etc/passwd", "f")
    assert layered.resolve(layers, "/up/passwd") == ("/etc/passwd", "f")
    assert layered.resolve(layers, "/app") == ("/etc", "d")
    assert layered.resolve(layers, "/dangling/x") == ("/missing/deeper/x", None)
    assert layered.resolve(layers, "/gone") == ("/gone", None)
    assert layered.resolve(layers, "/opaque/hidden") == ("/opaque/hidden", None)
    assert layered.resolve(layers, "/opaque") == ("/opaque", "d")
    assert layered.resolve(layers, f"/host{tmp_path}/low") == (f"{tmp_path}{tmp_path}/low", None)
    assert layered.resolve(layers, "/a/../etc/./passwd") == ("/etc/passwd", "f")
    assert layered.resolve(layers, "/missing/..") == ("/", "d")
    assert layered.resolve(layers, "/etc/passwd/..") == ("/etc", "d")
    with pytest.raises(layered.NotADirectory):
        layered.resolve(layers, "/file/below")
    assert layered.missing_parents(layers, "/missing/deeper/x") == ["/missing", "/missing/deeper"]
    assert layered.missing_parents(layers, "/etc/new/x") == ["/etc/new"]
    os.symlink("loop", low / "loop")
    with pytest.raises(ValueError):
        layered.resolve(layers, "/loop/x")
