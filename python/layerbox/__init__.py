"""layerbox: a daemonless, Docker-compatible container engine.

    import layerbox
    client = layerbox.from_env()
    print(client.containers.run("busybox", ["echo", "hello"]))

The names below are loaded on first use, so `import layerbox` costs next to nothing.
"""

from __future__ import annotations

__all__ = ["Client", "LayerboxClient", "DockerClient", "from_env", "errors"]


def __getattr__(name: str):
    # `from layerbox import _core` (any submodule not loaded yet) asks this first: answered
    # without importing importlib (and the warnings module it brings, ~0.6 ms of a hot command)
    if name in ("Client", "LayerboxClient", "DockerClient", "from_env"):
        # importlib, not "from layerbox import x": that form asks this very __getattr__ first.
        from importlib import import_module

        return getattr(import_module("layerbox.client"), name)
    if name == "errors":
        from importlib import import_module

        return import_module("layerbox.errors")
    raise AttributeError(f"module 'layerbox' has no attribute {name!r}")
