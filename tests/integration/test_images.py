"""commit, diff, history, images -a, inspect, tag, rmi and image prune as a user sees them."""

from __future__ import annotations

import json
import os

import pytest

import layerbox

pytestmark = pytest.mark.privileged


@pytest.fixture
def made(cli, busybox_image):
    """Containers and images a test makes; removed afterwards (containers first)."""
    things = {"containers": [], "images": []}
    yield things
    for c in things["containers"]:
        cli("rm", "-f", c)
    for i in reversed(things["images"]):
        cli("rmi", "-f", i)


def run_and_commit(cli, made, image, script, *commit_args, tag=None):
    """Runs `script` in a container of `image`, commits it; returns the new image ID."""
    r = cli("run", "-d", image, "sh", "-c", script)
    assert r.returncode == 0, r.err
    cid = r.out.strip()
    made["containers"].append(cid)
    assert cli("wait", cid).out.strip() == "0"
    r = cli("commit", *commit_args, cid, *([tag] if tag else []))
    assert r.returncode == 0, r.err
    image_id = r.out.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    made["images"].append(image_id)
    return image_id


def inspect(cli, ref):
    r = cli("image", "inspect", ref)
    assert r.returncode == 0, r.err
    return json.loads(r.out)[0]


def store_refs(store_root):
    """What the store's images and containers refer to, and what is on disk."""
    def read(p):
        with open(p) as f:
            return json.load(f)

    layers_used, blobs_used = set(), set()
    for n in os.listdir(os.path.join(store_root, "images")):
        rec = read(os.path.join(store_root, "images", n))
        layers_used.update(d.split(":")[1] for d in rec["Layers"])
        blobs_used.add(rec["Id"].split(":")[1])
    for c in os.listdir(os.path.join(store_root, "containers")):
        cfg = read(os.path.join(store_root, "containers", c, "config.json"))
        layers_used.update(d.split(":")[1] for d in cfg.get("Layers") or [])
    on_disk_layers = set(os.listdir(os.path.join(store_root, "layers")))
    on_disk_blobs = set(os.listdir(os.path.join(store_root, "blobs", "sha256")))
    return layers_used, blobs_used, on_disk_layers, on_disk_blobs


def assert_no_orphans(store_root):
    layers_used, blobs_used, layers, blobs = store_refs(store_root)
    assert layers == layers_used, "layers nothing refers to (or missing)"
    assert blobs == layers_used | blobs_used, "blobs nothing refers to (or missing)"


def test_commit_then_run_the_new_image(cli, made):
    iid = run_and_commit(cli, made, "busybox", "echo committed > /hello; rm /bin/vi",
                         "-a", "Ann <ann@example.com>", "-m", "add hello",
                         "-c", "ENV GREETING=hi", "-c", 'CMD ["cat", "/hello"]', "-c", "WORKDIR /tmp",
                         "-c", "LABEL team=a", "-c", "EXPOSE 8080", "-c", "USER root",
                         "-c", "STOPSIGNAL SIGINT", "-c", "VOLUME /data", tag="committed:v1")
    r = cli("run", "--rm", "committed:v1")
    assert r.returncode == 0, r.err
    assert r.out == "committed\n"
    r = cli("run", "--rm", "committed:v1", "sh", "-c", "echo $GREETING; pwd; ls /bin/vi")
    assert r.out.splitlines() == ["hi", "/tmp"]
    assert "No such file" in r.err
    doc = inspect(cli, "committed:v1")
    assert doc["Id"] == iid
    assert doc["RepoTags"] == ["committed:v1"]
    assert doc["Author"] == "Ann <ann@example.com>"
    assert doc["Comment"] == "add hello"
    assert doc["Parent"] == cli("image", "inspect", "-f", "{{.Id}}", "busybox").out.strip()
    cfg = doc["Config"]
    assert cfg["Cmd"] == ["cat", "/hello"] and cfg["Env"] == ["GREETING=hi"]
    assert cfg["WorkingDir"] == "/tmp" and cfg["Labels"] == {"team": "a"} and cfg["User"] == "root"
    assert cfg["ExposedPorts"] == {"8080/tcp": {}} and cfg["Volumes"] == {"/data": {}}
    assert cfg["StopSignal"] == "SIGINT"
    assert doc["RootFS"]["Type"] == "layers" and len(doc["RootFS"]["Layers"]) == 2
    assert doc["Architecture"] == "amd64" and doc["Os"] == "linux" and doc["Size"] > 0
    assert doc["Metadata"]["LastTagTime"].startswith("20")
    # plain `inspect` finds images too
    assert json.loads(cli("inspect", "committed:v1").out)[0]["Id"] == iid


