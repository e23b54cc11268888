"""The cost of growth (issue 15): the hot commands in an empty store and in one with 10,000
stopped containers and 1,000 images, in one run.

    python3 benchmarks/bench_growth.py [--containers 10000] [--images 1000] [--reps 20]

Both stores get the busybox test image and one running container (the target of exec and of ps);
the grown one also gets N stopped containers (created through the Python API, never started:
to ps -a they are as many rows as exited ones) and M images (the busybox config with a label of
its own each, so M distinct image ids over the same layer, tagged growth/imgK:latest). Prints
median wall times (the two stores taking turns) and the ratio grown/empty; the target is at
most 1.5x for ps, run --rm, exec and images REPO, and ps -a listing every container in under
0.5 s."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from side_by_side import layerbox_cmd  # noqa: E402


def make_store(root: str, tar: str, containers: int, images: int) -> None:
    lb = layerbox_cmd()
    env = dict(os.environ, LAYERBOX_ROOT=root)
    subprocess.run([*lb, "import", tar, "busybox:latest"], check=True, capture_output=True, env=env)
    subprocess.run([*lb, "run", "-d", "--name", "target", "--network", "none", "busybox", "sleep", "3600"],
                   check=True, capture_output=True, env=env)
    if not containers and not images:
        return
    import layerbox

    client = layerbox.Client(root=root)
    for _ in range(containers):
        client.containers.create("busybox", ["true"], network_mode="none")
    from layerbox.image.store import ImageStore
    from layerbox.store import Store

    store = ImageStore(Store(root))
    base_id = subprocess.run([*lb, "image", "inspect", "-f", "{{.Id}}", "busybox"], check=True,
                             capture_output=True, text=True, env=env).stdout.strip()
    base = store.config_bytes(base_id)
    for k in range(images):
        cfg = json.loads(base)
        cfg.setdefault("config", {}).setdefault("Labels", {})["growth"] = str(k)
        store.add_image_bytes(json.dumps(cfg).encode(), tags=(f"growth/img{k}:latest",))


def timed_stores(cmd: list[str], roots: dict, n: int) -> dict:
    """Median wall time in ms of `cmd` against each store, the stores taking turns (one warm-up
    each): on a shared machine a run of the one then the other put a change of load between
    them (images busybox: 1.66 in sequence at load 8-10, 1.06-1.08 taking turns at 7.8)."""
    envs = {k: dict(os.environ, LAYERBOX_ROOT=r) for k, r in roots.items()}
    times: dict = {k: [] for k in roots}
    for rep in range(n + 1):
        for k, env in envs.items():
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, env=env)
            if rep:
                times[k].append((time.perf_counter() - t) * 1000)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--containers", type=int, default=10000)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    from layerbox import _core
    from layerbox.testing import make_rootfs, tar_of

    tmp = tempfile.mkdtemp(prefix="bench-growth-")
    os.makedirs(os.path.join(tmp, "rootfs"))
    make_rootfs(os.path.join(tmp, "rootfs"))
    tar = os.path.join(tmp, "busybox.tar")
    with open(tar, "wb") as f:
        f.write(tar_of(os.path.join(tmp, "rootfs")))
    roots = {"empty": os.path.join(tmp, "empty"), "grown": os.path.join(tmp, "grown")}
    lb = layerbox_cmd()
    try:
        t = time.perf_counter()
        make_store(roots["empty"], tar, 0, 0)
        make_store(roots["grown"], tar, args.containers, args.images)
        print(f"stores made in {time.perf_counter() - t:.0f} s: {args.containers} stopped containers, "
              f"{args.images} images", flush=True)
        rows = [("ps", ["ps"]), ("run --rm --network none busybox true",
                                  ["run", "--rm", "--network", "none", "busybox", "true"]),
                ("exec target true", ["exec", "target", "true"]),
                ("images busybox", ["images", "busybox"]), ("ps -a", ["ps", "-a"])]
        for what, argv in rows:
            res = timed_stores([*lb, *argv], roots, args.reps if what != "ps -a" else 5)
            print(f"{what}: empty {res['empty']:.1f} ms, grown {res['grown']:.1f} ms, "
                  f"ratio {res['grown'] / res['empty']:.2f}", flush=True)
    finally:
        for r in roots.values():
            env = dict(os.environ, LAYERBOX_ROOT=r)
            subprocess.run([*lb, "rm", "-f", "target"], capture_output=True, env=env)
        _core.remove_tree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
