"""Container churn through the Python API: create -> start -> wait -> remove of /bin/true.

    python3 benchmarks/churn.py -n 1000 -w 1      # one thread
    python3 benchmarks/churn.py -n 1000 -w 4      # four worker processes
    python3 benchmarks/churn.py -n 1000 --api     # through the Engine API, on the default bridge
    python3 benchmarks/churn.py -n 1000 --api --network none
    python3 benchmarks/churn.py -n 1000 --network bridge   # the Python API on the default bridge

Prints containers per second, failures, and what is left afterwards (mounts, cgroups,
monitors, store entries), which must all be zero. Uses a fresh store in a temp dir unless
--root is given, and imports the busybox test image into it.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time


def _worker(root: str, n: int, q, image: str = "busybox", network: str = "none") -> None:
    import layerbox

    client = layerbox.Client(root=root)
    ok = failed = 0
    t0 = os.times()
    for _ in range(n):
        try:
            # --network none by default, as issue 15's target and docker's churn beside it
            # (side_by_side); a bridge only in a network namespace of the benchmark's own (main)
            c = client.containers.create(image, ["/bin/true"], network_mode=network)
            c.start()
            if c.wait()["StatusCode"] != 0:
                failed += 1
            else:
                ok += 1
            c.remove()
        except Exception as e:  # noqa: BLE001 - counted and reported
            failed += 1
            print(f"churn: {e}", file=sys.stderr)
    t1 = os.times()
    client.close()  # a forked worker ends with os._exit, which runs no atexit
    q.put((ok, failed, t1.user + t1.system - t0.user - t0.system))


def leftovers(root: str, cgroup_parent: str) -> dict:
    """What a container engine must not leave: counted, for the benchmark's report."""
    with open("/proc/self/mountinfo") as f:
        mounts = sum(1 for line in f if line.split()[4].startswith(root))
    cgroups = 0
    for h in os.listdir("/sys/fs/cgroup") + [""]:
        p = os.path.join("/sys/fs/cgroup", h, cgroup_parent)
        if os.path.isdir(p):
            cgroups += sum(1 for c in os.listdir(p) if os.path.isdir(os.path.join(p, c)))
    r = subprocess.run(["pgrep", "-f", f"layerbox-shim {root}/"], capture_output=True, text=True)
    monitors = 0
    for pid in r.stdout.split():
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    monitors += 1
        except OSError:
            pass
    containers = len(os.listdir(os.path.join(root, "containers")))
    staging = len(os.listdir(os.path.join(root, "tmp")))
    names = len(os.listdir(os.path.join(root, "names")))
    return {"mounts": mounts, "cgroups": cgroups, "monitors": monitors,
            "containers": containers, "names": names, "staging": staging}


def remove_cgroup_parent(parent: str) -> None:
    """The (empty) cgroup parent a benchmark used, in every hierarchy."""
    for h in os.listdir("/sys/fs/cgroup") + [""]:
        try:
            os.rmdir(os.path.join("/sys/fs/cgroup", h, parent))
        except OSError:
            pass


class _AllCpu:
    """The CPU time of this process and everything it starts, the monitors and containers
    included (they leave the workers' process tree, so os.times misses them): a v1 cpuacct
    cgroup of its own, which a container's cgroups (freezer, pids, memory, devices) do not
    move it out of. None where there is no such hierarchy (v2 moves each container into a
    cgroup of its own)."""

    def __init__(self, name: str):
        self.path = f"/sys/fs/cgroup/cpuacct/{name}"
        try:
            os.mkdir(self.path)
            with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        except OSError:
            self.close()
            self.path = None

    def seconds(self) -> float | None:
        """user+system so far, in seconds (cpuacct.usage: nanoseconds, all CPUs)."""
        if not self.path:
            return None
        with open(os.path.join(self.path, "cpuacct.usage")) as f:
            return int(f.read()) / 1e9

    def close(self) -> None:
        if self.path:
            try:
                with open("/sys/fs/cgroup/cpuacct/cgroup.procs", "w") as f:
                    f.write(str(os.getpid()))
                os.rmdir(self.path)
            except OSError:
                pass


