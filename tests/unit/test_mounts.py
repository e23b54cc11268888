"""docker's mount specs read as docker reads them (container/mounts.py), without root: -v as
moby's linux parser, --mount as the CLI's csv reader, the API's Mount dicts as dockerd checks
them, --volumes-from, the order and duplicates of registerMountPoints, and what inspect and
the launch plan get."""

import pytest

from layerbox.container import mounts, plan
from layerbox.errors import InvalidArgument


def test_dash_v_as_moby_parses_it():
    b = mounts.parse_bind("/host/dir/:/ctr:ro")
    assert (b["Type"], b["Source"], b["Destination"], b["RW"], b["Mode"], b["Propagation"]) == \
        ("bind", "/host/dir", "/ctr", False, "ro", "rprivate")
    assert mounts.parse_bind("/h:/c:private")["Propagation"] == "private"
    for mode in ("rshared", "shared", "rslave", "slave"):  # accepted, they would be private: refused
        with pytest.raises(InvalidArgument, match=f"bind propagation {mode} is not supported"):
            mounts.parse_bind(f"/h:/c:{mode}")
    v = mounts.parse_bind("data:/d")
    assert (v["Type"], v["Name"], v["Mode"], v["RW"], v["CopyData"]) == ("volume", "data", "z", True, True)
    assert mounts.parse_bind("data:/d:nocopy")["CopyData"] is False
    assert mounts.parse_bind("data:/d:ro")["Mode"] == "ro"
    a = mounts.parse_bind("/anon")
    assert (a["Type"], a.get("Name"), a["Destination"]) == ("volume", None, "/anon")


@pytest.mark.parametrize("raw, said", [
    (":/data", "invalid volume specification: ':/data'"),
    ("", "invalid volume specification: ''"),
    ("/foo:rw", "invalid volume specification: '/foo:rw'"),
    ("/a:/b:/c:/d", "invalid volume specification: '/a:/b:/c:/d'"),
    ("/a:/b:nope", "invalid mode: nope"),
    ("/a:/b:ro,rw", "invalid mode: ro,rw"),
    ("/a:/", "invalid volume specification: '/a:/': invalid mount config for type \"bind\": "
             "invalid specification: destination can't be '/'"),
    ("/a:rel", "invalid volume specification: '/a:rel': invalid mount config for type \"bind\": "
               "invalid mount path: 'rel' mount path must be absolute"),
    ("vol:rel", "invalid volume specification: 'vol:rel': invalid mount config for type "
                "\"volume\": invalid mount path: 'rel' mount path must be absolute"),
    ("../up:/d", 'create ../up: "../up" includes invalid characters for a local volume name'),
])
def test_dash_v_refused_with_dockers_words(raw, said):
    with pytest.raises(InvalidArgument) as e:
        mounts.parse_bind(raw)
    assert str(e.value).startswith(said)


def test_relative_bind_sources_are_the_clients_directory():
    assert mounts.absolute_bind_sources(["./dir:/w", ".:/x:ro", "name:/v", "/abs:/a"], cwd="/home/u") == \
        ["/home/u/dir:/w", "/home/u:/x:ro", "name:/v", "/abs:/a"]


def test_dash_dash_mount_as_the_cli_reads_it(tmp_path):
    m = mounts.parse_mount_flag(f"type=bind,src={tmp_path},dst=/w,readonly,bind-propagation=rslave")
    assert m == {"Type": "bind", "Source": str(tmp_path), "Target": "/w", "ReadOnly": True,
                 "BindOptions": {"Propagation": "rslave"}}
    v = mounts.parse_mount_flag('type=volume,source=v1,target=/d,volume-nocopy,"volume-label=a=b"')
    assert v["VolumeOptions"] == {"NoCopy": True, "Labels": {"a": "b"}}
    t = mounts.parse_mount_flag("type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770")
    assert t["TmpfsOptions"] == {"SizeBytes": 64 << 20, "Mode": 0o1770}
    assert mounts.parse_mount_flag("dst=/anon")["Type"] == "volume"
    assert mounts.parse_mount_flag("type=bind,src=./rel,dst=/r", cwd="/srv")["Source"] == "/srv/rel"
    assert mounts.parse_mount_flag("type=bind,src=/x,dst=/r,ro=false")["ReadOnly"] is False


