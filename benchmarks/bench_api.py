"""The Engine API service through docker-py, on this machine, in one run.

    python3 benchmarks/bench_api.py [-n 30]

Starts `layerbox system service` on a private store (the busybox image imported from the
host's busybox-static) and a unix socket in a temporary directory, then measures (medians
over n):
  - the service's first answer: from its start to the first `GET /_ping` answered (polling
    until the socket is there; and socket-activated: the client connected and waiting first);
  - docker-py's `client.containers.run("busybox", "true", remove=True)` through the socket;
  - `GET /containers/json?all=1` and `POST /containers/create` as the service answers them
    (wall time of the request on a kept-alive connection, client included);
  - `docker ps -a` (the docker CLI, when there is one) through the socket.
With dockerd's socket given by --docker-socket, the same docker-py run and `docker ps -a` are
measured beside it, in the same run and in turn: the busybox image is given to dockerd (`layerbox save |
docker load`, as --docker-image, default layerbox-bench-bb:1) when it has no such image, and
removed at the end. All traffic stays on the unix sockets.

    unshare -n python3 benchmarks/bench_api.py -n 15 --docker-socket /var/run/docker.sock
    python3 benchmarks/bench_api.py --first-answer -n 15   # where the first answer's time goes
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

CGROUP_PARENT = "layerbox-bench-api"


def layerbox() -> list[str]:
    exe = os.path.join(sysconfig.get_path("scripts"), "layerbox")
    return [exe] if os.access(exe, os.X_OK) else [sys.executable, "-m", "layerbox"]


def _ms(xs) -> str:
    return f"{statistics.median(xs) * 1000:.1f} ms (min {min(xs) * 1000:.1f}, n={len(xs)})"


def run_sdk(socks: dict, n: int, **kw) -> dict:
    """docker-py's containers.run(image, "true", remove=True) through each socket
    ({name: (socket, image)}), one run of each in turn (a machine shared with others changes
    speed from minute to minute: interleaved, both see the same)."""
    import docker

    clients = {k: (docker.DockerClient(base_url="unix://" + sock), image)
               for k, (sock, image) in socks.items()}
    out = {k: [] for k in socks}
    try:
        for c, image in clients.values():
            c.containers.run(image, "true", remove=True, **kw)  # warm
        for _ in range(n):
            for k, (c, image) in clients.items():
                t = time.perf_counter()
                c.containers.run(image, "true", remove=True, **kw)
                out[k].append(time.perf_counter() - t)
    finally:
        for c, _ in clients.values():
            c.close()
    return out


def docker_ps(socks: dict, n: int) -> dict | None:
    """`docker ps -a` through each socket ({name: socket}), in turn (None without a docker
    CLI)."""
    exe = shutil.which("docker")
    if exe is None:
        return None
    envs = {k: dict(os.environ, DOCKER_HOST="unix://" + sock) for k, sock in socks.items()}
    for env in envs.values():
        subprocess.run([exe, "ps", "-a"], env=env, check=True, capture_output=True)  # warm
    out = {k: [] for k in socks}
    for _ in range(n):
        for k, env in envs.items():
            t = time.perf_counter()
            subprocess.run([exe, "ps", "-a"], env=env, check=True, capture_output=True)
            out[k].append(time.perf_counter() - t)
    return out


def give_image(docker_sock: str, image: str, env: dict) -> str | None:
    """Loads layerbox's busybox into dockerd as `image` unless dockerd has it; the id of the
    image loaded here (to remove at the end), else None."""
    import docker

    c = docker.DockerClient(base_url="unix://" + docker_sock)
    try:
        try:
            c.images.get(image)
            return None
        except docker.errors.ImageNotFound:
            pass
        subprocess.run([*layerbox(), "tag", "busybox", image], env=env, check=True, capture_output=True)
        tar = subprocess.run([*layerbox(), "save", image], env=env, check=True, capture_output=True).stdout
        return c.images.load(tar)[0].id
    finally:
        c.close()


# For comparison only (not the service): an h11 server answering GET /_ping on the socket
# systemd would pass, blocking, in the interpreter as the launcher starts it.
H11_PING = """
import sys, socket, threading, selectors
sys.path[len(sys.path):] = PATHS
import h11
ls = socket.socket(fileno=3)
c, _ = ls.accept()
conn = h11.Connection(h11.SERVER)
while True:
    ev = conn.next_event()
    if ev is h11.NEED_DATA:
        conn.receive_data(c.recv(65536))
        continue
    if isinstance(ev, h11.Request):
        break
