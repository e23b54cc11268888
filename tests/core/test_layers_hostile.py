"""Hostile layer archives: nothing an archive says may write outside the destination.

Every case extracts into tmp_path/dest with a VICTIM directory beside it (tmp_path/victim) and
checks afterwards that the victim and everything else in tmp_path outside dest are exactly as
they were (same listing, contents, modes and mtimes), that nothing appeared at the host paths
the archive named, and that the extraction either failed with a KernelError or kept the entry
inside dest.
"""

from __future__ import annotations

import errno
import gzip
import io
import os
import stat
import tarfile
import uuid

import pytest

from layerbox import _core
from layerbox.errors import KernelError

pytestmark = pytest.mark.root  # extraction chowns and makes device nodes


# --- helpers ------------------------------------------------------------------------------------


def _info(name, type_=tarfile.REGTYPE, data=b"", **kw):
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.size = len(data) if type_ == tarfile.REGTYPE else 0
    ti.mode = kw.pop("mode", 0o755 if type_ == tarfile.DIRTYPE else 0o644)
    ti.mtime = kw.pop("mtime", 1_600_000_000)
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti, data


def make_tar(*members, fmt=tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for ti, data in members:
            tf.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    return buf.getvalue()


def f(name, data=b"x", **kw):
    return _info(name, tarfile.REGTYPE, data, **kw)


def d(name, **kw):
    return _info(name, tarfile.DIRTYPE, **kw)


def sym(name, target, **kw):
    return _info(name, tarfile.SYMTYPE, linkname=target, **kw)


def hard(name, target, **kw):
    return _info(name, tarfile.LNKTYPE, linkname=target, **kw)


def dev(name, kind, major, minor):
    return _info(name, kind, devmajor=major, devminor=minor, mode=0o600)


def snapshot(top, *skip):
    """Everything under `top` but the `skip` subtrees: type, mode, mtime, owner, content, target."""
    skip = {os.path.abspath(s) for s in skip}
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [n for n in dirnames if os.path.abspath(os.path.join(dirpath, n)) not in skip]
        for name in dirnames + filenames + ["."]:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            entry = (stat.S_IFMT(st.st_mode), st.st_mode, st.st_mtime_ns, st.st_uid, st.st_nlink)
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as fh:
                    entry += (fh.read(),)
            elif stat.S_ISLNK(st.st_mode):
                entry += (os.readlink(p),)
            out[os.path.relpath(p, top)] = entry
    return out


def inside(path, dest):
    real = os.path.realpath(path) if not os.path.islink(path) else os.path.realpath(os.path.dirname(path))
    return real == os.path.realpath(dest) or real.startswith(os.path.realpath(dest) + os.sep)


class Env:
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.dest = tmp_path / "dest"
        self.dest.mkdir()
        self.victim = tmp_path / "victim"
        self.victim.mkdir()
        (self.victim / "file").write_bytes(b"precious")
        (self.victim / "sub").mkdir()
        (self.victim / "sub" / "deep").write_bytes(b"also precious")
        os.utime(self.victim / "file", ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))
        # A host path an archive might name absolutely; it must never appear.
        self.host_name = f"lb-victim-{uuid.uuid4().hex[:12]}"
        self.inputs = tmp_path / "inputs"
        self.inputs.mkdir()
        self.before = None

    def arm(self):
        self.before = snapshot(self.tmp, self.dest, self.inputs)

    def extract(self, data: bytes, **kw):
        p = self.inputs / f"in-{uuid.uuid4().hex[:8]}"
        p.write_bytes(data)
        if self.before is None:
            self.arm()
        fd = os.open(p, os.O_RDONLY)
        try:
            return _core.extract_layer(fd, str(self.dest), **kw)
        finally:
            os.close(fd)

    def check(self):
        after = snapshot(self.tmp, self.dest, self.inputs)
        assert after == self.before, "something outside dest changed"
        assert not os.path.lexists("/" + self.host_name)
        for dirpath, dirnames, filenames in os.walk(self.dest):
            for n in dirnames + filenames:
                assert inside(os.path.join(dirpath, n), self.dest)


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    yield e
    e.check()