@pytest.mark.parametrize("value, said", [
    ("type=bind,src=/x,dst=/y,bogus=1", "unexpected key 'bogus' in 'bogus=1'"),
    ("type=bind,src=/x", "target is required"),
    ("type=bind,src=/x,dst=/y,what", "invalid field 'what' must be a key=value pair"),
    ("type=bind,src=/x,dst=/y,ro=maybe", "invalid value for ro: maybe"),
    ("type=tmpfs,dst=/t,tmpfs-mode=99", "invalid value for tmpfs-mode: 99"),
    ("type=bind,src=/x,dst=/y,volume-nocopy", "cannot mix 'volume-*' options with mount type 'bind'"),
    ("type=volume,dst=/y,tmpfs-size=1m", "cannot mix 'tmpfs-*' options with mount type 'volume'"),
])
def test_dash_dash_mount_refused_with_the_clis_words(value, said):
    with pytest.raises(InvalidArgument) as e:
        mounts.parse_mount_flag(value)
    assert str(e.value) == f'invalid argument "{value}" for "--mount" flag: {said}'


def test_api_mounts_checked_as_dockerd_checks_them(tmp_path):
    b = mounts.from_api({"Type": "bind", "Source": str(tmp_path), "Target": "/w/", "ReadOnly": True})
    assert (b["Destination"], b["RW"], b["Propagation"], b["CreateSource"]) == ("/w", False, "rprivate", False)
    t = mounts.from_api({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 3 << 20, "Mode": 0o700}})
    assert t["TmpfsOptions"] == "mode=700,size=3m"
    v = mounts.from_api({"Type": "volume", "Target": "/d"})
    assert v["Anonymous"] and v["CopyData"]
    for spec, said in [
        ({"Type": "bind", "Source": str(tmp_path / "missing"), "Target": "/w"},
         f'invalid mount config for type "bind": bind source path does not exist: {tmp_path}/missing'),
        ({"Type": "bind", "Target": "/w"}, 'invalid mount config for type "bind": field Source must not be empty'),
        ({"Type": "volume", "Target": "/d", "ReadOnly": True},
         'invalid mount config for type "volume": must not set ReadOnly mode when using anonymous volumes'),
        ({"Type": "tmpfs", "Source": "x", "Target": "/t"},
         'invalid mount config for type "tmpfs": field Source must not be specified'),
        ({"Type": "nfs", "Target": "/t"}, 'invalid mount config for type "nfs": mount type unknown'),
        ({"Type": "volume", "Source": "v", "Target": "/d",
          "VolumeOptions": {"DriverConfig": {"Name": "local", "Options": {"type": "tmpfs"}}}},
         'create v: missing required option: "device"'),
        ({"Type": "volume", "Source": "v", "Target": "/d", "VolumeOptions": {"DriverConfig": {"Name": "nfs"}}},
         "volume driver 'nfs' is not supported (only local)"),
        ({"Type": "bind", "Source": "/", "Target": "/"},
         'invalid mount config for type "bind": invalid specification: destination can\'t be \'/\''),
    ]:
        with pytest.raises(InvalidArgument) as e:
            mounts.from_api(spec)
        assert str(e.value) == said


