"""The Python API as the Docker SDK's documentation uses it."""

from __future__ import annotations

import subprocess
import time
from importlib.metadata import version

import pytest
from conftest import layerbox_command

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
    assert c.version()["Version"] == version("layerbox")  # what pip installed
    shown = subprocess.run([*layerbox_command(), "--version"], capture_output=True, text=True).stdout
    assert shown == f"layerbox version {version('layerbox')}\n"
    assert isinstance(layerbox.DockerClient(root=store_root), layerbox.Client)


def test_ping_says_when_the_store_cannot_be_used(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(errors.APIError, match=r"^store .*not-a-directory.*: "):
        layerbox.Client(root=str(blocker / "store")).ping()


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


def test_a_bare_env_name_unsets_and_is_not_looked_up(client, busybox_image, monkeypatch):
    """As docker-py sends it to dockerd: environment=["K"] (or {"K": None}) unsets K; the
    calling process's own K is not read (only the CLI's -e K does that, as docker's)."""
    monkeypatch.setenv("LB_CALLERS_SECRET", "s3cret")
    show = ["sh", "-c", 'echo "${LB_CALLERS_SECRET-unset} ${HOME-unset}"']
    assert client.containers.run("busybox", show, remove=True,
                                 environment=["LB_CALLERS_SECRET"]) == b"unset /root\n"
    assert client.containers.run("busybox", show, remove=True,
                                 environment={"LB_CALLERS_SECRET": None}) == b"unset /root\n"


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


# What each honoured SDK argument of containers.run/create does, as inspect shows it:
# (keyword arguments, where in the inspect document, expected value there).
HONOURED = {
    "auto_remove": ({"auto_remove": True}, ("HostConfig", "AutoRemove"), True),
    "command": ({"command": ["echo", "x"]}, ("Args",), ["x"]),
    "cpu_shares": ({"cpu_shares": 512}, ("HostConfig", "CpuShares"), 512),
    "cpu_period": ({"cpu_period": 50000}, ("HostConfig", "CpuPeriod"), 50000),
    "cpu_quota": ({"cpu_quota": 25000}, ("HostConfig", "CpuQuota"), 25000),
    "cpuset_cpus": ({"cpuset_cpus": "0"}, ("HostConfig", "CpusetCpus"), "0"),
    "detach": ({"detach": True}, ("Config", "AttachStdout"), False),
    "domainname": ({"domainname": "example.org"}, ("Config", "Domainname"), "example.org"),
    "entrypoint": ({"entrypoint": ["/bin/echo"]}, ("Path",), "/bin/echo"),
    "environment": ({"environment": {"SDK": "1"}}, ("Config", "Env", -1), "SDK=1"),
    "hostname": ({"hostname": "sdk-host"}, ("Config", "Hostname"), "sdk-host"),
    "init": ({"init": True}, ("HostConfig", "Init"), True),
    "mac_address": ({"mac_address": "92:d0:c6:0a:29:33"}, ("Config", "MacAddress"), "92:d0:c6:0a:29:33"),
    "labels": ({"labels": {"k": "v"}}, ("Config", "Labels", "k"), "v"),
    "mem_limit": ({"mem_limit": "64m"}, ("HostConfig", "Memory"), 64 << 20),
    "memswap_limit": ({"mem_limit": "64m", "memswap_limit": "96m"}, ("HostConfig", "MemorySwap"),
                      96 << 20),
    "name": ({"name": "sdk-arg-name"}, ("Name",), "/sdk-arg-name"),
    "nano_cpus": ({"nano_cpus": 250_000_000}, ("HostConfig", "NanoCpus"), 250_000_000),
    "network": ({"network": "host"}, ("HostConfig", "NetworkMode"), "host"),
    "network_mode": ({"network_mode": "host"}, ("HostConfig", "NetworkMode"), "host"),
    "pids_limit": ({"pids_limit": 33}, ("HostConfig", "PidsLimit"), 33),
    "platform": ({"platform": "linux/amd64"}, ("Platform",), "linux"),
    "read_only": ({"read_only": True}, ("HostConfig", "ReadonlyRootfs"), True),
    "restart_policy": ({"restart_policy": {"Name": "on-failure", "MaximumRetryCount": 2}},
                       ("HostConfig", "RestartPolicy", "MaximumRetryCount"), 2),
    "stdin_open": ({"stdin_open": True}, ("Config", "OpenStdin"), True),
    "stop_signal": ({"stop_signal": "SIGRTMIN+2"}, ("Config", "StopSignal"), "SIGRTMIN+2"),
    "tty": ({"tty": True}, ("Config", "Tty"), True),
    "user": ({"user": "1000"}, ("Config", "User"), "1000"),
    "volumes": ({"volumes": ["/srv/sdk-vol:/data:ro"]}, ("HostConfig", "Binds", 0),
                "/srv/sdk-vol:/data:ro"),
    "working_dir": ({"working_dir": "/tmp"}, ("Config", "WorkingDir"), "/tmp"),
    "mounts": ({"mounts": [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1 << 20}}]},
               ("Mounts", 0, "Destination"), "/t"),
    # the container the test makes first (see below)
    "volumes_from": ({"volumes_from": ["sdk-arg-volumes-from:ro"]}, ("Mounts", 0, "RW"), False),
    # normalized as docker 20.10+ stores them (NormalizeLegacyCapabilities)
    "cap_add": ({"cap_add": ["NET_ADMIN"]}, ("HostConfig", "CapAdd"), ["CAP_NET_ADMIN"]),
    "cap_drop": ({"cap_drop": ["CHOWN"]}, ("HostConfig", "CapDrop"), ["CAP_CHOWN"]),
    "devices": ({"devices": ["/dev/null:/dev/mynull:rw"]}, ("HostConfig", "Devices", 0,
                "PathInContainer"), "/dev/mynull"),
    "privileged": ({"privileged": True}, ("HostConfig", "Privileged"), True),
    "security_opt": ({"security_opt": ["no-new-privileges"]}, ("HostConfig", "SecurityOpt"),
                     ["no-new-privileges"]),
    "tmpfs": ({"tmpfs": {"/t": "size=1m"}}, ("HostConfig", "Tmpfs"), {"/t": "size=1m"}),
    "ports": ({"ports": {"80/tcp": 18080}}, ("HostConfig", "PortBindings", "80/tcp", 0, "HostPort"),
              "18080"),
    "publish_all_ports": ({"publish_all_ports": True}, ("HostConfig", "PublishAllPorts"), True),
    "dns": ({"dns": ["10.0.0.53"]}, ("HostConfig", "Dns"), ["10.0.0.53"]),
    "dns_opt": ({"dns_opt": ["ndots:2"]}, ("HostConfig", "DnsOptions"), ["ndots:2"]),
    "dns_search": ({"dns_search": ["example.test"]}, ("HostConfig", "DnsSearch"), ["example.test"]),
    "extra_hosts": ({"extra_hosts": {"db": "10.1.2.3"}}, ("HostConfig", "ExtraHosts"), ["db:10.1.2.3"]),
    # nothing to see: no proxy configuration to apply, no Engine API version to speak
    "use_config_proxy": ({"use_config_proxy": True}, ("Config", "Hostname", 0), None),
    "version": ({"version": "1.43"}, ("Config", "Hostname", 0), None),
    "healthcheck": ({"healthcheck": {"test": "true", "retries": 2}}, ("Config", "Healthcheck"),
                    {"Test": ["CMD-SHELL", "true"], "Retries": 2}),
    "log_config": ({"log_config": {"Type": "json-file", "Config": {"max-size": "1m"}}},
                   ("HostConfig", "LogConfig"), {"Type": "json-file", "Config": {"max-size": "1m"}}),
    "ulimits": ({"ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}]}, ("HostConfig", "Ulimits"),
                [{"Name": "nofile", "Hard": 20, "Soft": 10}]),
    "shm_size": ({"shm_size": "8m"}, ("HostConfig", "ShmSize"), 8 << 20),
    "sysctls": ({"sysctls": {"net.ipv4.ip_forward": "1"}}, ("HostConfig", "Sysctls"),
                {"net.ipv4.ip_forward": "1"}),
    "oom_score_adj": ({"oom_score_adj": 10}, ("HostConfig", "OomScoreAdj"), 10),
    "group_add": ({"group_add": ["staff"]}, ("HostConfig", "GroupAdd"), ["staff"]),
    "pid_mode": ({"pid_mode": "host"}, ("HostConfig", "PidMode"), "host"),
    "ipc_mode": ({"ipc_mode": "host"}, ("HostConfig", "IpcMode"), "host"),
    "uts_mode": ({"uts_mode": "host"}, ("HostConfig", "UTSMode"), "host"),
}


