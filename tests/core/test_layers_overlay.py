"""A real overlay upper dir -> layer tar (whiteouts, opaque dirs), mirror dir, docker diff.

The overlay is mounted inside `unshare -m` (a private mount namespace) by a small shell script
that also makes the changes and unmounts, so no mount outlives the script even if it fails.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import tarfile

import pytest

from layerbox import _core

T0 = 1_600_000_000


def _must_work():
    return os.environ.get("LAYERBOX_MUST_WORK") == "1"


def _put(path, data=b"", mtime=T0):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


@pytest.fixture
def overlay(tmp_path):
    """lower/ + the upper/ left by: rm f; rm -rf dir; rm -rf d && mkdir d && new file in it;
    modify keep/k; add a file and a dir with a file; chmod a lower dir."""
    lower, upper, work, merged = (tmp_path / n for n in ("lower", "upper", "work", "merged"))
    for p in (lower, upper, work, merged):
        p.mkdir()
    _put(lower / "f", b"gone")
    _put(lower / "dir" / "x", b"gone too")
    _put(lower / "d" / "old", b"hidden by opaque")
    _put(lower / "keep" / "k", b"before")
    _put(lower / "keep" / "same", b"untouched")
    _put(lower / "perm" / "p", b"p")
    _put(lower / "untouched" / "u", b"u")
    for sub in ("dir", "d", "keep", "perm", "untouched"):
        os.utime(lower / sub, (T0, T0))
    script = f"""set -e
mount -t overlay overlay -o lowerdir={lower},upperdir={upper},workdir={work} {merged}
trap 'umount {merged}' EXIT
cd {merged}
rm f
rm -rf dir
rm -rf d && mkdir d && printf new > d/new
printf after > keep/k
printf added > added
mkdir newdir && printf n > newdir/n
chmod 0700 perm
cd /
"""
    res = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True)
    if res.returncode != 0:
        msg = f"cannot mount overlay in a private mount namespace: {res.stderr.strip()}"
        if _must_work():
            pytest.fail(msg)
        pytest.skip(msg)
    return lower, upper


def _tar_entries(path):
    with tarfile.open(path) as tf:
        return tf.getmembers()


def test_upper_to_layer_tar(overlay, tmp_path):
    lower, upper = overlay
    assert stat.S_ISCHR(os.lstat(upper / "f").st_mode)  # the kernel made whiteouts
    assert os.getxattr(upper / "d", "trusted.overlay.opaque") == b"y"
    out = tmp_path / "layer.tar"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        r = _core.write_layer(str(upper), fd, source="overlay-upper")
    finally:
        os.close(fd)
    assert r["diff_id"] == "sha256:" + hashlib.sha256(out.read_bytes()).hexdigest()
    members = _tar_entries(out)
    names = [m.name for m in members]
    by = {m.name: m for m in members}
    assert ".wh.f" in names and ".wh.dir" in names
    assert by[".wh.f"].isreg() and by[".wh.f"].size == 0 and by[".wh.f"].mode == 0o600
    # the opaque marker comes right after its directory
    assert names[names.index("d") + 1] == "d/.wh..wh..opq"
    assert "d/new" in names and "d/old" not in names
    # copy-up parents are still entries; untouched lower content is not
    assert "keep" in names and "keep/k" in names and "keep/same" not in names
    assert "untouched" not in names
    assert "perm" in names and by["perm"].mode == 0o700
    for m in members:
        assert not [k for k in m.pax_headers if "overlay" in k or k.startswith("SCHILY.xattr.trusted.")], m.name
    assert not [m for m in members if m.ischr()]
    # same upper, same bytes; "dir" gives the same conversion
    assert _core.write_layer(str(upper), -1, source="overlay-upper") == r
    assert _core.write_layer(str(upper), -1, source="dir")["diff_id"] == r["diff_id"]


def _layer_view(root):
    """A layer dir as the kernel sees it: whiteouts, opaque flags, files, modes, owners."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                out[rel] = ("whiteout", st.st_uid, st.st_gid)
                continue
            opaque = None
            if stat.S_ISDIR(st.st_mode):
                try:
                    opaque = os.getxattr(p, "trusted.overlay.opaque")
                except OSError:
                    opaque = None
            data = None
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as fh:
                    data = fh.read()
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                        int(st.st_mtime) if not stat.S_ISDIR(st.st_mode) else None, data, opaque)
    return out


