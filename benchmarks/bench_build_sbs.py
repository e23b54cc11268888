"""build side by side (used by side_by_side.py): the issue's small Dockerfile (FROM, ENV,
WORKDIR, COPY of 200 files, two RUNs, LABEL, CMD), built cold (--no-cache) and rebuilt with
every step cached, by layerbox and by docker's classic builder (DOCKER_BUILDKIT=0), through
each engine's CLI with -q. Every image a run makes is removed afterwards (by ID, never by a
prune that could touch someone else's images)."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time

DOCKERFILE = """FROM {base}
ENV APP_ENV=production
WORKDIR /app
COPY src /app/src
RUN echo built > /app/built.txt
RUN ls /app/src | wc -l > /app/count.txt
LABEL org.example.bench=true
CMD ["cat", "/app/count.txt"]
"""


def make_context(path: str, base: str, files: int = 200) -> str:
    os.makedirs(os.path.join(path, "src"), exist_ok=True)
    for i in range(files):
        with open(os.path.join(path, "src", f"f{i:03d}.txt"), "w") as f:
            f.write(f"file {i}\n" * (1 + i % 7))
    with open(os.path.join(path, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE.format(base=base))
    return path


def _engine(bench, name: str):
    """(command prefix, env, extra build flags) for an engine."""
    if name == "layerbox":
        return bench.lb, bench.env, []
    env = dict(os.environ, DOCKER_BUILDKIT="0")  # the classic builder
    return [name], env, ["--network", "none"]


def _median_ms(cmd, env, reps: int, made: list) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        r = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
        times.append((time.perf_counter() - t) * 1000)
        made.append(r.stdout.strip().splitlines()[-1])
    return statistics.median(times)


def measure(bench) -> list[dict]:
    ctx = make_context(tempfile.mkdtemp(prefix="sbs-build-"), "sbs-busybox")
    cold, cached = {}, {}
    for name in ["layerbox", *[e for e in bench.engines if e == "docker"]]:
        cmd, env, flags = _engine(bench, name)
        made: list = []
        try:
            reps = max(5, bench.reps // 3)
            cold[name] = _median_ms([*cmd, "build", "-q", "--no-cache", *flags, ctx], env, reps, made)
            subprocess.run([*cmd, "build", "-q", *flags, ctx], check=True, capture_output=True, env=env)
            cached[name] = _median_ms([*cmd, "build", "-q", *flags, ctx], env, bench.reps, made)
        finally:
            for image in dict.fromkeys(made):
                subprocess.run([*cmd, "rmi", "-f", image], capture_output=True, env=env)
    from layerbox import _core

    _core.remove_tree(ctx)
    return [
        {"what": "build: cold (--no-cache) of FROM, ENV, WORKDIR, COPY of 200 files, 2 RUN, LABEL, CMD",
         "command": "layerbox build -q --no-cache CTX; DOCKER_BUILDKIT=0 docker build -q --no-cache "
                    "--network none CTX",
         "results": cold, "unit": "ms", "better": "lower", "target": "layerbox <= 0.3 x docker"},
        {"what": "build: the same, every step cached",
         "command": "layerbox build -q CTX; DOCKER_BUILDKIT=0 docker build -q --network none CTX",
         "results": cached, "unit": "ms", "better": "lower", "target": "layerbox <= 0.3 x docker"},
    ]
