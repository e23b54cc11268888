"""export and cp, stopped and running, with docker's path rules; symlinks in a container never
lead out of it; hostile tars through `cp -` and `import` leave a victim directory alone; no
mount ever shows on the host."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import time

import pytest

import layerbox.errors
from layerbox.testing import busybox_path
from test_save_load import _victim, hostile_archives, hostile_bytes, listing  # the same corpus

pytestmark = pytest.mark.privileged

SETUP = ("mkdir -p /data/sub && echo a > /data/a && echo s > /data/sub/s && echo f > /file && "
         "rm /bin/vi && ln -s /etc /etc-link && ln -s ../../../../../.. /up && ln -s / /root-link")


@pytest.fixture
def ctr(cli, busybox_image):
    made = []

    def make(*args, running=False):
        if running:
            r = cli("run", "-d", *args, "busybox", "sh", "-c", SETUP + " && sleep 60")
        else:
            r = cli("run", "-d", *args, "busybox", "sh", "-c", SETUP)
        assert r.returncode == 0, r.err
        cid = r.out.strip()
        made.append(cid)
        if not running:
            assert cli("wait", cid).out.strip() == "0"
        else:
            for _ in range(100):
                if cli("exec", cid, "test", "-L", "/root-link").returncode == 0:
                    break
        return cid

    yield make
    for cid in made:
        cli("rm", "-f", cid)


def host_mounts(store_root):
    with open("/proc/self/mountinfo") as f:
        return [ln.split()[4] for ln in f if store_root in ln.split()[4]]


def one_file_tar(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def members(data: bytes) -> dict:
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return {m.name.rstrip("/"): (t.extractfile(m).read() if m.isfile() else m) for m in t}


@pytest.mark.parametrize("running", [False, True])
def test_export_is_the_merged_view_without_whiteouts(cli, ctr, store_root, tmp_path, running):
    cid = ctr(running=running)
    out = tmp_path / "x.tar"
    r = cli("export", "-o", out, cid)
    assert r.returncode == 0, r.err
    m = members(out.read_bytes())
    assert m["file"] == b"f\n" and m["data/sub/s"] == b"s\n"
    assert "bin/vi" not in m and "bin/sh" in m
    assert not [n for n in m if ".wh." in n]
    assert m["etc-link"].issym() and m["etc-link"].linkname == "/etc"
    assert m["etc/passwd"].startswith(b"root:")
    # a file too big for the writer's buffer, from the image's layer: its bytes are copied by
    # the kernel from the overlay (sendfile: copy_file_range does not cross filesystems)
    with open(busybox_path(), "rb") as f:
        assert m["bin/busybox"] == f.read()
    # the store's init layer is not part of a container's export
    assert ".dockerenv" not in m and "etc/hostname" not in m
    assert host_mounts(store_root) == []
    # stdout gives the same tar
    data = subprocess.run([*cli.cmd, "export", cid], capture_output=True, env=cli.env(), check=True).stdout
    assert members(data).keys() == m.keys()
    assert cli("container", "export", "-o", tmp_path / "y.tar", cid).returncode == 0


def test_export_refuses_unknown_and_terminal(cli, busybox_image, tmp_path):
    r = cli("export", "-o", tmp_path / "z.tar", "nosuch")
    assert r.returncode == 1 and "No such container: nosuch" in r.err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("running", [False, True])
def test_cp_from_container_path_rules(cli, ctr, tmp_path, running):
    cid = ctr(running=running)
    d = tmp_path
    (d / "exists").mkdir()
    (d / "afile").write_text("old")

    def cp(src, dest, *flags):
        return cli("cp", *flags, f"{cid}:{src}", dest)

    assert cp("/file", d / "newname").returncode == 0                # file to a new name
    assert (d / "newname").read_text() == "f\n"
    assert cp("/file", d / "exists").returncode == 0                 # file into a directory
    assert (d / "exists" / "file").read_text() == "f\n"
    assert cp("/file", d / "afile").returncode == 0                  # file over a file
    assert (d / "afile").read_text() == "f\n"
    assert cp("/data", d / "newdir").returncode == 0                 # dir to a new name
    assert sorted(os.listdir(d / "newdir")) == ["a", "sub"]
    assert cp("/data", d / "exists").returncode == 0                 # dir into a directory
    assert (d / "exists" / "data" / "sub" / "s").read_text() == "s\n"
    (d / "contents").mkdir()
    assert cp("/data/.", d / "contents").returncode == 0             # a directory's contents
    assert sorted(os.listdir(d / "contents")) == ["a", "sub"]
    r = cp("/data", d / "afile")                                     # dir over a file
    assert r.returncode == 1 and "cannot copy a directory to a file" in r.err
    r = cp("/file", str(d / "nodir") + "/")                          # file into a missing dir
    assert r.returncode == 1 and "does not exist" in r.err
    r = cp("/nope", d / "x")
    assert r.returncode == 1 and f"Could not find the file /nope in container {cid}" in r.err
    # links: copied as links, or followed with -L; never out of the container
    assert cp("/etc-link", d / "link").returncode == 0
    assert os.readlink(d / "link") == "/etc"
    assert cp("/etc-link/passwd", d / "pw").returncode == 0
    assert (d / "pw").read_text().startswith("root:x:0:0")
    assert cp("/up/etc/passwd", d / "pw2").returncode == 0          # ../.. stops at its root
    assert (d / "pw2").read_text() == (d / "pw").read_text()
    assert cp("/root-link/file", d / "viaroot", "-L").returncode == 0
    assert (d / "viaroot").read_text() == "f\n"
    assert cp("/bin/sh", d / "sh-target", "-L").returncode == 0
    assert not os.path.islink(d / "sh-target") and os.path.getsize(d / "sh-target") > 100000
    # to stdout as a tar
    r = subprocess.run([*cli.cmd, "cp", f"{cid}:/data", "-"], capture_output=True, env=cli.env())
    assert r.returncode == 0
    assert sorted(members(r.stdout)) == ["data", "data/a", "data/sub", "data/sub/s"]
    # ownership: the caller's without -a, the container's with it
    cli("exec", cid, "chown", "1000:1000", "/file") if running else None
    if running:
        assert cp("/file", d / "owned").returncode == 0
        assert os.stat(d / "owned").st_uid == os.getuid()
        assert cp("/file", d / "kept", "-a").returncode == 0
        assert os.stat(d / "kept").st_uid == 1000


@pytest.mark.parametrize("running", [False, True])
def test_cp_into_container(cli, ctr, tmp_path, store_root, running):
    cid = ctr(running=running)
    src = tmp_path / "src"
    (src / "tree" / "deep").mkdir(parents=True)
    (src / "tree" / "deep" / "x").write_text("x")
    (src / "one").write_text("one")
    os.chown(src / "one", 1234, 1234)

    def cp(s, dest, *flags):
        r = cli("cp", *flags, s, f"{cid}:{dest}")
        assert r.returncode == 0, r.err

    def show(path):
        if running:
            return cli("exec", cid, "sh", "-c", f"cat {path} 2>&1 || ls -ln {path}").out
        data = subprocess.run([*cli.cmd, "cp", f"{cid}:{path}", "-"], capture_output=True, env=cli.env()).stdout
        return members(data)

    cp(src / "one", "/data/renamed")
    cp(src / "one", "/data")
    cp(src / "tree", "/newtree")
    cp(str(src / "tree") + "/.", "/data/sub")
    cp(src / "one", "/etc-link/through-link")     # a link in the container resolves inside it
    cp(src / "one", "/up/outside")                # ".." from a link stops at the container's root
    cp(src / "one", "/with-a", "-a")
    if running:
        assert show("/data/renamed") == "one" and show("/data/one") == "one"
        assert show("/newtree/deep/x") == "x" and show("/data/sub/deep/x") == "x"
        assert show("/etc/through-link") == "one" and show("/outside") == "one"
        assert cli("exec", cid, "stat", "-c", "%u", "/data/one", "/with-a").out.split() == ["0", "1234"]
    else:
        assert show("/data/renamed")["renamed"] == b"one"
        assert show("/newtree/deep/x")["x"] == b"x"
        assert show("/data/sub/deep/x")["x"] == b"x"
        assert show("/etc/through-link")["through-link"] == b"one"
        assert show("/outside")["outside"] == b"one"
        r = cli("diff", cid)
        assert "A /newtree/deep/x" in r.out and "A /etc/through-link" in r.out
        assert "A /outside" in r.out
    assert not os.path.exists("/etc/through-link") and not os.path.exists("/outside")
    # errors
    r = cli("cp", src / "one", f"{cid}:/nodir/")
    assert r.returncode == 1 and "does not exist" in r.err
    r = cli("cp", src / "tree", f"{cid}:/file")
    assert r.returncode == 1 and "cannot copy a directory to a file" in r.err
    r = cli("cp", src / "missing", f"{cid}:/x")
    assert r.returncode == 1 and "no such file or directory" in r.err
    assert cli("cp", f"{cid}:/file", f"{cid}:/x").err == "Error: copying between containers is not supported\n"
    assert cli("cp", src / "one", tmp_path / "x").err == "Error: must specify at least one container source\n"
    # a tar on stdin into a directory
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        ti = tarfile.TarInfo("from-stdin")
        ti.size = 5
        t.addfile(ti, io.BytesIO(b"stdin"))
    r = cli("cp", "-", f"{cid}:/data", input=buf.getvalue())
    assert r.returncode == 0, r.err
    r = cli("cp", "-", f"{cid}:/file", input=buf.getvalue())
    assert r.returncode == 1 and "must be a directory" in r.err
    assert host_mounts(store_root) == []


def _hostile(victim):
    return {n: hostile_bytes(e, n) for n, e in hostile_archives(victim, 12).items()}


@pytest.mark.parametrize("running", [False, True])
def test_hostile_tars_through_cp_and_import_leave_the_victim_alone(cli, ctr, store_root, running, tmp_path):
    victim = _victim(store_root, "victim-cp")
    before = listing(victim)
    cid = ctr(running=running)
    for name, data in _hostile(victim).items():
        for dest in ("/data", "/etc-link", "/up", "/root-link"):
            cli("cp", "-", f"{cid}:{dest}", input=data)
        r = cli("import", "-", f"hostile-{name}", input=data)
        if r.returncode == 0:
            cli("rmi", f"hostile-{name}", check=True)
    assert listing(victim) == before
    assert host_mounts(store_root) == []
    assert os.listdir(os.path.join(store_root, "tmp")) == []


def test_api_get_and_put_archive_and_export(client, ctr):
    cid = ctr(running=False)
    c = client.containers.get(cid)
    bits, stat = c.get_archive("/data")
    assert stat["name"] == "data" and stat["mode"] & (1 << 31)
    assert sorted(members(b"".join(bits))) == ["data", "data/a", "data/sub", "data/sub/s"]
    put = one_file_tar("put", b"api")
    assert c.put_archive("/data", put) is True
    bits, stat = c.get_archive("/data/put")
    assert stat["size"] == 3 and members(b"".join(bits)) == {"put": b"api"}
    with pytest.raises(layerbox.errors.NotFound):
        c.get_archive("/nope")
    with pytest.raises(layerbox.errors.NotFound):
        c.put_archive("/nope", put)
    exported = members(b"".join(c.export()))
    assert exported["data/put"] == b"api"


@pytest.mark.parametrize("running", [False, True])
def test_cp_goes_through_volumes_and_binds(cli, client, busybox_image, tmp_path, store_root, running):
    """As dockerd: a path in a volume or a bind is the volume's, running or stopped (cp in and
    out, the API's archives); a read-only volume and a --read-only container's root are refused
    with docker's words."""
    bind = tmp_path / "bind"
    bind.mkdir()
    (bind / "h").write_text("host")
    src = tmp_path / "one"
    src.write_text("one")
    vol, name, ro_name = f"cpvol-{running}", f"cpvols-{running}", f"cpro-{running}"
    tail = " && sleep 60" if running else ""
    r = cli("run", "-d", "--name", name, "-v", f"{vol}:/vol", "-v", f"{bind}:/b", "-v", f"{vol}-ro:/ro:ro",
            "busybox", "sh", "-c", "echo v > /vol/v" + tail)
    assert r.returncode == 0, r.err
    r = cli("run", "-d", "--name", ro_name, "--read-only", "busybox", "sh", "-c", "true" + tail)
    assert r.returncode == 0, r.err
    try:
        if running:
            for _ in range(200):
                if cli("exec", name, "test", "-f", "/vol/v").returncode == 0:
                    break
        else:
            assert cli("wait", name).out.strip() == "0"
            assert cli("wait", ro_name).out.strip() == "0"
        for dest in ("/vol/", "/b/"):
            r = cli("cp", src, f"{name}:{dest}")
            assert r.returncode == 0, r.err
        assert (bind / "one").read_text() == "one"  # the host's directory, not the layer
        r = cli("run", "--rm", "-v", f"{vol}:/vol", "busybox", "cat", "/vol/one", "/vol/v")
        assert r.out == "onev\n", r.err  # the volume has it: another container sees it
        assert "/vol/one" not in cli("diff", name).out and "/b/one" not in cli("diff", name).out
        # out of a volume and a bind
        data = subprocess.run([*cli.cmd, "cp", f"{name}:/vol", "-"], capture_output=True, env=cli.env()).stdout
        got = members(data)
        assert got["vol/one"] == b"one" and got["vol/v"] == b"v\n" and got["vol"].isdir()
        data = subprocess.run([*cli.cmd, "cp", f"{name}:/b/h", "-"], capture_output=True, env=cli.env()).stdout
        assert members(data) == {"h": b"host"}
        r = cli("cp", f"{name}:/vol", tmp_path / "out")
        assert r.returncode == 0, r.err
        assert sorted(os.listdir(tmp_path / "out")) == ["one", "v"]
        # the API's archives too
        c = client.containers.get(name)
        put = one_file_tar("put", b"api")
        assert c.put_archive("/b", put) is True
        assert (bind / "put").read_bytes() == b"api"
        bits, stat = c.get_archive("/b/put")
        assert members(b"".join(bits)) == {"put": b"api"}
        # read-only: refused before anything is written, as dockerd
        r = cli("cp", src, f"{name}:/ro/one")
        assert r.returncode == 1 and "mounted volume is marked read-only" in r.err
        with pytest.raises(layerbox.errors.Forbidden) as e:
            c.put_archive("/ro", put)
        assert e.value.status_code == 403
        r = cli("cp", src, f"{ro_name}:/one")
        assert r.returncode == 1 and "container rootfs is marked read-only" in r.err
        r = cli("cp", src, f"{ro_name}:/tmp/")
        assert r.returncode == 1 and "container rootfs is marked read-only" in r.err
        assert "/one" not in cli("diff", ro_name).out
    finally:
        cli("rm", "-f", name, ro_name)
        cli("volume", "rm", vol, f"{vol}-ro")
    assert host_mounts(store_root) == []


