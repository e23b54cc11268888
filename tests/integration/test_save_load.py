"""save and load: our archives, docker's (old and new format), OCI layouts, compression,
digests checked, hostile archives contained, and images moving to a second store intact."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile

import pytest

from layerbox.store import Store

pytestmark = pytest.mark.privileged


@pytest.fixture
def cleanup(cli, busybox_image):
    things: list[tuple[str, str]] = []
    yield things
    for kind, name in reversed(things):
        cli("rm", "-f", name) if kind == "container" else cli("rmi", "-f", name)


def tar_bytes(entries) -> bytes:
    """A tar from (name, data-or-None, kwargs) entries; kwargs set TarInfo fields."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data, kw in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1_000_000_000
            for k, v in kw.items():
                setattr(ti, k, v)
            if data is not None:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            else:
                t.addfile(ti)
    return buf.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def listing(root: str) -> list:
    """Every path below root with its type, size, mode and content digest."""
    out = []
    for d, dirs, files in os.walk(root):
        for n in sorted(dirs + files):
            p = os.path.join(d, n)
            st = os.lstat(p)
            digest = ""
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            out.append((os.path.relpath(p, root), st.st_mode, st.st_size, digest))
    return sorted(out)


def export_view(cli, image) -> dict:
    """What a container of `image` sees, as {name: (type, mode, content digest)}."""
    cid = cli("create", image, "true").out.strip()
    try:
        data = subprocess.run([*cli.cmd, "export", cid], capture_output=True, env=cli.env(), check=True).stdout
    finally:
        cli("rm", cid)
    view = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        for m in t:
            body = t.extractfile(m).read() if m.isfile() else m.linkname.encode()
            view[m.name.rstrip("/")] = (m.type, m.mode, hashlib.sha256(body).hexdigest())
    return view


def commit_script(cli, cleanup, image, script, tag):
    cid = cli("run", "-d", image, "sh", "-c", script).out.strip()
    cleanup.append(("container", cid))
    assert cli("wait", cid).out.strip() == "0"
    r = cli("commit", cid, tag)
    assert r.returncode == 0, r.err
    cleanup.append(("image", tag))
    return r.out.strip()


def test_deletions_and_opaque_dirs_survive_save_and_load_into_another_store(cli, store2, cleanup, tmp_path):
    commit_script(cli, cleanup, "busybox",
                  "mkdir -p /data /gone /keep && echo a > /data/a && echo b > /data/b && "
                  "echo y > /gone/y && echo k > /keep/k && echo f > /file_gone", "sl-base:1")
    commit_script(cli, cleanup, "sl-base:1",
                  "rm /file_gone && rm -r /gone && rm -rf /data && mkdir /data && echo n > /data/new && "
                  "echo k2 >> /keep/k", "sl-mod:1")
    archive = tmp_path / "mod.tar"
    r = cli("save", "-o", archive, "sl-mod:1")
    assert r.returncode == 0, r.err
    r = store2("load", "-i", archive)
    assert r.returncode == 0, r.err
    assert r.out == "Loaded image: sl-mod:1\n"
    script = "ls /data; cat /keep/k; ls /gone /file_gone 2>&1; echo ok"
    here = cli("run", "--rm", "sl-mod:1", "sh", "-c", script)
    there = store2("run", "--rm", "sl-mod:1", "sh", "-c", script)
    assert there.returncode == 0, there.err
    assert there.out == here.out
    assert there.out.splitlines()[:3] == ["new", "k", "k2"]
    assert "No such file" in there.out
    assert export_view(store2, "sl-mod:1") == export_view(cli, "sl-mod:1")
    # same image, same ID, same layers
    i1 = json.loads(cli("image", "inspect", "sl-mod:1").out)[0]
    i2 = json.loads(store2("image", "inspect", "sl-mod:1").out)[0]
    assert (i1["Id"], i1["RootFS"], i1["Config"]) == (i2["Id"], i2["RootFS"], i2["Config"])
    assert os.listdir(os.path.join(store2.root, "tmp")) == []


def test_save_to_stdout_load_from_gzip_stdin(cli, store2, busybox_image):
    data = subprocess.run([*cli.cmd, "save", "busybox"], capture_output=True, env=cli.env(), check=True).stdout
    names = tarfile.open(fileobj=io.BytesIO(data)).getnames()
    assert {"manifest.json", "index.json", "oci-layout", "repositories"} <= set(names)
    r = store2("load", input=gzip.compress(data))
    assert r.returncode == 0, r.err
    assert r.out == "Loaded image: busybox:latest\n"
    assert store2("image", "inspect", "-f", "{{.Id}}", "busybox").out.strip() == busybox_image
    # loading it again is harmless; saved by ID, it carries no tag
    assert store2("load", "-q", input=data).out == "Loaded image: busybox:latest\n"
    by_id = subprocess.run([*cli.cmd, "save", busybox_image], capture_output=True, env=cli.env(),
                           check=True).stdout
    assert store2("load", input=by_id).out == f"Loaded image ID: {busybox_image}\n"


