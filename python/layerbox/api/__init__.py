"""The Docker Engine API over the same engine as the CLI and the Python API
(`layerbox system service`).

A thin door: each route turns an HTTP request into calls of the engine (layerbox.container,
layerbox.image, layerbox.network, ...) that the CLI and layerbox.client make too, and the result
into docker's JSON shapes and streams. Nothing here is imported by the engine, the CLI's hot
path or the Python API.

The HTTP side is aiohttp (a maintained asyncio server): it streams responses, and after a 101
its transport can be paused and the connection's socket taken over, which is what the
hijacked endpoints (attach, exec start) need. Engine calls block (they wait for monitors, read
layers, take flocks), so they run in a thread pool; the event loop only moves bytes. Its
router is not used: one catch-all route hands each request to app.Router (by method and first
path segment), which imports a segment's route module on its first request; the engine is
loaded after the first answer. What the first answer still waits for is the interpreter,
asyncio and aiohttp's server (about 85% of what is imported before it): a server library that
imports far less would be needed for a first answer within 100 ms. Measured side by side
(benchmarks/bench_api.py --first-answer, RESULTS.md "Engine API: the first answer and churn"):
aiohttp's low-level server (web_server, web_protocol, web_request, web_response without
web.Application) imports 275 modules against 291, as its helpers, parser and request modules
pull in email, attrs, yarl, multidict and urllib.request whichever layer is used; asyncio
alone is 122 (the bare interpreter 16). h11 (sans-IO: streams, and hands over the connection
after a 101) with a blocking socket server's modules is 82 modules and about a quarter of
aiohttp's import time (a minimal h11 server's first answer was half the service's, at load
12): it is the way toward 100 ms (on this project's 2-core machines its imports alone take
70-100 ms of CPU), at the price of porting this package's HTTP layer (every route takes
aiohttp's Request and answers its Response or StreamResponse).

- app.py: the application (router, versions, errors, idle exit)
- sockets.py: the listening sockets (unix, tcp, systemd's)
- containers.py, execs.py, images.py, netvol.py, system.py: the routes per resource
- shapes.py: docker's request bodies to the engine's options, and the list shapes
- streams.py: multiplexed frames and hijacked connections
"""

import sys


def import_server_only() -> None:
    """Imports aiohttp's server (aiohttp.web) without the rest of its package, for the service
    process: the service's first answer waits for this import.

    aiohttp's package __init__ imports its client eagerly (aiohttp.client, its connector, which
    builds two TLS contexts from the system's CA store at import, and their dependencies):
    about 40% of `import aiohttp.web`, none of which the server uses. The server's modules
    import each other relatively and take only __version__ from the package, so the package is
    entered as a bare module (its path and version) and aiohttp.web imported through it. A
    later aiohttp that needs more of its package fails this import: then everything it loaded
    is dropped and the package is imported whole, as before. Only the service does this: a
    process that also wants aiohttp's client (a test, an SDK user) imports aiohttp normally.
    """
    if "aiohttp" in sys.modules:
        return
    import importlib.util
    import re
    import types

    spec = importlib.util.find_spec("aiohttp")
    if spec is None or not spec.submodule_search_locations or not spec.origin:
        return  # not installed: the service's import reports it
    try:
        with open(spec.origin, encoding="utf-8") as f:
            version = re.search(r'^__version__\s*=\s*"([^"]+)"', f.read(), re.M)
    except OSError:
        return
    if version is None:
        return
    pkg = types.ModuleType("aiohttp")
    pkg.__path__ = list(spec.submodule_search_locations)
    pkg.__file__, pkg.__spec__, pkg.__package__ = spec.origin, spec, "aiohttp"
    pkg.__version__ = version.group(1)
    sys.modules["aiohttp"] = pkg
    try:
        import aiohttp.web  # noqa: F401
    except Exception:  # noqa: BLE001 - any failure: the whole package, the ordinary way
        for name in [m for m in sys.modules if m == "aiohttp" or m.startswith("aiohttp.")]:
            del sys.modules[name]
