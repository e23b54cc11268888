"""The Docker Engine API (`layerbox system service`) through the real clients: the docker CLI
(its client only: no dockerd is ever started), docker-py, testcontainers and docker-compose, on
the same store as the CLI and the Python API."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from conftest import Cli, layerbox_command, tool

pytestmark = pytest.mark.privileged


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=60)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        try:
            s.connect(self.path)
        except OSError:
            s.close()
            raise
        self.sock = s


def call(sock: str, method: str, path: str, body=None, headers=None):
    """(status, headers, parsed JSON or bytes)."""
    conn = UnixHTTP(sock)
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    h = dict(headers or {})
    if isinstance(body, (dict, list)):
        h["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=h)
    r = conn.getresponse()
    raw = r.read()
    conn.close()
    try:
        doc = json.loads(raw) if raw and r.getheader("Content-Type", "").startswith("application/json") else raw
    except ValueError:
        doc = raw
    return r.status, dict(r.getheaders()), doc


def _wait_socket(path: str, proc, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the service exited {proc.returncode}: {proc.stderr.read().decode()}")
        if os.path.exists(path):
            try:
                if call(path, "GET", "/_ping")[0] == 200:
                    return
            except OSError:
                pass
        time.sleep(0.02)
    raise AssertionError("the service did not answer")


@pytest.fixture(scope="module")
def service(cli, busybox_image, tmp_path_factory):
    """`layerbox system service --time 0 unix://...` on the test store."""
    sock = str(tmp_path_factory.mktemp("api") / "layerbox.sock")
    proc = cli.popen("system", "service", "--time", "0", "unix://" + sock, stderr=subprocess.PIPE)
    try:
        _wait_socket(sock, proc)
        yield sock
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert not os.path.exists(sock), "the service leaves its socket behind"


@pytest.fixture
def docker(service, cli):
    """The docker CLI (its client) pointed at the service."""
    exe = tool("docker")
    env = dict(os.environ, DOCKER_HOST="unix://" + service, DOCKER_CONFIG=os.path.join(cli.root, "..", "dockercfg"))

    def run(*args, input=None, timeout=120, check=True):
        r = subprocess.run([exe, *map(str, args)], input=input, capture_output=True, timeout=timeout, env=env)
        r.out, r.err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(map(str, args))} exited {r.returncode}\n{r.out}\n{r.err}")
        return r

    run.env = env
    run.exe = exe
    return run


@pytest.fixture
def dclient(service):
    import docker as docker_sdk

    c = docker_sdk.DockerClient(base_url="unix://" + service)
    yield c
    c.close()


def _cleanup(cli: Cli, *names):
    for n in names:
        cli("rm", "-f", n)


# -- the service --------------------------------------------------------------------------------

def test_ping_version_info_and_versions(service):
    st, h, body = call(service, "GET", "/_ping")
    assert st == 200 and body == b"OK"
    assert h["Api-Version"] == "1.44"
    st, h, _ = call(service, "HEAD", "/_ping")
    assert st == 200 and h["Api-Version"] == "1.44"
    for prefix in ("", "/v1.41", "/v1.44"):
        st, _, v = call(service, "GET", prefix + "/version")
        assert st == 200 and v["ApiVersion"] == "1.44" and v["Os"] == "linux"
    st, _, err = call(service, "GET", "/v1.99/version")
    assert st == 400 and "too new" in err["message"]
    st, _, info = call(service, "GET", "/v1.43/info")
    assert st == 200 and info["Swarm"]["LocalNodeState"] == "inactive" and info["Images"] >= 1


def test_errors_are_docker_shaped(service):
    st, _, err = call(service, "GET", "/containers/nosuchthing/json")
    assert st == 404 and err == {"message": "No such container: nosuchthing"}
    st, _, err = call(service, "GET", "/no/such/endpoint")
    assert st == 404 and err == {"message": "page not found"}
    st, _, err = call(service, "POST", "/containers/create", {"Image": "nosuchimage:1"})
    assert st == 404 and "nosuchimage" in err["message"]
    st, _, err = call(service, "GET", "/containers/json?filters=notjson")
    assert st == 400 and "invalid filter" in err["message"]


@pytest.mark.parametrize("method,path", [
    ("GET", "/swarm"), ("POST", "/swarm/leave?force=1"), ("GET", "/services"), ("GET", "/nodes"),
    ("GET", "/secrets"), ("GET", "/configs"), ("POST", "/services/create"),
])
def test_swarm_endpoints_answer_as_a_daemon_outside_a_swarm(service, method, path):
    st, _, err = call(service, method, path)
    assert st == 503 and "not a swarm manager" in err["message"]


def test_search_is_refused_clearly(service):
    st, _, err = call(service, "GET", "/images/search?term=busybox")
    assert st == 501 and "search" in err["message"]


def test_create_refuses_what_layerbox_does_not_implement(service):
    st, _, err = call(service, "POST", "/containers/create",
                      {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"ShmSize": 1 << 20, "Sysctls": {"a": "b"}}})
    assert st == 400
    assert "HostConfig.ShmSize" in err["message"] and "HostConfig.Sysctls" in err["message"]
    # defaults that clients send are not refusals
    st, _, doc = call(service, "POST", "/containers/create?name=api-defaults",
                      {"Image": "busybox", "Cmd": ["true"],
                       "HostConfig": {"ShmSize": 0, "MemorySwappiness": -1, "LogConfig": {"Type": "", "Config": {}},
                                      "IpcMode": "", "Runtime": "", "ConsoleSize": [0, 0]}})
    assert st == 201, doc
    st, _, _ = call(service, "DELETE", "/containers/api-defaults")
    assert st == 204


def test_tcp_off_loopback_needs_insecure_tcp(cli):
    r = cli("system", "service", "--time", "1", "tcp://0.0.0.0:23750")
    assert r.returncode != 0 and "--insecure-tcp" in r.err and "Traceback" not in r.err


def test_idle_exit_and_socket_mode(cli, tmp_path):
    sock = str(tmp_path / "idle.sock")
    t0 = time.monotonic()
    proc = cli.popen("system", "service", "--time", "1", "unix://" + sock, stderr=subprocess.PIPE)
    _wait_socket(sock, proc)
    assert os.stat(sock).st_mode & 0o777 == 0o660
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert time.monotonic() - t0 >= 1
    assert not os.path.exists(sock)


def test_socket_activation(cli, tmp_path):
    """systemd's protocol: the listening socket as fd 3, LISTEN_FDS=1, LISTEN_PID."""
    path = str(tmp_path / "act.sock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    lsock.listen(16)
    # as systemd: the socket as fd 3, LISTEN_PID the pid that execs the service
    starter = ("import os, sys; fd = int(sys.argv[1]); os.dup2(fd, 3); os.close(fd); "
               "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1'); "
               "os.execv(sys.argv[2], sys.argv[2:])")
    proc = subprocess.Popen([sys.executable, "-c", starter, str(lsock.fileno()), *layerbox_command(),
                             "system", "service", "--time", "1"],
                            pass_fds=(lsock.fileno(),), env=cli.env(), stderr=subprocess.PIPE)
    lsock.close()
    try:
        st, _, v = call(path, "GET", "/version")
        assert st == 200 and v["ApiVersion"] == "1.44"
    finally:
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    assert os.path.exists(path)  # systemd's socket: not ours to remove
