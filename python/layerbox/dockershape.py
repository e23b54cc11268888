"""docker's output documents: every key docker's inspect shows, with docker's defaults.

Scripts read docker's JSON by key (`jq .HostConfig.ShmSize`, `-f '{{.Config.Cmd}}'`), so
`inspect` keeps docker's full key set whether or not layerbox set a value: a key that docker
shows as null is null here too, not missing. One place for these shapes, so the CLI, the Python
API and the Engine API (layerbox/api) print the same documents. (`layerbox.shape` is the other
direction: what documents from outside must look like.)

The reference is docker 20.10 (API 1.41): image inspect still has `Container`,
`ContainerConfig` and `VirtualSize` there (docker 25 drops them).

`TEMPLATE_TYPES` says where a null is a typed nil in docker's Go structs (a slice prints `[]`,
a map `map[]`, a pointer `<nil>` in a template) and which objects are Go maps (a missing key
is "<no value>", not an error): the template engine (cli/gotemplate) reads it.
"""

from __future__ import annotations

# container.Config, in docker's field order; OMITEMPTY are left out when empty.
CONFIG_KEYS = (
    "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr",
    "ExposedPorts", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck", "ArgsEscaped",
    "Image", "Volumes", "WorkingDir", "Entrypoint", "NetworkDisabled", "MacAddress", "OnBuild",
    "Labels", "StopSignal", "StopTimeout", "Shell",
)
CONFIG_OMITEMPTY = frozenset({"ExposedPorts", "Healthcheck", "ArgsEscaped", "NetworkDisabled",
                              "MacAddress", "StopSignal", "StopTimeout", "Shell"})
_CONFIG_ZERO = {"Hostname": "", "Domainname": "", "User": "", "AttachStdin": False,
                "AttachStdout": False, "AttachStderr": False, "Tty": False, "OpenStdin": False,
                "StdinOnce": False, "Image": "", "WorkingDir": "", "ArgsEscaped": False,
                "NetworkDisabled": False, "MacAddress": "", "StopSignal": ""}

# An OCI / docker image config's "config" uses the same names (docker writes it from
# container.Config); OCI's spec names only some of them.


def config(cfg: dict | None) -> dict:
    """docker's container.Config from a stored one (an image's `config`, a container's
    `Config`): every key, in docker's order, null where docker has null."""
    cfg = cfg or {}
    out = {}
    for k in CONFIG_KEYS:
        v = cfg.get(k, _CONFIG_ZERO.get(k))
        if k in CONFIG_OMITEMPTY and (v is None or v in ("", False, {}, [])):
            continue
        out[k] = v
    for k, v in cfg.items():  # anything newer a config carries stays visible
        if k not in out and k not in CONFIG_OMITEMPTY and k not in _CONFIG_ZERO:
            out[k] = v
    return out


# HostConfig as docker 20.10 fills it for `docker run IMAGE` (no options): the defaults of each
# key layerbox does not set itself. Stored keys win; these fill in the rest.
HOST_CONFIG_DEFAULTS = {
    "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}},
    "NetworkMode": "default", "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
    "AutoRemove": False, "VolumeDriver": "", "VolumesFrom": None, "CapAdd": None, "CapDrop": None,
    "CgroupnsMode": "host", "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": None,
    "GroupAdd": None, "IpcMode": "private", "Cgroup": "", "Links": None, "OomScoreAdj": 0,
    "PidMode": "", "Privileged": False, "PublishAllPorts": False, "ReadonlyRootfs": False,
    "SecurityOpt": None, "UTSMode": "", "UsernsMode": "", "ShmSize": 67108864,
    # docker's default runtime's name; layerbox's launch core is runc-compatible (its OCI
    # command is layerbox-runtime) and has no other runtime to choose.
    "Runtime": "runc",
    "ConsoleSize": [0, 0], "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0,
    "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": None,
    "BlkioDeviceWriteBps": None, "BlkioDeviceReadIOps": None, "BlkioDeviceWriteIOps": None,
    "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0,
    "CpusetCpus": "", "CpusetMems": "", "Devices": [], "DeviceCgroupRules": None,
    "DeviceRequests": None, "KernelMemory": 0, "KernelMemoryTCP": 0, "MemoryReservation": 0,
    "MemorySwap": 0, "MemorySwappiness": None, "OomKillDisable": False, "PidsLimit": None,
    "Ulimits": None, "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
    "MaskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
                    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                    "/proc/sched_debug", "/proc/scsi", "/sys/firmware"],
    "ReadonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
}
# In docker's struct but left out when empty.
HOST_CONFIG_OMITEMPTY = frozenset({"Annotations", "Mounts", "Init", "StorageOpt", "Tmpfs",
                                   "Sysctls"})


