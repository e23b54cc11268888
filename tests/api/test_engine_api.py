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
    try:
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
    finally:
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
    run.sock = service
    return run


def docker_api_create(docker, body: dict):
    st, h, doc = call(docker.sock, "POST", "/containers/create", body)
    assert st == 201, doc
    return st, h, doc


@pytest.fixture
def dclient(service):
    import gc

    import docker as docker_sdk

    c = docker_sdk.DockerClient(base_url="unix://" + service)
    yield c
    c.close()
    gc.collect()  # see DOCKER_PY_LEAKS


# docker-py leaves the sockets of streamed and hijacked answers (exec_run(stream=True),
# logs(stream=True), attach) to the garbage collector: its ResourceWarnings are its own.
DOCKER_PY_LEAKS = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning",
                                             "ignore::ResourceWarning")


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
        # what it says it answers is what it answers (docker 25+: minimum 1.24)
        engine = next(c for c in v["Components"] if c["Name"] == "Engine")
        assert v["MinAPIVersion"] == engine["Details"]["MinAPIVersion"] == "1.24"
        assert engine["Details"]["ApiVersion"] == "1.44"
    assert call(service, "GET", "/v1.24/version")[0] == 200
    st, _, err = call(service, "GET", "/v1.23/version")
    assert st == 400 and "Minimum supported API version is 1.24" in err["message"]
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
                      {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"CpuRealtimeRuntime": 50000, "BlkioWeight": 300}})
    assert st == 400
    assert "HostConfig.CpuRealtimeRuntime" in err["message"] and "HostConfig.BlkioWeight" in err["message"]
    # ... and what it does is taken (CpuQuota and CpuPeriod, as `run --cpu-quota --cpu-period`)
    st, _, doc = call(service, "POST", "/containers/create?name=api-cfs",
                      {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"CpuQuota": 50000, "CpuPeriod": 100000}})
    assert st == 201, doc
    st, _, doc = call(service, "GET", "/containers/api-cfs/json")
    assert (doc["HostConfig"]["CpuQuota"], doc["HostConfig"]["CpuPeriod"]) == (50000, 100000)
    assert call(service, "DELETE", "/containers/api-cfs")[0] == 204
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


def _activated(cli, path: str, *args, env=None, backlog: int = 16):
    """The service started as systemd starts it, on a new listening socket at `path`; the
    socket is listening (clients may connect) before the service runs."""
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    lsock.listen(backlog)
    starter = ("import os, sys; fd = int(sys.argv[1]); os.dup2(fd, 3); os.close(fd); "
               "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1'); "
               "os.execv(sys.argv[2], sys.argv[2:])")
    proc = subprocess.Popen([sys.executable, "-c", starter, str(lsock.fileno()), *layerbox_command(),
                             "system", "service", *args], pass_fds=(lsock.fileno(),),
                            env={**cli.env(), **(env or {})}, stderr=subprocess.PIPE)
    lsock.close()
    return proc


def test_socket_activation(cli, tmp_path):
    """systemd's protocol: the listening socket as fd 3, LISTEN_FDS=1, LISTEN_PID."""
    path = str(tmp_path / "act.sock")
    proc = _activated(cli, path, "--time", "1")
    try:
        st, _, v = call(path, "GET", "/version")
        assert st == 200 and v["ApiVersion"] == "1.44"
    finally:
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    assert os.path.exists(path)  # systemd's socket: not ours to remove


def _exchange(conn: socket.socket, request: bytes, answers: int) -> list:
    """Sends `request` (one or more pipelined requests) and reads `answers` answers: a list of
    (status line, {field: value}, body). Bounded: 30 s in all."""
    conn.settimeout(30)
    conn.sendall(request)
    buf, out = b"", []
    while len(out) < answers:
        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(65536)
            assert chunk, f"connection closed after {len(out)} answers: {buf!r}"
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        fields = dict(line.split(": ", 1) for line in lines[1:])
        n = int(fields.get("Content-Length", 0))
        while len(buf) < n:
            buf += conn.recv(65536)
        out.append((lines[0], fields, buf[:n]))
        buf = buf[n:]
    return out