def _sdk_run_arguments():
    """Every keyword argument the Docker SDK documents for containers.run: the ones it hands
    to the Engine API as they are, and the ones it handles itself (see its
    _create_container_args and run())."""
    from docker.models import containers as sdk

    own = {"ports", "volumes", "network", "networking_config", "detach"}
    return set(sdk.RUN_CREATE_KWARGS) | set(sdk.RUN_HOST_CONFIG_KWARGS) | own


def test_every_sdk_run_argument_is_honoured_or_refused(client, busybox_image, made):
    from layerbox.client import SDK_RUN_ARGS

    documented = _sdk_run_arguments() - {"image"}  # run()'s first argument
    assert documented <= set(SDK_RUN_ARGS), sorted(documented - set(SDK_RUN_ARGS))
    assert set(SDK_RUN_ARGS) <= documented, sorted(set(SDK_RUN_ARGS) - documented)
    honoured = {k for k, v in SDK_RUN_ARGS.items() if v}
    assert honoured == set(HONOURED), sorted(honoured ^ set(HONOURED))
    before = {c.id for c in client.containers.list(all=True)}
    source = client.containers.create("busybox", "true", name="sdk-arg-volumes-from",
                                      volumes=["/from"])
    for name in sorted(documented):
        if SDK_RUN_ARGS[name]:
            kwargs, where, want = HONOURED[name]
            c = client.containers.create("busybox", **{"command": "true", **kwargs})
            made.append(c)
            got = c.attrs
            for key in where:
                got = got[key]
            if want is not None:
                assert got == want, (name, got)
            c.remove()
        else:
            with pytest.raises(errors.InvalidArgument, match=f"^the argument '{name}' is not "
                               "supported by layerbox$"):
                client.containers.run("busybox", "true", **{name: _some_value(name)})
            # what the SDK sends when the argument is not used is no request at all
            c = client.containers.create("busybox", "true", **{name: None})
            made.append(c)
            c.remove()
    source.remove(v=True)
    assert {c.id for c in client.containers.list(all=True)} == before