def test_save_refuses_a_terminal_and_unknown_images(cli, busybox_image, tmp_path):
    r = cli("save", "-o", tmp_path / "x.tar", "nosuchimage")
    assert r.returncode == 1 and "No such image: nosuchimage" in r.err
    assert not os.path.exists(tmp_path / "x.tar")
    assert os.listdir(tmp_path) == []


def _image_layer_tar(files) -> bytes:
    return tar_bytes([(n, d, {"mode": 0o755 if d is None else 0o644,
                              "type": tarfile.DIRTYPE if d is None else tarfile.REGTYPE})
                      for n, d in files])


def _config(diff_ids, cmd):
    return json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": cmd},
                       "created": "2020-01-01T00:00:00Z",
                       "rootfs": {"type": "layers", "diff_ids": diff_ids},
                       "history": [{"created": "2020-01-01T00:00:00Z", "created_by": f"layer {i}"}
                                   for i in range(len(diff_ids))]}).encode()


def test_load_docker_old_format_with_linked_layers(store2, busybox_tar, tmp_path):
    with open(busybox_tar, "rb") as f:
        base = f.read()
    extra = _image_layer_tar([("old", None), ("old/file", b"old format\n")])
    v1a, v1b, v1c = ("a" * 64), ("b" * 64), ("c" * 64)
    cfg1 = _config([sha(base), sha(extra)], ["cat", "/old/file"])
    cfg2 = _config([sha(base)], ["echo", "second"])
    entries = [
        (f"{v1a}/VERSION", b"1.0", {}), (f"{v1a}/json", b"{}", {}), (f"{v1a}/layer.tar", base, {}),
        (f"{v1b}/VERSION", b"1.0", {}), (f"{v1b}/json", b"{}", {}), (f"{v1b}/layer.tar", extra, {}),
        # docker writes a layer shared by two images once, and a symlink for the other
        (f"{v1c}/layer.tar", None, {"type": tarfile.SYMTYPE, "linkname": f"../{v1a}/layer.tar"}),
        (f"{sha(cfg1)[7:]}.json", cfg1, {}), (f"{sha(cfg2)[7:]}.json", cfg2, {}),
        ("manifest.json", json.dumps([
            {"Config": f"{sha(cfg1)[7:]}.json", "RepoTags": ["oldfmt:1"],
             "Layers": [f"{v1a}/layer.tar", f"{v1b}/layer.tar"]},
            {"Config": f"{sha(cfg2)[7:]}.json", "RepoTags": None, "Layers": [f"{v1c}/layer.tar"]},
        ]).encode(), {}),
        ("repositories", json.dumps({"oldfmt": {"1": v1b}}).encode(), {}),
    ]
    path = tmp_path / "old.tar"
    path.write_bytes(tar_bytes(entries))
    r = store2("load", "-i", path)
    assert r.returncode == 0, r.err
    assert r.out.splitlines() == ["Loaded image: oldfmt:1", f"Loaded image ID: {sha(cfg2)}"]
    assert store2("run", "--rm", "oldfmt:1").out == "old format\n"
    assert store2("run", "--rm", sha(cfg2)).out == "second\n"


def test_load_oci_layout_archive_with_gzip_layers(store2, busybox_tar, tmp_path):
    with open(busybox_tar, "rb") as f:
        base = f.read()
    extra = _image_layer_tar([("oci", None), ("oci/file", b"oci layout\n")])
    blobs = {}
    layers = []
    for t in (base, extra):
        gz = gzip.compress(t)
        blobs[sha(gz)] = gz
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(gz),
                       "size": len(gz)})
    cfg = _config([sha(base), sha(extra)], ["cat", "/oci/file"])
    blobs[sha(cfg)] = cfg
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": sha(cfg), "size": len(cfg)}, "layers": layers}).encode()
    blobs[sha(manifest)] = manifest
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest),
            "size": len(manifest)}
    index = {"schemaVersion": 2, "manifests": [
        dict(desc, annotations={"io.containerd.image.name": "docker.io/library/ocifmt:1",
                                "org.opencontainers.image.ref.name": "1"})]}
    entries = [("oci-layout", b'{"imageLayoutVersion": "1.0.0"}', {}),
               ("index.json", json.dumps(index).encode(), {})]
    entries += [(f"blobs/sha256/{d[7:]}", b, {}) for d, b in blobs.items()]
    path = tmp_path / "oci.tar"
    path.write_bytes(tar_bytes(entries))
    r = store2("load", "-i", path)
    assert r.returncode == 0, r.err
    assert r.out == "Loaded image: ocifmt:1\n"
    assert store2("run", "--rm", "ocifmt:1").out == "oci layout\n"
    # the store keeps the uncompressed layer: its blob is named by its diff_id
    assert os.path.exists(os.path.join(store2.root, "blobs", "sha256", sha(extra)[7:]))