def test_mirror_dir_is_the_unpacked_layer(overlay, tmp_path):
    lower, upper = overlay
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    out = tmp_path / "layer.tar"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        r = _core.write_layer(str(upper), fd, source="overlay-upper", mirror_dir=str(mirror))
    finally:
        os.close(fd)
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    fd = os.open(out, os.O_RDONLY)
    try:
        x = _core.extract_layer(fd, str(unpacked))
    finally:
        os.close(fd)
    assert x["diff_id"] == r["diff_id"]
    view = _layer_view(mirror)
    assert view == _layer_view(unpacked)
    assert view["f"][0] == "whiteout" and view["dir"][0] == "whiteout"
    assert view["d"][-1] == b"y"
    # and it matches the upper itself (up to sub-second times, which a tar does not keep)
    assert view == _layer_view(upper)
    # whiteouts keep the time their tar entry carries (whole seconds), so that...
    for wh in ("f", "dir"):
        whole = os.lstat(upper / wh).st_mtime_ns // 10**9 * 10**9
        assert os.lstat(mirror / wh).st_mtime_ns == whole
        assert os.lstat(unpacked / wh).st_mtime_ns == whole
    # ...a mirror of the mirror, or of the unpacked tar, is the same layer again
    assert _core.write_layer(str(mirror), -1)["diff_id"] == r["diff_id"]
    assert _core.write_layer(str(unpacked), -1)["diff_id"] == r["diff_id"]


def test_list_changes_docker_diff(overlay):
    lower, upper = overlay
    changes = _core.list_changes(str(upper), [str(lower)])
    keep_same = all(
        getattr(os.lstat(upper / "keep"), a) == getattr(os.lstat(lower / "keep"), a)
        for a in ("st_mode", "st_size")
    ) and int(os.lstat(upper / "keep").st_mtime) == int(os.lstat(lower / "keep").st_mtime)
    want = [("A", "/added"), ("D", "/d"), ("A", "/d/new"), ("D", "/dir"), ("D", "/f")]
    if not keep_same:
        want.append(("C", "/keep"))
    want += [("C", "/keep/k"), ("A", "/newdir"), ("A", "/newdir/n"), ("C", "/perm")]
    assert changes == want


def test_list_changes_stops_at_lower_whiteouts_and_opaque_dirs(tmp_path):
    top, bottom, upper = (tmp_path / n for n in ("top", "bottom", "upper"))
    _put(bottom / "a" / "x", b"1")
    _put(bottom / "b" / "y", b"1")
    _put(bottom / "c", b"1")
    _put(top / "b" / "z", b"2")
    os.setxattr(top / "b", "trusted.overlay.opaque", b"y")
    top.mkdir(exist_ok=True)
    os.mknod(top / "c", stat.S_IFCHR | 0o600, 0)
    _put(upper / "a" / "x", b"changed")
    _put(upper / "b" / "y", b"new: hidden below an opaque dir")
    _put(upper / "c", b"new: whited out below")
    for p in ("a", "b"):
        os.utime(upper / p, (T0 + 50, T0 + 50))
    changes = _core.list_changes(str(upper), [str(top), str(bottom)])
    assert changes == [("C", "/a"), ("C", "/a/x"), ("C", "/b"), ("A", "/b/y"), ("A", "/c")]


def test_host_source_keeps_every_entry_as_it_is(tmp_path):
    """source="host" (a build context's directory): a char device 0/0 stays a device and an
    opaque-marked directory stays a plain one (no .wh. entries), and no xattr is written, as
    the builder's own tar writer does; links, hard links and fifos as the other sources."""
    if os.geteuid() != 0:
        if _must_work():
            pytest.fail("needs root (mknod, trusted.* xattrs)")
        pytest.skip("needs root (mknod, trusted.* xattrs)")
    src = tmp_path / "ctx"
    _put(src / "a", b"aaa")
    os.setxattr(src / "a", "user.note", b"kept out")
    os.link(src / "a", src / "hard")
    os.symlink("a", src / "link")
    os.mkfifo(src / "fifo")
    os.mknod(src / "dev0", stat.S_IFCHR | 0o600, 0)
    (src / "op").mkdir()
    os.setxattr(src / "op", "trusted.overlay.opaque", b"y")
    _put(src / "op" / "in", b"i")
    out = tmp_path / "t.tar"
    with open(out, "wb") as f:
        res = _core.write_layer(str(src), f.fileno(), source="host")
    with tarfile.open(out) as t:
        got = {m.name: m for m in t.getmembers()}
    assert sorted(got) == ["a", "dev0", "fifo", "hard", "link", "op", "op/in"]
    assert got["dev0"].ischr() and (got["dev0"].devmajor, got["dev0"].devminor) == (0, 0)
    assert got["hard"].islnk() and got["hard"].linkname == "a"
    assert got["link"].issym() and got["fifo"].isfifo() and got["op"].isdir()
    assert all(not m.pax_headers for m in got.values())  # no SCHILY.xattr.*
    assert res["files"] == 7
    with open(out, "wb") as f:  # the same directory as a layer dir: whiteout and opaque marker
        _core.write_layer(str(src), f.fileno(), source="dir")
    with tarfile.open(out) as t:
        names = t.getnames()
    assert ".wh.dev0" in names and "op/.wh..wh..opq" in names
