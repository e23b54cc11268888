"""Container churn through the Python API: create -> start -> wait -> remove of /bin/true.

    python3 benchmarks/churn.py -n 1000 -w 1      # one thread
    python3 benchmarks/churn.py -n 1000 -w 4      # four worker processes

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


def _worker(root: str, n: int, q, image: str = "busybox") -> None:
    import layerbox

    client = layerbox.Client(root=root)
    ok = failed = 0
    for _ in range(n):
        try:
            c = client.containers.create(image, ["/bin/true"])
            c.start()
            if c.wait()["StatusCode"] != 0:
                failed += 1
            else:
                ok += 1
            c.remove()
        except Exception as e:  # noqa: BLE001 - counted and reported
            failed += 1
            print(f"churn: {e}", file=sys.stderr)
    q.put((ok, failed))


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


def churn(root: str, n: int, workers: int, image: str = "busybox") -> dict:
    """Runs n lifecycles over `workers` processes; returns rate, failures and leftovers.
    The rate counts completed lifecycles only."""
    per = [n // workers + (1 if i < n % workers else 0) for i in range(workers)]
    q = mp.get_context("fork").Queue()
    _warm = mp.get_context("fork").Process(target=_worker, args=(root, 5, q, image))
    _warm.start()
    _warm.join()
    q.get()
    procs = [mp.get_context("fork").Process(target=_worker, args=(root, k, q, image)) for k in per]
    t = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - t
    ok = failed = 0
    for _ in procs:
        a, b = q.get()
        ok += a
        failed += b
    time.sleep(0.2)  # monitors that reported their exit are still returning from main()
    return {"containers": n, "workers": workers, "seconds": elapsed, "per_second": ok / elapsed,
            "ok": ok, "failed": failed,
            "left": leftovers(root, os.environ.get("LAYERBOX_CGROUP_PARENT", "layerbox"))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("-w", "--workers", type=int, default=1)
    ap.add_argument("--root", help="store root (default: a fresh temp dir)")
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
    res = churn(root, args.n, args.workers)
    left = res["left"]
    print(f"{res['containers']} containers, {res['workers']} worker(s): {res['per_second']:.1f}/s "
          f"({res['seconds']:.2f} s), ok {res['ok']}, failed {res['failed']}")
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