def _some_value(name):
    if name in ("privileged", "publish_all_ports", "oom_kill_disable", "network_disabled"):
        return True
    if name in ("ports",):
        return {"80/tcp": 8080}
    if name in ("cap_add", "cap_drop", "dns", "dns_search", "dns_opt", "security_opt",
                "devices", "group_add", "links", "volumes_from", "device_cgroup_rules",
                "extra_hosts", "mounts", "ulimits", "device_requests"):
        return ["x"]
    if name in ("tmpfs", "sysctls", "storage_opt", "log_config", "healthcheck", "lxc_conf",
                "networking_config", "blkio_weight_device", "device_read_bps"):
        return {"x": "y"}
    if name in ("cpu_count", "cpu_percent", "cpu_period", "cpu_quota", "cpu_rt_period",
                "cpu_rt_runtime", "blkio_weight", "kernel_memory", "mem_reservation",
                "mem_swappiness", "oom_score_adj", "shm_size"):
        return 10
    return "x"


def test_unknown_arguments_raise_as_the_sdk_does(client, busybox_image):
    with pytest.raises(TypeError, match=r"^run\(\) got an unexpected keyword argument "
                                        r"'totally_bogus_kwarg'$"):
        client.containers.run("busybox", "true", totally_bogus_kwarg=1)
    with pytest.raises(TypeError, match=r"^run\(\) got unexpected keyword arguments 'a', 'b'$"):
        client.containers.create("busybox", "true", b=1, a=2)
    with pytest.raises(errors.InvalidArgument, match="'links', 'lxc_conf'"):
        client.containers.run("busybox", "true", lxc_conf={"x": "y"}, links=["x"])
    with pytest.raises(errors.InvalidArgument, match="linux/arm64"):
        client.containers.run("busybox", "true", platform="linux/arm64")
    with pytest.raises(RuntimeError, match="can not be used together"):
        client.containers.run("busybox", "true", network="host", network_mode="none")


def test_models_refuse_what_they_do_not_do(client, busybox_image, made):
    """Beyond run/create: start() with configuration (the SDK's DeprecatedMethod), networks
    with arguments the SDK does not have or swarm ones, an image tag with a bogus argument."""
    c = client.containers.create("busybox", "true")
    made.append(c)
    with pytest.raises(TypeError, match="no longer supported; give binds to create"):
        c.start(binds=["/:/host"])
    assert c.reload() or c.status == "created"
    with pytest.raises(TypeError, match="unexpected keyword argument 'totally_bogus'"):
        client.networks.create("never-made", totally_bogus=1)
    assert not client.networks.list(names=["never-made"])
    with pytest.raises(errors.InvalidArgument, match="swarm options"):
        client.networks.get("bridge", scope="swarm")
    with pytest.raises(TypeError):
        client.images.get("busybox").tag("x", "y", bogus=1)


