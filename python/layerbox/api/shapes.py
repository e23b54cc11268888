"""docker's request bodies to the engine's options, and docker's list shapes.

Create: each field of the Engine API's ContainerConfig and HostConfig maps to the Python API's
option of the same meaning (layerbox.client.SDK_RUN_ARGS, where what is honoured and what is
refused is said once): a field layerbox does not implement is refused with a 400 naming it
when it holds anything but its default, never accepted and ignored.
"""

from __future__ import annotations


from layerbox.api.app import ApiError

# Config field -> the SDK's option (None: carries no request of its own, read elsewhere or
# informational, such as AttachStdout, which says what the client will attach to).
CONFIG_FIELDS = {
    "Hostname": "hostname", "Domainname": "domainname", "User": "user",
    "AttachStdin": None, "AttachStdout": None, "AttachStderr": None,
    "ExposedPorts": "expose", "Tty": "tty", "OpenStdin": "stdin_open", "StdinOnce": None,
    "Env": "environment", "Cmd": "command", "Healthcheck": "healthcheck", "ArgsEscaped": None,
    "Image": None, "Volumes": "volumes", "WorkingDir": "working_dir", "Entrypoint": "entrypoint",
    "NetworkDisabled": "network_disabled", "MacAddress": "mac_address", "OnBuild": None,
    "Labels": "labels", "StopSignal": "stop_signal", "StopTimeout": "stop_timeout",
    "Shell": None,
}

HOST_FIELDS = {
    "Binds": "volumes", "ContainerIDFile": None, "LogConfig": "log_config",
    "NetworkMode": "network_mode", "PortBindings": "ports", "RestartPolicy": "restart_policy",
    "AutoRemove": "auto_remove", "VolumeDriver": "volume_driver", "VolumesFrom": "volumes_from",
    "ConsoleSize": None, "Annotations": "annotations", "CapAdd": "cap_add", "CapDrop": "cap_drop",
    "CgroupnsMode": "cgroupns", "Dns": "dns", "DnsOptions": "dns_opt", "DnsSearch": "dns_search",
    "ExtraHosts": "extra_hosts", "GroupAdd": "group_add", "IpcMode": "ipc_mode",
    "Cgroup": "cgroup", "Links": "links", "OomScoreAdj": "oom_score_adj", "PidMode": "pid_mode",
    "Privileged": "privileged", "PublishAllPorts": "publish_all_ports",
    "ReadonlyRootfs": "read_only", "SecurityOpt": "security_opt", "StorageOpt": "storage_opt",
    "Tmpfs": "tmpfs", "UTSMode": "uts_mode", "UsernsMode": "userns_mode", "ShmSize": "shm_size",
    "Sysctls": "sysctls", "Runtime": "runtime", "Isolation": "isolation",
    "CpuShares": "cpu_shares", "Memory": "mem_limit", "NanoCpus": "nano_cpus",
    "CgroupParent": "cgroup_parent", "BlkioWeight": "blkio_weight",
    "BlkioWeightDevice": "blkio_weight_device", "BlkioDeviceReadBps": "device_read_bps",
    "BlkioDeviceWriteBps": "device_write_bps", "BlkioDeviceReadIOps": "device_read_iops",
    "BlkioDeviceWriteIOps": "device_write_iops", "CpuPeriod": "cpu_period",
    "CpuQuota": "cpu_quota", "CpuRealtimePeriod": "cpu_rt_period",
    "CpuRealtimeRuntime": "cpu_rt_runtime", "CpusetCpus": "cpuset_cpus",
    "CpusetMems": "cpuset_mems", "Devices": "devices", "DeviceCgroupRules": "device_cgroup_rules",
    "DeviceRequests": "device_requests", "KernelMemory": "kernel_memory",
    "KernelMemoryTCP": "kernel_memory_tcp", "MemoryReservation": "mem_reservation",
    "MemorySwap": "memswap_limit", "MemorySwappiness": "mem_swappiness",
    "OomKillDisable": "oom_kill_disable", "Init": "init", "PidsLimit": "pids_limit",
    "Ulimits": "ulimits", "CpuCount": "cpu_count", "CpuPercent": "cpu_percent",
    "IOMaximumIOps": "io_maximum_iops", "IOMaximumBandwidth": "io_maximum_bandwidth",
    "Mounts": "mounts", "MaskedPaths": "masked_paths", "ReadonlyPaths": "readonly_paths",
}