@pytest.mark.parametrize("running", [False, True])
def test_cp_checks_where_a_symlink_leads_not_its_name(cli, client, busybox_image, tmp_path, store_root, running):
    """The writable check is made on the path resolved inside the container: a symlink in a
    writable volume that points into a --read-only container's root is refused (a stopped one's
    layer stays unchanged), and so is a symlink in a writable root that points into a read-only
    volume."""
    src = tmp_path / "one"
    src.write_text("one")
    vol, ro_name, rw_name = f"cplink-{running}", f"cplinkro-{running}", f"cplinkrw-{running}"
    tail = " && sleep 60" if running else ""
    r = cli("run", "-d", "--name", ro_name, "--read-only", "-v", f"{vol}:/vol", "busybox", "sh", "-c",
            "ln -s /etc /vol/esc" + tail)
    assert r.returncode == 0, r.err
    r = cli("run", "-d", "--name", rw_name, "-v", f"{vol}-ro:/ro:ro", "busybox", "sh", "-c",
            "ln -s /ro /tmp/toro" + tail)
    assert r.returncode == 0, r.err
    try:
        for n, probe in ((ro_name, "/vol/esc"), (rw_name, "/tmp/toro")):
            for _ in range(200):
                if cli("exec" if running else "cp", *((n, "test", "-L", probe) if running
                                                      else (f"{n}:{probe}", "-"))).returncode == 0:
                    break
                time.sleep(0.05)
            if not running:
                assert cli("wait", n).out.strip() == "0"
        for dest in ("/vol/esc/", "/vol/esc/one", "/vol/esc"):
            r = cli("cp", src, f"{ro_name}:{dest}")
            assert r.returncode == 1 and "container rootfs is marked read-only" in r.err, (dest, r.err)
        with pytest.raises(layerbox.errors.Forbidden):
            client.containers.get(ro_name).put_archive("/vol/esc", one_file_tar("put", b"api"))
        assert "/etc/one" not in cli("diff", ro_name).out and "/etc/put" not in cli("diff", ro_name).out
        for dest in ("/tmp/toro/", "/tmp/toro/one"):
            r = cli("cp", src, f"{rw_name}:{dest}")
            assert r.returncode == 1 and "mounted volume is marked read-only" in r.err, (dest, r.err)
        r = cli("cp", src, f"{ro_name}:/vol/")  # the volume itself stays writable
        assert r.returncode == 0, r.err
    finally:
        cli("rm", "-f", ro_name, rw_name)
        cli("volume", "rm", vol, f"{vol}-ro")
    assert host_mounts(store_root) == []