def test_load_oci_dir_that_save_wrote(cli, store2, busybox_image, tmp_path):
    """`load -i DIR` of what `save --format oci-dir` writes: the image, its tag, its ID."""
    layout = tmp_path / "layout"
    r = cli("save", "--format", "oci-dir", "-o", layout, "busybox:latest")
    assert r.returncode == 0, r.err
    r = store2("load", "-i", layout)
    assert r.returncode == 0, r.err
    assert r.out == "Loaded image: busybox:latest\n"
    assert store2("images", "-q", "--no-trunc", "busybox:latest").out.strip() == busybox_image
    assert store2("run", "--rm", "busybox", "echo", "from a directory").out == "from a directory\n"
    # a blob that does not match its digest is refused, nothing loaded
    blobs = layout / "blobs" / "sha256"
    biggest = max(blobs.iterdir(), key=lambda p: p.stat().st_size)
    data = bytearray(biggest.read_bytes())
    data[-1] ^= 1
    biggest.write_bytes(bytes(data))
    store2("rmi", "busybox:latest", check=True)
    r = store2("load", "-i", layout)
    assert r.returncode != 0 and "Traceback" not in r.err
    assert store2("images", "-q").out == ""
    # a link in the directory is a link in the archive: never followed out of it
    (layout / "index.json").unlink()
    (layout / "index.json").symlink_to("/etc/hostname")
    r = store2("load", "-i", layout)
    assert r.returncode != 0 and "Traceback" not in r.err


def _rewrite(archive: bytes, change, extra=()) -> bytes:
    """The archive with change(name, data) -> data applied to each regular file, and `extra`
    (name, data) files added."""
    src = tarfile.open(fileobj=io.BytesIO(archive))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        for m in src:
            if m.isfile():
                data = change(m.name, src.extractfile(m).read())
                m.size = len(data)
                t.addfile(m, io.BytesIO(data))
            else:
                t.addfile(m)
        for name, data in extra:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return out.getvalue()


def _flip_in_layer(layer: bytes) -> bytes:
    """Same size, one byte different inside a file's content (a valid tar still)."""
    i = layer.index(b"root:x:0:0")
    return layer[:i] + b"R" + layer[i + 1:]


@pytest.mark.parametrize("case", ["layer", "config", "manifest-of-oci", "diff-id"])
def test_a_wrong_digest_changes_nothing(cli, store2, busybox_image, case):
    data = subprocess.run([*cli.cmd, "save", "busybox"], capture_output=True, env=cli.env(), check=True).stdout
    cfg_name = json.loads(tarfile.open(fileobj=io.BytesIO(data)).extractfile("manifest.json").read())[0]["Config"]
    if case == "layer":
        bad = _rewrite(data, lambda n, d: _flip_in_layer(d) if b"root:x:0:0" in d and n.startswith("blobs/") else d)
    elif case == "config":
        bad = _rewrite(data, lambda n, d: d.replace(b'"linux"', b'"LINUX"') if n == cfg_name else d)
    elif case == "manifest-of-oci":
        # without manifest.json the OCI index is read: a changed manifest blob must be caught
        src = tarfile.open(fileobj=io.BytesIO(data))
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as t:
            for m in src:
                if m.name == "manifest.json":
                    continue
                body = src.extractfile(m).read() if m.isfile() else None
                if body and b'"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest' in body:
                    body = body.replace(b'"schemaVersion":2', b'"schemaVersion":3')
                t.addfile(m, io.BytesIO(body) if body is not None else None)
        bad = out.getvalue()
    else:
        # a layer that is fine in itself but is not the one the config names
        other = _image_layer_tar([("x", b"not busybox")])
        manifest = json.loads(tarfile.open(fileobj=io.BytesIO(data)).extractfile("manifest.json").read())
        manifest[0]["Layers"] = ["other.tar"]
        bad = _rewrite(data, lambda n, d: json.dumps(manifest).encode() if n == "manifest.json" else d,
                       extra=[("other.tar", other)])
    Store(store2.root).ensure()
    for store in (store2, cli):  # a store without the image, and one that has it
        before = listing(store.root)
        r = store("load", input=bad)
        assert r.returncode == 1, (case, r.out, r.err)
        assert r.err.startswith("Error: invalid archive: "), r.err
        assert "digest" in r.err or "diff_id" in r.err, r.err
        assert listing(store.root) == before