def refused_or_contained(env, data, **kw):
    """Extract; a KernelError is a fine answer. Returns the result dict or the error."""
    try:
        return env.extract(data, **kw)
    except KernelError as e:
        assert e.errno in (errno.EINVAL, errno.EIO, errno.ENOENT, errno.ELOOP, errno.ENOTDIR,
                           errno.EPERM, errno.EXDEV, errno.EEXIST), e
        assert str(e)
        return e


# --- names ----------------------------------------------------------------------------------------


def test_dotdot_name_is_refused(env):
    with pytest.raises(KernelError) as ei:
        env.extract(make_tar(f("../escape", b"evil")))
    assert ei.value.errno == errno.EINVAL
    assert "../escape" in str(ei.value) and "escapes" in str(ei.value)
    assert not (env.tmp / "escape").exists()


def test_dotdot_in_the_middle_is_refused(env):
    with pytest.raises(KernelError) as ei:
        env.extract(make_tar(f("a/../../x", b"evil")))
    assert ei.value.errno == errno.EINVAL
    assert not (env.tmp / "x").exists()


def test_harmless_dotdot_is_cleaned(env):
    env.extract(make_tar(f("a/../b", b"ok")))
    assert (env.dest / "b").read_bytes() == b"ok"


def test_absolute_name_lands_inside(env):
    data = make_tar(f(f"/{env.host_name}/path", b"abs"), f(str(env.victim / "file"), b"evil"))
    env.extract(data)
    assert (env.dest / env.host_name / "path").read_bytes() == b"abs"
    assert (env.dest / str(env.victim / "file").lstrip("/")).read_bytes() == b"evil"
    assert (env.victim / "file").read_bytes() == b"precious"


def test_entry_for_the_destination_itself(env):
    with pytest.raises(KernelError):
        env.extract(make_tar(f("./", b"x")))


# --- symlinks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["ABS_VICTIM", "../victim", "../../victim", "/../victim", "ABS_HOST"])
def test_write_through_symlink_parent(env, target):
    t = {"ABS_VICTIM": str(env.victim), "ABS_HOST": "/" + env.host_name}.get(target, target)
    r = refused_or_contained(env, make_tar(sym("link", t), f("link/file", b"evil"), f("link/new", b"evil")))
    assert (env.victim / "file").read_bytes() == b"precious"
    assert not (env.victim / "new").exists()
    if isinstance(r, dict):  # contained: whatever "link" resolved to is inside dest
        assert os.path.islink(env.dest / "link")


def test_symlink_chain_out(env):
    data = make_tar(sym("a", "b"), sym("b", "../victim"), f("a/sub/deep", b"evil"))
    refused_or_contained(env, data)
    assert (env.victim / "sub" / "deep").read_bytes() == b"also precious"


def test_symlink_loop(env):
    with pytest.raises(KernelError):
        env.extract(make_tar(sym("loop", "loop"), f("loop/file")))


def test_regular_file_replaces_symlink_instead_of_following_it(env):
    data = make_tar(sym("s", str(env.victim / "file")), f("s", b"evil"))
    env.extract(data)
    assert not os.path.islink(env.dest / "s")
    assert (env.dest / "s").read_bytes() == b"evil"
    assert (env.victim / "file").read_bytes() == b"precious"


def test_directory_replaced_by_symlink_then_written_through(env):
    data = make_tar(d("d"), f("d/a", b"inside"), sym("d", str(env.victim)), f("d/file", b"evil"),
                    f("d/sub/deep", b"evil"))
    refused_or_contained(env, data)
    assert (env.victim / "file").read_bytes() == b"precious"


def test_directory_replaced_by_relative_symlink_then_written_through(env):
    data = make_tar(d("d"), sym("d", "../victim"), d("d/sub"), f("d/sub/deep", b"evil"))
    refused_or_contained(env, data)