def test_commit_rejects_bad_input_before_writing(cli, made, store_root):
    r = cli("run", "-d", "busybox", "sh", "-c", "echo x > /x")
    made["containers"].append(r.out.strip())
    cli("wait", r.out.strip())
    before = sorted(os.listdir(os.path.join(store_root, "layers")))
    r = cli("commit", "-c", "RUN echo no", r.out.strip())
    assert r.returncode == 1 and r.err == "Error: run is not a valid change command\n"
    r = cli("commit", made["containers"][0], "Not:Valid")
    assert r.returncode == 1 and "invalid reference format" in r.err
    r = cli("commit", "no-such-container")
    assert r.returncode == 1 and "No such container: no-such-container" in r.err
    assert sorted(os.listdir(os.path.join(store_root, "layers"))) == before


def test_commit_a_running_container_pauses_it_and_lets_it_run(cli, made):
    r = cli("run", "-d", "busybox", "sh", "-c", "echo live > /live; sleep 60")
    cid = r.out.strip()
    made["containers"].append(cid)
    for args in ((), ("--pause=false",), ("-p",)):
        r = cli("commit", *args, cid)
        assert r.returncode == 0, r.err
        made["images"].append(r.out.strip())
        assert cli("inspect", "-f", "{{.State.Status}}", cid).out.strip() == "running"
        assert cli("run", "--rm", r.out.strip(), "cat", "/live").out == "live\n"
    # a paused container stays paused
    assert cli("pause", cid).returncode == 0
    r = cli("commit", cid)
    made["images"].append(r.out.strip())
    assert cli("inspect", "-f", "{{.State.Status}}", cid).out.strip() == "paused"
    cli("unpause", cid)


def test_same_change_committed_twice_gives_the_same_diff_id(cli, made):
    # (no deletion here: a whiteout carries the time it was made, which nothing inside can set)
    script = ("mkdir -p /data/sub && echo same > /data/sub/f && echo more >> /etc/group && "
              "touch -d @1000000000 /data/sub/f /data/sub /data /etc/group /etc")
    a = run_and_commit(cli, made, "busybox", script)
    b = run_and_commit(cli, made, "busybox", script)
    assert a != b  # created differs
    la = inspect(cli, a)["RootFS"]["Layers"]
    lb = inspect(cli, b)["RootFS"]["Layers"]
    assert la[-1] == lb[-1] and len(la) == 2
    # the same container committed again, deletions included: the same layer once more
    c = cli("run", "-d", "busybox", "sh", "-c", "rm -r /etc/passwd /home; echo x > /x").out.strip()
    made["containers"].append(c)
    cli("wait", c)
    r = cli("commit", c)
    made["images"].append(r.out.strip())
    la = inspect(cli, r.out.strip())["RootFS"]["Layers"]
    r = cli("commit", c)
    made["images"].append(r.out.strip())
    assert inspect(cli, r.out.strip())["RootFS"]["Layers"][-1] == la[-1]


def test_commit_without_changes_adds_no_layer(cli, made):
    iid = run_and_commit(cli, made, "busybox", "true")
    doc = inspect(cli, iid)
    assert doc["RootFS"]["Layers"] == inspect(cli, "busybox")["RootFS"]["Layers"]
    r = cli("history", "--format", "{{.Size}} {{.CreatedBy}}", iid)
    assert r.out.splitlines()[0] == "0B sh -c true"


def test_diff_lists_added_changed_deleted(cli, made, store_root):
    r = cli("run", "-d", "busybox", "sh", "-c",
            "echo new > /new; echo changed >> /etc/passwd; rm /bin/vi; mkdir -p /tmp/a/b")
    cid = r.out.strip()
    made["containers"].append(cid)
    cli("wait", cid)
    r = cli("diff", cid)
    assert r.returncode == 0, r.err
    assert r.out.splitlines() == ["C /bin", "D /bin/vi", "C /etc", "C /etc/passwd", "A /new", "C /tmp",
                                  "A /tmp/a", "A /tmp/a/b"]
    assert cli("container", "diff", cid).out == r.out
    client = layerbox.Client(root=store_root)
    assert {"Path": "/new", "Kind": 1} in client.containers.get(cid).diff()
    assert {"Path": "/bin/vi", "Kind": 2} in client.containers.get(cid).diff()


