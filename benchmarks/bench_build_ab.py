"""Two layerbox installs and BuildKit building bench_build_sbs's Dockerfile, taking turns: for a
change's before/after figures in one run (the ratio to BuildKit moves with the machine's load,
the before/after ratio much less).

    python3 benchmarks/bench_build_ab.py --before /usr/local/bin/layerbox \\
        --after /work/venv/NAME/bin/layerbox --reps 11

Each install builds in a store of its own (made and removed here); BuildKit is docker 20.10's
(DOCKER_BUILDKIT=1, see bench_build_sbs.buildkit_cli), left out when there is none. Every image
made is removed afterwards by ID, the base image last."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_build_sbs as sbs  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="the layerbox command before the change")
    ap.add_argument("--after", required=True, help="the layerbox command after the change")
    ap.add_argument("--reps", type=int, default=11)
    args = ap.parse_args()

    from layerbox import _core
    from layerbox.testing import make_rootfs, tar_of

    work = tempfile.mkdtemp(prefix="build-ab-")
    make_rootfs(os.path.join(work, "rootfs"))
    tar = os.path.join(work, "base.tar")
    with open(tar, "wb") as f:
        f.write(tar_of(os.path.join(work, "rootfs")))
    ctx = sbs.make_context(os.path.join(work, "ctx"), "sbs-ab-base")
    engines = {n: ([cmd], dict(os.environ, LAYERBOX_ROOT=os.path.join(work, n)))
               for n, cmd in (("before", args.before), ("after", args.after))}
    bk = sbs.buildkit_cli()
    if bk:
        engines["buildkit"] = ([bk], dict(os.environ, DOCKER_BUILDKIT="1"))
    made: dict = {n: [] for n in engines}
    times: dict = {(n, k): [] for n in engines for k in ("cold", "cached")}
    loads = [os.getloadavg()[0]]

    def build(n: str, cold: bool) -> float:
        cmd, env = engines[n]
        t = time.perf_counter()
        r = subprocess.run([*cmd, "build", "-q", *(["--no-cache"] if cold else []), "--network", "none",
                            ctx], check=True, capture_output=True, text=True, env=env)
        made[n].append(r.stdout.strip().splitlines()[-1])
        return (time.perf_counter() - t) * 1000

    try:
        for cmd, env in engines.values():
            subprocess.run([*cmd, "import", tar, "sbs-ab-base:latest"], check=True, capture_output=True,
                           env=env)
        for cold in (True, False):
            for n in engines:  # a warm-up each (and the cache filled for the cached rounds)
                build(n, cold)
            for _ in range(args.reps):
                for n in engines:
                    times[(n, "cold" if cold else "cached")].append(build(n, cold))
        loads.append(os.getloadavg()[0])
    finally:
        for n, (cmd, env) in engines.items():
            for image in [*dict.fromkeys(made[n]), "sbs-ab-base:latest"]:
                subprocess.run([*cmd, "rmi", "-f", image], capture_output=True, env=env)
        _core.remove_tree(work)

    print(f"load average {loads[0]:.1f} -> {loads[-1]:.1f}; {args.reps} builds each, in turns; medians")
    for k in ("cold", "cached"):
        med = {n: statistics.median(times[(n, k)]) for n in engines}
        line = f"{k:6s} " + "  ".join(f"{n} {v:.1f} ms" for n, v in med.items())
        line += f"  after/before {med['after'] / med['before']:.2f}"
        if "buildkit" in med:
            line += "".join(f"  {n}/BuildKit {med[n] / med['buildkit']:.2f}" for n in ("before", "after"))
        print(line)


if __name__ == "__main__":
    main()
