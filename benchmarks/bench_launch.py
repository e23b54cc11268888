"""Launching a container: /bin/true through the Python API and through the CLI.

    python3 -m pytest benchmarks/bench_launch.py --benchmark-only
"""

from __future__ import annotations

import subprocess


def test_api_create_start_wait_remove(benchmark, bench_client):
    def lifecycle():
        c = bench_client.containers.create("busybox", ["/bin/true"])
        c.start()
        code = c.wait()["StatusCode"]
        c.remove()
        return code

    assert benchmark(lifecycle) == 0


def test_api_run(benchmark, bench_client):
    assert benchmark(bench_client.containers.run, "busybox", ["/bin/true"], remove=True) == b""


def test_cli_run_rm(benchmark, bench_client, layerbox_cli):
    cmd = [*layerbox_cli, "run", "--rm", "busybox", "/bin/true"]
    assert benchmark(subprocess.run, cmd, check=True).returncode == 0


def test_cli_exec(benchmark, bench_client, layerbox_cli):
    c = bench_client.containers.run("busybox", ["sleep", "1000"], detach=True)
    try:
        cmd = [*layerbox_cli, "exec", c.id, "/bin/true"]
        assert benchmark(subprocess.run, cmd, check=True).returncode == 0
    finally:
        c.remove(force=True)


def test_cli_ps(benchmark, bench_client, layerbox_cli):
    cmd = [*layerbox_cli, "ps"]
    assert benchmark(subprocess.run, cmd, check=True, capture_output=True).returncode == 0
