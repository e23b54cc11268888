"""dockerd drives layerbox-runtime (issue 12): a private dockerd (its own --data-root,
--exec-root, --pidfile, socket and containerd namespace under a temp dir; --bridge=none
--iptables=false) started with --add-runtime layerbox=..., then `docker run --runtime layerbox`
and what goes through the runtime: the output and exit code, exec, pause/resume, stop, rm.
The checks are contrib/dockerd/check-runtime.sh's, the script users run by hand."""

from __future__ import annotations

import os
import subprocess

import pytest

from conftest import tool
from test_runtime import runtime_path

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "contrib", "dockerd", "check-runtime.sh")


def _cgroup_dirs(name: str) -> list[str]:
    """The cgroup directory `name` in every hierarchy that has it (v1 controllers, cgroup2)."""
    out = []
    for h in os.listdir("/sys/fs/cgroup"):
        for d in (os.path.join("/sys/fs/cgroup", h, name), os.path.join("/sys/fs/cgroup", name)):
            if os.path.isdir(d) and d not in out:
                out.append(d)
    return out


def test_docker_run_through_the_layerbox_runtime():
    for t in ("dockerd", "docker", "busybox"):
        tool(t)
    parent = os.environ["LAYERBOX_CGROUP_PARENT"] + "-dockerd"  # the containers' cgroups: ours
    env = dict(os.environ, DOCKERD_CGROUP_PARENT="/" + parent)
    try:
        r = subprocess.run(["bash", SCRIPT, runtime_path()], capture_output=True, text=True, timeout=300,
                           env=env, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "all 10 checks passed" in r.stdout, r.stdout
        for check in ("docker exec", "docker pause", "the exit code passes through",
                      "nothing left in the runtime's state after docker rm"):
            assert f" - {check}" in r.stdout, r.stdout
    finally:
        left = []
        for d in sorted(_cgroup_dirs(parent), key=len, reverse=True):
            left += [os.path.join(d, c) for c in os.listdir(d) if os.path.isdir(os.path.join(d, c))]
            try:
                os.rmdir(d)
            except OSError:
                pass
    assert not left, f"cgroups left by the containers: {left}"