c.sendall(conn.send(h11.Response(status_code=200, headers=[("Content-Type", "text/plain"),
        ("Content-Length", "2"), ("Api-Version", "1.44")])) + conn.send(h11.Data(data=b"OK"))
          + conn.send(h11.EndOfMessage()))
"""


def first_answer_activated(env: dict, n: int, command: list | None = None) -> list[float]:
    """Socket activation as the client sees it: the socket exists (systemd's), the client has
    connected and sent GET /_ping before the service starts; the time from the service's start
    to the answer. `command`: another server to start so (default: the service)."""
    import socket

    out = []
    for _ in range(n):
        d = tempfile.mkdtemp(prefix="bench-api-act-")
        path = os.path.join(d, "s.sock")
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ls.bind(path)
        ls.listen(16)
        c = socket.socket(socket.AF_UNIX)
        c.connect(path)
        c.sendall(b"GET /_ping HTTP/1.1\r\nHost: layerbox\r\n\r\n")
        wrapper = (f"import os, sys; os.dup2({ls.fileno()}, 3); "
                   "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1'); "
                   "os.execv(sys.argv[1], sys.argv[1:])")
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", wrapper, *(command or [
            *layerbox(), "system", "service", "--time", "0"])], pass_fds=(ls.fileno(),), env=env)
        try:
            c.settimeout(60)
            answer = c.recv(4096)
            out.append(time.perf_counter() - t)
            assert answer.startswith(b"HTTP/1.1 200"), answer
        finally:
            proc.terminate()
            proc.wait()
            c.close()
            ls.close()
            shutil.rmtree(d, ignore_errors=True)
    return out


def first_answer_parts(env: dict, n: int) -> dict:
    """Where the socket-activated first answer goes: the interpreter as the `layerbox` launcher
    starts it (-I -S), the same importing asyncio, the same importing what the service imports
    before it answers (asyncio, aiohttp's server, layerbox.api.app), the whole first answer;
    and, when h11 is installed, h11 with a blocking socket server's modules (socket, selectors,
    threading) for comparison. Each a new process, in turn (n of each); wall times."""
    import importlib.util

    paths = []
    for mod in ("layerbox", "aiohttp", "h11"):
        spec = importlib.util.find_spec(mod)
        if spec is not None and spec.origin:
            d = os.path.dirname(os.path.dirname(spec.origin))
            if d not in paths:
                paths.append(d)
    pre = f"import sys; sys.path[len(sys.path):] = {paths!r}; "
    parts = {
        "interpreter (-I -S)": "pass",
        "+ import asyncio": "import asyncio",
        "+ the service's imports": pre + ("from layerbox import api; api.import_server_only(); "
                                          "import layerbox.api.app"),
    }
    h11_server = None
    if importlib.util.find_spec("h11") is not None:
        parts["h11 + socket, selectors, threading"] = pre + "import h11, socket, selectors, threading"
        h11_server = [sys.executable, "-I", "-S", "-c", H11_PING.replace("PATHS", repr(paths))]
    import resource

    out = {k: [] for k in parts}
    cpu = {k + " (CPU)": [] for k in parts}  # less of a machine's load in it than in wall time
    out["first answer, socket-activated"] = []
    for _ in range(n):
        for k, code in parts.items():
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run([sys.executable, "-I", "-S", "-c", code], check=True, env=env)
            out[k].append(time.perf_counter() - t)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[k + " (CPU)"].append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
        out["first answer, socket-activated"] += first_answer_activated(env, 1)
        if h11_server:
            out.setdefault("h11 server's first answer (not ours)", []).extend(
                first_answer_activated(env, 1, h11_server))
    return {**out, **cpu}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--docker-socket", help="dockerd's socket, to measure the same beside it")
    ap.add_argument("--docker-image", default="layerbox-bench-bb:1",
                    help="dockerd's busybox image (loaded from layerbox's when dockerd lacks it)")
    ap.add_argument("--first-answer", action="store_true",
                    help="only the first answer and where its time goes (first_answer_parts)")
    args = ap.parse_args()
    if args.first_answer:
        tmp = tempfile.mkdtemp(prefix="bench-api-")
        try:
            env = dict(os.environ, LAYERBOX_ROOT=os.path.join(tmp, "store"))
            # A store in use, as where a service is socket-activated: the service writes its
            # ping record there for the next start (the first start after an install, or in
            # an empty store, answers through Python: csrc/launcher/service_ping.hpp).
            subprocess.run([*layerbox(), "ps", "-a"], env=env, check=True, capture_output=True)
            print(f"load average at the start:         {os.getloadavg()[0]:.1f}")
            for k, xs in first_answer_parts(env, args.n).items():
                print(f"{k + ':':41s}{_ms(xs)}")
            print(f"load average at the end:           {os.getloadavg()[0]:.1f}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return 0
    from layerbox.testing import make_rootfs, tar_of

    tmp = tempfile.mkdtemp(prefix="bench-api-")
    env = dict(os.environ, LAYERBOX_ROOT=os.path.join(tmp, "store"),
               LAYERBOX_CGROUP_PARENT=CGROUP_PARENT)
    rootfs = os.path.join(tmp, "rootfs")
    make_rootfs(rootfs)
    subprocess.run([*layerbox(), "import", "-", "busybox"], input=tar_of(rootfs), env=env,
                   check=True, capture_output=True)
    sock = os.path.join(tmp, "api.sock")
    import http.client
    import socket

    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(sock)

    loaded = None  # the image given to dockerd here
    t0 = time.perf_counter()
    proc = subprocess.Popen([*layerbox(), "system", "service", "--time", "0", "unix://" + sock], env=env)
    try:
        while True:
            try:
                c = Conn("localhost")
                c.request("GET", "/_ping")
                c.getresponse().read()
                break
            except OSError:
                time.sleep(0.002)
        first = time.perf_counter() - t0
        print(f"first answer after start:          {first * 1000:.1f} ms")
        print(f"first answer, socket-activated:    {_ms(first_answer_activated(env, max(3, args.n // 3)))}")
        c = Conn("localhost")
        lst, mk = [], []
        for i in range(args.n):
            t = time.perf_counter()
            c.request("GET", "/containers/json?all=1")
            c.getresponse().read()
            lst.append(time.perf_counter() - t)
            t = time.perf_counter()
            c.request("POST", f"/containers/create?name=bench-{i}", body=b'{"Image":"busybox","Cmd":["true"]}',
                      headers={"Content-Type": "application/json"})
            c.getresponse().read()
            mk.append(time.perf_counter() - t)
        for i in range(args.n):
            c.request("DELETE", f"/containers/bench-{i}")
            c.getresponse().read()
        print(f"GET /containers/json:              {_ms(lst)}")
        print(f"POST /containers/create:           {_ms(mk)}")
        loaded = args.docker_socket and give_image(args.docker_socket, args.docker_image, env)
        socks = {"layerbox": (sock, "busybox")}
        if args.docker_socket:
            socks["dockerd"] = (args.docker_socket, args.docker_image)
        runs = run_sdk(socks, args.n)
        for k, xs in runs.items():
            print(f"docker-py run true ({k}):{' ' * (13 - len(k))}{_ms(xs)}")
        if args.docker_socket:
            print(f"ratio:                             "
                  f"{statistics.median(runs['layerbox']) / statistics.median(runs['dockerd']):.2f}")
        # dockerd started by docker-up has no bridge (--bridge=none): its default network is
        # none, layerbox's a bridge and a veth. The same with no network on both sides:
        runs = run_sdk(socks, args.n, network_mode="none")
        for k, xs in runs.items():
            print(f"  ... network_mode=none ({k}):{' ' * (8 - len(k))}{_ms(xs)}")
        if args.docker_socket:
            print(f"  ratio:                           "
                  f"{statistics.median(runs['layerbox']) / statistics.median(runs['dockerd']):.2f}")
        ps = docker_ps({k: v[0] for k, v in socks.items()}, args.n)
        for k, xs in (ps or {}).items():
            print(f"docker ps -a ({k}):{' ' * (19 - len(k))}{_ms(xs)}")
        if ps and args.docker_socket:
            print(f"ratio:                             "
                  f"{statistics.median(ps['layerbox']) / statistics.median(ps['dockerd']):.2f}")
        print(f"load average:                      {os.getloadavg()[0]:.1f}")
    finally:
        proc.terminate()
        proc.wait()
        if loaded:
            import docker

            c = docker.DockerClient(base_url="unix://" + args.docker_socket)
            c.images.remove(loaded, force=True)  # by id: its tag and the image itself
            c.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
