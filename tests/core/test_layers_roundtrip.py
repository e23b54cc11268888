"""write_layer -> extract_layer gives back the same tree; digests, compression, determinism."""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import os
import shutil
import stat
import subprocess
import sys
import tarfile

import pytest

from layerbox import _core
from layerbox.errors import KernelError

pytestmark = pytest.mark.root  # round trips chown to other users

T0 = 1_650_000_000
EXEC_BYTES = os.urandom(70_000)


def _write(path, data=b"", mode=0o644, uid=0, gid=0, mtime=T0):
    with open(path, "wb") as fh:
        fh.write(data)
    os.chown(path, uid, gid)
    os.chmod(path, mode)
    os.utime(path, (mtime, mtime))


def build_tree(root, *, reverse=False):
    """A tree with every kind of entry a layer carries. `reverse` creates it in another order
    (other inode numbers, other readdir order) without changing what it is."""
    dirs = [root / "dir" / "sub", root / "sticky", root / ("d" * 60) / ("e" * 60) / ("f" * 60)]
    files = [
        lambda: _write(root / "dir" / "file", b"hello\n", 0o644, 1000, 1000),
        lambda: _write(root / "dir" / "sub" / "exec", EXEC_BYTES, 0o755),
        lambda: _write(root / "suid", b"#!/bin/sh\n", 0o4755),
        lambda: _write(root / "sgid", b"", 0o2711, 0, 50),
        lambda: _write(root / "bigid", b"pax uid", 0o600, 3_000_000, 3_000_001),
        lambda: _write(root / "empty"),
        lambda: _write(root / ("L" * 120), b"long name"),
        lambda: _write(root / ("d" * 60) / ("e" * 60) / ("f" * 60) / ("g" * 90), b"deep long"),
        lambda: _write(root / "caf\u00e9", b"utf-8 name"),
        lambda: _write(os.fsencode(str(root)) + b"/bad\xffname", b"not utf-8"),
        lambda: os.symlink("dir/file", root / "rel-link"),
        lambda: os.symlink("/" + "t" * 150, root / "long-link"),
        lambda: os.symlink("/etc/passwd", root / "abs-link"),
        lambda: os.mkfifo(root / "fifo", 0o640),
    ]
    attrs = [
        lambda: os.setxattr(root / "dir" / "file", "user.mime", b"text/plain"),
        lambda: os.setxattr(root / "dir", "user.dirattr", b"\x00binary\xff"),
    ]
    steps_links = [
        lambda: os.link(root / "dir" / "file", root / "hard1"),
        lambda: os.link(root / "dir" / "file", root / "dir" / "sub" / "hard2"),
    ]
    for p in (reversed(dirs) if reverse else dirs):
        os.makedirs(p)
    for s in (reversed(files) if reverse else files):
        s()
    for s in attrs:
        s()
    for s in steps_links:
        s()
    os.chmod(root / "sticky", 0o1777)
    os.chown(root / "rel-link", 7, 8, follow_symlinks=False)
    os.utime(root / "rel-link", (T0 + 5, T0 + 5), follow_symlinks=False)
    for dirpath, dirnames, _ in os.walk(root):
        for n in dirnames:
            os.utime(os.path.join(dirpath, n), (T0 + 1, T0 + 1))


def describe(root):
    """path -> (kind, mode, uid, gid, mtime s, size, content hash / target, user xattrs), plus the
    groups of paths sharing an inode."""
    out, inodes = {}, {}
    root = os.fsencode(str(root))
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            extra = None
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as fh:
                    extra = hashlib.sha256(fh.read()).hexdigest()
                inodes.setdefault(st.st_ino, []).append(rel)
            elif stat.S_ISLNK(st.st_mode):
                extra = os.readlink(p)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                extra = st.st_rdev
            try:
                xa = {k: os.getxattr(p, k, follow_symlinks=False)
                      for k in os.listxattr(p, follow_symlinks=False) if k.startswith("user.")}
            except OSError:
                xa = {}
            size = st.st_size if not stat.S_ISDIR(st.st_mode) else None
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                        int(st.st_mtime), size, extra, xa)
    links = sorted(sorted(v) for v in inodes.values() if len(v) > 1)
    return out, links


def write(src, out=None, **kw):
    if out is None:
        return _core.write_layer(str(src), -1, **kw)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        return _core.write_layer(str(src), fd, **kw)
    finally:
        os.close(fd)