def test_symlink_to_directory_inside_is_followed_inside(env):
    # "lib -> usr/lib" style: entries through the link land in the link's target, inside dest.
    data = make_tar(d("usr"), d("usr/lib"), sym("lib", "/usr/lib"), f("lib/libc.so", b"elf"))
    env.extract(data)
    assert (env.dest / "usr" / "lib" / "libc.so").read_bytes() == b"elf"
    assert os.readlink(env.dest / "lib") == "/usr/lib"


# --- hard links -----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["ABS_VICTIM", "../victim/file", "a/../../victim/file", "ABS_HOST"])
def test_hardlink_target_outside(env, target):
    t = {"ABS_VICTIM": str(env.victim / "file"), "ABS_HOST": f"/{env.host_name}"}.get(target, target)
    with pytest.raises(KernelError):
        env.extract(make_tar(d("a"), hard("h", t)))
    assert os.stat(env.victim / "file").st_nlink == 1


def test_hardlink_through_symlinked_dir(env):
    with pytest.raises(KernelError):
        env.extract(make_tar(sym("v", str(env.victim)), hard("h", "v/file")))
    assert os.stat(env.victim / "file").st_nlink == 1


@pytest.mark.parametrize("target", ["ABS_VICTIM", "../victim/file", "x/../../../victim/file"])
def test_hardlink_to_symlink_pointing_out(env, target):
    t = str(env.victim / "file") if target == "ABS_VICTIM" else target
    with pytest.raises(KernelError) as ei:
        env.extract(make_tar(sym("s", t), hard("h", "s")))
    assert "symlink" in str(ei.value)
    assert not os.path.lexists(env.dest / "h")


def test_hardlink_to_symlink_inside_is_kept(env):
    env.extract(make_tar(d("dir"), f("dir/t", b"t"), sym("s", "dir/t"), hard("h", "s")))
    assert os.readlink(env.dest / "h") == "dir/t"
    assert os.lstat(env.dest / "h").st_ino == os.lstat(env.dest / "s").st_ino


def test_hardlink_to_directory(env):
    with pytest.raises(KernelError):
        env.extract(make_tar(d("dir"), hard("h", "dir")))


def test_file_replacing_a_hardlink_does_not_write_through_it(env):
    env.extract(make_tar(f("orig", b"original"), hard("h", "orig"), f("h", b"replaced")))
    assert (env.dest / "orig").read_bytes() == b"original"
    assert (env.dest / "h").read_bytes() == b"replaced"
    assert os.stat(env.dest / "orig").st_nlink == 1


# --- whiteouts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["overlay", "apply"])
@pytest.mark.parametrize("target", ["ABS_VICTIM", "../victim"])
def test_whiteout_inside_symlinked_dir(env, mode, target):
    t = str(env.victim) if target == "ABS_VICTIM" else target
    data = make_tar(sym("sl", t), f("sl/.wh.file", b""), f("sl/.wh.sub", b""), f("sl/.wh..wh..opq", b""))
    refused_or_contained(env, data, whiteouts=mode)
    assert (env.victim / "file").read_bytes() == b"precious"
    assert (env.victim / "sub" / "deep").exists()
    with pytest.raises(OSError):
        os.getxattr(env.victim, "trusted.overlay.opaque")


@pytest.mark.parametrize("mode", ["overlay", "apply"])
def test_whiteout_with_dotdot(env, mode):
    with pytest.raises(KernelError):
        env.extract(make_tar(f("../.wh.victim", b"")), whiteouts=mode)
    with pytest.raises(KernelError):
        env.extract(make_tar(f("a/../../.wh.victim", b"")), whiteouts=mode)
    assert env.victim.is_dir()


@pytest.mark.parametrize("name", [".wh.", ".wh..", ".wh..."])
def test_whiteout_naming_nothing(env, name):
    with pytest.raises(KernelError):
        env.extract(make_tar(d("a"), f("a/" + name, b"")), whiteouts="apply")
    assert (env.dest / "a").is_dir()


