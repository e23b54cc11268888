"""What we write, read by real tools (skopeo, umoci); what they write, loaded and run by us."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess

import pytest

from conftest import Cli, tool

pytestmark = pytest.mark.privileged


def skopeo(*args):
    r = subprocess.run([tool("skopeo"), "--insecure-policy", *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def image(cli, busybox_image):
    """An image of two layers, one with a deletion and an opaque directory."""
    cid = cli("run", "-d", "busybox", "sh", "-c",
              "rm /bin/vi; rm -rf /home && mkdir /home && echo interop > /home/marker; "
              "mkdir -p /app && echo 'hello' > /app/hello && chmod 0750 /app && ln -s /app/hello /link").out.strip()
    cli("wait", cid)
    iid = cli("commit", "-c", 'CMD ["cat", "/app/hello"]', cid, "interop:1").out.strip()
    cli("rm", cid)
    yield iid
    cli("rmi", "interop:1")


def layers_of(cli, ref):
    return json.loads(cli("image", "inspect", ref).out)[0]["RootFS"]["Layers"]


def test_skopeo_reads_our_archive_as_docker_and_oci(cli, image, tmp_path):
    archive = tmp_path / "save.tar"
    assert cli("save", "-o", archive, "interop:1").returncode == 0
    for transport in ("docker-archive", "oci-archive"):
        doc = json.loads(skopeo("inspect", f"{transport}:{archive}"))
        assert doc["Layers"] == layers_of(cli, "interop:1"), transport
        assert doc["Architecture"] == "amd64" and doc["Os"] == "linux"
    raw = json.loads(skopeo("inspect", "--config", f"docker-archive:{archive}"))
    assert raw["config"]["Cmd"] == ["cat", "/app/hello"]
    assert "sha256:" + hashlib.sha256(
        skopeo("inspect", "--raw", "--config", f"oci-archive:{archive}").encode()).hexdigest() == image
    # skopeo copies it to an OCI layout (compressing the layers: same diff_ids, new digests)
    skopeo("copy", f"docker-archive:{archive}", f"oci:{tmp_path / 'copied'}:x")
    copied = json.loads(skopeo("inspect", "--config", f"oci:{tmp_path / 'copied'}:x"))
    assert copied["rootfs"]["diff_ids"] == layers_of(cli, "interop:1")


def test_skopeo_and_umoci_read_our_oci_dir(cli, image, tmp_path):
    layout = tmp_path / "layout"
    r = cli("save", "--format", "oci-dir", "-o", layout, "interop:1")
    assert r.returncode == 0, r.err
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((layout / "index.json").read_text())
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "1"
    doc = json.loads(skopeo("inspect", f"oci:{layout}:1"))
    assert doc["Layers"] == layers_of(cli, "interop:1")
    skopeo("copy", f"oci:{layout}:1", f"oci:{tmp_path / 'again'}:1")
    # a directory that exists and is not empty is refused
    r = cli("save", "--format", "oci-dir", "-o", layout, "interop:1")
    assert r.returncode == 1 and "not an empty directory" in r.err


def _tree(root):
    """name -> (type, mode, uid, gid, content or link target) for everything below root."""
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                body = os.readlink(p).encode()
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    body = hashlib.sha256(f.read()).digest()
            else:
                body = b""
            out[os.path.relpath(p, root)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
                                             st.st_gid, body)
    return out


def test_umoci_unpack_gives_what_export_gives(cli, image, tmp_path):
    tool("umoci")
    layout = tmp_path / "layout"
    assert cli("save", "--format", "oci-dir", "-o", layout, "interop:1").returncode == 0
    r = subprocess.run(["umoci", "unpack", "--image", f"{layout}:1", tmp_path / "bundle"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    cid = cli("create", "interop:1").out.strip()
    try:
        data = subprocess.run([*cli.cmd, "export", cid], capture_output=True, env=cli.env(), check=True).stdout
    finally:
        cli("rm", cid)
    exported = tmp_path / "exported"
    exported.mkdir()
    subprocess.run(["tar", "-xpf", "-", "--numeric-owner", "-C", exported], input=data, check=True)
    ours, theirs = _tree(exported), _tree(tmp_path / "bundle" / "rootfs")
    assert ours.keys() == theirs.keys()
    for k in ours:
        assert ours[k] == theirs[k], k
    assert "bin/vi" not in ours and "home/user" not in ours and "home/marker" in ours


def test_what_skopeo_writes_loads_and_runs(cli, image, tmp_path):
    layout = tmp_path / "layout"
    assert cli("save", "--format", "oci-dir", "-o", layout, "interop:1").returncode == 0
    skopeo("copy", f"oci:{layout}:1", f"docker-archive:{tmp_path / 'sk.tar'}:skopeo/written:2")
    skopeo("copy", f"oci:{layout}:1", f"oci-archive:{tmp_path / 'sk-oci.tar'}:skopeo/oci:3")
    other = Cli(str(tmp_path / "store2"))
    r = other("load", "-i", tmp_path / "sk.tar")
    assert r.returncode == 0, r.err
    assert r.out == "Loaded image: skopeo/written:2\n"
    assert other("run", "--rm", "skopeo/written:2").out == "hello\n"
    r = other("load", "-i", tmp_path / "sk-oci.tar")
    assert r.returncode == 0, r.err
    assert other("run", "--rm", r.out.split()[-1]).out == "hello\n"
    assert other("image", "inspect", "-f", "{{.Id}}", "skopeo/written:2").out.strip() == image
    other("rmi", "-f", "skopeo/written:2")
