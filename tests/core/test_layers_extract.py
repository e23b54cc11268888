"""Extraction semantics: whiteout modes, replacement rules, metadata, digests helpers."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import tarfile

import pytest

from layerbox import _core
from layerbox.errors import KernelError

pytestmark = pytest.mark.root  # extraction chowns and makes device nodes

T0 = 1_600_000_000


def _m(name, type_=tarfile.REGTYPE, data=b"", **kw):
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.size = len(data) if type_ == tarfile.REGTYPE else 0
    ti.mode = kw.pop("mode", 0o755 if type_ == tarfile.DIRTYPE else 0o644)
    ti.mtime = kw.pop("mtime", T0)
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti, data


def tar(*members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in members:
            tf.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    return buf.getvalue()


def f(name, data=b"x", **kw):
    return _m(name, tarfile.REGTYPE, data, **kw)


def d(name, **kw):
    return _m(name, tarfile.DIRTYPE, **kw)


def extract(tmp_path, dest, data, **kw):
    p = tmp_path / f"in-{len(os.listdir(tmp_path))}.tar"
    p.write_bytes(data)
    fd = os.open(p, os.O_RDONLY)
    try:
        return _core.extract_layer(fd, str(dest), **kw)
    finally:
        os.close(fd)


@pytest.fixture
def dest(tmp_path):
    p = tmp_path / "dest"
    p.mkdir()
    return p


# --- whiteouts ----------------------------------------------------------------------------------


def test_overlay_whiteouts(tmp_path, dest):
    data = tar(d("a"), f("a/.wh.gone", b"", uid=12, gid=34), f(".wh.top", b""), d("o"),
               f("o/.wh..wh..opq", b""), f("o/kept", b"k"), f("a/.wh..wh.plnk", b""))
    r = extract(tmp_path, dest, data)
    st = os.lstat(dest / "a" / "gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0 and (st.st_uid, st.st_gid) == (12, 34)
    assert stat.S_ISCHR(os.lstat(dest / "top").st_mode)
    assert os.getxattr(dest / "o", "trusted.overlay.opaque") == b"y"
    assert (dest / "o" / "kept").read_bytes() == b"k"
    assert sorted(os.listdir(dest / "a")) == ["gone"]  # no .wh.* files, no plnk
    assert r["entries"] == 7


def test_overlay_opaque_for_a_missing_parent_creates_it(tmp_path, dest):
    extract(tmp_path, dest, tar(f("x/y/.wh..wh..opq", b"")))
    assert os.getxattr(dest / "x" / "y", "trusted.overlay.opaque") == b"y"


def test_apply_whiteouts(tmp_path, dest):
    (dest / "a").mkdir()
    (dest / "a" / "gone").write_bytes(b"old")
    (dest / "a" / "stays").write_bytes(b"old")
    (dest / "dir" / "deep").mkdir(parents=True)
    (dest / "o" / "sub").mkdir(parents=True)
    (dest / "o" / "lowerfile").write_bytes(b"below")
    (dest / "o" / "sub" / "lowerfile").write_bytes(b"below")
    data = tar(f("a/.wh.gone", b""), f(".wh.dir", b""), f("a/.wh.never-existed", b""),
               d("o"), d("o/sub"), f("o/sub/new", b"n"), f("o/.wh..wh..opq", b""), f("o/late", b"l"),
               f("missing/.wh.x", b""))
    extract(tmp_path, dest, data, whiteouts="apply")
    assert sorted(os.listdir(dest / "a")) == ["stays"]
    assert not (dest / "dir").exists()
    # opaque: what the layers below had goes, what this layer wrote stays (docker's rule)
    assert sorted(os.listdir(dest / "o")) == ["late", "sub"]
    assert sorted(os.listdir(dest / "o" / "sub")) == ["new"]
    assert not (dest / "missing").exists()


def test_apply_mode_overlay_whiteout_device_deletes(tmp_path, dest):
    (dest / "x").write_bytes(b"old")
    extract(tmp_path, dest, tar(_m("x", tarfile.CHRTYPE, devmajor=0, devminor=0)), whiteouts="apply")
    assert not os.path.lexists(dest / "x")


def test_no_whiteouts(tmp_path, dest):
    extract(tmp_path, dest, tar(f(".wh.file", b"plain"), f(".wh..wh..opq", b"")), whiteouts="none")
    assert (dest / ".wh.file").read_bytes() == b"plain"
    assert (dest / ".wh..wh..opq").exists()


def test_bad_whiteout_mode(tmp_path, dest):
    with pytest.raises(KernelError) as ei:
        extract(tmp_path, dest, tar(f("a")), whiteouts="aufs")
    assert ei.value.errno == errno.EINVAL


# --- replacement ----------------------------------------------------------------------------------


def test_later_entries_win(tmp_path, dest):
    data = tar(f("x", b"first"), f("x", b"second"),
               d("dir"), f("dir/inner", b"i"), f("dir", b"file now"),
               f("was-file", b"f"), d("was-file"), f("was-file/in", b"ok"),
               d("keep", mode=0o700), f("keep/a", b"a"), d("keep", mode=0o750, mtime=T0 + 7))
    extract(tmp_path, dest, data)
    assert (dest / "x").read_bytes() == b"second"
    assert (dest / "dir").read_bytes() == b"file now"
    assert (dest / "was-file" / "in").read_bytes() == b"ok"
    # a dir over a dir keeps its contents and takes the new metadata
    assert (dest / "keep" / "a").read_bytes() == b"a"
    st = os.lstat(dest / "keep")
    assert stat.S_IMODE(st.st_mode) == 0o750 and int(st.st_mtime) == T0 + 7


def test_metadata(tmp_path, dest):
    fi, data = f("dir/suid", b"#!", mode=0o4755, uid=1001, gid=1002)
    fi.pax_headers = {"mtime": f"{T0}.123456789", "atime": f"{T0 - 100}.5",
                      "SCHILY.xattr.user.a": "1"}
    li, _ = _m("dir/link", tarfile.SYMTYPE, linkname="suid", uid=7, gid=8, mtime=T0 + 3)
    di, _ = d("dir", mode=0o2775, uid=5, gid=6, mtime=T0 + 9)
    extract(tmp_path, dest, tar((di, b""), (fi, data), (li, b""), f("dir/later", b"changes dir mtime")))
    st = os.lstat(dest / "dir" / "suid")
    assert stat.S_IMODE(st.st_mode) == 0o4755 and (st.st_uid, st.st_gid) == (1001, 1002)
    assert st.st_mtime_ns == T0 * 10**9 + 123456789
    assert st.st_atime_ns == (T0 - 100) * 10**9 + 500_000_000
    assert os.getxattr(dest / "dir" / "suid", "user.a") == b"1"
    lst = os.lstat(dest / "dir" / "link")
    assert (lst.st_uid, lst.st_gid) == (7, 8) and int(lst.st_mtime) == T0 + 3
    dst = os.lstat(dest / "dir")
    # directory times are set after their contents were written
    assert stat.S_IMODE(dst.st_mode) == 0o2775 and (dst.st_uid, dst.st_gid) == (5, 6)
    assert int(dst.st_mtime) == T0 + 9


def test_sparse_gnu_entry(tmp_path, dest):
    src = tmp_path / "sparse"
    with open(src, "wb") as fh:
        fh.truncate(8 << 20)
        fh.seek(4 << 20)
        fh.write(b"middle")
    out = tmp_path / "sparse.tar"
    import subprocess

    subprocess.run(["tar", "--sparse", "--format=gnu", "-C", str(tmp_path), "-cf", str(out), "sparse"], check=True)
    r = extract(tmp_path, dest, out.read_bytes())
    got = dest / "sparse"
    assert got.stat().st_size == 8 << 20
    with open(got, "rb") as fh:
        fh.seek(4 << 20)
        assert fh.read(6) == b"middle"
    assert os.stat(got).st_blocks * 512 < (1 << 20)  # holes stayed holes
    assert r["unpacked_size"] == 8 << 20


def test_empty_input_and_end_blocks_only(tmp_path, dest):
    empty = extract(tmp_path, dest, b"")
    assert empty["diff_id"] == "sha256:" + hashlib.sha256(b"").hexdigest() and empty["entries"] == 0
    r = extract(tmp_path, dest, b"\0" * 10240)
    assert r["size"] == 10240 and r["diff_id"] == "sha256:" + hashlib.sha256(b"\0" * 10240).hexdigest()


def test_global_pax_header_and_gnu_long_names(tmp_path, dest):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        ti, data = f("n" * 200 + "/file", b"gnu long")
        tf.addfile(ti, io.BytesIO(data))
        li, _ = _m("l", tarfile.SYMTYPE, linkname="t" * 300)
        tf.addfile(li)
    extract(tmp_path, dest, buf.getvalue())
    assert (dest / ("n" * 200) / "file").read_bytes() == b"gnu long"
    assert os.readlink(dest / "l") == "t" * 300
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "g"}) as tf:
        ti, data = f("p", b"pax")
        tf.addfile(ti, io.BytesIO(data))
    extract(tmp_path, dest, buf.getvalue())
    assert (dest / "p").read_bytes() == b"pax"


# --- digests --------------------------------------------------------------------------------------


def test_sha256_fd(tmp_path):
    p = tmp_path / "blob"
    data = os.urandom(3 << 20) + b"tail"
    p.write_bytes(data)
    fd = os.open(p, os.O_RDONLY)
    try:
        os.lseek(fd, 10, os.SEEK_SET)  # from the current offset
        assert _core.sha256_fd(fd) == "sha256:" + hashlib.sha256(data[10:]).hexdigest()
    finally:
        os.close(fd)


def test_copy_verify(tmp_path):
    data = os.urandom(2 << 20)
    (tmp_path / "src").write_bytes(data)
    want = "sha256:" + hashlib.sha256(data).hexdigest()

    def run(expected):
        s = os.open(tmp_path / "src", os.O_RDONLY)
        t = os.open(tmp_path / "dst", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            return _core.copy_verify(s, t, expected)
        finally:
            os.close(s)
            os.close(t)

    assert run("") == {"digest": want, "size": len(data)}
    assert run(want)["digest"] == want
    assert (tmp_path / "dst").read_bytes() == data
    wrong = "sha256:" + "0" * 64
    with pytest.raises(KernelError) as ei:
        run(wrong)
    assert ei.value.errno == errno.EBADMSG
    assert wrong in str(ei.value) and want in str(ei.value)
    with pytest.raises(KernelError) as ei:
        run("md5:abc")
    assert ei.value.errno == errno.EINVAL
