"""The Python API as the Docker SDK's documentation uses it."""

from __future__ import annotations

import time

import pytest

import layerbox
from layerbox import errors

pytestmark = pytest.mark.privileged


@pytest.fixture
def made(client):
    """Containers a test made; whatever is left of them is removed afterwards."""
    items = []
    yield items
    for c in items:
        try:
            c.remove(force=True)
        except errors.NotFound:
            pass


def test_from_env_and_client(store_root, monkeypatch):
    monkeypatch.setenv("LAYERBOX_ROOT", store_root)
    c = layerbox.from_env()
    assert c.root == store_root
    assert c.ping() is True
    assert "Version" in c.version()
    assert isinstance(layerbox.DockerClient(root=store_root), layerbox.Client)


def test_run_returns_output(client, busybox_image):
    assert client.containers.run("busybox", "echo hello") == b"hello\n"
    assert client.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2"]) == b"out\n"
    both = client.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2"], stderr=True)
    assert b"out\n" in both and b"err\n" in both
    assert client.containers.run("busybox", "true", remove=True) == b""
    gen = client.containers.run("busybox", "echo streamed", stream=True)
    assert b"".join(gen) == b"streamed\n"
    # every run above was removed or is exited; remove=True ones are gone
    for c in client.containers.list(all=True, filters={"ancestor": "busybox"}):
        c.remove()


def test_run_raises_container_error(client, busybox_image):
    with pytest.raises(errors.ContainerError) as ei:
        client.containers.run("busybox", ["sh", "-c", "echo oops >&2; exit 3"], remove=True)
    e = ei.value
    assert e.exit_status == 3
    assert e.stderr == b"oops\n"
    assert e.image == "busybox"
    assert isinstance(e, errors.LayerboxError) and isinstance(e, errors.DockerException)
    with pytest.raises(errors.ImageNotFound):
        client.containers.run("no-such-image", "true")
    with pytest.raises(errors.NotFound):
        client.containers.run("no-such-image", "true")
    with pytest.raises(errors.APIError):
        client.containers.run("no-such-image", "true")


def test_run_detached_and_the_container_model(client, busybox_image, made):
    c = client.containers.run("busybox", ["sh", "-c", "echo ready; sleep 100"], detach=True,
                              name="api-detached", labels={"team": "red"},
                              environment={"A": "1"}, working_dir="/tmp", hostname="api-host")
    made.append(c)
    assert isinstance(c, layerbox.client.Container)
    assert c.name == "api-detached"
    assert c.status == "running"
    assert c.labels == {"team": "red"}
    assert c.short_id == c.id[:12]
    assert c.image.id == client.images.get("busybox").id
    assert c.attrs["Config"]["Hostname"] == "api-host"
    assert "A=1" in c.attrs["Config"]["Env"]
    assert client.containers.get("api-detached") == c
    assert client.containers.get(c.id[:7]).id == c.id
    deadline = time.time() + 10
    while b"ready" not in c.logs() and time.time() < deadline:
        time.sleep(0.05)
    assert c.logs() == b"ready\n"
    r = c.exec_run("sh -c 'echo $A; pwd; hostname; exit 4'")
    assert r.exit_code == 4 and r.output == b"1\n/tmp\napi-host\n"
    code, (out, err) = c.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
    assert (code, out, err) == (0, b"o\n", b"e\n")
    assert c.exec_run("id -u", user="user").output == b"1000\n"
    assert c.exec_run("env", environment={"B": "2"}).output.count(b"B=2") == 1
    top = c.top()
    assert "PID" in top["Titles"] and any("sleep 100" in " ".join(p) for p in top["Processes"])
    c.pause()
    c.reload()
    assert c.status == "paused"
    c.unpause()
    c.reload()
    assert c.status == "running"
    c.rename("api-renamed")
    c.reload()
    assert c.name == "api-renamed"
    c.stop(timeout=1)
    assert c.wait() == {"StatusCode": 137, "Error": None}
    c.reload()
    assert c.status == "exited"
    c.start()
    c.reload()
    assert c.status == "running"
    c.kill(signal="SIGTERM")  # sh as PID 1 without a handler ignores it: still running
    time.sleep(0.2)
    c.reload()
    assert c.status == "running"
    c.kill()
    assert c.wait()["StatusCode"] == 137
    c.remove()
    with pytest.raises(errors.NotFound):
        client.containers.get(c.id)


def test_wait_timeout(client, busybox_image, made):
    c = client.containers.run("busybox", "sleep 100", detach=True)
    made.append(c)
    with pytest.raises(errors.Timeout):
        c.wait(timeout=0.3)
    with pytest.raises(TimeoutError):
        c.wait(timeout=0.1)


