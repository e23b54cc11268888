"""The Docker Engine API over the same engine as the CLI and the Python API
(`layerbox system service`).

A thin door: each route turns an HTTP request into calls of the engine (layerbox.container,
layerbox.image, layerbox.network, ...) that the CLI and layerbox.client make too, and the result
into docker's JSON shapes and streams. Nothing here is imported by the engine, the CLI's hot
path or the Python API.

The HTTP side is aiohttp (a maintained asyncio server): it streams responses, and after a 101
its transport can be paused and the connection's socket taken over, which is what the
hijacked endpoints (attach, exec start) need. Engine calls block (they wait for monitors, read
layers, take flocks), so they run in a thread pool; the event loop only moves bytes.

- app.py: the application (versions, errors, idle exit), the sockets (unix, tcp, systemd's)
- containers.py, execs.py, images.py, netvol.py, system.py: the routes per resource
- shapes.py: docker's request bodies to the engine's options, and the list shapes
- streams.py: multiplexed frames and hijacked connections
"""
