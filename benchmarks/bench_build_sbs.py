"""build side by side (used by side_by_side.py): the issue's small Dockerfile (FROM, ENV,
WORKDIR, COPY of 200 files, two RUNs, LABEL, CMD), built cold (--no-cache) and rebuilt with
every step cached, by layerbox, by docker's classic builder (DOCKER_BUILDKIT=0) and by BuildKit
(DOCKER_BUILDKIT=1: the builder docker users have by default; docker 20.10's is built into
dockerd, driven by a 20.10 client or the buildx plugin), through each engine's CLI with -q, the
engines taking turns. The base image must be in dockerd already (side_by_side loads it):
BuildKit would otherwise ask a registry for it. Every image a run makes is removed afterwards
(by ID, never by a prune that could touch someone else's images)."""

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


def buildkit_cli() -> str | None:
    """A docker CLI that builds with BuildKit: one with the buildx plugin, or a 20.10 client
    (BuildKit built in; Debian's docker.io), or None."""
    for exe in ("docker", "/usr/bin/docker"):
        try:
            if subprocess.run([exe, "buildx", "version"], capture_output=True).returncode == 0:
                return exe
            v = subprocess.run([exe, "version", "-f", "{{.Client.Version}}"], capture_output=True,
                               text=True).stdout
        except OSError:
            continue
        if v.startswith("20."):
            return exe
    return None


def _engine(bench, name: str):
    """(command prefix, env, extra build flags) for an engine."""
    if name == "layerbox":  # as the others: RUN steps without a network (none is made here)
        return bench.lb, bench.env, ["--network", "none"]
    if name == "buildkit":
        return [buildkit_cli()], dict(os.environ, DOCKER_BUILDKIT="1"), ["--network", "none"]
    env = dict(os.environ, DOCKER_BUILDKIT="0")  # the classic builder
    return [name], env, ["--network", "none"]


def _run_ms(cmd, env, made: list) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    made.append(r.stdout.strip().splitlines()[-1])
    return (time.perf_counter() - t) * 1000


def measure(bench) -> list[dict]:
    ctx = make_context(tempfile.mkdtemp(prefix="sbs-build-"), "sbs-busybox")
    names = ["layerbox", *[e for e in bench.engines if e == "docker"]]
    if "docker" in names and buildkit_cli():
        names.append("buildkit")
    engines = {n: _engine(bench, n) for n in names}
    made: dict = {n: [] for n in names}
    cold: dict = {n: [] for n in names}
    cached: dict = {n: [] for n in names}
    try:
        for _ in range(max(5, bench.reps // 3)):  # in turns: a change of load hits every engine
            for n, (cmd, env, flags) in engines.items():
                cold[n].append(_run_ms([*cmd, "build", "-q", "--no-cache", *flags, ctx], env, made[n]))
        for n, (cmd, env, flags) in engines.items():
            subprocess.run([*cmd, "build", "-q", *flags, ctx], check=True, capture_output=True, env=env)
        for _ in range(bench.reps):
            for n, (cmd, env, flags) in engines.items():
                cached[n].append(_run_ms([*cmd, "build", "-q", *flags, ctx], env, made[n]))
    finally:
        for n, (cmd, env, _f) in engines.items():
            for image in dict.fromkeys(made[n]):
                subprocess.run([*cmd, "rmi", "-f", image], capture_output=True, env=env)
    from layerbox import _core

    _core.remove_tree(ctx)
    med = {k: {n: statistics.median(v) for n, v in d.items() if v} for k, d in
           (("cold", cold), ("cached", cached))}
    rows = [
        {"what": "build: cold (--no-cache) of FROM, ENV, WORKDIR, COPY of 200 files, 2 RUN, LABEL, CMD",
         "command": "layerbox build -q --no-cache --network none CTX; DOCKER_BUILDKIT=0 docker build -q "
                    "--no-cache --network none CTX",
         "results": {n: v for n, v in med["cold"].items() if n != "buildkit"}, "unit": "ms",
         "better": "lower", "target": "layerbox <= 0.3 x docker"},
        {"what": "build: the same, every step cached",
         "command": "layerbox build -q --network none CTX; DOCKER_BUILDKIT=0 docker build -q --network none CTX",
         "results": {n: v for n, v in med["cached"].items() if n != "buildkit"}, "unit": "ms",
         "better": "lower", "target": "layerbox <= 0.3 x docker"},
    ]
    if "buildkit" in names:  # BuildKit in the docker column: the ratio is to it
        for what, key in (("cold (--no-cache)", "cold"), ("every step cached", "cached")):
            rows.append({
                "what": f"build against BuildKit: the same Dockerfile, {what}",
                "command": f"layerbox build -q{' --no-cache' if key == 'cold' else ''} --network none CTX; "
                           f"DOCKER_BUILDKIT=1 docker build -q{' --no-cache' if key == 'cold' else ''} "
                           "--network none CTX",
                "results": {"layerbox": med[key]["layerbox"], "docker": med[key]["buildkit"]},
                "unit": "ms", "better": "lower", "target": "layerbox <= 0.3 x BuildKit"})
    return rows
