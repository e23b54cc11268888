"""version, info."""

from __future__ import annotations

import os
import sys


def _version_doc() -> dict:
    from layerbox import _core

    return {"Client": {"Version": _core.__version__, "Os": "linux", "Arch": "amd64",
                       "Engine": "layerbox (daemonless)"}}


def print_version() -> None:
    from layerbox import _core

    sys.stdout.write(f"layerbox version {_core.__version__}\n")


def version(ctx, fmt=None) -> int:
    doc = _version_doc()
    if fmt:
        from layerbox.cli import output

        output.render(fmt, [doc])
        return 0
    c = doc["Client"]
    sys.stdout.write(f"Client:\n Version:  {c['Version']}\n OS/Arch:  {c['Os']}/{c['Arch']}\n"
                     f" Engine:   {c['Engine']}\n")
    return 0


def info(ctx, fmt=None) -> int:
    from layerbox.container.plan import CgroupLayout

    engine = ctx.engine
    containers = engine.list(all=True)
    doc = {
        "Containers": len(containers),
        "ContainersRunning": sum(1 for c in containers if c.status == "running"),
        "ContainersPaused": sum(1 for c in containers if c.status == "paused"),
        "ContainersStopped": sum(1 for c in containers if c.status in ("exited", "created")),
        "Images": len(ctx.images.ids()),
        "Driver": "overlay",
        "DockerRootDir": ctx.store.root,
        "CgroupVersion": str(CgroupLayout.default().version),
        "KernelVersion": os.uname().release,
        "OperatingSystem": "linux",
        "NCPU": os.cpu_count(),
        "ServerVersion": _version_doc()["Client"]["Version"],
    }
    if fmt:
        from layerbox.cli import output

        output.render(fmt, [doc])
    else:
        sys.stdout.write("".join(f" {k}: {v}\n" for k, v in doc.items()))
    return 0
