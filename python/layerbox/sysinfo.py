"""docker's `version` and `info` documents for this machine and store (types.Version,
types.Info), and the Engine API's list entries and system df (for the service
and the Python API's df()). Shared by the CLI and the Engine API (GET /version, GET /info):
no printing here."""

from __future__ import annotations

import os

# The Engine API versions layerbox speaks (`system service` answers each of them; `version`
# says so): up to 1.44 (docker-py 7 and the docker 28 CLI negotiate it), down to dockerd 25's
# minimum, 1.24 (docker-compose 1.29 asks for versions from 1.25 on). The shapes are 1.44's.
API_VERSION = "1.44"
MIN_API_VERSION = "1.24"


def _version() -> str:
    from layerbox import _core

    return _core.__version__


def _go_arch() -> str:
    m = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(m, m)


def version_doc() -> dict:
    """`docker version`'s data: Client and Server (the same program here: no daemon)."""
    v = _version()
    kernel = os.uname().release
    import platform

    py = f"python{platform.python_version()}"
    return {
        "Client": {"Platform": {"Name": "layerbox"}, "Version": v, "ApiVersion": API_VERSION,
                   "DefaultAPIVersion": API_VERSION, "GitCommit": "", "GoVersion": py,
                   "Os": "linux", "Arch": _go_arch(), "BuildTime": "", "Context": "default",
                   "Experimental": True},
        "Server": {
            "Platform": {"Name": "layerbox (daemonless)"},
            "Components": [
                {"Name": "Engine", "Version": v,
                 "Details": {"ApiVersion": API_VERSION, "Arch": _go_arch(), "BuildTime": "",
                             "Experimental": "false", "GitCommit": "", "GoVersion": py,
                             "KernelVersion": kernel, "MinAPIVersion": MIN_API_VERSION,
                             "Os": "linux"}},
                {"Name": "layerbox-runtime", "Version": v, "Details": {"GitCommit": ""}},
            ],
            "Version": v, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "", "GoVersion": py, "Os": "linux", "Arch": _go_arch(),
            "KernelVersion": kernel, "BuildTime": "",
        },
    }