def test_apply_whiteout_absolute_name_stays_inside(env):
    (env.dest / "etc").mkdir()
    (env.dest / "etc" / "passwd").write_bytes(b"inside")
    data = make_tar(f(str(env.victim / ".wh.file"), b""), f("/etc/.wh.passwd", b""))
    env.extract(data, whiteouts="apply")
    assert not (env.dest / "etc" / "passwd").exists()
    assert (env.victim / "file").read_bytes() == b"precious"


# --- devices, xattrs ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,major,minor", [(tarfile.BLKTYPE, 8, 0), (tarfile.CHRTYPE, 1, 3),
                                              (tarfile.BLKTYPE, 0, 0)])
def test_device_nodes_refused(env, kind, major, minor):
    with pytest.raises(KernelError) as ei:
        env.extract(make_tar(dev("dev/node", kind, major, minor)))
    assert ei.value.errno == errno.EPERM
    assert "device" in str(ei.value) and "dev/node" in str(ei.value)
    assert not os.path.lexists(env.dest / "dev" / "node")


def test_device_nodes_allowed_on_request(env):
    env.extract(make_tar(dev("dev/null", tarfile.CHRTYPE, 1, 3), _info("fifo", tarfile.FIFOTYPE)),
                allow_devices=True)
    st = os.lstat(env.dest / "dev" / "null")
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3
    assert stat.S_ISFIFO(os.lstat(env.dest / "fifo").st_mode)