def _victim(store_root: str, name: str) -> str:
    v = os.path.join(os.path.dirname(store_root), name)
    os.makedirs(v, exist_ok=True)
    with open(os.path.join(v, "file"), "w") as f:
        f.write("precious\n")
    return v


def hostile_archives(victim: str, depth: int) -> dict:
    """Archives that try to write outside wherever they are unpacked. `depth` is how many
    ".." climb from the unpack directory to the victim's parent."""
    up = "../" * depth + os.path.basename(victim)
    reg = {"type": tarfile.REGTYPE}
    return {
        "dotdot": [("x", b"x", reg), (f"{up}/dotdot", b"pwned", reg)],
        "absolute": [(f"{victim}/absolute", b"pwned", reg)],
        "symlink-dir-abs": [("esc", None, {"type": tarfile.SYMTYPE, "linkname": victim}),
                            ("esc/through-abs", b"pwned", reg)],
        "symlink-dir-rel": [("esc", None, {"type": tarfile.SYMTYPE, "linkname": up}),
                            ("esc/through-rel", b"pwned", reg)],
        "hardlink-out": [("hl", None, {"type": tarfile.LNKTYPE, "linkname": f"{victim}/file"})],
        "hardlink-up": [("hl", None, {"type": tarfile.LNKTYPE, "linkname": f"{up}/file"})],
        "dir-then-symlink": [("d", None, {"type": tarfile.DIRTYPE, "mode": 0o755}),
                             ("d", None, {"type": tarfile.SYMTYPE, "linkname": victim}),
                             ("d/replaced", b"pwned", reg)],
        "whiteout-out": [(f"{up}/.wh.file", b"", reg), (".wh.esc", b"", reg)],
        "device": [("dev", None, {"type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3})],
        "truncated": [("big", b"A" * 100000, reg)],
    }


def hostile_bytes(entries, name):
    data = tar_bytes(entries)
    return data[: len(data) // 2] if name == "truncated" else data


def test_hostile_archives_through_load_leave_the_victim_alone(cli, store_root, busybox_image):
    victim = _victim(store_root, "victim-load")
    before = listing(victim)
    store_before = [x for x in listing(store_root) if not x[0].startswith(("containers", "names"))]
    # the load stage unpacks in <store>/tmp/load-*/archive: four levels below the store's parent
    for name, entries in hostile_archives(victim, 4).items():
        for data in (hostile_bytes(entries, name),
                     hostile_bytes(entries + [("manifest.json", json.dumps(
                         [{"Config": "esc/file", "RepoTags": ["pwn:1"], "Layers": ["esc/file"]}]).encode(),
                         {"type": tarfile.REGTYPE})], name)):
            r = cli("load", input=data)
            assert r.returncode == 1, (name, r.out, r.err)
            assert r.err.startswith("Error: "), r.err
    # hostile layers inside an otherwise well-formed archive
    for name, entries in hostile_archives(victim, 6).items():
        layer = hostile_bytes(entries, name)
        cfg = _config([sha(layer)], ["true"])
        arch = tar_bytes([(f"{sha(cfg)[7:]}.json", cfg, {}), ("layer.tar", layer, {}),
                          ("manifest.json", json.dumps([{"Config": f"{sha(cfg)[7:]}.json", "RepoTags": ["pwn:2"],
                                                         "Layers": ["layer.tar"]}]).encode(), {})])
        r = cli("load", input=arch)
        if r.returncode == 0:
            cli("rmi", "pwn:2", check=True)
    assert listing(victim) == before
    assert os.listdir(os.path.join(store_root, "tmp")) == []
    after = [x for x in listing(store_root) if not x[0].startswith(("containers", "names"))]
    # (the event log tells of the loads that succeeded and their rmi: it grows, rightly)
    kept = ("lock", "events.log", "events.log.1")
    assert [x for x in after if x[0] not in kept] == [x for x in store_before if x[0] not in kept]


def test_api_save_and_load(client, store_root, busybox_image):
    img = client.images.get("busybox")
    data = b"".join(img.save(named=True))
    assert "manifest.json" in tarfile.open(fileobj=io.BytesIO(data)).getnames()
    loaded = client.images.load(data)
    assert [i.id for i in loaded] == [busybox_image]
    unnamed = b"".join(img.save(chunk_size=4096))
    manifest = json.loads(tarfile.open(fileobj=io.BytesIO(unnamed)).extractfile("manifest.json").read())
    assert manifest[0]["RepoTags"] is None