def host_config(stored: dict, cgroup_version: int | None = None) -> dict:
    """docker's HostConfig: the stored keys over docker's defaults, in docker's order. On a
    cgroup v2 host docker's default cgroup namespace mode is "private"."""
    out = dict(HOST_CONFIG_DEFAULTS)
    if cgroup_version == 2:
        out["CgroupnsMode"] = "private"
    if stored.get("Privileged"):
        out["MaskedPaths"] = None
        out["ReadonlyPaths"] = None
    for k, v in stored.items():
        if k in HOST_CONFIG_OMITEMPTY and (v is None or v in ({}, [], False, "")):
            out.pop(k, None)
            continue
        out[k] = v
    return out


def image_inspect(rec: dict, cfg: dict, **fields) -> dict:
    """docker's ImageInspect document in docker's order; `fields` are the values computed by
    the image store (Id, RepoTags, RepoDigests, Parent, Comment, Size, GraphDriver, RootFS,
    Metadata)."""
    size = fields.get("Size", 0)
    doc = {
        "Id": fields["Id"],
        "RepoTags": fields.get("RepoTags") or [],
        "RepoDigests": fields.get("RepoDigests") or [],
        "Parent": fields.get("Parent", ""),
        "Comment": fields.get("Comment", ""),
        "Created": cfg.get("created", rec.get("Created", "")),
        "Container": cfg.get("container", ""),
        "ContainerConfig": config(cfg.get("container_config")),
        "DockerVersion": cfg.get("docker_version", ""),
        "Author": cfg.get("author", ""),
        "Config": config(cfg.get("config")),
        "Architecture": cfg.get("architecture", "amd64"),
    }
    if cfg.get("variant"):
        doc["Variant"] = cfg["variant"]
    doc["Os"] = cfg.get("os", "linux")
    if cfg.get("os.version"):
        doc["OsVersion"] = cfg["os.version"]
    doc.update({
        "Size": size,
        "VirtualSize": size,
        "GraphDriver": fields.get("GraphDriver"),
        "RootFS": fields.get("RootFS"),
        "Metadata": fields.get("Metadata"),
    })
    return doc


# -- types for templates ------------------------------------------------------------------------
# "slice", "map", "ptr": a null there is that kind of typed nil; "map" also marks a Go map
# (any key; a missing one is <no value>); a dict is a struct with those fields; ("mapof", S)
# and ("sliceof", S) hold structs of shape S.

_CONFIG_TYPES = {"ExposedPorts": "map", "Env": "slice", "Cmd": "slice", "Healthcheck": "ptr",
                 "Volumes": "map", "Entrypoint": "slice", "OnBuild": "slice", "Labels": "map",
                 "StopTimeout": "ptr", "Shell": "slice"}
_ENDPOINT_TYPES = {"IPAMConfig": "ptr", "Links": "slice", "Aliases": "slice", "DriverOpts": "map"}

TEMPLATE_TYPES = {
    "container": {
        "Args": "slice", "ExecIDs": "slice",
        "State": {"Health": "ptr"},
        "HostConfig": {
            "Binds": "slice", "LogConfig": {"Config": "map"}, "PortBindings": "map",
            "VolumesFrom": "slice", "CapAdd": "slice", "CapDrop": "slice", "Dns": "slice",
            "DnsOptions": "slice", "DnsSearch": "slice", "ExtraHosts": "slice",
            "GroupAdd": "slice", "Links": "slice", "SecurityOpt": "slice", "StorageOpt": "map",
            "Tmpfs": "map", "Sysctls": "map", "BlkioWeightDevice": "slice",
            "BlkioDeviceReadBps": "slice", "BlkioDeviceWriteBps": "slice",
            "BlkioDeviceReadIOps": "slice", "BlkioDeviceWriteIOps": "slice", "Devices": "slice",
            "DeviceCgroupRules": "slice", "DeviceRequests": "slice", "MemorySwappiness": "ptr",
            "OomKillDisable": "ptr", "Init": "ptr", "PidsLimit": "ptr", "Ulimits": "slice",
            "Mounts": "slice", "MaskedPaths": "slice", "ReadonlyPaths": "slice",
            "Annotations": "map",
        },
        "GraphDriver": {"Data": "map"},
        "Mounts": "slice",
        "Config": _CONFIG_TYPES,
        "NetworkSettings": {"Ports": "map", "SecondaryIPAddresses": "slice",
                            "SecondaryIPv6Addresses": "slice",
                            "Networks": ("mapof", _ENDPOINT_TYPES)},
    },
    "image": {
        "RepoTags": "slice", "RepoDigests": "slice", "ContainerConfig": _CONFIG_TYPES,
        "Config": _CONFIG_TYPES, "GraphDriver": {"Data": "map"},
        "RootFS": {"Layers": "slice"},
    },
    "network": {"IPAM": {"Options": "map", "Config": "slice"}, "Containers": "map",
                "Options": "map", "Labels": "map"},
    "volume": {"Labels": "map", "Options": "map", "Status": "map"},
}