def extract(path, dest, **kw):
    os.makedirs(dest, exist_ok=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        return _core.extract_layer(fd, str(dest), **kw)
    finally:
        os.close(fd)


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    build_tree(src)
    return src


def test_round_trip_identical_tree(tree, tmp_path):
    out = tmp_path / "layer.tar"
    w = write(tree, out)
    data = out.read_bytes()
    assert w["diff_id"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert w["digest"] == w["diff_id"]
    assert w["size"] == w["compressed_size"] == len(data)
    x = extract(out, tmp_path / "dest")
    assert x["diff_id"] == w["diff_id"] and x["digest"] == w["diff_id"]
    assert x["size"] == len(data) and x["compression"] == "none"
    assert x["entries"] == w["files"]
    want, want_links = describe(tree)
    got, got_links = describe(tmp_path / "dest")
    assert got == want
    assert got_links == want_links and want_links  # hard links share an inode again
    # Regular file bytes, counted once per inode? No: per entry with data (links carry none).
    sizes = sum(v[5] for v in want.values() if v[0] == stat.S_IFREG)
    assert x["unpacked_size"] <= sizes


def test_tar_is_standard_and_normalized(tree, tmp_path):
    out = tmp_path / "layer.tar"
    write(tree, out)
    with tarfile.open(out, encoding="utf-8", errors="surrogateescape") as tf:
        members = tf.getmembers()
    names = [m.name for m in members]
    assert "" not in names and "." not in names  # the top directory is not an entry
    by = {m.name: m for m in members}
    for m in members:
        assert m.uname == "" and m.gname == ""
        assert isinstance(m.mtime, int) or float(m.mtime).is_integer()
        assert not {"atime", "ctime", "mtime"} & set(m.pax_headers)
        assert not [k for k in m.pax_headers if k.startswith("LIBARCHIVE.")]
        if not (m.ischr() or m.isblk()):
            assert (m.devmajor, m.devminor) == (0, 0)
    assert by["bigid"].uid == 3_000_000 and by["bigid"].pax_headers["uid"] == "3000000"
    assert by["long-link"].linkname == "/" + "t" * 150
    assert by["dir/file"].pax_headers["SCHILY.xattr.user.mime"] == "text/plain"
    assert by["hard1"].islnk() or by["dir/file"].islnk()
    # first in walk order is the file: "dir/file" < "dir/sub/hard2" < "hard1"
    assert by["dir/file"].isreg() and by["hard1"].linkname == "dir/file"
    assert by["dir/sub/hard2"].linkname == "dir/file"
    # PAX headers only where needed
    assert by["empty"].pax_headers == {} and by["dir/sub/exec"].pax_headers == {}
    assert by["suid"].mode == 0o4755 and by["sgid"].mode == 0o2711 and by["sticky"].mode == 0o1777
    # directories come before their contents, names in byte order within a directory
    top = [n for n in names if "/" not in n]
    assert top == sorted(top, key=lambda s: s.encode("utf-8", "surrogateescape"))
    assert names.index("dir") < names.index("dir/file") < names.index("dir/sub")


def test_determinism_same_tree_same_bytes(tree, tmp_path):
    a = write(tree, tmp_path / "a.tar")
    os.utime(tree / "dir" / "file", (T0 + 999, T0))  # atime only: not in the tar
    b = write(tree, tmp_path / "b.tar")
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    assert a == b
    other = tmp_path / "other"
    other.mkdir()
    build_tree(other, reverse=True)  # other inodes, other creation order
    c = write(other)
    assert c["diff_id"] == a["diff_id"]
    os.utime(other / "empty", (T0, T0 + 1))
    assert write(other)["diff_id"] != a["diff_id"]


def test_gzip_output(tree, tmp_path):
    plain = write(tree, tmp_path / "p.tar")
    gz = write(tree, tmp_path / "l.tar.gz", gzip=True, level=9)
    data = (tmp_path / "l.tar.gz").read_bytes()
    assert gz["diff_id"] == plain["diff_id"]
    assert gz["digest"] == "sha256:" + hashlib.sha256(data).hexdigest() != gz["diff_id"]
    assert gz["compressed_size"] == len(data) and gz["size"] == plain["size"]
    assert gzip.decompress(data) == (tmp_path / "p.tar").read_bytes()
    assert write(tree, gzip=True, level=9) == gz  # deterministic, hash-only too


@pytest.mark.parametrize("level", [1, 6, 9])
def test_gzip_fd_is_standard_gzip_with_a_fixed_header(tmp_path, level):
    """push's compressor (igzip): any gzip reader reads it, multi-chunk input, same bytes twice."""
    src = tmp_path / "in"
    src.write_bytes(b"layer text " * 300_000 + os.urandom(3 << 20))
    outs = []
    for n in range(2):
        dst = tmp_path / f"out{n}.gz"
        with open(src, "rb") as i, open(dst, "wb") as o:
            r = _core.gzip_fd(i.fileno(), o.fileno(), level)
        data = dst.read_bytes()
        assert data[:10] == bytes.fromhex("1f8b0800000000000003")  # mtime 0, OS unix
        assert r["digest"] == "sha256:" + hashlib.sha256(data).hexdigest() and r["size"] == len(data)
        assert r["diff_id"] == "sha256:" + hashlib.sha256(src.read_bytes()).hexdigest()
        assert gzip.decompress(data) == src.read_bytes()
        assert subprocess.run(["gzip", "-t", str(dst)]).returncode == 0
        outs.append(data)
    assert outs[0] == outs[1]


def test_gzip_and_zstd_inputs_give_the_plain_diff_id(tree, tmp_path):
    write(tree, tmp_path / "p.tar")
    raw = (tmp_path / "p.tar").read_bytes()
    plain = extract(tmp_path / "p.tar", tmp_path / "d0")
    (tmp_path / "l.gz").write_bytes(gzip.compress(raw))
    g = extract(tmp_path / "l.gz", tmp_path / "d1", blob_fd=-1)
    assert g["diff_id"] == plain["diff_id"] and g["compression"] == "gzip"
    assert g["digest"] == "sha256:" + hashlib.sha256((tmp_path / "l.gz").read_bytes()).hexdigest()
    assert g["compressed_size"] == (tmp_path / "l.gz").stat().st_size and g["size"] == len(raw)
    assert describe(tmp_path / "d1") == describe(tmp_path / "d0")
    # multi-member gzip (pigz, concatenated streams)
    (tmp_path / "m.gz").write_bytes(gzip.compress(raw[:10_000]) + gzip.compress(raw[10_000:]))
    assert extract(tmp_path / "m.gz", tmp_path / "d2")["diff_id"] == plain["diff_id"]


@pytest.mark.skipif(shutil.which("zstd") is None, reason="the zstd command is not installed")
def test_zstd_input(tree, tmp_path):
    write(tree, tmp_path / "p.tar")
    plain = extract(tmp_path / "p.tar", tmp_path / "d0")
    subprocess.run(["zstd", "-q", "-19", str(tmp_path / "p.tar"), "-o", str(tmp_path / "p.tar.zst")], check=True)
    z = extract(tmp_path / "p.tar.zst", tmp_path / "d1")
    assert z["diff_id"] == plain["diff_id"] and z["compression"] == "zstd"
    assert z["digest"] == "sha256:" + hashlib.sha256((tmp_path / "p.tar.zst").read_bytes()).hexdigest()
    assert describe(tmp_path / "d1") == describe(tmp_path / "d0")
    data = (tmp_path / "p.tar.zst").read_bytes()
    (tmp_path / "cut.zst").write_bytes(data[: len(data) - 10])
    with pytest.raises(KernelError) as ei:
        extract(tmp_path / "cut.zst", tmp_path / "d2")
    assert ei.value.errno in (errno.EIO, errno.EINVAL)


def test_blob_fd_receives_the_uncompressed_tar(tree, tmp_path):
    write(tree, tmp_path / "p.tar")
    raw = (tmp_path / "p.tar").read_bytes() + b"\0" * 5000  # trailing padding is part of the stream
    (tmp_path / "l.gz").write_bytes(gzip.compress(raw))
    fd = os.open(tmp_path / "blob", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        r = extract(tmp_path / "l.gz", tmp_path / "d", blob_fd=fd)
    finally:
        os.close(fd)
    assert (tmp_path / "blob").read_bytes() == raw
    assert r["diff_id"] == "sha256:" + hashlib.sha256(raw).hexdigest() and r["size"] == len(raw)


def test_exclude(tree, tmp_path):
    write(tree, tmp_path / "l.tar", exclude=["dir/sub", "/suid", "./fifo"])
    with tarfile.open(tmp_path / "l.tar") as tf:
        names = tf.getnames()
    assert "dir" in names and "dir/file" in names
    assert not [n for n in names if n.startswith("dir/sub") or n in ("suid", "fifo")]


def test_other_mounts_and_sockets_are_skipped(tmp_path):
    import socket

    src = tmp_path / "src"
    src.mkdir()
    _write(src / "a", b"a")
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(src / "sock"))
        r = write(src, tmp_path / "l.tar")
    finally:
        s.close()
    with tarfile.open(tmp_path / "l.tar") as tf:
        assert tf.getnames() == ["a"]
    assert r["files"] == 1
    # A mount below the tree (here /proc bind-mounted in a private namespace) is not entered.
    script = f"""set -e
mkdir -p {src}/mnt
mount --bind /proc {src}/mnt
{sys.executable} -c 'from layerbox import _core; print(_core.write_layer("{src}", -1)["files"])'
"""
    res = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True)
    if res.returncode != 0:
        if os.environ.get("LAYERBOX_MUST_WORK") == "1":
            pytest.fail(f"mount namespace: {res.stderr}")
        pytest.skip(f"cannot bind-mount in a private mount namespace: {res.stderr.strip()}")
    assert res.stdout.strip() == "1"  # "a" only: the mount point and what is below it are skipped


def test_output_inside_the_tree_is_not_archived(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _write(src / "a", b"a")
    (src / "mirror").mkdir()
    r = write(src, src / "out.tar", mirror_dir=str(src / "mirror"))
    with tarfile.open(src / "out.tar") as tf:
        assert tf.getnames() == ["a"]
    assert sorted(os.listdir(src / "mirror")) == ["a"]
    assert r["files"] == 1