def test_fifo_and_whiteout_devices_pass_by_default(env):
    env.extract(make_tar(_info("fifo", tarfile.FIFOTYPE), dev("gone", tarfile.CHRTYPE, 0, 0)))
    assert stat.S_ISFIFO(os.lstat(env.dest / "fifo").st_mode)
    st = os.lstat(env.dest / "gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def test_overlay_xattrs_from_the_archive_are_not_written(env):
    ti, _ = d("dir")
    ti.pax_headers = {
        "SCHILY.xattr.trusted.overlay.opaque": "y",
        "SCHILY.xattr.trusted.overlay.redirect": "/victim",
        "SCHILY.xattr.trusted.other": "x",
        "SCHILY.xattr.user.overlay.opaque": "y",
        "SCHILY.xattr.user.kept": "yes",
    }
    fi, data = f("dir/file", b"data")
    fi.pax_headers = {"SCHILY.xattr.trusted.overlay.metacopy": "", "SCHILY.xattr.user.k": "v"}
    env.extract(make_tar((ti, b""), (fi, data)))
    names = os.listxattr(env.dest / "dir")
    assert not [n for n in names if n.startswith("trusted.") or "overlay" in n], names
    assert os.getxattr(env.dest / "dir", "user.kept") == b"yes"
    assert [n for n in os.listxattr(env.dest / "dir" / "file") if n.startswith("trusted.")] == []
    assert os.getxattr(env.dest / "dir" / "file", "user.k") == b"v"


# --- broken input ---------------------------------------------------------------------------------


def test_truncated_archive(env):
    data = make_tar(f("big", os.urandom(100_000)), f("after", b"x"))
    with pytest.raises(KernelError) as ei:
        env.extract(data[:50_000])
    assert ei.value.errno == errno.EIO
    assert "unexpected end of data" in str(ei.value)
    assert str(env.dest) in str(ei.value)


def test_truncated_header(env):
    data = make_tar(f("a", b"x" * 600), f("b", b"y"))
    with pytest.raises(KernelError) as ei:
        env.extract(data[:1024 + 100])  # ends inside the second header
    assert ei.value.errno in (errno.EIO, errno.EINVAL)


def test_truncated_gzip(env):
    data = gzip.compress(make_tar(f("big", os.urandom(200_000))))
    with pytest.raises(KernelError) as ei:
        env.extract(data[: len(data) // 2])
    assert ei.value.errno == errno.EIO
    assert "unexpected end of data" in str(ei.value)


def test_corrupt_gzip(env):
    data = bytearray(gzip.compress(make_tar(f("file", b"hello" * 1000), f("other", b"x" * 5000))))
    for i in range(20, min(len(data) - 8, 60)):
        data[i] ^= 0x5A
    with pytest.raises(KernelError) as ei:
        env.extract(bytes(data))
    assert ei.value.errno in (errno.EINVAL, errno.EIO)
    assert "gzip" in str(ei.value) or "layer archive" in str(ei.value)


def test_gzip_bad_checksum(env):
    data = bytearray(gzip.compress(make_tar(f("file", b"hello"))))
    data[-8] ^= 0xFF  # the CRC32 of the member
    with pytest.raises(KernelError) as ei:
        env.extract(bytes(data))
    assert ei.value.errno == errno.EINVAL


@pytest.mark.parametrize("data", [os.urandom(4096), b"hello world\n" * 100, b"\x1f\x8b" + os.urandom(100)])
def test_garbage_input(env, data):
    with pytest.raises(KernelError) as ei:
        env.extract(data)
    assert ei.value.errno in (errno.EINVAL, errno.EIO)


def test_bad_header_checksum(env):
    data = bytearray(make_tar(f("file", b"hello"), f("second", b"x")))
    data[1024 + 10] ^= 0x01  # inside the second header's name
    with pytest.raises(KernelError):
        env.extract(bytes(data))


def test_unsupported_compression_is_named(env):
    with pytest.raises(KernelError) as ei:
        env.extract(b"\xfd7zXZ\x00" + os.urandom(64))
    assert "xz" in str(ei.value)


# --- extract_tree ---------------------------------------------------------------------------------


def _tree_extract(env, root, dest_path, data, **kw):
    p = env.inputs / f"t-{uuid.uuid4().hex[:8]}"
    p.write_bytes(data)
    fd = os.open(p, os.O_RDONLY)
    try:
        return _core.extract_tree(fd, str(root), dest_path, **kw)
    finally:
        os.close(fd)


def test_extract_tree_follows_symlinks_inside_the_root(env):
    root = env.dest
    (root / "etc").mkdir()
    os.symlink("/etc", root / "app")  # the image's /etc, never the host's
    env.arm()
    r = _tree_extract(env, root, "/app", make_tar(f("conf", b"cfg"), sym("hosts", "/etc/hosts")))
    assert (root / "etc" / "conf").read_bytes() == b"cfg"
    assert r["diff_id"].startswith("sha256:")


@pytest.mark.parametrize("dest_path", ["/app/../../victim", "/up/sub"])
def test_extract_tree_destination_cannot_escape(env, dest_path):
    root = env.dest
    os.symlink("../../victim", root / "up")
    env.arm()
    try:
        _tree_extract(env, root, dest_path, make_tar(f("file", b"evil")))
    except KernelError:
        pass
    assert (env.victim / "file").read_bytes() == b"precious"


def test_extract_tree_names_stay_below_destination(env):
    root = env.dest
    (root / "app").mkdir()
    (root / "secret").write_bytes(b"root's")
    env.arm()
    with pytest.raises(KernelError):
        _tree_extract(env, root, "/app", make_tar(f("../secret", b"evil")))
    assert (root / "secret").read_bytes() == b"root's"


def test_extract_tree_archive_symlink_resolves_in_root(env):
    root = env.dest
    (root / "app").mkdir()
    (root / "etc").mkdir()
    env.arm()
    _tree_extract(env, root, "/app", make_tar(sym("cfg", "/etc"), f("cfg/x.conf", b"c")))
    assert (root / "etc" / "x.conf").read_bytes() == b"c"


def test_extract_tree_chown_and_no_overwrite(env):
    root = env.dest
    (root / "app").mkdir()
    (root / "app" / "d").mkdir()
    env.arm()
    _tree_extract(env, root, "/app", make_tar(f("f", b"1", uid=5, gid=6)), chown=(1234, 4321))
    st = os.lstat(root / "app" / "f")
    assert (st.st_uid, st.st_gid) == (1234, 4321)
    with pytest.raises(KernelError) as ei:
        _tree_extract(env, root, "/app", make_tar(f("d", b"not a dir")), no_overwrite_dir_non_dir=True)
    assert ei.value.errno == errno.EEXIST
    assert (root / "app" / "d").is_dir()