def test_network_alias_runs_on_the_host_network(client, busybox_image):
    import socket

    out = client.containers.run("busybox", "hostname", network="host", remove=True)
    assert out == (socket.gethostname() + "\n").encode()
    bridged = client.containers.run("busybox", "ls /sys/class/net", remove=True)
    assert bridged == b"eth0\nlo\n"  # the default: docker's bridge
    isolated = client.containers.run("busybox", "ls /sys/class/net", remove=True, network="none")
    assert isolated == b"lo\n"


def test_exec_run_with_a_tty(client, busybox_image, made):
    c = client.containers.run("busybox", "sleep 100", detach=True)
    made.append(c)
    r = c.exec_run(["sh", "-c", "test -t 0 && test -t 1 && echo tty=$TERM; tty"], tty=True)
    assert r.exit_code == 0
    lines = r.output.split(b"\r\n")  # a terminal's line endings, as docker's
    assert lines[0] == b"tty=xterm" and lines[1].startswith(b"/dev/pts/"), r.output
    r = c.exec_run(["sh", "-c", "test -t 1 || echo no-tty"])
    assert r.output == b"no-tty\n"


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


def test_info_df_version_events_stats_attach(client, busybox_image):
    import threading

    v = client.version()
    assert v["ApiVersion"] and v["Os"] == "linux"
    info = client.info()
    assert info["Images"] >= 1 and info["DockerRootDir"] == client.root
    df = client.df()
    assert any("busybox:latest" in i["RepoTags"] for i in df["Images"])
    since = time.time() - 1
    got = []

    def watch():
        for ev in client.events(since=since, until=time.time() + 30, decode=True,
                                filters={"type": "container", "container": "sdk-ev"}):
            got.append(ev["Action"])
            if ev["Action"] == "destroy":
                return

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    c = client.containers.run("busybox", ["sh", "-c", "echo one; sleep 0.3; echo two >&2; sleep 30"],
                              detach=True, name="sdk-ev")
    try:
        st = c.stats(stream=False)
        assert st["id"] == c.id and st["memory_stats"]["usage"] > 0
        assert st["pids_stats"]["current"] >= 1
        assert next(c.stats(decode=True))["id"] == c.id
        out = c.attach(stdout=True, stderr=True, stream=True, logs=True)
        assert next(out) == b"one\n" and next(out) == b"two\n"
        # update: the limits reach the cgroup and the stored HostConfig (inspect shows them)
        assert c.update(mem_limit="64m", memswap_limit="128m", cpu_quota=50000,
                        cpu_period=100000) == {"Warnings": None}
        host = c.attrs["HostConfig"]
        assert (host["Memory"], host["MemorySwap"]) == (64 << 20, 128 << 20)
        assert (host["CpuQuota"], host["CpuPeriod"]) == (50000, 100000)
        assert client.containers.get("sdk-ev").attrs["HostConfig"]["Memory"] == 64 << 20
        with pytest.raises(errors.InvalidArgument, match="MemoryReservation"):
            c.update(mem_reservation="10m")
    finally:
        c.remove(force=True)
    t.join(timeout=30)
    # die is the monitor's to record, for a container any client started
    assert got[0] == "create" and "start" in got and "die" in got and got[-1] == "destroy", got
    assert "update" in got, got


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _monitor_of(c) -> int:
    """The container's monitor: its init's parent."""
    c.reload()
    return _ppid(c.attrs["State"]["Pid"])