def churn(root: str, n: int, workers: int, image: str = "busybox", network: str = "none") -> dict:
    """Runs n lifecycles over `workers` processes; returns rate, failures and leftovers.
    The rate counts completed lifecycles only. A `network` other than none is made in the
    network namespace this runs in: the caller's own (see main)."""
    per = [n // workers + (1 if i < n % workers else 0) for i in range(workers)]
    q = mp.get_context("fork").Queue()
    _warm = mp.get_context("fork").Process(target=_worker, args=(root, 5, q, image, network))
    _warm.start()
    _warm.join()
    q.get()
    rules_before = network_leftovers(root)["nft rules"] if network != "none" else 0
    procs = [mp.get_context("fork").Process(target=_worker, args=(root, k, q, image, network))
             for k in per]
    allcpu = _AllCpu(f"layerbox-churn-cpu-{os.getpid()}")
    cpu0 = allcpu.seconds()
    t = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - t
    ok = failed = 0
    cpu = 0.0
    for _ in procs:
        a, b, c = q.get()
        ok += a
        failed += b
        cpu += c
    time.sleep(0.2)  # monitors that reported their exit are still returning from main()
    all_cpu_ms = None
    if cpu0 is not None:
        # the queue's reads and the sleep are ours too, but a few ms over the whole run
        all_cpu_ms = (allcpu.seconds() - cpu0) * 1000 / n
    allcpu.close()
    left = leftovers(root, os.environ.get("LAYERBOX_CGROUP_PARENT", "layerbox"))
    if network != "none":
        time.sleep(0.3)  # the last containers' network namespaces take their veths along
        left.update(network_leftovers(root))
        left["nft rules"] -= rules_before  # rules added: must be none
    return {"containers": n, "workers": workers, "seconds": elapsed, "per_second": ok / elapsed,
            "ok": ok, "failed": failed, "client_cpu_ms": cpu * 1000 / n, "all_cpu_ms": all_cpu_ms,
            "left": left}


def network_leftovers(root: str) -> dict:
    """What a container on a bridge network must not leave in this network namespace and the
    store: veths, address claims, published-port elements (the nftables rules themselves are
    fixed: a container adds map elements, never a rule, so their count is reported too)."""
    import glob
    import json

    with open("/proc/self/net/dev") as f:  # this namespace's links
        veths = sum(1 for line in f if line.strip().startswith("lbv"))
    claims = len(glob.glob(os.path.join(root, "networks", "*", "ips", "*")))
    r = subprocess.run(["nft", "-j", "list", "table", "inet", "layerbox"], capture_output=True,
                       text=True)
    elements = rules = 0
    if r.returncode == 0:
        for item in json.loads(r.stdout).get("nftables", ()):
            if "map" in item and item["map"]["name"] in ("pub4", "puball4"):
                elements += len(item["map"].get("elem") or ())
            rules += "rule" in item
    return {"veths": veths, "address claims": claims, "port elements": elements, "nft rules": rules}


def _cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (all its threads: utime + stime)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def api_churn(root: str, n: int, image: str = "busybox", network: str | None = None) -> dict:
    """create -> start -> wait -> remove of /bin/true through the Docker Engine API (the Docker
    SDK for Python against `layerbox system service` on a socket of its own), one worker, on
    the default bridge or `network`. Returns the rate, the service's CPU time per container
    (its own process: the monitors are not its) and what is left afterwards."""
    import docker

    d = tempfile.mkdtemp(prefix="layerbox-api-churn-")
    sock = os.path.join(d, "api.sock")
    lb = os.path.join(os.path.dirname(sys.executable), "layerbox")
    service = subprocess.Popen([lb if os.access(lb, os.X_OK) else sys.executable, *(
        [] if os.access(lb, os.X_OK) else ["-m", "layerbox"]), "system", "service", "--time", "0",
        f"unix://{sock}"], env=dict(os.environ, LAYERBOX_ROOT=root), stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):  # bounded: 10 s for the socket to appear
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        client = docker.DockerClient(base_url=f"unix://{sock}", version="1.44", timeout=30)

        kw = {"network_mode": network} if network else {}

        def one() -> bool:
            c = client.containers.create(image, ["/bin/true"], **kw)
            c.start()
            code = c.wait()["StatusCode"]
            c.remove()
            return code == 0

        for _ in range(5):  # warm: the default network, its bridge and the table exist after
            one()
        rules_before = network_leftovers(root)["nft rules"]
        ok = failed = 0
        cpu = _cpu_seconds(service.pid)
        t = time.perf_counter()
        for _ in range(n):
            try:
                ok += one()
            except Exception as e:  # noqa: BLE001 - counted and reported
                failed += 1
                print(f"api churn: {e}", file=sys.stderr)
        elapsed = time.perf_counter() - t
        cpu = _cpu_seconds(service.pid) - cpu
        client.close()
    finally:
        service.terminate()
        service.wait(10)
        import shutil

        shutil.rmtree(d, ignore_errors=True)
    time.sleep(0.5)  # the last monitors delete their veths after reporting the exit
    left = network_leftovers(root)
    left["nft rules"] -= rules_before  # rules added: must be none
    return {"containers": n, "seconds": elapsed, "per_second": ok / elapsed, "ok": ok,
            "failed": failed, "service_cpu_ms": cpu * 1000 / n, "left": {**leftovers(root, os.environ.get("LAYERBOX_CGROUP_PARENT",
                                                                         "layerbox")), **left}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("-w", "--workers", type=int, default=1)
    ap.add_argument("--root", help="store root (default: a fresh temp dir)")
    ap.add_argument("--api", action="store_true",
                    help="through the Engine API (layerbox system service), one worker, on the "
                         "default bridge (or --network), in a network namespace of its own")
    ap.add_argument("--network",
                    help="the containers' network: none (the default of the Python API's "
                         "churn) or bridge (the default with --api), made in a network "
                         "namespace of its own")
    args = ap.parse_args()
    import layerbox
    from layerbox.testing import import_busybox

    # A cgroup parent of our own, so the count of leftovers is ours alone.
    parent = os.environ.setdefault("LAYERBOX_CGROUP_PARENT", f"layerbox-churn-{os.getpid()}")
    tmp = None
    root = args.root
    if root is None:
        tmp = tempfile.mkdtemp(prefix="layerbox-churn-")
        root = tmp
    client = layerbox.Client(root=root)
    try:
        client.images.get("busybox")
    except layerbox.errors.ImageNotFound:
        import_busybox(client)
    if args.api or args.network not in (None, "none"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(0x40000000) != 0:  # CLONE_NEWNET: its bridge and rules go with it
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    if args.api:
        res = api_churn(root, args.n, network=args.network)
    else:
        res = churn(root, args.n, args.workers, network=args.network or "none")
    left = res["left"]
    print(f"{res['containers']} containers, {res.get('workers', 1)} worker(s): {res['per_second']:.1f}/s "
          f"({res['seconds']:.2f} s), ok {res['ok']}, failed {res['failed']}"
          + (f", the service's CPU {res['service_cpu_ms']:.1f} ms a container" if "service_cpu_ms" in res else "")
          + (f", the workers' CPU {res['client_cpu_ms']:.1f} ms a container" if "client_cpu_ms" in res else "")
          + (f", all CPU (workers, monitors, containers) {res['all_cpu_ms']:.1f} ms a container"
             if res.get("all_cpu_ms") is not None else "")
          + f", load {os.getloadavg()[0]:.1f}")
    print("left behind: " + ", ".join(f"{k} {v}" for k, v in left.items()))
    if tmp:
        from layerbox import _core

        for i in client.images.list(all=True):
            client.images.remove(i.id, force=True)
        _core.remove_tree(tmp)
    remove_cgroup_parent(parent)
    return 0 if res["failed"] == 0 and not any(left.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