# Values clients send for "not asked" besides the empty ones (docker CLI, docker-py, compose).
_DEFAULTS = {
    "MemorySwappiness": (-1,), "IpcMode": ("private", "shareable"), "CgroupnsMode": ("private", "host"),
    "Isolation": ("default",), "Runtime": ("runc", "layerbox"), "PidsLimit": (-1,),
    "LogConfig": ({"Type": "json-file", "Config": {}}, {"Type": "json-file"},
                  {"Type": "", "Config": {}}, {"Type": "", "Config": None}),
    "ConsoleSize": ([0, 0],), "MemorySwap": (0,), "OomKillDisable": (False,),
    "MaskedPaths": (), "ReadonlyPaths": (),
}


def _empty(v) -> bool:
    if v is None or v is False or (type(v) in (int, float) and v == 0):
        return True
    return isinstance(v, (str, list, dict)) and len(v) == 0


def _is_default(field: str, v) -> bool:
    if _empty(v):
        return True
    return any(v == d for d in _DEFAULTS.get(field, ()))


def _honoured(opt: str) -> bool:
    from layerbox.client import SDK_RUN_ARGS

    # Options of the engine that the SDK's list does not carry (expose, stop_timeout, ...)
    return SDK_RUN_ARGS.get(opt, opt in _ENGINE_ONLY)


_ENGINE_ONLY = {"expose", "stop_timeout", "network_aliases", "ip"}