def _os_release() -> dict:
    out = {}
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    k, eq, v = line.strip().partition("=")
                    if eq:
                        out[k] = v.strip().strip('"')
            return out
        except OSError:
            continue
    return out


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def info_doc(engine, images, store) -> dict:
    """`docker info`'s data (types.Info), for this store."""
    from layerbox.container.cgroups import CgroupLayout

    containers = engine.list(all=True)
    layout = CgroupLayout.default()
    osr = _os_release()
    v = _version()
    cg1 = layout.version == 1
    store_id = ""
    try:
        st = os.stat(store.root)
        store_id = f"{st.st_dev:x}:{st.st_ino:x}"
    except OSError:
        pass
    return {
        "ID": store_id,
        "Containers": len(containers),
        "ContainersRunning": sum(1 for c in containers if c.status == "running"),
        "ContainersPaused": sum(1 for c in containers if c.status == "paused"),
        "ContainersStopped": sum(1 for c in containers if c.status not in ("running", "paused")),
        "Images": len(images.ids()),
        "Driver": "overlay",
        "DriverStatus": [["Backing Filesystem", _fs_type(store.root)],
                         ["Supports d_type", "true"], ["Native Overlay Diff", "true"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"],
                    "Authorization": None, "Log": ["json-file"]},
        "MemoryLimit": True,
        "SwapLimit": layout.swap_limit(),
        "KernelMemory": False, "KernelMemoryTCP": False,
        "CpuCfsPeriod": True, "CpuCfsQuota": True, "CPUShares": True, "CPUSet": True,
        "PidsLimit": True,
        "IPv4Forwarding": _read("/proc/sys/net/ipv4/ip_forward") == "1",
        "BridgeNfIptables": _read("/proc/sys/net/bridge/bridge-nf-call-iptables") == "1",
        "BridgeNfIp6tables": _read("/proc/sys/net/bridge/bridge-nf-call-ip6tables") == "1",
        "Debug": False,
        "NFd": len(os.listdir("/proc/self/fd")),
        "OomKillDisable": cg1,
        "NGoroutines": 1,
        "SystemTime": _now(),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": str(layout.version),
        "NEventsListener": 0,
        "KernelVersion": os.uname().release,
        "OperatingSystem": osr.get("PRETTY_NAME", "Linux"),
        "OSVersion": osr.get("VERSION_ID", ""),
        "OSType": "linux",
        "Architecture": os.uname().machine,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": _registry_config(),
        "NCPU": len(os.sched_getaffinity(0)),
        "MemTotal": _mem_total(),
        "GenericResources": None,
        "DockerRootDir": store.root,
        "HttpProxy": os.environ.get("HTTP_PROXY", os.environ.get("http_proxy", "")),
        "HttpsProxy": os.environ.get("HTTPS_PROXY", os.environ.get("https_proxy", "")),
        "NoProxy": os.environ.get("NO_PROXY", os.environ.get("no_proxy", "")),
        "Name": os.uname().nodename,
        "Labels": [],
        "ExperimentalBuild": False,
        "ServerVersion": v,
        "Runtimes": {"runc": {"path": "layerbox-runtime"}},
        "DefaultRuntime": "runc",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                  "ControlAvailable": False, "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": True,  # no daemon: containers never depend on one
        "Isolation": "",
        "InitBinary": "layerbox-shim",
        "ContainerdCommit": {"ID": "", "Expected": ""},
        "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": ["name=seccomp,profile=default"] + ([] if cg1 else ["name=cgroupns"]),
        "Warnings": None,
    }


def _now() -> str:
    from layerbox import _util

    return _util.now_rfc3339()


def _fs_type(path: str) -> str:
    """The file system the store is on, as docker names it (extfs, xfs, btrfs, tmpfs, ...)."""
    best, fstype = "", ""
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and (path == parts[1] or path.startswith(parts[1].rstrip("/") + "/")):
                    if len(parts[1]) >= len(best):
                        best, fstype = parts[1], parts[2]
    except OSError:
        pass
    return {"ext2": "extfs", "ext3": "extfs", "ext4": "extfs"}.get(fstype, fstype or "unknown")


def _registry_config() -> dict:
    """Where images come from: docker's RegistryConfig, from LAYERBOX_REGISTRY_MIRROR and
    LAYERBOX_INSECURE_REGISTRIES (see README "Registries")."""
    mirror = os.environ.get("LAYERBOX_REGISTRY_MIRROR")
    mirrors = [mirror] if mirror else []
    indexes = {"docker.io": {"Name": "docker.io", "Mirrors": mirrors, "Secure": True,
                             "Official": True}}
    for h in os.environ.get("LAYERBOX_INSECURE_REGISTRIES", "").split(","):
        if h.strip():
            indexes[h.strip()] = {"Name": h.strip(), "Mirrors": [], "Secure": False, "Official": False}
    return {"AllowNondistributableArtifactsCIDRs": [], "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": ["127.0.0.0/8", "::1/128"], "IndexConfigs": indexes,
            "Mirrors": mirrors}


# -- the Engine API's list entries and system df ----------------------------------------------

def _created(cfg: dict) -> int:
    from layerbox import _util

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
        from layerbox.volumes import disk_usage

        doc["SizeRw"] = disk_usage(os.path.join(c.dir, "upper"))
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
        "Created": _created(doc),
        "Size": doc.get("Size", 0), "SharedSize": -1, "VirtualSize": doc.get("Size", 0),
        "Labels": (doc.get("Config") or {}).get("Labels") or {}, "Containers": containers,
    }


def df_doc(engine) -> dict:
    from layerbox.volumes import Volumes, disk_usage

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
        d["UsageData"] = {"Size": disk_usage(os.path.join(engine.store.volumes, n, "_data")),
                          "RefCount": len(users.get(n, ())) if isinstance(users, dict) else int(n in users)}
        vdocs.append(d)
    return {"LayersSize": sum(layer_sizes.values()), "Images": imgs, "Containers": ctrs,
            "Volumes": vdocs, "BuildCache": []}
