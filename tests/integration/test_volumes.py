"""Volumes and mounts as docker users see them: --read-only with new mount points, a new volume
filled with the image's content (nocopy to opt out), relative binds, binds over the /etc files,
--mount, --volumes-from, `volume ls --filter`, inspect's Mounts, and the container's own cgroup
at /sys/fs/cgroup."""

from __future__ import annotations

import json
import os

import pytest

pytestmark = pytest.mark.privileged

SEED_DOCKERFILE = """FROM busybox
RUN mkdir -p /data/sub && echo seed > /data/seed && chown 1000:1001 /data/seed \\
 && chmod 640 /data/seed && ln -s /etc/passwd /data/link && echo x > /data/sub/suid \\
 && chmod 4755 /data/sub/suid && ln /data/seed /data/sub/hard && chmod 750 /data
VOLUME /data
"""


@pytest.fixture(scope="module")
def seeded(cli, busybox_image, tmp_path_factory):
    """An image with content at /data, which it declares a VOLUME."""
    ctx = tmp_path_factory.mktemp("seedctx")
    (ctx / "Dockerfile").write_text(SEED_DOCKERFILE)
    cli("build", "-q", "-t", "volseed:1", str(ctx), check=True, timeout=600)
    yield "volseed:1"
    cli("rmi", "-f", "volseed:1")


def _volume_data(store_root: str, name: str) -> str:
    return os.path.join(store_root, "volumes", name, "_data")


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _rm_volumes(cli, *names):
    for n in names:
        cli("volume", "rm", "-f", n)


def test_read_only_root_makes_mount_points_and_keeps_etc_read_only(cli, busybox_image, tmp_path):
    host = tmp_path / "h"
    host.mkdir()
    r = cli("run", "--rm", "--read-only", "-v", "rovol:/data", "-v", f"{host}:/not/in/image",
            "busybox", "sh", "-c",
            "echo ok > /data/f && cat /data/f && echo b > /not/in/image/b && "
            "for f in /etc/hosts /etc/hostname /etc/resolv.conf /newfile; do "
            "  (echo x >> $f) 2>/dev/null && echo writable $f; done; "
            "readlink /etc/mtab; test -e /dev/core || echo no-core")
    assert r.returncode == 0, r.err
    assert r.out.splitlines() == ["ok", "/proc/mounts", "no-core"]
    assert (host / "b").read_text() == "b\n"
    # without --read-only the files stay writable (they are the container's, regenerated at start)
    r = cli("run", "--rm", "busybox", "sh", "-c", "echo 10.9.9.9 x >> /etc/hosts && readlink /etc/mtab")
    assert r.returncode == 0 and r.out == "/proc/mounts\n", r.err
    _rm_volumes(cli, "rovol")


def test_new_volume_filled_with_the_images_content(cli, seeded, store_root):
    script = "ls -ln /data/seed | awk '{print $1,$3,$4}'; cat /data/seed; readlink /data/link; " \
             "stat -c %a /data/sub/suid; stat -c %i /data/seed /data/sub/hard | uniq | wc -l"
    r = cli("run", "--rm", "-v", "seedvol:/data", seeded, "sh", "-c", script)
    assert r.returncode == 0, r.err
    assert r.out.splitlines() == ["-rw-r----- 1000 1001", "seed", "/etc/passwd", "4755", "1"]
    data = _volume_data(store_root, "seedvol")
    st = os.lstat(os.path.join(data, "seed"))
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1000, 1001, 0o640)
    assert os.readlink(os.path.join(data, "link")) == "/etc/passwd"  # a link, never followed
    assert os.stat(data).st_mode & 0o7777 == 0o750  # the volume takes the directory's mode
    # not empty any more: a later container sees what the first one left, nothing copied over it
    cli("run", "--rm", "-v", "seedvol:/data", seeded, "sh", "-c", "echo changed > /data/seed; rm /data/link",
        check=True)
    r = cli("run", "--rm", "-v", "seedvol:/data", seeded, "sh", "-c", "cat /data/seed; ls /data/link")
    assert r.out == "changed\n" and r.returncode != 0
    # nocopy, in both spellings: the volume stays empty
    r = cli("run", "--rm", "-v", "seedempty:/data:nocopy", seeded, "ls", "-A", "/data")
    assert r.returncode == 0 and r.out == "", r.err
    r = cli("run", "--rm", "--mount", "type=volume,src=seedempty2,dst=/data,volume-nocopy",
            seeded, "ls", "-A", "/data")
    assert r.returncode == 0 and r.out == "", r.err
    # a bind is never filled
    _rm_volumes(cli, "seedvol", "seedempty", "seedempty2")


