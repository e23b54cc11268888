"""build: the issue's small Dockerfile (FROM, ENV, WORKDIR, COPY of 200 files, two RUNs, LABEL,
CMD), cold (--no-cache) and fully cached, through the CLI.

    python3 -m pytest benchmarks/bench_build.py --benchmark-only
"""

from __future__ import annotations

import subprocess

import pytest

from bench_build_sbs import make_context


@pytest.fixture(scope="module")
def build_context(bench_client, tmp_path_factory):
    return make_context(str(tmp_path_factory.mktemp("build-ctx")), "busybox")


@pytest.fixture
def made(bench_client, layerbox_cli):
    """The images a benchmark builds, removed afterwards (rmi prunes each one's steps)."""
    images: list = []
    yield images
    for i in dict.fromkeys(images):
        subprocess.run([*layerbox_cli, "rmi", "-f", i], capture_output=True)


def _build(cmd, made):
    r = subprocess.run(cmd, check=True, capture_output=True, text=True)
    made.append(r.stdout.strip())
    return r


def test_cold_build(benchmark, build_context, layerbox_cli, made):
    cmd = [*layerbox_cli, "build", "-q", "--no-cache", build_context]
    benchmark.pedantic(_build, args=(cmd, made), rounds=10, iterations=1, warmup_rounds=1)


def test_cached_rebuild(benchmark, build_context, layerbox_cli, made):
    cmd = [*layerbox_cli, "build", "-q", build_context]
    _build(cmd, made)
    benchmark.pedantic(_build, args=(cmd, made), rounds=30, iterations=1, warmup_rounds=2)
    assert len(set(made)) == 1  # every rebuild is the same image
