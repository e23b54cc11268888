"""What the engine says about itself and its store, in docker's shapes: version, info,
system df and the list entries they are made of. For the Engine API service and the Python
API alike (the CLI prints its own tables)."""

from __future__ import annotations

import os
import time

from layerbox import _util

# The Engine API version whose shapes these are, and the oldest one the service answers.
API_VERSION = "1.44"
MIN_API_VERSION = "1.24"


def version_doc(api_version: str = API_VERSION, min_api: str = MIN_API_VERSION) -> dict:
    from layerbox import _core

    v = _core.__version__
    u = os.uname()
    return {
        "Platform": {"Name": "layerbox"},
        "Components": [{"Name": "Engine", "Version": v,
                        "Details": {"ApiVersion": api_version, "MinAPIVersion": min_api, "Os": "linux",
                                    "Arch": "amd64", "KernelVersion": u.release,
                                    "Experimental": "false", "GitCommit": "", "GoVersion": "",
                                    "BuildTime": ""}}],
        "Version": v, "ApiVersion": api_version, "MinAPIVersion": min_api, "GitCommit": "",
        "GoVersion": "", "Os": "linux", "Arch": "amd64", "KernelVersion": u.release,
        "BuildTime": "",
    }


def info_doc(engine) -> dict:
    from layerbox.container.cgroups import CgroupLayout

    containers = engine.list(all=True)
    u = os.uname()
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    cg = CgroupLayout.default()
    from layerbox import _core

    return {
        "ID": "", "Containers": len(containers),
        "ContainersRunning": sum(1 for c in containers if c.status == "running"),
        "ContainersPaused": sum(1 for c in containers if c.status == "paused"),
        "ContainersStopped": sum(1 for c in containers if c.status in ("exited", "created", "dead")),
        "Images": len(engine.images.ids()), "Driver": "overlay", "DriverStatus": [],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"],
                    "Authorization": None, "Log": ["json-file"]},
        "MemoryLimit": True, "SwapLimit": True, "CpuCfsPeriod": True, "CpuCfsQuota": True,
        "CPUShares": True, "CPUSet": True, "PidsLimit": True, "IPv4Forwarding": True,
        "Debug": False, "NFd": len(os.listdir("/proc/self/fd")), "OomKillDisable": False,
        "NGoroutines": 0, "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs",
        "CgroupVersion": str(cg.version), "NEventsListener": 0, "KernelVersion": u.release,
        "OperatingSystem": "linux", "OSVersion": "", "OSType": "linux", "Architecture": u.machine,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8"],
                           "Mirrors": []},
        "NCPU": os.cpu_count(), "MemTotal": mem, "GenericResources": None,
        "DockerRootDir": engine.store.root, "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
        "Name": u.nodename, "Labels": [], "ExperimentalBuild": False,
        "ServerVersion": _core.__version__,
        "Runtimes": {"layerbox": {"path": "layerbox-shim"}}, "DefaultRuntime": "layerbox",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                  "ControlAvailable": False, "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "",
        "SecurityOptions": ["name=seccomp,profile=builtin"], "Warnings": [],
    }


def _created(cfg: dict) -> int:
    return int(_util.parse_rfc3339(cfg.get("Created", "")) or 0)


def container_summary(engine, c, size: bool = False) -> dict:
    """One entry of GET /containers/json."""
    from layerbox.container import views

    cfg = c.config
    live = views._live_network(c)
    ports = []
    for key, binds in (live.get("Ports") or {}).items():
        p, _, proto = key.partition("/")
        if not binds:
            ports.append({"PrivatePort": int(p), "Type": proto or "tcp"})
        for b in binds or ():
            ports.append({"IP": b.get("HostIp") or "0.0.0.0", "PrivatePort": int(p),
                          "PublicPort": int(b["HostPort"]), "Type": proto or "tcp"})
    mode = cfg["HostConfig"].get("NetworkMode", "none")
    networks = live.get("Networks") or {mode: {}}
    mounts = []
    for m in cfg.get("Mounts") or ():
        mounts.append({"Type": m["Type"], "Name": m.get("Name", ""),
                       "Source": m["Source"] if m["Type"] == "bind" else
                       os.path.join(engine.store.volumes, m.get("Name", ""), "_data"),
                       "Destination": m["Destination"], "Driver": "local" if m["Type"] == "volume" else "",
                       "Mode": m.get("Mode", ""), "RW": m.get("RW", True),
                       "Propagation": "rprivate" if m["Type"] == "bind" else ""})
    doc = {
        "Id": c.id, "Names": ["/" + c.name],
        "Image": cfg["Config"].get("Image") or cfg.get("Image", ""),
        "ImageID": cfg.get("Image", ""),
        "Command": " ".join([cfg.get("Path", "")] + list(cfg.get("Args") or [])),
        "Created": _created(cfg), "Ports": ports,
        "Labels": cfg["Config"].get("Labels") or {},
        "State": c.status, "Status": views.status_text(c.state),
        "HostConfig": {"NetworkMode": mode},
        "NetworkSettings": {"Networks": networks}, "Mounts": mounts,
    }
    if size:
        from layerbox.volumes import _du

        doc["SizeRw"] = _du(os.path.join(c.dir, "upper"))
        doc["SizeRootFs"] = doc["SizeRw"] + sum(
            (engine.images.layer_meta(d).get("Size", 0) for d in cfg.get("Layers") or ()), 0)
    return doc


def image_summary(images, image_id: str, containers: int = -1) -> dict:
    """One entry of GET /images/json."""
    from layerbox.image import views

    doc = views.inspect(images, image_id)
    tags = [t for t in doc.get("RepoTags") or [] if t != "<none>:<none>"]
    return {
        "Id": doc["Id"], "ParentId": doc.get("Parent") or "",
        "RepoTags": tags, "RepoDigests": doc.get("RepoDigests") or [],
        "Created": int(_util.parse_rfc3339(doc.get("Created") or "") or 0),
        "Size": doc.get("Size", 0), "SharedSize": -1, "VirtualSize": doc.get("Size", 0),
        "Labels": (doc.get("Config") or {}).get("Labels") or {}, "Containers": containers,
    }


def df_doc(engine) -> dict:
    from layerbox.volumes import Volumes, _du

    images = engine.images
    containers = engine.list(all=True)
    used = {}
    for c in containers:
        used[c.config.get("Image")] = used.get(c.config.get("Image"), 0) + 1
    layer_sizes = images._layer_sizes()
    imgs = [image_summary(images, i, used.get(i, 0)) for i in images.ids()]
    ctrs = [container_summary(engine, c, size=True) for c in containers]
    vols = Volumes(engine.store)
    users = vols.users()
    vdocs = []
    for n in vols.names():
        d = vols.inspect(n) if hasattr(vols, "inspect") else {"Name": n}
        d = dict(d)
        d["UsageData"] = {"Size": _du(os.path.join(engine.store.volumes, n, "_data")),
                          "RefCount": len(users.get(n, ())) if isinstance(users, dict) else int(n in users)}
        vdocs.append(d)
    return {"LayersSize": sum(layer_sizes.values()), "Images": imgs, "Containers": ctrs,
            "Volumes": vdocs, "BuildCache": []}