def test_image_volume_is_an_anonymous_volume_with_the_content(cli, seeded, store_root):
    cid = cli("run", "-d", seeded, "sh", "-c", "cat /data/seed; echo new > /data/new").out.strip()
    assert cli("wait", cid).out.strip() == "0"
    assert cli("logs", cid).out == "seed\n"
    mounts = json.loads(cli("inspect", cid).out)[0]["Mounts"]
    assert len(mounts) == 1
    m = mounts[0]
    assert m["Type"] == "volume" and m["Destination"] == "/data" and len(m["Name"]) == 64
    assert (m["Driver"], m["Mode"], m["RW"], m["Propagation"]) == ("local", "", True, "")
    assert m["Source"] == _volume_data(store_root, m["Name"])
    assert _read(os.path.join(m["Source"], "new")) == "new\n"
    cfg = json.loads(cli("inspect", "-f", "{{json .Config.Volumes}}", cid).out)
    assert cfg == {"/data": {}}
    cli("rm", "-v", cid, check=True)
    assert not os.path.exists(os.path.dirname(m["Source"]))


def test_relative_binds_and_binds_over_the_etc_files(cli, busybox_image, tmp_path):
    work = tmp_path / "proj"
    (work / "src").mkdir(parents=True)
    (work / "src" / "main.txt").write_text("main\n")
    hosts = tmp_path / "hosts"
    hosts.write_text("10.1.2.3 db.example\n")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 10.0.0.53\n")
    hostname = tmp_path / "hostname"
    hostname.write_text("bound-name\n")
    r = cli("run", "--rm", "-v", "./src:/w:ro", "-v", f"{hosts}:/etc/hosts",
            "-v", f"{resolv}:/etc/resolv.conf:ro", "-v", f"{hostname}:/etc/hostname",
            "busybox", "sh", "-c", "cat /w/main.txt /etc/hosts /etc/resolv.conf /etc/hostname",
            cwd=str(work))
    assert r.returncode == 0, r.err
    assert r.out == "main\n10.1.2.3 db.example\nnameserver 10.0.0.53\nbound-name\n"
    cid = cli("create", "-v", "./src:/w", "busybox", "true", cwd=str(work)).out.strip()
    m = json.loads(cli("inspect", cid).out)[0]["Mounts"][0]
    assert m == {"Type": "bind", "Source": str(work / "src"), "Destination": "/w", "Mode": "",
                 "RW": True, "Propagation": "rprivate"}
    cli("rm", cid, check=True)


@pytest.mark.parametrize("spec, said", [
    (":/data", "invalid volume specification: ':/data'"),
    ("/x:/y:bogus", "invalid mode: bogus"),
    ("../up:/d", '"../up" includes invalid characters for a local volume name'),
])
def test_bad_volume_specs_refused_as_docker(cli, busybox_image, spec, said):
    before = cli("ps", "-a", "-q").out
    r = cli("run", "--rm", "-v", spec, "busybox", "true")
    assert r.returncode == 125 and said in r.err and "Traceback" not in r.err
    assert cli("ps", "-a", "-q").out == before  # nothing half-made


def test_dash_dash_mount(cli, busybox_image, tmp_path, store_root):
    (tmp_path / "f").write_text("bound\n")
    r = cli("run", "--rm",
            "--mount", f"type=bind,source={tmp_path},target=/b,readonly",
            "--mount", "type=volume,src=mountvol,dst=/v,volume-label=team=a",
            "--mount", "type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=1770",
            "busybox", "sh", "-c",
            "cat /b/f; (echo x > /b/g) 2>/dev/null || echo ro; echo v > /v/x; "
            "grep ' /t ' /proc/mounts; stat -c %a /t")
    assert r.returncode == 0, r.err
    lines = r.out.splitlines()
    assert lines[:2] == ["bound", "ro"]
    assert "tmpfs /t tmpfs" in lines[2] and "size=1024k" in lines[2] and "nosuid" in lines[2]
    assert lines[3] == "1770"
    doc = json.loads(cli("volume", "inspect", "mountvol").out)[0]
    assert doc["Labels"] == {"team": "a"}
    assert _read(os.path.join(_volume_data(store_root, "mountvol"), "x")) == "v\n"
    for value, said in [
        ("type=bind,src=/tmp,dst=/x,nosuchkey=1", "unexpected key 'nosuchkey' in 'nosuchkey=1'"),
        ("type=bind,src=/tmp", "target is required"),
        (f"type=bind,src={tmp_path}/missing,dst=/x", "bind source path does not exist"),
        ("type=volume,src=v,dst=/x,volume-opt=type=nfs", 'create v: missing required option: "device"'),
    ]:
        r = cli("run", "--rm", "--mount", value, "busybox", "true")
        assert r.returncode == 125 and said in r.err, (value, r.err)
    r = cli("run", "--rm", "-v", "a:/same", "--mount", "type=volume,src=b,dst=/same", "busybox", "true")
    assert r.returncode == 125 and "Duplicate mount point: /same" in r.err
    _rm_volumes(cli, "mountvol", "a", "b", "v")


