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
measured beside it, in the same run: the busybox image is given to dockerd (`layerbox save |
docker load`, as --docker-image, default layerbox-bench-bb:1) when it has no such image, and
removed at the end. All traffic stays on the unix sockets.

    unshare -n python3 benchmarks/bench_api.py -n 15 --docker-socket /var/run/docker.sock
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


def run_sdk(sock: str, n: int, image: str = "busybox") -> list[float]:
    import docker

    c = docker.DockerClient(base_url="unix://" + sock)
    c.containers.run(image, "true", remove=True)  # warm
    out = []
    for _ in range(n):
        t = time.perf_counter()
        c.containers.run(image, "true", remove=True)
        out.append(time.perf_counter() - t)
    c.close()
    return out


def docker_ps(sock: str, n: int) -> list[float] | None:
    """`docker ps -a` through the socket (None without a docker CLI)."""
    exe = shutil.which("docker")
    if exe is None:
        return None
    env = dict(os.environ, DOCKER_HOST="unix://" + sock)
    subprocess.run([exe, "ps", "-a"], env=env, check=True, capture_output=True)  # warm
    out = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run([exe, "ps", "-a"], env=env, check=True, capture_output=True)
        out.append(time.perf_counter() - t)
    return out


def give_image(docker_sock: str, image: str, env: dict) -> bool:
    """Loads layerbox's busybox into dockerd as `image` unless dockerd has it; True when it
    was loaded here (to remove at the end)."""
    import docker

    c = docker.DockerClient(base_url="unix://" + docker_sock)
    try:
        try:
            c.images.get(image)
            return False
        except docker.errors.ImageNotFound:
            pass
        subprocess.run([*layerbox(), "tag", "busybox", image], env=env, check=True, capture_output=True)
        tar = subprocess.run([*layerbox(), "save", image], env=env, check=True, capture_output=True).stdout
        c.images.load(tar)
        return True
    finally:
        c.close()


def first_answer_activated(env: dict, n: int) -> list[float]:
    """Socket activation as the client sees it: the socket exists (systemd's), the client has
    connected and sent GET /_ping before the service starts; the time from the service's start
    to the answer."""
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
        proc = subprocess.Popen([sys.executable, "-c", wrapper, *layerbox(), "system", "service",
                                 "--time", "0"], pass_fds=(ls.fileno(),), env=env)
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--docker-socket", help="dockerd's socket, to measure the same beside it")
    ap.add_argument("--docker-image", default="layerbox-bench-bb:1",
                    help="dockerd's busybox image (loaded from layerbox's when dockerd lacks it)")
    args = ap.parse_args()
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

    loaded = False
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
        ours = run_sdk(sock, args.n)
        print(f"docker-py run true (layerbox):     {_ms(ours)}")
        if args.docker_socket:
            theirs = run_sdk(args.docker_socket, args.n, args.docker_image)
            print(f"docker-py run true (dockerd):      {_ms(theirs)}")
            print(f"ratio:                             {statistics.median(ours) / statistics.median(theirs):.2f}")
        ps = docker_ps(sock, args.n)
        if ps:
            print(f"docker ps -a (layerbox):           {_ms(ps)}")
            if args.docker_socket:
                theirs = docker_ps(args.docker_socket, args.n)
                print(f"docker ps -a (dockerd):            {_ms(theirs)}")
                print(f"ratio:                             {statistics.median(ps) / statistics.median(theirs):.2f}")
        print(f"load average:                      {os.getloadavg()[0]:.1f}")
    finally:
        proc.terminate()
        proc.wait()
        if loaded:
            import docker

            c = docker.DockerClient(base_url="unix://" + args.docker_socket)
            c.images.remove(args.docker_image)
            c.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