def test_volumes_from_and_the_order_of_mount_points(tmp_path):
    assert mounts.parse_volumes_from("web") == ("web", "rw")
    assert mounts.parse_volumes_from("web:ro") == ("web", "ro")
    for bad in ("web:shared", "web:nocopy", "web:bogus"):
        with pytest.raises(InvalidArgument, match="^invalid mode: "):
            mounts.parse_volumes_from(bad)
    theirs = [mounts.parse_bind("v1:/a"), {**mounts.parse_bind("/anon"), "Name": "f" * 64,
                                           "Anonymous": True, "CopyData": True}]
    copied = mounts.copied_from(theirs, "ro")
    assert [(m["Destination"], m["RW"], m.get("Anonymous"), m.get("CopyData")) for m in copied] == \
        [("/a", False, None, None), ("/anon", False, True, None)]
    points = mounts.register(["v2:/a", "/x"], [{"Type": "tmpfs", "Target": "/t"}], copied,
                             ["/img", "/t", "/a"], [])
    assert [(m["Destination"], m["Type"], m.get("Name")) for m in points] == [
        ("/a", "volume", "v2"), ("/anon", "volume", "f" * 64), ("/t", "tmpfs", None),
        ("/x", "volume", None), ("/img", "volume", None)]
    with pytest.raises(InvalidArgument, match="^Duplicate mount point: /a$"):
        mounts.register(["v2:/a", f"{tmp_path}:/a"], [], [], [], [])
    with pytest.raises(InvalidArgument, match="^Duplicate mount point: /a$"):
        mounts.register(["v2:/a"], [{"Type": "volume", "Target": "/a"}], [], [], [])


def test_inspect_and_plan_of_mount_points():
    v = mounts.parse_bind("data:/d")
    assert mounts.inspect_entry(v, "/store/volumes") == {
        "Type": "volume", "Name": "data", "Source": "/store/volumes/data/_data",
        "Destination": "/d", "Driver": "local", "Mode": "z", "RW": True, "Propagation": ""}
    b = mounts.parse_bind("/h:/c:ro,private")
    assert mounts.inspect_entry(b, "/s") == {"Type": "bind", "Source": "/h", "Destination": "/c",
                                             "Mode": "ro,private", "RW": False, "Propagation": "private"}
    t = mounts.from_api({"Type": "tmpfs", "Target": "/t", "ReadOnly": True, "TmpfsOptions": {"SizeBytes": 1 << 20}})
    ops = mounts.plan_ops([v, b, t], lambda m: "/src", True,
                          lambda p, o: [{"kind": "fs", "target": p, "opts": o}])
    assert ops[0] == {"kind": "bind", "target": "/d", "source": "/src", "recursive": True,
                      "ro": False, "copy_up": True}
    assert ops[1]["propagation"] == mounts.PROPAGATION_FLAGS["private"] and ops[1]["ro"]
    assert ops[2] == {"kind": "fs", "target": "/t", "opts": "size=1m,ro"}
    assert "copy_up" not in mounts.plan_ops([v], lambda m: "/src", False, None)[0]


def test_cgroup_at_sys_fs_cgroup_read_only():
    v1 = plan.cgroup_mounts({"version": 1, "dirs": {"memory": "/cg/memory/lb/c1"}}, False)
    assert [op["kind"] for op in v1] == ["fs", "bind", "readonly"]
    assert v1[1]["target"] == "/sys/fs/cgroup/memory" and v1[1]["ro"]
    assert v1[2] == {"kind": "readonly", "target": "/sys/fs/cgroup", "in_place": True}
    v2 = plan.cgroup_mounts({"version": 2, "dirs": {"unified": "/cg/lb/c1"}}, True)
    assert v2 == [{"kind": "fs", "fstype": "cgroup2", "source": "cgroup", "target": "/sys/fs/cgroup",
                   "ro": False, "nosuid": True, "nodev": True, "noexec": True}]


def test_read_only_root_makes_the_etc_files_read_only_and_binds_replace_them():
    cfg = {"Config": {"Hostname": "h"}, "HostConfig": {"ReadonlyRootfs": True, "NetworkMode": "none"},
           "Mounts": [mounts.parse_bind("/srv/hosts:/etc/hosts")]}
    files = plan.etc_files(cfg)
    assert [f["target"] for f in files] == ["/etc/hostname", "/etc/resolv.conf"]
    assert all(f["ro"] for f in files)
    assert not any(op.get("target") == "/dev/core" for op in plan.BASE_MOUNTS)
