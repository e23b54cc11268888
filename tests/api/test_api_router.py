"""The service's router (layerbox.api.app.Router): docker's paths, bare and versioned, to the
route modules' handlers, each module imported on the first request under its segment."""

from __future__ import annotations

import pytest

pytest.importorskip("aiohttp")

from layerbox.api import app  # noqa: E402


def _name(handler) -> str:
    return f"{handler.__module__.rsplit('.', 1)[1]}.{handler.__name__}"


@pytest.mark.parametrize("method,path,want,found", [
    ("GET", "/_ping", "system.ping", {}),
    ("HEAD", "/v1.44/_ping", "system.ping", {}),
    ("GET", "/v1.41/containers/json", "containers.list_", {}),
    ("GET", "/containers/abc/json", "containers.inspect", {"id": "abc"}),
    ("POST", "/v1.44/containers/create", "containers.create", {}),
    ("DELETE", "/containers/abc", "containers.delete", {"id": "abc"}),
    ("POST", "/containers/abc/exec", "execs.create", {"id": "abc"}),
    ("POST", "/exec/e1/start", "execs.start", {"id": "e1"}),
    ("GET", "/images/json", "images.list_", {}),
    ("GET", "/images/search", "system.search", {}),
    ("GET", "/images/localhost:5000/a/b:1/json", "images.inspect", {"name": "localhost:5000/a/b:1"}),
    ("DELETE", "/v1.44/images/library/busybox:latest", "images.delete", {"name": "library/busybox:latest"}),
    ("GET", "/distribution/docker.io/library/x/json", "system.distribution",
     {"name": "docker.io/library/x"}),
    ("POST", "/swarm/leave", "system.not_swarm", {"rest": "leave"}),
    ("GET", "/networks/n1", "netvol.net_inspect", {"id": "n1"}),
    ("POST", "/volumes/create", "netvol.vol_create", {}),
])
def test_routes(method, path, want, found):
    r = app.Router()
    handler, got, _ = r.resolve(method, path)
    assert handler is not None and (_name(handler), got) == (want, found)


def test_versions_no_route_and_wrong_method():
    r = app.Router()
    assert r.resolve("GET", "/v1.43/version")[2] == "1.43"
    assert r.resolve("GET", "/version")[2] is None
    assert r.resolve("GET", "/no/such/endpoint")[:2] == (None, 404)
    assert r.resolve("GET", "/containers/a/b/c/d")[:2] == (None, 404)
    assert r.resolve("GET", "/")[:2] == (None, 404)
    assert r.resolve("DELETE", "/containers/json/start")[:2] == (None, 405)


def test_a_segment_loads_only_its_modules():
    r = app.Router()
    r.resolve("GET", "/_ping")
    assert r.loaded == {"system"}
    r.resolve("GET", "/v1.44/containers/json")
    assert r.loaded == {"system", "containers", "execs"}


def test_the_first_ping_loads_no_engine():
    """What a socket-activated client's first `GET /_ping` waits for: no engine, no route
    module but system's (the engine is loaded in the pool after the first answer)."""
    import subprocess
    import sys

    code = ("import sys; from layerbox.api import app; svc = app.Service(); "
            "h, _, _ = svc.router.resolve('GET', '/v1.44/_ping'); svc.pool.shutdown(); "
            "print(sorted(m for m in sys.modules if m.startswith(('layerbox.client', "
            "'layerbox.container', 'layerbox.image', 'layerbox.api.'))))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['layerbox.api.app', 'layerbox.api.system']", r.stdout


def test_every_route_is_under_a_segment_that_loads_its_module():
    """ROUTE_MODULES says which modules a first segment loads: a route registered under a
    segment it does not name for its module would answer 404 until something else loaded it."""
    import importlib

    for name in sorted({m for ms in app.ROUTE_MODULES.values() for m in ms}):
        r = app.Router()
        importlib.import_module(f"layerbox.api.{name}").register(r)
        for _method, first in r.table:
            assert name in app.ROUTE_MODULES.get(first, ()), (name, first)