def create_options(body: dict, name: str | None, platform: str | None) -> tuple[str, dict]:
    """(image, engine options) from a POST /containers/create body."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid JSON: the body must be an object")
    host = body.get("HostConfig") or {}
    if not isinstance(host, dict):
        raise ApiError(400, "invalid JSON: HostConfig must be an object")
    refused = []
    for k, v in body.items():
        if k in ("HostConfig", "NetworkingConfig"):
            continue
        opt = CONFIG_FIELDS.get(k, "?")
        if opt == "?":
            if not _is_default(k, v):
                refused.append(k)
        elif opt is not None and not _is_default(k, v) and not _honoured(opt):
            refused.append(k)
    for k, v in host.items():
        opt = HOST_FIELDS.get(k, "?")
        if opt == "?":
            if not _is_default(k, v):
                refused.append(f"HostConfig.{k}")
        elif opt is not None and not _is_default(k, v) and not _honoured(opt):
            refused.append(f"HostConfig.{k}")
    if refused:
        raise ApiError(400, f"not supported by layerbox: {', '.join(refused)} (a field it does "
                            "not implement must be left empty)")
    image = body.get("Image") or ""
    if not image:
        raise ApiError(400, "no image specified: Config.Image is empty")
    # detach: what the container's Config.Attach* say (the client attaches, or not)
    opts: dict = {"name": name or None, "platform": platform or None,
                  "detach": not (body.get("AttachStdout") or body.get("AttachStderr"))}
    simple = {"Hostname": "hostname", "Domainname": "domainname", "User": "user", "Tty": "tty",
              "OpenStdin": "stdin_open", "Env": "environment", "WorkingDir": "working_dir",
              "Labels": "labels", "StopSignal": "stop_signal", "StopTimeout": "stop_timeout",
              "Healthcheck": "healthcheck"}
    for k, o in simple.items():
        if not _empty(body.get(k)):
            opts[o] = body[k]
    if body.get("Cmd") is not None:
        opts["command"] = body["Cmd"] if isinstance(body["Cmd"], list) else [body["Cmd"]]
    ep = body.get("Entrypoint")
    if ep is not None:
        # [""] or "" clears the image's entrypoint, as docker's --entrypoint ""
        opts["entrypoint"] = [] if ep in ("", [""]) else (ep if isinstance(ep, list) else [ep])
    if body.get("ExposedPorts"):
        opts["expose"] = list(body["ExposedPorts"])
    volumes = list(host.get("Binds") or ())
    bound = {b.split(":")[1] if b.count(":") >= 1 else b for b in volumes}
    for path in body.get("Volumes") or {}:
        if path not in bound:
            volumes.append(path)  # an anonymous volume
    if volumes:
        opts["volumes"] = volumes
    hsimple = {"NetworkMode": "network_mode", "PublishAllPorts": "publish_all_ports",
               "RestartPolicy": "restart_policy", "AutoRemove": "auto_remove", "Dns": "dns",
               "DnsSearch": "dns_search", "DnsOptions": "dns_opt", "ExtraHosts": "extra_hosts",
               "Memory": "mem_limit", "NanoCpus": "nano_cpus", "CpuShares": "cpu_shares",
               "CpusetCpus": "cpuset_cpus", "Init": "init", "ReadonlyRootfs": "read_only",
               "CapAdd": "cap_add", "CapDrop": "cap_drop", "Privileged": "privileged",
               "SecurityOpt": "security_opt", "Tmpfs": "tmpfs"}
    for k, o in hsimple.items():
        if not _empty(host.get(k)):
            opts[o] = host[k]
    if host.get("MemorySwap") not in (None, 0):
        opts["memswap_limit"] = host["MemorySwap"]
    if host.get("PidsLimit") not in (None, 0, -1):
        opts["pids_limit"] = host["PidsLimit"]
    if (opts.get("restart_policy") or {}).get("Name") == "":
        opts.pop("restart_policy")
    if host.get("Devices"):
        opts["devices"] = [f"{d.get('PathOnHost')}:{d.get('PathInContainer') or d.get('PathOnHost')}"
                           f":{d.get('CgroupPermissions') or 'rwm'}" for d in host["Devices"]]
    if host.get("PortBindings"):
        ports: dict = {}
        for key, binds in host["PortBindings"].items():
            for b in binds or [{}]:
                ports.setdefault(key, []).append(((b or {}).get("HostIp") or "",
                                                  (b or {}).get("HostPort") or None))
        opts["ports"] = ports
    _networking(body.get("NetworkingConfig") or {}, opts)
    # Every other field the engine honours goes to it as sent (the SDK's option takes the
    # Engine API's JSON shape: Mounts, Healthcheck, LogConfig, Ulimits, Sysctls, ...): none
    # is accepted and dropped.
    for fields, src in ((CONFIG_FIELDS, body), (HOST_FIELDS, host)):
        for k, v in src.items():  # the fields sent (one absent is a default)
            opt = fields.get(k)
            if opt is None or opt in opts or k in _MAPPED or _is_default(k, v) or not _honoured(opt):
                continue
            opts[opt] = v
    return image, opts


# The fields create_options maps itself (above): their values change shape on the way.
_MAPPED = {"Cmd", "Entrypoint", "ExposedPorts", "Volumes", "Binds", "PortBindings", "Devices",
           "MemorySwap", "PidsLimit", "RestartPolicy"}


def _networking(nc: dict, opts: dict) -> None:
    """NetworkingConfig.EndpointsConfig: the one network of NetworkMode (aliases, address)."""
    eps = nc.get("EndpointsConfig") or {}
    if not eps:
        return
    mode = opts.get("network_mode") or "bridge"
    if len(eps) > 1:
        raise ApiError(400, "more than one network at create is not supported by layerbox "
                            f"(asked for {', '.join(sorted(eps))}); network connect is not either")
    (net, ep), = eps.items()
    if net not in (mode, "default") and not (mode in ("default", "bridge") and net == "bridge"):
        raise ApiError(400, f"EndpointsConfig names network {net} but NetworkMode is {mode}")
    ep = ep or {}
    aliases = list(ep.get("Aliases") or ())
    if aliases and mode not in ("bridge", "none", "host", "default"):
        opts["network_aliases"] = aliases
    ip = (ep.get("IPAMConfig") or {}).get("IPv4Address")
    if ip:
        opts["ip"] = ip
    for k in ("Links", "DriverOpts", "MacAddress", "IPv6Gateway", "GlobalIPv6Address"):
        if ep.get(k) and k != "Links":
            raise ApiError(400, f"not supported by layerbox: NetworkingConfig.EndpointsConfig.{k}")
        if ep.get(k):
            raise ApiError(400, "not supported by layerbox: links (use a user network)")
    if (ep.get("IPAMConfig") or {}).get("IPv6Address"):
        raise ApiError(400, "not supported by layerbox: IPv6 addresses")


# The list shapes (container_summary, image_summary) live in layerbox.sysinfo: the Python
# API's df() needs them too.
from layerbox.sysinfo import container_summary, image_summary  # noqa: E402,F401
