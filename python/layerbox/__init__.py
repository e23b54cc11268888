"""layerbox: a daemonless, Docker-compatible container engine.

    import layerbox
    client = layerbox.from_env()
    print(client.containers.run("busybox", ["echo", "hello"]))

The names below are loaded on first use, so `import layerbox` costs next to nothing.
"""

from __future__ import annotations

__all__ = ["Client", "LayerboxClient", "DockerClient", "from_env", "errors"]


def __getattr__(name: str):
    if name in ("Client", "LayerboxClient", "DockerClient", "from_env"):
        from layerbox import client

        return getattr(client, name)
    if name == "errors":
        from layerbox import errors

        return errors
    raise AttributeError(f"module 'layerbox' has no attribute {name!r}")