def test_volumes_from(cli, busybox_image, tmp_path):
    src = cli("create", "--name", "vf-source", "-v", "vfvol:/shared", "-v", "/anon",
              "-v", f"{tmp_path}:/bound", "busybox", "true").out.strip()
    cli("run", "--rm", "--volumes-from", "vf-source", "busybox", "sh", "-c",
        "echo one > /shared/f; echo two > /anon/f; echo three > /bound/f", check=True)
    r = cli("run", "--rm", "--volumes-from", "vf-source:ro", "busybox", "sh", "-c",
            "cat /shared/f /anon/f /bound/f; (echo x > /shared/g) 2>/dev/null || echo ro")
    assert r.returncode == 0 and r.out == "one\ntwo\nthree\nro\n", r.err
    # a later -v at the same destination wins over the inherited one
    r = cli("run", "--rm", "--volumes-from", "vf-source", "-v", "vfother:/shared", "busybox",
            "ls", "-A", "/shared")
    assert r.returncode == 0 and r.out == ""
    user = cli("create", "--volumes-from", "vf-source", "busybox", "true").out.strip()
    mounts = {m["Destination"]: m for m in json.loads(cli("inspect", user).out)[0]["Mounts"]}
    assert set(mounts) == {"/shared", "/anon", "/bound"}
    anon = mounts["/anon"]["Source"]
    cli("rm", "-v", src, check=True)
    assert os.path.isdir(anon)  # still used by the other container: kept
    cli("rm", "-v", user, check=True)
    assert not os.path.exists(anon)  # the last one using it is gone with -v
    r = cli("run", "--rm", "--volumes-from", "no-such-container", "busybox", "true")
    assert r.returncode == 125 and "no-such-container" in r.err
    r = cli("run", "--rm", "--volumes-from", "x:shared", "busybox", "true")
    assert r.returncode == 125 and "invalid mode: shared" in r.err
    _rm_volumes(cli, "vfvol", "vfother")


def test_volume_ls_filters(cli, busybox_image):
    cli("volume", "create", "-l", "tier=db", "flt-db", check=True)
    cli("volume", "create", "flt-cache", check=True)
    cid = cli("create", "-v", "flt-cache:/c", "busybox", "true").out.strip()

    def names(*filters):
        args = [a for f in filters for a in ("--filter", f)]
        r = cli("volume", "ls", "-q", *args)
        assert r.returncode == 0, r.err
        return {n for n in r.out.split() if n.startswith("flt-")}

    assert names("name=flt-") == {"flt-db", "flt-cache"}
    assert names("name=^flt-d") == {"flt-db"}
    assert names("label=tier") == {"flt-db"}
    assert names("label=tier=db", "name=flt") == {"flt-db"}
    assert names("label=tier=web") == set()
    assert names("dangling=true") == {"flt-db"}
    assert names("dangling=false") == {"flt-cache"}
    assert names("driver=local", "name=flt") == {"flt-db", "flt-cache"}
    r = cli("volume", "ls", "--filter", "colour=red")
    assert r.returncode != 0 and "invalid filter 'colour'" in r.err
    cli("rm", cid, check=True)
    _rm_volumes(cli, "flt-db", "flt-cache")


def test_own_cgroup_at_sys_fs_cgroup(cli, busybox_image):
    r = cli("run", "--rm", "-m", "64m", "busybox", "sh", "-c",
            "cat /sys/fs/cgroup/memory.max 2>/dev/null || "
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; "
            "(echo 1 > /sys/fs/cgroup/x) 2>/dev/null || echo ro; "
            "cut -d: -f3 /proc/self/cgroup | sort -u; "
            "grep -c ' /sys/fs/cgroup ' /proc/self/mountinfo")
    assert r.returncode == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == str(64 << 20)
    assert lines[1] == "ro"
    assert lines[2:] == ["/", "1"]  # its own cgroup is the root it sees; mounted once
    r = cli("run", "--rm", "--privileged", "busybox", "sh", "-c", "ls /sys/fs/cgroup | head -1")
    assert r.returncode == 0 and r.out.strip(), r.err


