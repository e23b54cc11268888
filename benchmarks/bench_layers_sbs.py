"""commit, save and export side by side (used by side_by_side.py): a container whose layer holds
2000 files of 4 KiB and 4 of 32 MiB of random data (136 MB), made the same way in every engine
(by a shell loop inside the container), then each command timed through the engine's CLI."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time

MAKE_LAYER = ("mkdir -p /small /big; i=0; while [ $i -lt 2000 ]; do head -c 4096 /dev/urandom "
              "> /small/f$i; i=$((i+1)); done; for j in 0 1 2 3; do head -c 33554432 /dev/urandom "
              "> /big/b$j; done")


def _median_ms(fn, reps: int) -> float:
    times = []
    for i in range(reps):
        t = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def _engine(bench, name: str):
    """(command prefix, env, extra run flags) for an engine."""
    if name == "layerbox":
        return bench.lb, bench.env, []
    return [name], None, ["--network", "none"]


def measure(bench) -> list[dict]:
    reps = 5
    out = {"commit": {}, "save": {}, "export": {}}
    tmp = tempfile.mkdtemp(prefix="sbs-layers-")
    for name in ["layerbox", *bench.engines]:
        cmd, env, flags = _engine(bench, name)
        run = lambda *a, **kw: subprocess.run([*cmd, *a], check=True, capture_output=True,  # noqa: E731
                                              env=env, **kw)
        cid = run("run", "-d", *flags, "sbs-busybox", "sh", "-c", MAKE_LAYER + "; sleep 1000",
                  text=True).stdout.strip()
        try:
            # wait until the layer is complete (the 4th big file has its full size)
            for _ in range(600):
                r = subprocess.run([*cmd, "exec", cid, "sh", "-c", "wc -c < /big/b3"], capture_output=True,
                                   text=True, env=env)
                if r.returncode == 0 and r.stdout.strip() == "33554432":
                    break
                time.sleep(0.2)
            run("stop", "-t", "0", cid)
            made = []

            def commit(i):
                made.append(run("commit", cid, f"sbs-commit:{i}", text=True).stdout.strip())

            out["commit"][name] = _median_ms(commit, reps)

            def save(i):
                run("save", "-o", os.path.join(tmp, f"{name}-{i}.tar"), "sbs-commit:0")

            out["save"][name] = _median_ms(save, reps)

            def export(i):
                run("export", "-o", os.path.join(tmp, f"{name}-x{i}.tar"), cid)

            out["export"][name] = _median_ms(export, reps)
            for f in os.listdir(tmp):
                os.unlink(os.path.join(tmp, f))
            for i in range(reps):
                subprocess.run([*cmd, "rmi", "-f", f"sbs-commit:{i}"], capture_output=True, env=env)
        finally:
            subprocess.run([*cmd, "rm", "-f", cid], capture_output=True, env=env)
    from layerbox import _core

    _core.remove_tree(tmp)
    targets = {"commit": "layerbox <= 0.2 x docker", "save": "layerbox <= 0.2 x docker",
               "export": "layerbox <= 0.4 x docker"}
    rows = []
    for what in ("commit", "save", "export"):
        cmdline = {"commit": "ENGINE commit CONTAINER IMAGE:N", "save": "ENGINE save -o FILE IMAGE",
                   "export": "ENGINE export -o FILE CONTAINER"}[what]
        rows.append({"what": f"{what} of a 136 MB layer, 2000 x 4 KiB + 4 x 32 MiB (median of {reps})",
                     "command": cmdline, "results": out[what], "target": targets[what]})
    return rows
