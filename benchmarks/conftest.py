"""Fixtures for the pytest-benchmark suites: a private store with the busybox image."""

from __future__ import annotations

import os
import sys
import sysconfig

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pytest


@pytest.fixture(scope="session")
def bench_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("bench-store"))
    os.environ["LAYERBOX_ROOT"] = root
    os.environ.setdefault("LAYERBOX_CGROUP_PARENT", f"layerbox-bench-{os.getpid()}")
    yield root
    from churn import remove_cgroup_parent

    remove_cgroup_parent(os.environ["LAYERBOX_CGROUP_PARENT"])


@pytest.fixture(scope="session")
def bench_client(bench_root):
    import layerbox
    from layerbox.testing import import_busybox

    client = layerbox.Client(root=bench_root)
    import_busybox(client)
    yield client
    for c in client.containers.list(all=True):
        c.remove(force=True)


@pytest.fixture(scope="session")
def layerbox_cli() -> list:
    exe = os.path.join(sysconfig.get_path("scripts"), "layerbox")
    return [exe] if os.access(exe, os.X_OK) else ["python3", "-m", "layerbox"]
