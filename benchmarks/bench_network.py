"""`run --rm` on the default bridge, with a published port, and without a network (the
baseline the bridge's cost is measured against), through the CLI.

    python3 -m pytest benchmarks/bench_network.py --benchmark-only

The bridge, the veths and the nftables table are made in the network namespace the benchmark
runs in; every container is removed by its own --rm, so nothing is left after a round. No
traffic: the published port is only set up and torn down (the issue's target: at most 0.1 of
podman's `run --rm` on its bridge, 0.40 s here, and with -p, 0.50 s).
"""

from __future__ import annotations

import subprocess


def _run(cli, *args):
    return subprocess.run([*cli, "run", "--rm", *args, "busybox", "/bin/true"], check=True)


def test_cli_run_rm_network_none(benchmark, bench_client, layerbox_cli):
    assert benchmark(_run, layerbox_cli, "--network", "none").returncode == 0


def test_cli_run_rm_default_bridge(benchmark, bench_client, layerbox_cli):
    assert benchmark(_run, layerbox_cli, "--network", "bridge").returncode == 0


def test_cli_run_rm_published_port(benchmark, bench_client, layerbox_cli):
    # A fixed host port: each round's container is gone (and its port free) before the next.
    assert benchmark(_run, layerbox_cli, "-p", "127.0.0.1:18399:80").returncode == 0