def test_monitors_from_a_factory_look_as_exec_d_ones(client, busybox_image, made):
    """From a process's second start on, monitors are forked by its monitor factory: each still
    runs the sealed copy and shows its container's directory as its command line (what `ps`
    and every leftover check look for); a forked process and a killed factory start another."""
    import os
    import signal as _signal

    def start(n):
        cs = [client.containers.run("busybox", ["sleep", "30"], detach=True, network_mode="none")
              for _ in range(n)]
        made.extend(cs)
        return cs

    def check(cs):
        for c in cs:
            mon = _monitor_of(c)
            with open(f"/proc/{mon}/cmdline", "rb") as f:
                # NULs between an exec'd one's arguments, a space in a factory's child's title
                shown = f.read().replace(b"\0", b" ").strip()
            assert shown == f"layerbox-shim {client.root}/containers/{c.id}".encode()
            assert os.readlink(f"/proc/{mon}/exe").startswith("/memfd:layerbox-shim")

    cs = start(3)
    check(cs)
    factories = {_ppid(_monitor_of(c)) for c in cs[1:]}
    assert len(factories) == 1  # the second and third came from one factory
    (factory,) = factories
    with open(f"/proc/{factory}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"layerbox-shim", b"factory"]
    pid = os.fork()
    if pid == 0:  # a forked client: its own starts, its own factory
        try:
            kids = start(2)
            check(kids)
            for c in kids:
                c.kill()
                c.wait()
                c.remove()
            client.close()  # the removals' last files: os._exit runs no atexit
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    os.kill(factory, _signal.SIGKILL)  # the next start makes a new one
    time.sleep(0.1)
    check(start(1))
    for c in cs:
        c.kill()
        assert c.wait()["StatusCode"] == 137


def test_starting_containers_leaves_the_processs_sigpipe_as_it_was(store_root, busybox_image):
    """A process that uses the Python API keeps its own SIGPIPE disposition: starting monitors
    (exec'd for the first start, forked by the factory after) and feeding them their plans
    never sets it to ignored for the whole process (the kernel's view: /proc/self/status)."""
    code = (
        "import signal, sys, layerbox\n"
        "signal.signal(signal.SIGPIPE, signal.SIG_DFL)\n"
        "c = layerbox.Client(root=sys.argv[1])\n"
        "for _ in range(3):\n"
        "    c.containers.run('busybox', 'true', remove=True, network_mode='none')\n"
        "ign = next(int(l.split()[1], 16) for l in open('/proc/self/status') if l.startswith('SigIgn:'))\n"
        "print(bool(ign & (1 << (signal.SIGPIPE - 1))))\n"
    )
    import sys

    r = subprocess.run([sys.executable, "-c", code, store_root], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_a_reused_descriptor_number_is_never_run_as_the_monitor(store_root, busybox_image, tmp_path):
    """The sealed copy of the shim is kept open for the next start. A program that closes every
    descriptor and gets the number back for a file of its own (here an executable script that
    leaves a mark) must not have that file run as the monitor: the copy is checked to be still
    the same file before each use, and a new one made when it is not."""
    mark = tmp_path / "ran"
    script = tmp_path / "not-the-shim"
    script.write_text(f"#!/bin/sh\ntouch {mark}\n")
    script.chmod(0o755)
    code = (
        "import os, signal, sys, time, layerbox\n"
        "c = layerbox.Client(root=sys.argv[1])\n"
        "run = lambda: c.containers.run('busybox', 'true', remove=True, network_mode='none')\n"
        "run(); run()\n"
        "def link(n):\n"
        "    try:\n"
        "        return os.readlink(f'/proc/self/fd/{n}')\n"
        "    except OSError:\n"
        "        return ''\n"
        "fds = [int(n) for n in os.listdir('/proc/self/fd') if link(n).startswith('/memfd:layerbox-shim')]\n"
        "assert fds, 'no sealed copy held'\n"
        "for n in fds:\n"
        "    os.close(n)\n"
        "    f = os.open(sys.argv[2], os.O_RDONLY)\n"
        "    if f != n:\n"
        "        os.dup2(f, n)\n"
        "        os.close(f)\n"
        "ppid = lambda p: int(open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[1])\n"
        "d = c.containers.run('busybox', 'sleep 30', detach=True, network_mode='none')\n"
        "d.reload()\n"
        "factory = ppid(ppid(d.attrs['State']['Pid']))\n"  # its monitor's parent
        "assert open(f'/proc/{factory}/cmdline', 'rb').read().startswith(b'layerbox-shim\\0factory')\n"
        "d.remove(force=True)\n"
        "os.kill(factory, signal.SIGKILL)\n"  # the next start makes a new one from the copy
        "time.sleep(0.1)\n"
        "run()\n"
        "print('ok')\n"
    )
    import sys

    r = subprocess.run([sys.executable, "-c", code, store_root, str(script)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    assert not mark.exists(), "a file of the program's own was run in the monitor's place"