def test_python_api_mounts_volumes_and_volumes_from(client, busybox_image, tmp_path, store_root):
    from docker.types import Mount

    (tmp_path / "in").write_text("api\n")
    out = client.containers.run(
        "busybox", ["sh", "-c", "cat /b/in; echo w > /v/w; grep -c ' /t ' /proc/mounts"],
        mounts=[Mount("/b", str(tmp_path), type="bind", read_only=True),
                Mount("/t", None, type="tmpfs", tmpfs_size="2m")],
        volumes={"apivol": {"bind": "/v", "mode": "rw"}}, remove=True)
    assert out == b"api\n1\n"
    src = client.containers.create("busybox", "true", name="api-vf", volumes=["apivol:/v"])
    out = client.containers.run("busybox", ["cat", "/v/w"], volumes_from=["api-vf:ro"], remove=True)
    assert out == b"w\n"
    m = src.attrs["Mounts"][0]
    assert (m["Type"], m["Name"], m["Destination"], m["Mode"], m["RW"]) == ("volume", "apivol", "/v", "z", True)
    src.remove()
    from layerbox.store import Store
    from layerbox.volumes import Volumes

    Volumes(Store(store_root)).remove("apivol")


def test_local_driver_tmpfs_and_bind_volumes(cli, busybox_image, tmp_path, store_root):
    """docker's local driver options: a tmpfs volume is one tmpfs for the containers running
    with it (cp into one of them reaches the others) and is empty again once the last one has
    stopped; a bind volume is its host directory; bad options refused with docker's words,
    nothing made; no mount ever shows on the host."""
    r = cli("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=8m,mode=1777", "tmpvol")
    assert r.returncode == 0, r.err
    opts = json.loads(cli("volume", "inspect", "-f", "{{json .Options}}", "tmpvol").out)
    assert opts == {"type": "tmpfs", "device": "tmpfs", "o": "size=8m,mode=1777"}
    bind_dir = tmp_path / "bound"
    bind_dir.mkdir()
    assert cli("volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", f"device={bind_dir}",
               "bindvol").returncode == 0
    try:
        r = cli("run", "-d", "--name", "tmpvol-user", "-v", "tmpvol:/t", "busybox", "sh", "-c",
                "echo shared > /t/f && sleep 60")
        assert r.returncode == 0, r.err
        for _ in range(200):
            if cli("exec", "tmpvol-user", "test", "-f", "/t/f").returncode == 0:
                break
        src = tmp_path / "one"
        src.write_text("one")
        assert cli("cp", src, "tmpvol-user:/t/").returncode == 0
        r = cli("run", "--rm", "-v", "tmpvol:/t", "busybox", "sh", "-c",
                "cat /t/f /t/one; echo; df -k /t | tail -1; stat -c %a /t")
        assert r.returncode == 0, r.err
        shared, one, usage, mode = r.out.splitlines()
        assert (shared, one, usage.split()[1], mode) == ("shared", "one", "8192", "1777")
        cli("rm", "-f", "tmpvol-user")
        r = cli("run", "--rm", "-v", "tmpvol:/t", "busybox", "ls", "-A", "/t")
        assert r.returncode == 0 and r.out == "", (r.out, r.err)  # gone with its last user
        # --mount volume-opt= makes the volume with them
        r = cli("run", "--rm", "--mount", "type=volume,src=mountopt,dst=/m,volume-opt=type=tmpfs,"
                "volume-opt=device=tmpfs,volume-opt=o=size=4m", "busybox", "sh", "-c", "df -k /m | tail -1")
        assert r.returncode == 0 and r.out.split()[1] == "4096", r.err
        # a bind volume
        r = cli("run", "--rm", "-v", "bindvol:/b", "busybox", "sh", "-c", "echo via-volume > /b/x")
        assert r.returncode == 0, r.err
        assert (bind_dir / "x").read_text() == "via-volume\n"
        os.unlink(bind_dir / "x")
        bind_dir.rmdir()
        r = cli("run", "--rm", "-v", "bindvol:/b", "busybox", "true")
        assert r.returncode == 125 and "error while mounting volume" in r.err and "no such file or directory" in r.err
        for args, said in ((["-o", "bogus=1"], 'create badvol: invalid option: "bogus"'),
                           (["-o", "type=tmpfs"], 'create badvol: missing required option: "device"'),
                           (["-o", "type=nfs", "-o", "device=:/x", "-o", "o=addr=127.0.0.1"],
                            "volume type 'nfs' (o=addr=127.0.0.1) is not supported by layerbox")):
            r = cli("volume", "create", *args, "badvol")
            assert r.returncode == 1 and said in r.err, r.err
        assert "badvol" not in cli("volume", "ls", "-q").out.split()
    finally:
        cli("rm", "-f", "tmpvol-user")
        cli("volume", "rm", "tmpvol", "bindvol", "mountopt")
    with open("/proc/self/mountinfo") as f:
        assert store_root not in f.read()