def test_history_and_images_all_after_three_commits(cli, made, store_root):
    base = cli("image", "inspect", "-f", "{{.Id}}", "busybox").out.strip()
    i1 = run_and_commit(cli, made, "busybox", "echo 1 > /one", "-m", "first")
    i2 = run_and_commit(cli, made, i1, "echo 2 > /two")
    i3 = run_and_commit(cli, made, i2, "head -c 5000 /bin/busybox > /three", tag="chain:3")
    r = cli("history", "chain:3")
    assert r.returncode == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    ids = [ln.split()[0] for ln in lines[1:]]
    assert ids == [i3[7:19], i2[7:19], i1[7:19], base[7:19]]
    assert "head -c 5000 /bin/busybox > /three" in lines[1] and "5kB" in lines[1]
    assert lines[3].rstrip().endswith("first")
    assert cli("history", "-q", "chain:3").out.split() == ids
    r = cli("history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}", "chain:3")
    assert r.out.splitlines()[0] == f"{i3}|sh -c head -c 5000 /bin/busybox > /three|5kB"
    r = cli("history", "--human=false", "--format", "{{.CreatedSince}} {{.Size}}", "chain:3")
    assert r.out.splitlines()[0].endswith("Z 5000")
    # the parents are intermediate images: hidden by `images`, shown by `images -a`
    shown = cli("images", "-q", "--no-trunc").out.split()
    assert i3 in shown and i1 not in shown and i2 not in shown
    all_ = cli("images", "-a", "-q", "--no-trunc").out.split()
    assert {i1, i2, i3} <= set(all_)
    rows = cli("images", "-a", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").out.splitlines()
    assert f"<none>:<none> {i1[7:19]}" in rows and f"chain:3 {i3[7:19]}" in rows
    # dangling=true: untagged leaves only, never the parents
    assert i1 not in cli("images", "-q", "--no-trunc", "--filter", "dangling=true").out.split()
    # the API's view of the same
    h = layerbox.Client(root=store_root).images.get("chain:3").history()
    assert [x["Id"] for x in h] == [i3, i2, i1, base] and h[0]["Tags"] == ["chain:3"]
    assert h[0]["Size"] == 5000 and h[2]["Comment"] == "first"
    # removing the tag removes the chain (untagged parents nothing else needs), not busybox
    for c in made["containers"]:
        cli("rm", "-f", c)
    made["containers"].clear()
    r = cli("rmi", "chain:3")
    assert r.returncode == 0, r.err
    out = r.out.splitlines()
    assert out[0] == "Untagged: chain:3"
    deleted = [ln.split(": ")[1] for ln in out if ln.startswith("Deleted: ")]
    assert [d for d in deleted if d in (i1, i2, i3)] == [i3, i2, i1]
    assert cli("image", "inspect", "busybox").returncode == 0
    assert_no_orphans(store_root)


def test_rmi_refuses_and_allows_as_docker_does(cli, made, store_root):
    iid = run_and_commit(cli, made, "busybox", "echo x > /x", tag="rmitest:a")
    short = iid[7:19]
    assert cli("tag", "rmitest:a", "rmitest:b").returncode == 0
    assert cli("tag", "rmitest:a", "other/rmitest").returncode == 0
    # one of several tags: only the tag goes
    r = cli("rmi", "rmitest:b")
    assert r.returncode == 0 and r.out == "Untagged: rmitest:b\n"
    # by ID with several tags: must be forced
    r = cli("rmi", short)
    assert r.returncode == 1
    assert r.err == (f"Error: conflict: unable to delete {short} (must be forced) - image is referenced "
                     "in one or more repositories\n")
    cli("rmi", "other/rmitest:latest", check=True)
    # a container uses it: the last tag must be forced
    r = cli("run", "-d", "rmitest:a", "sleep", "60")
    running = r.out.strip()
    made["containers"].append(running)
    r = cli("rmi", "rmitest:a")
    assert r.returncode == 1
    assert r.err == (f'Error: conflict: unable to remove repository reference "rmitest:a" (must force) - '
                     f"container {running[:12]} is using its referenced image {short}\n")
    # by ID while it runs: cannot be forced
    r = cli("rmi", "-f", iid)
    assert r.returncode == 1
    assert r.err == (f"Error: conflict: unable to delete {short} (cannot be forced) - image is being used "
                     f"by running container {running[:12]}\n")
    # forced by tag: untagged, the image stays for the running container
    r = cli("rmi", "-f", "rmitest:a")
    assert r.returncode == 0 and r.out == "Untagged: rmitest:a\n"
    assert cli("image", "inspect", iid).returncode == 0
    # a parent of another image: cannot be forced
    child = run_and_commit(cli, made, iid, "echo y > /y", tag="rmitest:child")
    r = cli("rmi", "-f", iid)
    assert r.returncode == 1 and "(cannot be forced) - image has dependent child images" in r.err
    # once nothing uses them, both go, and nothing they alone used is left in the store
    for c in made["containers"]:
        cli("rm", "-f", c)
    made["containers"].clear()
    r = cli("rmi", "rmitest:child")
    assert r.returncode == 0, r.err
    assert r.out.splitlines() == ["Untagged: rmitest:child", f"Deleted: {child}",
                                  *[ln for ln in r.out.splitlines()[2:]]]
    assert f"Deleted: {iid}" in r.out.splitlines()
    assert cli("image", "inspect", iid).returncode != 0
    assert_no_orphans(store_root)
    # rmi of several, one unknown: the others still go, exit 1
    cli("tag", "busybox", "rmitest:x")
    r = cli("rmi", "rmitest:x", "nosuchimage:1")
    assert r.returncode == 1 and "Untagged: rmitest:x" in r.out
    assert "No such image: nosuchimage:1" in r.err


def test_image_prune(cli, made, store_root):
    dangling = run_and_commit(cli, made, "busybox", "echo d > /d")
    labelled = run_and_commit(cli, made, "busybox", "echo l > /l", "-c", "LABEL prunetest=1",
                              tag="prunetest:1")
    for c in made["containers"]:
        cli("rm", "-f", c)
    made["containers"].clear()
    r = cli("image", "prune", "-f")
    assert r.returncode == 0, r.err
    assert f"deleted: {dangling}" in r.out.splitlines()
    assert r.out.startswith("Deleted Images:\n") and "Total reclaimed space: " in r.out
    assert cli("image", "inspect", "prunetest:1").returncode == 0
    # -a removes unused tagged images too; the label filter keeps this test to its own image
    r = cli("image", "prune", "-a", "-f", "--filter", "label=prunetest=1")
    assert r.returncode == 0, r.err
    assert "untagged: prunetest:1" in r.out and f"deleted: {labelled}" in r.out
    assert cli("image", "inspect", "busybox").returncode == 0
    assert_no_orphans(store_root)
    assert cli("image", "prune", "-f").out == "Total reclaimed space: 0B\n"


def test_api_commit(client, made):
    c = client.containers.run("busybox", "sh -c 'echo api > /api'", detach=True)
    made["containers"].append(c.id)
    c.wait()
    img = c.commit(repository="apicommit", tag="1", message="from the api", changes=["ENV X=1"],
                   conf={"Labels": {"k": "v"}})
    made["images"].append(img.id)
    assert img.tags == ["apicommit:1"]
    assert img.attrs["Config"]["Env"] == ["X=1"] and img.labels == {"k": "v"}
    assert client.containers.run(img, "cat /api", remove=True) == b"api\n"
    assert img.history()[0]["Comment"] == "from the api"


def test_layers_of_a_force_removed_image_go_with_its_last_container(cli, busybox_image, store_root):
    # An image only a stopped container uses: rmi -f untags it and keeps the layers for the
    # container; removing the container then removes those layers.
    r = cli("run", "--name", "keeper", "busybox", "sh", "-c", "echo x > /f")
    assert r.returncode == 0
    img = cli("commit", "keeper", "orphaned:1").out.strip()
    cli("rm", "keeper", check=True)
    cid = cli("create", "orphaned:1", "true").out.strip()
    layer = json.loads(cli("image", "inspect", img).out)[0]["RootFS"]["Layers"][-1]
    assert cli("rmi", "-f", "orphaned:1").returncode == 0
    assert os.path.exists(os.path.join(store_root, "layers", layer.split(":")[1]))
    cli("rm", cid, check=True)
    assert not os.path.exists(os.path.join(store_root, "layers", layer.split(":")[1]))


def test_a_published_layer_is_leased_until_its_image_names_it(store_root, busybox_image):
    """rmi/prune between publishing a layer and writing the image must not collect the layer."""
    import io
    import tarfile

    from layerbox.image.store import ImageStore
    from layerbox.store import Store

    images = ImageStore(Store(store_root))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("leased-file")
        info.size = 3
        t.addfile(info, io.BytesIO(b"abc"))
    r, w = os.pipe()
    os.write(w, buf.getvalue())
    os.close(w)
    try:
        meta = images.add_layer_from_fd(r)
    finally:
        os.close(r)
    layer_dir = os.path.join(store_root, "layers", meta["DiffID"].split(":")[1])
    with images.store.lock():
        images.gc_locked()  # what a concurrent rmi or image prune runs
    assert os.path.isdir(layer_dir)
    cfg = images.config(busybox_image)
    cfg["rootfs"]["diff_ids"].append(meta["DiffID"])
    new = images.add_image(cfg, parent=busybox_image)
    images.remove(new, force=True)  # the layer is now only the removed image's: it goes
    assert not os.path.exists(layer_dir)