def test_a_socket_activated_service_answers_pings_before_python_and_hands_over_the_rest(cli, tmp_path):
    # The first start writes the record down (none yet: Python answers everything).
    first = str(tmp_path / "first.sock")
    proc = _activated(cli, first, "--time", "1")
    try:
        with socket.socket(socket.AF_UNIX) as c:
            c.connect(first)
            python_get, python_head = _exchange(
                c, b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\nHEAD /v1.41/_ping HTTP/1.1\r\nHost: d\r\n\r\n", 2)
        record = os.path.join(cli.root, "api-ping.json")
        deadline = time.time() + 10
        while not os.path.exists(record) and time.time() < deadline:
            time.sleep(0.05)
        assert os.stat(record).st_mode & 0o777 == 0o600
    finally:
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    # The next start, with the interpreter held until the pings are answered (so they can
    # only have been the launcher's): the client's pings, pipelined with a version the
    # service refuses and a request that is the service's, on one connection made before.
    path = str(tmp_path / "act.sock")
    held, go = _held_python(tmp_path)
    proc = _activated(cli, path, "--time", "1", env={"LAYERBOX_PYTHON": held})
    try:
        with socket.socket(socket.AF_UNIX) as c:
            c.connect(path)
            get, head = _exchange(c, b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n"
                                     b"HEAD /v1.41/_ping HTTP/1.1\r\nHost: d\r\n\r\n", 2)
            with socket.socket(socket.AF_UNIX) as c2:
                c2.connect(path)
                (closing,) = _exchange(c2, b"GET /_ping HTTP/1.1\r\nHost: d\r\n"
                                           b"Connection: close\r\n\r\n", 1)
                assert c2.recv(10) == b""
            assert not go.exists()
            go.write_text("")
            answers = _exchange(c, b"GET /v1.99/_ping HTTP/1.1\r\nHost: d\r\n\r\n"
                                   b"POST /containers/create HTTP/1.1\r\nHost: d\r\n"
                                   b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
                                   b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n", 3)
            assert c.recv(10) == b""  # closed after the last, as asked
        too_new, create, last = answers

        def same(a, b):
            drop = lambda f: {k: v for k, v in f.items() if k != "Date"}  # noqa: E731
            return a[0] == b[0] and drop(a[1]) == drop(b[1]) and a[2] == b[2]

        assert same(get, python_get) and get[2] == b"OK"
        assert same(head, python_head) and head[2] == b""
        assert too_new[0].endswith("400 Bad Request")
        assert b"too new" in too_new[2]
        assert create[0].endswith("400 Bad Request") and b"image" in create[2].lower()
        assert last[1].pop("Connection") == "close" and same(last, python_get)
        assert closing[1].pop("Connection") == "close" and same(closing, python_get)
    finally:
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    # No answering child is left behind (the service reaped it).
    r = subprocess.run(["pgrep", "-f", f"system service --time 1"], capture_output=True, text=True)
    assert r.stdout == ""


def _held_python(tmp_path):
    """(an interpreter that waits for `go` to exist before it runs, go)."""
    go = tmp_path / "go"
    held = tmp_path / "held-python"
    held.write_text(f"#!/bin/sh\nn=0\nwhile [ ! -e {go} ] && [ $n -lt 1000 ]; do sleep 0.02; "
                    f"n=$((n+1)); done\nexec {sys.executable} \"$@\"\n")
    held.chmod(0o755)
    return str(held), go


def test_the_launchers_ping_answers_hold_a_bounded_number_of_connections(cli, tmp_path):
    """While Python loads, the launcher's answerer holds at most 128 connections; the ones
    after wait in the socket's backlog, unanswered, and the service answers them once it
    serves: every client is answered, none lost."""
    cli("ps", "-a", check=True)  # a store in use: the service has written its record before
    first = str(tmp_path / "first.sock")
    proc = _activated(cli, first, "--time", "1")
    try:
        assert call(first, "GET", "/_ping")[0] == 200
    finally:
        proc.communicate(timeout=30)
    held, go = _held_python(tmp_path)
    path = str(tmp_path / "many.sock")
    proc = _activated(cli, path, "--time", "1", env={"LAYERBOX_PYTHON": held}, backlog=64)
    ping = b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n"
    conns = []
    try:
        for _ in range(128):
            c = socket.socket(socket.AF_UNIX)
            conns.append(c)
            c.settimeout(30)
            c.connect(path)
            (answer,) = _exchange(c, ping, 1)
            assert answer[2] == b"OK"
        late = []
        for _ in range(20):
            c = socket.socket(socket.AF_UNIX)
            conns.append(c)
            late.append(c)
            c.settimeout(30)
            c.connect(path)  # into the backlog
            c.sendall(ping)
        late[0].settimeout(0.5)
        with pytest.raises(socket.timeout):
            late[0].recv(1)  # nobody holds it yet
        assert not go.exists()
        go.write_text("")
        for c in late:
            c.settimeout(30)
            (answer,) = _exchange(c, b"", 1)
            assert answer[2] == b"OK"
        (answer,) = _exchange(conns[0], ping, 1)  # a held one, handed over
        assert answer[2] == b"OK"
    finally:
        for c in conns:
            c.close()
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err


# -- the docker CLI ---------------------------------------------------------------------------

def test_docker_cli_run_ps_logs_rm(docker, cli):
    assert docker("run", "--rm", "busybox", "echo", "hello").out == "hello\n"
    r = docker("run", "--name", "api-fail", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert r.returncode == 3 and r.out == "out\n" and r.err == "err\n"
    assert docker("run", "-i", "--rm", "busybox", "cat", input=b"piped\n").out == "piped\n"
    r = docker("run", "--rm", "busybox", "nosuchcommand", check=False)
    assert r.returncode == 127 and "not found" in r.err
    try:
        cid = docker("run", "-d", "--name", "api-logs", "busybox", "sh", "-c",
                     "for i in 1 2 3; do echo line $i; sleep 0.2; done").out.strip()
        assert len(cid) == 64
        assert docker("logs", "-f", "api-logs").out == "line 1\nline 2\nline 3\n"
        ts = docker("logs", "--tail", "1", "-t", "api-logs").out
        assert ts.endswith(" line 3\n") and ts.startswith("20")
        # the CLI and the service see the same containers
        assert "api-logs" in cli("ps", "-a", "--format", "{{.Names}}").out
        ps = docker("ps", "-a", "--format", "{{.Names}} {{.Status}}").out
        assert "api-fail Exited (3)" in ps and "api-logs Exited (0)" in ps
        assert docker("inspect", "-f", "{{.State.ExitCode}} {{.Name}}", "api-fail").out == "3 /api-fail\n"
        # attach to a running container: its output from then on, its exit status
        docker("run", "-d", "--name", "api-att", "busybox", "sh", "-c", "sleep 1; echo late; exit 6")
        r = docker("attach", "api-att", check=False)
        assert r.returncode == 6 and r.out == "late\n"
        # start -a: attached before the start
        docker("create", "--name", "api-sa", "busybox", "echo", "started-attached")
        assert docker("start", "-a", "api-sa").out == "started-attached\n"
        docker("rm", "api-att", "api-sa")
        assert docker("rm", "api-fail", "api-logs").out == "api-fail\napi-logs\n"
        r = docker("inspect", "api-fail", check=False)
        assert r.returncode == 1 and "No such" in r.err
    finally:
        _cleanup(cli, "api-fail", "api-logs", "api-att", "api-sa")


def _pty_run(argv, env, send: bytes = b"") -> tuple[int, bytes]:
    """argv on a new terminal (as a user's shell would run it): (status, what it printed)."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:
        os.execve(argv[0], argv, env)
    out = b""
    if send:
        os.write(fd, send)
    while True:
        try:
            b = os.read(fd, 65536)
        except OSError:
            break
        if not b:
            break
        out += b
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out


def test_docker_cli_tty_run_and_exec_it(docker, cli):
    code, out = _pty_run([docker.exe, "run", "-it", "--rm", "busybox", "sh", "-c", "tty; echo hi; exit 4"], docker.env)
    assert code == 4 and b"/dev/pts/0" in out and b"hi" in out
    # a terminal the service started can be resized (the CLI does so after the start)
    st, _, doc = docker_api_create(docker, {"Image": "busybox", "Cmd": ["sleep", "30"], "Tty": True})
    try:
        assert call(docker.sock, "POST", f"/containers/{doc['Id']}/start")[0] == 204
        assert call(docker.sock, "POST", f"/containers/{doc['Id']}/resize?h=30&w=100")[0] == 200
    finally:
        cli("rm", "-f", doc["Id"])
    docker("run", "-d", "--name", "api-exec", "busybox", "sleep", "60")
    try:
        code, out = _pty_run([docker.exe, "exec", "-it", "api-exec", "sh", "-c", "tty; echo in-exec; exit 5"], docker.env)
        assert code == 5 and b"/dev/pts/" in out and b"in-exec" in out
        assert docker("exec", "api-exec", "sh", "-c", "echo o; echo e >&2").out == "o\n"
        r = docker("exec", "-i", "api-exec", "cat", input=b"to exec\n")
        assert r.out == "to exec\n"
        assert docker("exec", "-d", "api-exec", "sleep", "1").returncode == 0
        top = docker("top", "api-exec").out
        assert "sleep 60" in top
    finally:
        _cleanup(cli, "api-exec")


def test_docker_cli_cp_and_export(docker, cli, tmp_path):
    docker("run", "-d", "--name", "api-cp", "busybox", "sleep", "60")
    try:
        src = tmp_path / "hello.txt"
        src.write_text("from the host\n")
        docker("cp", str(src), "api-cp:/tmp/")
        assert docker("exec", "api-cp", "cat", "/tmp/hello.txt").out == "from the host\n"
        docker("exec", "api-cp", "sh", "-c", "mkdir -p /d/e && echo deep > /d/e/f")
        docker("cp", "api-cp:/d", str(tmp_path / "got"))
        assert (tmp_path / "got" / "e" / "f").read_text() == "deep\n"
        r = docker("cp", "api-cp:/nonexistent", str(tmp_path / "x"), check=False)
        assert r.returncode == 1 and "nonexistent" in r.err
        docker("export", "-o", str(tmp_path / "fs.tar"), "api-cp")
        import tarfile

        with tarfile.open(tmp_path / "fs.tar") as t:
            assert "tmp/hello.txt" in t.getnames()
        changes = docker("diff", "api-cp").out
        assert "A /tmp/hello.txt" in changes
    finally:
        _cleanup(cli, "api-cp")


def test_docker_cli_build_images_and_system_df(docker, cli, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY f /f\nRUN cat /f > /g\nLABEL api=yes\nCMD [\"cat\", \"/g\"]\n")
    (ctx / "f").write_text("built\n")
    try:
        # the classic builder (DOCKER_BUILDKIT=0): the one layerbox serves
        r = subprocess.run([docker.exe, "build", "-t", "api-built:1", str(ctx)], capture_output=True,
                           env=dict(docker.env, DOCKER_BUILDKIT="0"), timeout=300)
        assert r.returncode == 0, r.stderr.decode()
        assert b"Successfully tagged api-built:1" in r.stdout
        assert docker("run", "--rm", "api-built:1").out == "built\n"
        assert "api-built" in docker("images", "--format", "{{.Repository}}:{{.Tag}}").out
        assert docker("image", "inspect", "-f", "{{.Config.Labels.api}}", "api-built:1").out == "yes\n"
        assert "cat /f > /g" in docker("history", "--no-trunc", "api-built:1").out
        docker("tag", "api-built:1", "api-built:2")
        assert "api-built:2" in cli("images", "--format", "{{.Repository}}:{{.Tag}}").out
        df = docker("system", "df").out
        assert df.startswith("TYPE") and "Images" in df and "Containers" in df
        bad = ctx / "Dockerfile.bad"
        bad.write_text("FROM busybox\nRUN exit 7\n")
        r = subprocess.run([docker.exe, "build", "-f", str(bad), str(ctx)], capture_output=True,
                           env=dict(docker.env, DOCKER_BUILDKIT="0"), timeout=300)
        assert r.returncode != 0 and b"returned a non-zero code: 7" in r.stderr
    finally:
        cli("rmi", "-f", "api-built:1", "api-built:2")


def _http_get(port: int, tries: int = 50) -> str:
    """GET / from 127.0.0.1:port (bounded retries while the server starts)."""
    for _ in range(tries):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
                out = b""
                while True:
                    b = s.recv(65536)
                    if not b:
                        return out.decode(errors="replace")
                    out += b
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answers on 127.0.0.1:{port}")


def test_docker_cli_networks_and_volumes(docker, cli):
    try:
        docker("network", "create", "api-net")
        assert "api-net" in docker("network", "ls", "--format", "{{.Name}}").out
        assert docker("network", "inspect", "-f", "{{.Name}} {{.Driver}}", "api-net").out == "api-net bridge\n"
        docker("run", "-d", "--name", "api-srv", "--network", "api-net", "-p", "127.0.0.1::80", "busybox",
               "sh", "-c", "mkdir /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www")
        port = int(docker("port", "api-srv", "80").out.strip().rpartition(":")[2])
        assert "hello" in _http_get(port)
        # names on the user network (busybox's nslookup asks the network's resolver)
        r = docker("run", "--rm", "--network", "api-net", "busybox", "nslookup", "api-srv")
        ip = docker("inspect", "-f", "{{.NetworkSettings.Networks.api-net.IPAddress}}", "api-srv", check=False).out
        assert "Address" in r.out and (not ip.strip() or ip.strip() in r.out)
        docker("volume", "create", "api-vol")
        docker("run", "--rm", "-v", "api-vol:/data", "busybox", "sh", "-c", "echo kept > /data/f")
        assert docker("run", "--rm", "-v", "api-vol:/data", "busybox", "cat", "/data/f").out == "kept\n"
        assert "api-vol" in docker("volume", "ls", "-q").out
        assert docker("volume", "inspect", "-f", "{{.Driver}}", "api-vol").out == "local\n"
    finally:
        _cleanup(cli, "api-srv")
        docker("volume", "rm", "api-vol", check=False)
        docker("network", "rm", "api-net", check=False)
    assert "api-net" not in cli("network", "ls").out


# -- docker-py ----------------------------------------------------------------------------------

@DOCKER_PY_LEAKS
def test_docker_py_run_logs_exec_and_ports(dclient, cli):
    import docker as docker_sdk

    assert dclient.ping() is True
    assert dclient.version()["ApiVersion"] == "1.44"
    assert dclient.containers.run("busybox", "echo hi", remove=True) == b"hi\n"
    with pytest.raises(docker_sdk.errors.ContainerError) as e:
        dclient.containers.run("busybox", ["sh", "-c", "echo oops >&2; exit 3"], remove=True)
    assert e.value.exit_status == 3 and b"oops" in e.value.stderr
    with pytest.raises(docker_sdk.errors.ImageNotFound):
        dclient.containers.run("nosuchimage:1", "true")
    c = dclient.containers.run("busybox", ["sh", "-c", "mkdir /www; echo py > /www/index.html; "
                                           "echo started; exec httpd -f -p 80 -h /www"],
                               detach=True, name="api-py", ports={"80/tcp": ("127.0.0.1", None)},
                               labels={"team": "api"})
    try:
        c.reload()
        assert c.status == "running"
        port = int(c.ports["80/tcp"][0]["HostPort"])
        assert "py" in _http_get(port)
        assert [x.name for x in dclient.containers.list(filters={"label": "team=api"})] == ["api-py"]
        assert "api-py" in cli("ps", "--format", "{{.Names}}").out
        stream = c.logs(stream=True, follow=False)
        assert b"".join(stream) == b"started\n"
        r = c.exec_run(["sh", "-c", "echo o; echo e >&2; exit 2"], demux=True)
        assert r.exit_code == 2 and r.output == (b"o\n", b"e\n")
        r = c.exec_run("sh -c 'echo one; echo two'", stream=True)
        assert b"".join(r.output) == b"one\ntwo\n"
        r = c.exec_run(["sh", "-c", "echo a; echo b >&2"], stream=True, demux=True)
        got = list(r.output)
        assert (b"a\n", None) in got and (None, b"b\n") in got
        assert c.exec_run("tty", tty=True).output.strip().startswith(b"/dev/pts/")
        st = c.stats(stream=False)
        assert st["id"] == c.id and st["memory_stats"]["usage"] > 0
        assert st["cpu_stats"]["cpu_usage"]["total_usage"] >= 0 and st["cpu_stats"]["system_cpu_usage"] > 0
        assert st["pids_stats"]["current"] >= 1 and st["precpu_stats"]["cpu_usage"]["total_usage"] >= 0
        assert c.top()["Processes"]
        c.stop(timeout=1)
        c.reload()
        assert c.status == "exited"
        assert c.wait()["StatusCode"] in (137, 143, 0)
    finally:
        c.remove(force=True)
    assert not dclient.containers.list(all=True, filters={"name": "api-py"})


@DOCKER_PY_LEAKS
def test_docker_py_archives(dclient, cli):
    import io
    import tarfile

    c = dclient.containers.run("busybox", "sleep 60", detach=True, name="api-arch")
    try:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            data = b"put through the API\n"
            info = tarfile.TarInfo("put.txt")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        assert c.put_archive("/tmp", buf.getvalue()) is True
        assert c.exec_run("cat /tmp/put.txt").output == b"put through the API\n"
        chunks, stat = c.get_archive("/tmp/put.txt")
        assert stat["name"] == "put.txt" and stat["size"] == 20
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as t:
            assert t.extractfile("put.txt").read() == b"put through the API\n"
        import docker as docker_sdk

        with pytest.raises(docker_sdk.errors.NotFound):
            c.get_archive("/no/such/file")
    finally:
        c.remove(force=True)


def test_a_bare_env_name_unsets_and_never_reads_the_services_environment(dclient, cli):
    """A client's Env entry "K" unsets K (dockerd's rule); the service must not fill it from its
    own environment, which no client may read (the service runs with LAYERBOX_ROOT set)."""
    show = ["sh", "-c", 'echo "${LAYERBOX_ROOT-unset} ${HOME-unset}"']
    out = dclient.containers.run("busybox", show, environment=["LAYERBOX_ROOT"], remove=True)
    assert out == b"unset /root\n"
    c = dclient.containers.run("busybox", "sleep 60", detach=True, environment=["KEEP=1"])
    try:
        r = c.exec_run(["sh", "-c", 'echo "${LAYERBOX_ROOT-unset} ${KEEP-unset}"'],
                       environment=["LAYERBOX_ROOT", "KEEP"])
        assert r.output == b"unset unset\n"
    finally:
        c.remove(force=True)


@DOCKER_PY_LEAKS
def test_docker_py_build_and_images(dclient, cli):
    import io

    df = io.BytesIO(b"FROM busybox\nRUN echo built > /b\nCMD [\"cat\", \"/b\"]\n")
    image, logs = dclient.images.build(fileobj=df, tag="api-pybuild:1", rm=True)
    try:
        assert any("Step 2/3" in (x.get("stream") or "") for x in logs)
        assert image.tags == ["api-pybuild:1"] and image.short_id.startswith("sha256:")
        assert dclient.containers.run("api-pybuild:1", remove=True) == b"built\n"
        assert image.id in [i.id for i in dclient.images.list()]
        assert image.history()[0]["Id"] == image.id
        import docker as docker_sdk

        with pytest.raises(docker_sdk.errors.BuildError):
            dclient.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 9\n"))
        saved = b"".join(image.save())
        assert len(saved) > 1000
    finally:
        dclient.images.remove("api-pybuild:1", force=True)
    assert "api-pybuild" not in cli("images").out


@DOCKER_PY_LEAKS
def test_docker_py_events_in_a_thread(dclient, cli):
    since = time.time() - 1
    got = []

    def watch():
        for ev in dclient.events(decode=True, since=since, until=time.time() + 30,
                                 filters={"type": "container", "container": "api-ev"}):
            got.append(ev)
            if ev["Action"] == "destroy":
                return

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    time.sleep(0.5)
    # one from the API, one from the CLI: both are in the store's event log
    dclient.containers.run("busybox", "true", name="api-ev")
    cli("rm", "api-ev", check=True)
    t.join(timeout=30)
    assert not t.is_alive()
    actions = [e["Action"] for e in got]
    assert actions[0] == "create" and "start" in actions and actions[-1] == "destroy", actions
    assert all(e["Actor"]["Attributes"].get("name") == "api-ev" for e in got)


# -- testcontainers, docker-compose -------------------------------------------------------------

@DOCKER_PY_LEAKS
def test_testcontainers_generic_container(service, monkeypatch):
    """A generic container with a published port and a log wait strategy (the reaper off:
    this machine carries a /.dockerenv, so testcontainers believes it runs in a container and
    would dial a gateway: the host is given as 127.0.0.1 and reached directly)."""
    monkeypatch.setenv("DOCKER_HOST", "unix://" + service)
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    monkeypatch.setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
    from testcontainers.core.config import testcontainers_config
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    monkeypatch.setattr(testcontainers_config, "ryuk_disabled", True)
    monkeypatch.setattr(testcontainers_config, "tc_host_override", "127.0.0.1")
    from testcontainers.core.config import ConnectionMode

    monkeypatch.setenv("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
    monkeypatch.setattr(testcontainers_config, "connection_mode_override", ConnectionMode.docker_host)
    c = (DockerContainer("busybox")
         .with_command(["sh", "-c", "mkdir /www; echo from-tc > /www/index.html; echo serving; "
                                    "exec httpd -f -p 80 -h /www"])
         .with_exposed_ports(80)
         .waiting_for(LogMessageWaitStrategy("serving").with_startup_timeout(30)))
    with c:
        assert c.get_container_host_ip() == "127.0.0.1"
        port = int(c.get_exposed_port(80))
        assert "from-tc" in _http_get(port)
        cid = c.get_wrapped_container().id
    st, _, _ = call(service, "GET", f"/containers/{cid}/json")
    assert st == 404  # stopped and removed with it


COMPOSE = """\
version: "2.4"
services:
  server:
    image: busybox
    command: ["sh", "-c", "mkdir /www && echo composed > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports: ["127.0.0.1::80"]
    networks: [back]
    healthcheck:
      test: ["CMD", "test", "-f", "/www/index.html"]
      interval: 1s
      retries: 30
  client:
    image: busybox
    command: ["sh", "-c", "nslookup server && sleep 60"]
    depends_on:
      server:
        condition: service_healthy
    networks: [back]
networks:
  back: {}
"""


def test_docker_compose_two_services_on_a_user_network(docker, cli, tmp_path):
    exe = tool("docker-compose")
    (tmp_path / "docker-compose.yml").write_text(COMPOSE)
    env = dict(docker.env, COMPOSE_PROJECT_NAME="apiproj")

    def compose(*args, check=True):
        r = subprocess.run([exe, *args], cwd=tmp_path, capture_output=True, env=env, timeout=300)
        if check and r.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)}: {r.stdout.decode()}\n{r.stderr.decode()}")
        return r

    try:
        compose("up", "-d")
        ps = cli("ps", "--format", "{{.Names}}").out.split()
        assert "apiproj_server_1" in ps and "apiproj_client_1" in ps
        port = int(docker("port", "apiproj_server_1", "80").out.strip().rpartition(":")[2])
        assert "composed" in _http_get(port)
        for _ in range(50):
            logs = compose("logs", "client").stdout.decode()
            if "Address" in logs:
                break
            time.sleep(0.2)
        assert "Address" in logs and "server" in logs
        assert "apiproj_back" in cli("network", "ls").out
        assert docker("inspect", "-f", "{{.State.Health.Status}}", "apiproj_server_1").out == "healthy\n"
    finally:
        compose("down", "--timeout", "1", check=False)
    assert "apiproj" not in cli("ps", "-a").out
    assert "apiproj_back" not in cli("network", "ls").out


# -- many clients at once -----------------------------------------------------------------------

@pytest.mark.slow
def test_fifty_clients_and_the_cli_on_one_store(service, cli):
    """50 clients create, start, wait for and remove containers through the service while the
    CLI creates and removes containers with the same names on the same store: every answer is
    a success or a legitimate conflict, and nothing is left."""
    errors, conflicts = [], []

    def client(i: int) -> None:
        name = f"api-cc-{i % 10}"  # ten names: clients and the CLI race for them
        for _ in range(2):
            st, _, doc = call(service, "POST", f"/containers/create?name={name}",
                              {"Image": "busybox", "Cmd": ["sh", "-c", "echo $HOSTNAME"]})
            if st == 409:
                conflicts.append(doc["message"])
                continue
            if st != 201:
                errors.append((st, doc))
                continue
            cid = doc["Id"]
            st, _, doc = call(service, "POST", f"/containers/{cid}/start")
            if st not in (204, 404):  # 404: the CLI's rm -f took it meanwhile
                errors.append((st, doc))
            st, _, doc = call(service, "POST", f"/containers/{cid}/wait")
            if st not in (200, 404) or (st == 200 and doc["StatusCode"] not in (0, 137)):
                errors.append((st, doc))
            st, _, doc = call(service, "DELETE", f"/containers/{cid}?force=1")
            if st not in (204, 404):
                errors.append((st, doc))

    def the_cli() -> None:
        for k in range(10):
            r = cli("run", "--rm", "busybox", "true")
            if r.returncode != 0:
                errors.append(("cli run", r.err))
            r = cli("create", "--name", f"api-cc-{k}", "busybox", "true")
            if r.returncode != 0 and "already in use" not in r.err:
                errors.append(("cli create", r.err))
            r = cli("rm", "-f", f"api-cc-{k}")
            if r.returncode != 0 and "No such container" not in r.err:
                errors.append(("cli rm", r.err))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
    threads.append(threading.Thread(target=the_cli))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors[:5]
    assert all("is already in use" in m for m in conflicts)
    left = cli("ps", "-a", "--format", "{{.Names}}").out.split()
    assert not [n for n in left if n.startswith("api-cc-")]


# -- registries: push, pull, auth ---------------------------------------------------------------

def _registry_module():
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
    import test_registry

    return test_registry


def test_docker_cli_push_pull_and_login(docker, cli, tmp_path):
    """Through the service to a docker-registry on 127.0.0.1: push, remove, pull (docker's
    progress JSON under the CLI), run; /auth checks credentials against the registry."""
    import shutil

    tr = _registry_module()
    base = tmp_path / "reg"
    base.mkdir()
    reg = tr.Registry(str(base))
    htpasswd = tmp_path / "htpasswd"
    r = subprocess.run([tool("htpasswd"), "-Bbn", tr.USER, tr.PASSWORD], capture_output=True, text=True, check=True)
    htpasswd.write_text(r.stdout)
    (tmp_path / "areg").mkdir()
    areg = tr.Registry(str(tmp_path / "areg"), str(htpasswd))
    name = f"{reg.host}/api/bb:1"
    try:
        docker("tag", "busybox", name)
        out = docker("push", name).out
        assert "digest: sha256:" in out
        docker("rmi", name)
        out = docker("pull", name).out
        assert "Downloaded newer image" in out or "Image is up to date" in out
        assert docker("run", "--rm", name, "echo", "pulled").out == "pulled\n"
        r = docker("pull", f"{reg.host}/api/nosuch:1", check=False)
        assert r.returncode == 1 and "nosuch" in r.err
        st, _, doc = call(docker.sock, "POST", "/auth", {"username": tr.USER, "password": tr.PASSWORD,
                                                          "serveraddress": areg.host})
        assert st == 200 and doc["Status"] == "Login Succeeded"
        st, _, doc = call(docker.sock, "POST", "/auth", {"username": tr.USER, "password": "wrong",
                                                          "serveraddress": areg.host})
        assert st == 401 and "401" in doc["message"]
    finally:
        cli("rmi", "-f", name)
        reg.stop()
        areg.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_docker_cli_save_load_import_and_events(docker, cli, tmp_path):
    since = str(int(time.time()) - 1)
    try:
        docker("tag", "busybox", "api-saved:1")
        docker("save", "-o", str(tmp_path / "img.tar"), "api-saved:1")
        docker("rmi", "api-saved:1")
        assert "Loaded image: api-saved:1" in docker("load", "-i", str(tmp_path / "img.tar")).out
        docker("create", "--name", "api-imp", "busybox", "true")
        docker("export", "-o", str(tmp_path / "fs.tar"), "api-imp")
        iid = docker("import", "-c", "CMD [\"echo\", \"imported\"]", str(tmp_path / "fs.tar"), "api-imported:1").out.strip()
        assert iid.startswith("sha256:")
        assert docker("run", "--rm", "api-imported:1").out == "imported\n"
        docker("rm", "api-imp")
        until = str(int(time.time()) + 1)
        ev = docker("events", "--since", since, "--until", until, "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
                    "--filter", "container=api-imp").out.splitlines()
        assert ev[0] == "container create api-imp" and ev[-1] == "container destroy api-imp", ev
        ev = docker("events", "--since", since, "--until", until, "--filter", "type=image",
                    "--format", "{{.Action}}").out.split()
        assert "tag" in ev and "load" in ev and "import" in ev, ev
    finally:
        cli("rm", "-f", "api-imp")
        cli("rmi", "-f", "api-saved:1", "api-imported:1")


# -- update, network connect, stdin of a running container, events of every client ------------

def _cgroup_file(cid: str, controller: str, name: str) -> str:
    from layerbox.container.cgroups import CgroupLayout

    layout = CgroupLayout.default()
    dirs = layout.cgroup_for(cid)["dirs"]
    with open(os.path.join(dirs[controller if layout.version == 1 else "unified"], name)) as f:
        return f.read().strip()


def test_docker_cli_update_limits_of_a_running_container(docker, cli):
    try:
        cid = docker("run", "-d", "--name", "api-upd", "busybox", "sleep", "300").out.strip()
        r = docker("update", "--cpus", "0.5", "-m", "64m", "--memory-swap", "128m", "--pids-limit", "8",
                   "-c", "512", "--cpuset-cpus", "0", "--restart", "on-failure:3", "api-upd")
        assert r.out == "api-upd\n"
        fmt = ("{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} "
               "{{.HostConfig.PidsLimit}} {{.HostConfig.CpuShares}} {{.HostConfig.CpusetCpus}} "
               "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}")
        want = f"500000000 {64 << 20} {128 << 20} 8 512 0 on-failure:3\n"
        assert docker("inspect", "-f", fmt, "api-upd").out == want
        assert cli("inspect", "-f", fmt, "api-upd").out == want  # the store's HostConfig
        # ... and the kernel's: the container started without a CPU limit, so on cgroup v1 its
        # cpu and cpuset directories were made by the update
        from layerbox.container.cgroups import CgroupLayout

        if CgroupLayout.default().version == 1:
            assert _cgroup_file(cid, "memory", "memory.limit_in_bytes") == str(64 << 20)
            assert _cgroup_file(cid, "cpu", "cpu.cfs_quota_us") == "50000"
            assert _cgroup_file(cid, "cpu", "cpu.shares") == "512"
            assert _cgroup_file(cid, "cpuset", "cpuset.cpus") == "0"
            assert str(int(docker("inspect", "-f", "{{.State.Pid}}", "api-upd").out)) in \
                _cgroup_file(cid, "cpu", "cgroup.procs").split()
        else:
            assert _cgroup_file(cid, "unified", "memory.max") == str(64 << 20)
            assert _cgroup_file(cid, "unified", "cpu.max") == "50000 100000"
        # what the user sees: no more than 8 processes
        r = docker("exec", "api-upd", "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 & done; wait",
                   check=False)
        assert r.returncode != 0 and "fork" in r.err.lower(), r.err
        # the CLI's update is the same engine function
        assert cli("update", "--pids-limit", "-1", "--memory-swap", "-1", "api-upd", check=True).out == "api-upd\n"
        assert docker("inspect", "-f", "{{.HostConfig.PidsLimit}} {{.HostConfig.MemorySwap}}", "api-upd").out == "-1 -1\n"
        # docker's rules and messages
        r = docker("update", "-m", "1m", "api-upd", check=False)
        assert r.returncode == 1 and "Minimum memory limit allowed is 6MB" in r.err
        r = docker("update", "--cpu-quota", "20000", "api-upd", check=False)
        assert r.returncode == 1 and "CPU Quota cannot be updated as NanoCPUs has already been set" in r.err
        r = docker("update", "--blkio-weight", "300", "api-upd", check=False)
        assert r.returncode == 1 and "BlkioWeight" in r.err and "not supported by layerbox" in r.err
        r = docker("update", "--cpuset-cpus", "0-4096", "api-upd", check=False)
        assert r.returncode == 1 and "Requested CPUs are not available" in r.err
        r = docker("update", "--cpus", "1", "api-nosuch", check=False)
        assert r.returncode == 1 and "No such container: api-nosuch" in r.err
        r = cli("update", "api-upd")
        assert r.returncode == 1 and "you must provide one or more flags" in r.err
        r = cli("update", "--kernel-memory", "10m", "api-upd")
        assert r.returncode == 1 and "--kernel-memory" in r.err and "not supported" in r.err
        # a stopped container: stored, applied by its next start
        docker("stop", "-t", "0", "api-upd")
        docker("update", "--pids-limit", "20", "api-upd")
        docker("start", "api-upd")
        assert docker("inspect", "-f", "{{.HostConfig.PidsLimit}}", "api-upd").out == "20\n"
        assert _cgroup_file(cid, "pids", "pids.max") == "20"
    finally:
        _cleanup(cli, "api-upd")
    from layerbox.container.cgroups import CgroupLayout

    # the directories the update made went with the container
    assert not any(os.path.exists(d) for d in CgroupLayout.default().cgroup_for(cid)["dirs"].values())


def test_update_restart_policy_reaches_the_monitor(docker, cli):
    try:
        docker("run", "-d", "--name", "api-upd-rs", "busybox", "sh", "-c",
               "while [ ! -f /go ]; do sleep 0.1; done; exit 3")
        docker("update", "--restart", "on-failure:2", "api-upd-rs")
        docker("exec", "api-upd-rs", "touch", "/go")
        # it exits 3 at once after each restart (/go stays): two restarts, then it stays exited
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            st = docker("inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "api-upd-rs").out.split()
            if st == ["exited", "2"]:
                break
            time.sleep(0.2)
        assert st == ["exited", "2"], st
        docker("run", "-d", "--rm", "--name", "api-upd-rm", "busybox", "sleep", "300")
        r = docker("update", "--restart", "always", "api-upd-rm", check=False)
        assert r.returncode == 1 and "AutoRemove is enabled" in r.err
    finally:
        _cleanup(cli, "api-upd-rs", "api-upd-rm")


def test_docker_cli_network_connect_and_disconnect(docker, cli):
    try:
        docker("network", "create", "api-cn")
        docker("run", "-d", "--name", "api-cn-c", "busybox", "sleep", "300")
        docker("network", "connect", "--alias", "cn-alias", "api-cn", "api-cn-c")
        nets = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", "api-cn-c").out)
        assert set(nets) == {"bridge", "api-cn"} and nets["api-cn"]["IPAddress"]
        # the container has the interface now
        addrs = docker("exec", "api-cn-c", "ip", "-4", "addr").out
        assert nets["api-cn"]["IPAddress"] in addrs
        assert "api-cn-c" in docker("network", "inspect", "-f", "{{range .Containers}}{{.Name}}{{end}}", "api-cn").out
        r = docker("network", "connect", "api-cn", "api-cn-c", check=False)
        assert r.returncode == 1 and "already exists in network api-cn" in r.err
        r = docker("network", "connect", "--link", "api-cn-c:x", "api-cn", "api-cn-c", check=False)
        assert r.returncode == 1 and "Links" in r.err and "not supported" in r.err
        r = docker("network", "connect", "api-cn", "api-cn-nosuch", check=False)
        assert r.returncode == 1 and "No such container" in r.err
        docker("network", "disconnect", "api-cn", "api-cn-c")
        assert nets["api-cn"]["IPAddress"] not in docker("exec", "api-cn-c", "ip", "-4", "addr").out
        assert docker("inspect", "-f", "{{len .NetworkSettings.Networks}}", "api-cn-c").out == "1\n"
        r = docker("network", "disconnect", "api-cn", "api-cn-c", check=False)
        assert r.returncode == 1 and "is not connected to network api-cn" in r.err
        # a stopped container: connected at its next start
        docker("stop", "-t", "0", "api-cn-c")
        docker("network", "connect", "api-cn", "api-cn-c")
        docker("start", "api-cn-c")
        assert "api-cn" in docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", "api-cn-c").out
    finally:
        _cleanup(cli, "api-cn-c")
        docker("network", "rm", "api-cn", check=False)


@DOCKER_PY_LEAKS
def test_docker_py_network_connect_and_stdin_of_a_running_container(dclient, cli):
    net = dclient.networks.create("api-pycn")
    try:
        c = dclient.containers.run("busybox", "cat", name="api-stdin", stdin_open=True, detach=True)
        net.connect(c, aliases=["pycat"])
        net.reload()
        assert [x.name for x in net.containers] == ["api-stdin"]
        c.reload()
        assert "pycat" in c.attrs["NetworkSettings"]["Networks"]["api-pycn"]["Aliases"]
        # stdin of the running -i container: what the attached client sends, cat echoes
        s = c.attach_socket(params={"stdin": 1, "stream": 1, "stdout": 1})
        sock = s._sock
        try:
            sock.sendall(b"to-the-running-cat\n")
            deadline = time.monotonic() + 30
            while b"to-the-running-cat" not in c.logs() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert c.logs() == b"to-the-running-cat\n"
        finally:
            sock.close()
            s.close()
        # the container's stdin stays open for the next attach
        s = c.attach_socket(params={"stdin": 1, "stream": 1})
        try:
            s._sock.sendall(b"again\n")
            deadline = time.monotonic() + 30
            while b"again" not in c.logs() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert c.logs() == b"to-the-running-cat\nagain\n"
        finally:
            s._sock.close()
            s.close()
        net.disconnect(c)
        net.reload()
        assert net.containers == []
        # with a tty: the input goes to its terminal
        t = dclient.containers.run("busybox", "sh", name="api-stdin-tty", stdin_open=True, tty=True, detach=True)
        s = t.attach_socket(params={"stdin": 1, "stream": 1, "stdout": 1})
        try:
            s._sock.sendall(b"echo tty-$((6*7)) > /out\n")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                r = t.exec_run("cat /out")
                if r.exit_code == 0:
                    break
                time.sleep(0.1)
            assert r.output == b"tty-42\n"
        finally:
            s._sock.close()
            s.close()
        # a container without -i has no stdin to attach to: docker's 409 is not given (the
        # attach goes on without it), as dockerd's
    finally:
        _cleanup(cli, "api-stdin", "api-stdin-tty")
        net.remove()


def test_events_of_every_client_are_in_get_events(docker, cli):
    """What the CLI does shows in the service's events too: images, networks, volumes, and a
    container's die (recorded by its monitor, whoever started it)."""
    since = str(time.time() - 1)
    cli("network", "create", "api-evnet", check=True)
    cli("volume", "create", "api-evvol", check=True)
    cli("tag", "busybox", "api-evtag:1", check=True)
    cli("run", "--rm", "--name", "api-evrun", "busybox", "true", check=True)
    cli("rmi", "api-evtag:1", check=True)
    cli("volume", "rm", "api-evvol", check=True)
    cli("network", "rm", "api-evnet", check=True)
    until = str(time.time() + 1)
    out = docker("events", "--since", since, "--until", until, "--format",
                 "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}").out.splitlines()
    for want in ("network create api-evnet", "volume create ", "image tag api-evtag:1",
                 "container die api-evrun", "container destroy api-evrun", "image untag",
                 "volume destroy ", "network destroy api-evnet"):
        assert any(line.startswith(want) for line in out), (want, out)
    ev = json.loads(next(line for line in docker("events", "--since", since, "--until", until, "--format",
                                                   "{{json .}}", "--filter", "event=die",
                                                   "--filter", "container=api-evrun").out.splitlines()))
    assert ev["Actor"]["Attributes"]["exitCode"] == "0" and ev["Actor"]["Attributes"]["image"] == "busybox"
    # filters by type reach what the CLI did
    nets = docker("events", "--since", since, "--until", until, "--filter", "type=network",
                  "--filter", "network=api-evnet", "--format", "{{.Action}}").out.split()
    assert nets == ["create", "destroy"], nets


def test_the_service_imports_only_aiohttps_server():
    """The service's first answer waits for its imports: aiohttp's client (and the TLS
    contexts its connector builds at import) stays out (api.import_server_only)."""
    code = ("import sys; from layerbox import api; api.import_server_only(); "
            "from layerbox.api import app; "
            "print(sorted(m for m in sys.modules if m.startswith(('aiohttp.client', 'aiohttp.connector'))))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    # client_exceptions is the server's too (its writer raises ClientConnectionResetError)
    assert r.stdout.strip() in ("[]", "['aiohttp.client_exceptions']"), r.stdout


def test_docker_cli_attach_stdin_of_a_running_container(docker, cli):
    """`docker attach` with input to a running -i container: the input reaches it; with
    StdinOnce (docker create -i) the end of the input is the end of its stdin, so cat ends."""
    try:
        docker("create", "-i", "--name", "api-once", "busybox", "cat")
        docker("start", "api-once")
        r = docker("attach", "api-once", input=b"once\n", timeout=60)
        assert r.returncode == 0 and r.out == "once\n", (r.out, r.err)
        assert docker("inspect", "-f", "{{.State.Status}} {{.Config.StdinOnce}}", "api-once").out == "exited true\n"
    finally:
        _cleanup(cli, "api-once")


def test_update_of_swap_on_a_kernel_without_swap_accounting(cli, busybox_image, tmp_path):
    """dockerd on a kernel that does not account swap: the memory limit is set, the swap limit
    is not (MemorySwap -1) and the answer says so in its Warnings; the docker CLI prints them.
    The kernel's answer is stood in for (CgroupLayout.swap_limit) in a service of its own."""
    import docker as docker_sdk

    from layerbox.container.update import NO_SWAP_LIMIT

    sock = str(tmp_path / "noswap.sock")
    code = ("import sys; from layerbox.container import cgroups; "
            "cgroups.CgroupLayout.swap_limit = lambda self, cid='': False; "
            "from layerbox.cli.main import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", code, "system", "service", "--time", "0",
                             "unix://" + sock], env=cli.env(), stderr=subprocess.PIPE)
    c = None
    try:
        _wait_socket(sock, proc)
        c = docker_sdk.DockerClient(base_url="unix://" + sock)
        ct = c.containers.run("busybox", "sleep 300", detach=True, name="api-noswap",
                              network_mode="none")
        r = ct.update(mem_limit="64m", memswap_limit="128m")
        assert r["Warnings"] == [NO_SWAP_LIMIT]
        ct.reload()
        assert (ct.attrs["HostConfig"]["Memory"], ct.attrs["HostConfig"]["MemorySwap"]) == (64 << 20, -1)
        assert ct.attrs["State"]["Running"]
        env = dict(os.environ, DOCKER_HOST="unix://" + sock, DOCKER_CONFIG=str(tmp_path / "dockercfg"))
        r = subprocess.run([tool("docker"), "update", "-m", "96m", "--memory-swap", "200m", "api-noswap"],
                           capture_output=True, text=True, timeout=60, env=env)
        assert (r.returncode, r.stdout) == (0, f"api-noswap\n{NO_SWAP_LIMIT}\n"), r.stderr
        ct.reload()
        assert (ct.attrs["HostConfig"]["Memory"], ct.attrs["HostConfig"]["MemorySwap"]) == (96 << 20, -1)
        r = ct.update(mem_limit="80m")  # no swap asked: no warning
        assert r["Warnings"] is None
        # made with a swap limit: the same warning, and it runs, limited without swap
        r = subprocess.run([tool("docker"), "run", "-d", "--name", "api-noswap2", "--network", "none",
                            "-m", "32m", "--memory-swap", "64m", "busybox", "sleep", "300"],
                           capture_output=True, text=True, timeout=60, env=env)
        assert r.returncode == 0 and f"WARNING: {NO_SWAP_LIMIT}" in r.stderr, r.stderr
        ct2 = c.containers.get("api-noswap2")
        assert ct2.status == "running"
        assert (ct2.attrs["HostConfig"]["Memory"], ct2.attrs["HostConfig"]["MemorySwap"]) == (32 << 20, -1)
        warned = [line for line in r.stderr.splitlines() if NO_SWAP_LIMIT in line]
        # layerbox's own CLI on the same kernel: docker's line on stderr, the same limits stored
        # (run and create alike), and a swap limit of -1 or none asks nothing of the kernel
        lb = [sys.executable, "-c", code]
        for verb, extra in (("run", ["-d"]), ("create", [])):
            name = f"api-noswap-{verb}"
            r = subprocess.run([*lb, verb, *extra, "--name", name, "--network", "none", "-m", "32m",
                                "--memory-swap", "64m", "busybox", "sleep", "300"],
                               capture_output=True, text=True, timeout=60, env=cli.env())
            assert r.returncode == 0, r.stderr
            assert r.stderr.splitlines() == warned, r.stderr
            assert r.stdout.strip() == c.containers.get(name).id
            hc = c.containers.get(name).attrs["HostConfig"]
            assert (hc["Memory"], hc["MemorySwap"]) == (32 << 20, -1)
        for swap in ("-1", None):
            r = subprocess.run([*lb, "create", "--network", "none", "-m", "32m",
                                *(["--memory-swap", swap] if swap else []), "busybox", "true"],
                               capture_output=True, text=True, timeout=60, env=cli.env())
            assert (r.returncode, r.stderr) == (0, ""), r.stderr
            cli("rm", r.stdout.strip())
        # a swap limit below the memory limit: dockerd drops it (the warning) before comparing,
        # so no "Minimum memoryswap limit" error on such a kernel, at create and at update
        r = subprocess.run([*lb, "create", "--network", "none", "-m", "64m", "--memory-swap", "32m",
                            "busybox", "true"], capture_output=True, text=True, timeout=60, env=cli.env())
        assert r.returncode == 0 and r.stderr.splitlines() == warned, r.stderr
        hc = c.containers.get(r.stdout.strip()).attrs["HostConfig"]
        assert (hc["Memory"], hc["MemorySwap"]) == (64 << 20, -1)
        cli("rm", r.stdout.strip())
        r = ct.update(mem_limit="96m", memswap_limit="48m")
        assert r["Warnings"] == [NO_SWAP_LIMIT]
        ct.reload()
        assert (ct.attrs["HostConfig"]["Memory"], ct.attrs["HostConfig"]["MemorySwap"]) == (96 << 20, -1)
    finally:
        if c is not None:
            c.close()
        cli("rm", "-f", "api-noswap", "api-noswap2", "api-noswap-run", "api-noswap-create")
        proc.terminate()
        proc.communicate(timeout=30)


@DOCKER_PY_LEAKS
def test_exec_events_as_dockerd(dclient, cli):
    """exec_create: CMD, exec_start: CMD and exec_die (its exitCode), each with the execID,
    for an attached and a detached exec, as `docker events` shows dockerd's."""
    since = time.time()
    try:
        ct = dclient.containers.run("busybox", "sleep 300", detach=True, name="api-execev",
                                    network_mode="none")
        assert ct.exec_run(["sh", "-c", "exit 3"]).exit_code == 3
        eid = dclient.api.exec_create(ct.id, ["sleep", "0.2"])["Id"]
        dclient.api.exec_start(eid, detach=True)
        deadline = time.monotonic() + 30
        while dclient.api.exec_inspect(eid)["Running"] and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        evs = [e for e in dclient.events(since=since, until=time.time() + 0.5, decode=True,
                                         filters={"container": "api-execev"})
               if e["Action"].startswith("exec_")]
        got = [(e["Action"], e["Actor"]["Attributes"].get("exitCode")) for e in evs]
        assert got == [("exec_create: sh -c exit 3", None), ("exec_start: sh -c exit 3", None),
                       ("exec_die", "3"), ("exec_create: sleep 0.2", None),
                       ("exec_start: sleep 0.2", None), ("exec_die", "0")], got
        assert all(e["Actor"]["ID"] == ct.id and e["Actor"]["Attributes"]["name"] == "api-execev"
                   and e["Type"] == "container" for e in evs)
        assert {e["Actor"]["Attributes"]["execID"] for e in evs[3:]} == {eid}
    finally:
        _cleanup(cli, "api-execev")


def test_wait_gives_the_exit_code_of_a_running_container(dclient, cli):
    """docker-py's wait on a container still running: its exit code once it exits, whether
    this service started it (its monitor's exit report) or another client did (the CLI)."""
    try:
        ct = dclient.containers.run("busybox", ["sh", "-c", "sleep 0.5; exit 3"], detach=True,
                                    name="api-wait1", network_mode="none")
        assert ct.wait()["StatusCode"] == 3
        ct.start()
        assert ct.wait()["StatusCode"] == 3  # a second run, a second report
        cli("create", "--name", "api-wait2", "--network", "none", "busybox", "sh", "-c",
            "sleep 0.5; exit 4", check=True)
        cli("start", "api-wait2", check=True)
        assert dclient.containers.get("api-wait2").wait()["StatusCode"] == 4
    finally:
        _cleanup(cli, "api-wait1", "api-wait2")


def test_exec_events_of_every_front_door(dclient, docker, cli, tmp_path):
    """An exec made by `layerbox exec` (its compiled path and its Python one) or by the Python
    API's exec_run records the same events as the Engine API's: `docker events` (and docker-py's
    events) show exec_create: CMD, exec_start: CMD and exec_die with its exitCode, each with an
    execID of its own; a detached exec (not waited for) its create and start."""
    import layerbox

    since = time.time()
    try:
        ct = dclient.containers.run("busybox", "sleep 300", detach=True, name="api-execev2",
                                    network_mode="none")
        assert cli("exec", "api-execev2", "sh", "-c", "exit 4").returncode == 4  # compiled
        empty = tmp_path / "empty.env"
        empty.write_text("")
        # --env-file: the Python path's
        assert cli("exec", "--env-file", str(empty), "api-execev2", "sh", "-c", "exit 5").returncode == 5
        assert cli("exec", "-d", "api-execev2", "true").returncode == 0
        client = layerbox.Client(root=cli.root)
        assert client.containers.get("api-execev2").exec_run(["sh", "-c", "exit 6"]).exit_code == 6
        assert client.containers.get("api-execev2").exec_run("echo hi", tty=True).exit_code == 0
        until = time.time() + 0.5
        evs = [e for e in dclient.events(since=since, until=until, decode=True,
                                         filters={"container": "api-execev2"})
               if e["Action"].startswith("exec_")]
        got = [(e["Action"], e["Actor"]["Attributes"].get("exitCode")) for e in evs]
        assert got == [("exec_create: sh -c exit 4", None), ("exec_start: sh -c exit 4", None),
                       ("exec_die", "4"),
                       ("exec_create: sh -c exit 5", None), ("exec_start: sh -c exit 5", None),
                       ("exec_die", "5"),
                       ("exec_create: true", None), ("exec_start: true", None),
                       ("exec_create: sh -c exit 6", None), ("exec_start: sh -c exit 6", None),
                       ("exec_die", "6"),
                       ("exec_create: echo hi", None), ("exec_start: echo hi", None),
                       ("exec_die", "0")], got
        assert all(e["Actor"]["ID"] == ct.id and e["Type"] == "container"
                   and e["Actor"]["Attributes"]["name"] == "api-execev2"
                   and e["Actor"]["Attributes"]["image"] == "busybox"
                   and len(e["Actor"]["Attributes"]["execID"]) == 64 for e in evs)
        ids = [e["Actor"]["Attributes"]["execID"] for e in evs]
        assert len(set(ids)) == 5 and ids[0] == ids[1] == ids[2] and ids[-3] == ids[-1]
        # the docker CLI's view of the same
        r = docker("events", "--since", str(since), "--until", str(until), "--filter",
                   "container=api-execev2", "--filter", "event=exec_die", "--format",
                   "{{.Action}} {{index .Actor.Attributes \"exitCode\"}}")
        assert r.out.splitlines() == ["exec_die 4", "exec_die 5", "exec_die 6", "exec_die 0"], r.out
    finally:
        _cleanup(cli, "api-execev2")


def test_docker_cli_run_with_a_link_is_refused_naming_it(docker, cli):
    """Links (legacy, the default bridge only) are refused with docker's 400 naming the field:
    never accepted and ignored."""
    before = cli("ps", "-aq", "--no-trunc").out.split()
    r = docker("run", "--rm", "--link", "api-nolink:db", "busybox", "true", check=False)
    assert r.returncode == 125 and "HostConfig.Links" in r.err and "not supported" in r.err, r.err
    assert cli("ps", "-aq", "--no-trunc").out.split() == before  # nothing made


def _summaries_as_python_makes_them(root: str, all_: bool) -> list:
    """GET /containers/json's entries as layerbox.sysinfo.container_summary makes them (the
    filtered listings' way), in this process, without their STATUS (a clock's phrase)."""
    import layerbox
    from layerbox import sysinfo

    engine = layerbox.Client(root=root)._engine
    out = [sysinfo.container_summary(engine, c) for c in engine.list(all=all_)]
    for d in out:
        d.pop("Status")
    return out


def test_containers_json_without_filters_says_what_each_container_summary_says(service, cli, tmp_path):
    """`docker ps [-a]` through the socket is answered from the listing's C++ rows and cache
    (views.api_summaries), on the event loop for a few containers and in the pool for many:
    each entry is what the summary of a filtered listing says of the same container (labels,
    a volume, a bind mount, published ports on the bridge, a paused one, an exited one, a
    healthcheck's suffix), newest first, `limit` the newest; and a running container whose
    monitor was killed is settled (exited, 255) by the listing that finds it."""
    import signal

    made = []

    def make(*args):
        r = cli(*args, check=True)
        made.append(r.out.strip())

    try:
        make("create", "--name", "lj-created", "--network", "none", "-l", "b=2", "-l", "a=1",
             "-v", "lj-vol:/data", "-v", f"{tmp_path}:/mnt:ro", "busybox", "true")
        make("run", "-d", "--name", "lj-ports", "-p", "127.0.0.1::80", "-p", "127.0.0.1:18991:81/udp",
             "busybox", "sleep", "300")
        make("run", "-d", "--name", "lj-paused", "--network", "none", "busybox", "sleep", "300")
        cli("pause", "lj-paused", check=True)
        assert cli("run", "--name", "lj-exited", "--network", "none", "busybox", "sh", "-c", "exit 3").returncode == 3
        made.append(cli("inspect", "-f", "{{.Id}}", "lj-exited", check=True).out.strip())
        make("run", "-d", "--name", "lj-health", "--network", "none", "--health-cmd", "true",
             "--health-interval", "100ms", "busybox", "sleep", "300")
        deadline = time.monotonic() + 30
        while "(healthy)" not in cli("ps", "--filter", "name=lj-health").out:
            assert time.monotonic() < deadline, "lj-health never became healthy"
            time.sleep(0.1)
        for all_ in (True, False):
            st, _, got = call(service, "GET", f"/containers/json?all={int(all_)}")
            assert st == 200
            statuses = {d["Names"][0]: d.pop("Status") for d in got}
            assert got == _summaries_as_python_makes_them(cli.root, all_)
        assert statuses["/lj-paused"].endswith("(Paused)")
        assert statuses["/lj-health"].endswith("(healthy)")
        _, _, everything = call(service, "GET", "/containers/json?all=1")
        by_name = {d["Names"][0]: d for d in everything}
        assert by_name["/lj-exited"]["Status"].startswith("Exited (3)")
        assert by_name["/lj-created"]["Labels"] == {"a": "1", "b": "2"}
        assert {(m["Type"], m["Destination"], m["RW"]) for m in by_name["/lj-created"]["Mounts"]} == {
            ("volume", "/data", True), ("bind", "/mnt", False)}
        ports = sorted((p["PrivatePort"], p["Type"], p.get("PublicPort")) for p in by_name["/lj-ports"]["Ports"])
        assert [p[:2] for p in ports] == [(80, "tcp"), (81, "udp")] and ports[1][2] == 18991
        # limit: the newest first
        _, _, two = call(service, "GET", "/containers/json?limit=2")
        assert [d["Id"] for d in two] == [d["Id"] for d in everything[:2]]
        # A monitor killed: the listing settles its container (exited, 255) on the way.
        with open(os.path.join(cli.root, "containers", made[1], "state.json")) as f:
            state = json.load(f)
        os.kill(state["MonitorPid"], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{state['MonitorPid']}"):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        _, _, after = call(service, "GET", "/containers/json?all=1")
        gone = next(d for d in after if d["Id"] == made[1])
        assert gone["State"] == "exited" and gone["Status"].startswith("Exited (255)"), gone
    finally:
        for cid in made:
            cli("rm", "-f", cid)
        cli("volume", "rm", "lj-vol")