def test_logs_options(client, busybox_image, made):
    c = client.containers.run("busybox", ["sh", "-c", "for i in 1 2 3; do echo l$i; done"], detach=True)
    made.append(c)
    c.wait()
    assert c.logs(tail=1) == b"l3\n"
    assert b"".join(c.logs(stream=True)) == b"l1\nl2\nl3\n"
    ts = c.logs(timestamps=True).split(b"\n")[0]
    assert ts.endswith(b" l1") and b"T" in ts
    assert c.logs(stdout=False) == b""
    assert c.logs(since=time.time() + 3600) == b""


def test_follow_logs_stream(client, busybox_image, made):
    c = client.containers.run("busybox", ["sh", "-c", "echo a; sleep 0.5; echo b"], detach=True)
    made.append(c)
    assert b"".join(c.logs(stream=True, follow=True)) == b"a\nb\n"


def test_list_and_filters(client, busybox_image, made):
    a = client.containers.run("busybox", "sleep 100", detach=True, labels={"k": "a"}, name="flt-a")
    b = client.containers.run("busybox", "true", detach=True, labels={"k": "b"}, name="flt-b")
    made.extend([a, b])
    b.wait()
    ids = lambda **kw: {c.id for c in client.containers.list(**kw)}  # noqa: E731
    assert a.id in ids() and b.id not in ids()
    assert {a.id, b.id} <= ids(all=True)
    assert ids(all=True, filters={"label": "k=b"}) == {b.id}
    assert ids(all=True, filters={"label": ["k"]}) >= {a.id, b.id}
    assert ids(all=True, filters={"status": "exited", "label": "k"}) == {b.id}
    assert ids(filters={"name": "flt-a"}) == {a.id}
    assert ids(all=True, filters={"id": b.id[:10]}) == {b.id}
    assert len(client.containers.list(all=True, limit=1)) == 1
    pruned = client.containers.prune(filters={"label": "k=b"})
    assert pruned["ContainersDeleted"] == [b.id]
    made.remove(b)


def test_create_options(client, busybox_image, tmp_path, made):
    (tmp_path / "f").write_text("data\n")
    c = client.containers.create(
        "busybox", ["sh", "-c", "cat /mnt/f; echo $X; ulimit -n >/dev/null; echo ok"],
        volumes={str(tmp_path): {"bind": "/mnt", "mode": "ro"}}, environment=["X=1"],
        mem_limit="64m", nano_cpus=500_000_000, pids_limit=40, init=True, network_mode="none")
    made.append(c)
    assert c.status == "created"
    hc = c.attrs["HostConfig"]
    assert (hc["Memory"], hc["NanoCpus"], hc["PidsLimit"], hc["Init"]) == (64 << 20, 500_000_000, 40, True)
    c.start()
    assert c.wait()["StatusCode"] == 0
    assert c.logs() == b"data\n1\nok\n"
    with pytest.raises(errors.NotFound):
        client.containers.create("busybox", "true", network_mode="no-such-network")
    with pytest.raises(errors.Conflict):
        client.containers.create("busybox", "true", name=c.name)


def test_errors_hierarchy():
    assert issubclass(errors.ImageNotFound, errors.NotFound)
    assert issubclass(errors.NotFound, errors.APIError)
    assert issubclass(errors.APIError, errors.LayerboxError)
    for cls in (errors.ContainerError, errors.BuildError, errors.ImageLoadError,
                errors.InvalidArgument, errors.KernelError):
        assert issubclass(cls, errors.LayerboxError)
    assert issubclass(errors.KernelError, OSError)
    assert errors.NotFound("x").status_code == 404
    assert errors.NotFound("x").is_client_error()


def test_kernel_errors_carry_errno_syscall_and_path(client, busybox_image, tmp_path):
    from layerbox import _core

    with pytest.raises(errors.KernelError) as ei:
        _core.remove_tree("/")
    with pytest.raises(OSError) as ei:
        _core.read_in_root(str(tmp_path / "missing"), "x")
    e = ei.value
    assert e.errno == 2 and e.filename == str(tmp_path / "missing") and e.syscall == "open"
    assert "no such file or directory" in str(e)


def test_images_api(client, busybox_image):
    img = client.images.get("busybox")
    assert img.id == busybox_image
    assert img.tags == ["busybox:latest"]
    assert img.short_id == busybox_image[:19]
    assert img in client.images.list()
    assert [i.id for i in client.images.list(name="busybox")] == [img.id]
    assert img.tag("copy", "v1") is True
    assert "copy:v1" in client.images.get("busybox").tags
    client.images.remove("copy:v1")
    assert client.images.get("busybox").tags == ["busybox:latest"]
    with pytest.raises(errors.ImageNotFound):
        client.images.get("copy:v1")
    img.reload()
    assert img.attrs["RootFS"]["Type"] == "layers"
