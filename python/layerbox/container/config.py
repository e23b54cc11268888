"""From what the user asked (docker's options) to a container's config.json, docker-shaped.

The config.json written at create time holds what `inspect` shows under Config and
HostConfig, plus the resolved image and layers, so `start` never re-reads the image.
"""

from __future__ import annotations

import os

from layerbox import _util
from layerbox import signals as _signals
from layerbox.container import health as _health
from layerbox.container import hostopts as _hostopts
from layerbox.container import logdriver as _logdriver
from layerbox.container import security as _security
from layerbox.container.process import config_env, parse_env_list
from layerbox.errors import InvalidArgument

NETWORK_MODES = ("none", "host", "bridge")

def check_platform(platform) -> None:
    """--platform and the SDK's platform: only the machine's own."""
    if platform and platform not in ("linux", "linux/amd64", "amd64"):
        raise InvalidArgument(f"image platform {platform} is not supported here (linux/amd64 only)")


def parse_bytes(v) -> int:
    """docker's RAMInBytes: "32m", "1g", "512k", "1024b", "100" (bytes), case-insensitive."""
    if v is None or v == "":
        return 0
    if isinstance(v, int):
        return v
    s = str(v).strip().lower()
    mult = 1
    for suffix, m in (("kb", 1 << 10), ("mb", 1 << 20), ("gb", 1 << 30), ("tb", 1 << 40),
                      ("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("t", 1 << 40), ("b", 1)):
        if s.endswith(suffix):
            s = s[: -len(suffix)]
            mult = m
            break
    try:
        n = float(s)
    except ValueError:
        raise InvalidArgument(f"invalid size: '{v}'") from None
    if n < 0:
        raise InvalidArgument(f"invalid size: '{v}'")
    return int(n * mult)


def parse_volume(spec: str) -> dict:
    """-v HOST:CTR[:opts], NAME:CTR[:opts] or CTR (anonymous): see container.mounts."""
    from layerbox.container.mounts import parse_bind

    return parse_bind(spec)


def parse_restart(policy) -> dict:
    if policy is None or policy == "":
        return {"Name": "no", "MaximumRetryCount": 0}
    if isinstance(policy, dict):
        name = policy.get("Name", "no") or "no"
        count = int(policy.get("MaximumRetryCount", 0) or 0)
    else:
        name, _, n = str(policy).partition(":")
        if n and not n.isdigit():
            raise InvalidArgument(f"invalid restart policy format: maximum retry count must be an integer")
        count = int(n) if n else 0
    if name not in ("no", "always", "on-failure", "unless-stopped"):
        raise InvalidArgument(f"invalid restart policy '{name}'")
    if count and name != "on-failure":
        raise InvalidArgument(f"maximum retry count cannot be used with restart policy '{name}'")
    return {"Name": name, "MaximumRetryCount": count}


def split_command(command) -> list[str] | None:
    if command is None:
        return None
    if isinstance(command, str):
        import shlex

        return shlex.split(command)
    return [str(c) for c in command]


def build_config(image_id: str, image_name: str, image_config: dict, opts: dict,
                 volumes_from=None, swap_accounted=None) -> dict:
    """The container's config.json from the image's config and docker-py style options.
    `volumes_from(ref)` gives another container's mount points (--volumes-from);
    `swap_accounted()` whether the kernel limits swap (None: it does)."""
    ic = image_config.get("config") or {}
    command = split_command(opts.get("command"))
    ep_opt = opts.get("entrypoint")
    if ep_opt is not None:
        entrypoint = split_command(ep_opt) if not isinstance(ep_opt, str) else ([ep_opt] if ep_opt else [])
        # docker: a new entrypoint drops the image's Cmd unless a command is given too
        cmd = command if command is not None else []
    else:
        entrypoint = ic.get("Entrypoint") or []
        cmd = command if command else (ic.get("Cmd") or [])
    argv = list(entrypoint or []) + list(cmd or [])
    if not argv:
        raise InvalidArgument("no command specified")

    env = config_env(ic.get("Env") or [], parse_env_list(opts.get("environment")))
    workdir = opts.get("working_dir") or ic.get("WorkingDir") or ""
    if workdir and not workdir.startswith("/"):
        raise InvalidArgument(f"the working directory '{workdir}' is invalid, it needs to be an "
                              "absolute path")
    network = opts.get("network_mode") or opts.get("network") or "bridge"
    if network == "default":
        network = "bridge"
    shared = network.startswith("container:")
    if shared and not network[len("container:"):]:
        raise InvalidArgument("invalid network mode: container: needs a container's name or id")
    # A user network's name and a container: mode's container are checked by the engine.
    mac = opts.get("mac_address") or ""
    if mac:
        _check_mac(mac)
        if shared or network in ("host", "none"):
            raise InvalidArgument("conflicting options: mac-address and the network mode")
    if shared:  # docker's runconfig checks: the namespace's owner decides all of these
        for key, err in (("hostname", "hostname and the network mode"),
                         ("dns", "dns and the network mode"),
                         ("extra_hosts", "custom host-to-IP mapping and the network mode"),
                         ("ports", "port publishing and the container type network mode"),
                         ("publish_all_ports", "port publishing and the container type network mode"),
                         ("expose", "port exposing and the container type network mode")):
            if opts.get(key):
                raise InvalidArgument("conflicting options: " + err)
    exposed = dict(ic.get("ExposedPorts") or {})
    for e in opts.get("expose") or ():
        for port, proto in _port_range(str(e)):
            exposed[f"{port}/{proto}"] = {}
    bindings = parse_ports(opts.get("ports"))
    for key in bindings:
        exposed.setdefault(key, {})
    publish_all = bool(opts.get("publish_all_ports"))
    if (network in ("none", "host") or shared) and (bindings or publish_all):
        bindings, publish_all = {}, False  # docker: published ports are discarded there
    ip = opts.get("ip") or opts.get("ipv4_address")
    if ip and (network in NETWORK_MODES or shared):
        raise InvalidArgument("user specified IP address is supported on user defined networks only")
    aliases = list(opts.get("network_aliases") or opts.get("aliases") or ())
    if aliases and (network in NETWORK_MODES or shared):
        raise InvalidArgument("network-scoped alias is supported only for containers in user "
                              "defined networks")
    extra_hosts = opts.get("extra_hosts") or []
    if isinstance(extra_hosts, dict):
        extra_hosts = [f"{k}:{v}" for k, v in extra_hosts.items()]
    for h in extra_hosts:
        name, sep, addr = h.partition(":")
        if not sep or not name or not addr:
            raise InvalidArgument(f"invalid argument \"{h}\" for \"--add-host\" flag: bad format "
                                  f"for add-host: \"{h}\"")
        if addr != "host-gateway":  # the default bridge's gateway, resolved at each start
            check_ip(addr, "--add-host")
    for d in opts.get("dns") or ():
        check_ip(d, "--dns")
    user = opts.get("user")
    if user is None:
        user = ic.get("User") or ""
    labels = dict(ic.get("Labels") or {})
    lab = opts.get("labels") or {}
    if isinstance(lab, (list, tuple)):
        lab = {x.partition("=")[0]: x.partition("=")[2] for x in lab}
    labels.update(lab)
    # docker keeps StopSignal only when the image or --stop-signal gives one (stop sends
    # SIGTERM otherwise): inspect shows none for the default
    stop_signal = opts.get("stop_signal") or ic.get("StopSignal") or ""
    if stop_signal:
        _signals.parse(stop_signal)
    volumes, mounts, volumes_from_specs, image_volumes = _mount_points(ic, opts, volumes_from)
    memory = parse_bytes(opts.get("mem_limit"))
    memswap = opts.get("memswap_limit")
    memswap = -1 if memswap in (-1, "-1") else parse_bytes(memswap)
    # dockerd drops a swap limit the kernel cannot keep (a warning, the engine's) before it
    # compares it with the memory limit: no error for one it will not set
    if memswap and memswap != -1 and memory and memswap < memory and \
            (swap_accounted is None or swap_accounted()):
        raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see "
                              "usage")
    if memswap and not memory:
        raise InvalidArgument("You should always set the Memory limit when using Memoryswap limit, "
                              "see usage")
    if memory and memory < 6 * 1024 * 1024:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    nano = int(opts.get("nano_cpus") or 0)
    cpu_period, cpu_quota = int(opts.get("cpu_period") or 0), int(opts.get("cpu_quota") or 0)
    check_cpu_cfs(nano, cpu_period, cpu_quota)
    pids = opts.get("pids_limit")
    restart = parse_restart(opts.get("restart_policy"))
    auto_remove = bool(opts.get("auto_remove"))
    if auto_remove and restart["Name"] != "no":
        raise InvalidArgument("conflicting options: cannot specify both --restart and --rm")
    name = opts.get("name") or ""
    hostname = opts.get("hostname") or ""
    created = _util.now_rfc3339()
    return {
        "Created": created,
        "Path": argv[0],
        "Args": argv[1:],
        "Image": image_id,
        "Name": "/" + name if name else "",
        "Config": {
            "Hostname": hostname,
            "Domainname": opts.get("domainname") or "",
            "User": user,
            "AttachStdin": _attached("stdin", opts) and bool(opts.get("stdin_open")),
            "AttachStdout": _attached("stdout", opts),
            "AttachStderr": _attached("stderr", opts),
            "Tty": bool(opts.get("tty")),
            "OpenStdin": bool(opts.get("stdin_open")),
            "StdinOnce": bool(opts.get("stdin_open")) and not opts.get("detach"),
            "Env": env,
            "Cmd": list(cmd) if cmd is not None else None,
            "Entrypoint": list(entrypoint) if entrypoint else None,
            "Image": image_name,
            "Volumes": image_volumes,
            "WorkingDir": workdir,
            "Labels": labels,
            **({"StopSignal": stop_signal} if stop_signal else {}),
            "ExposedPorts": exposed or None,
            "Healthcheck": _health.merge(ic.get("Healthcheck"), _health.from_options(opts)),
            **({"MacAddress": mac.lower()} if mac else {}),
            **({"StopTimeout": int(opts["stop_timeout"])} if opts.get("stop_timeout") is not None else {}),
        },
        "HostConfig": {
            "Binds": [v for v in volumes if ":" in v] or None,
            **({"Mounts": list(opts["mounts"])} if opts.get("mounts") else {}),
            "VolumesFrom": volumes_from_specs or None,
            "NetworkMode": network,
            "PortBindings": bindings,
            "PublishAllPorts": publish_all,
            "ExtraHosts": list(extra_hosts) or None,
            "Dns": list(opts.get("dns") or ()),
            "DnsSearch": list(opts.get("dns_search") or ()),
            "DnsOptions": list(opts.get("dns_opt") or opts.get("dns_options") or ()),
            "AutoRemove": auto_remove,
            "RestartPolicy": restart,
            "Memory": memory,
            "MemorySwap": memswap,
            "NanoCpus": nano,
            **({"CpuPeriod": cpu_period} if cpu_period else {}),
            **({"CpuQuota": cpu_quota} if cpu_quota else {}),
            "CpuShares": int(opts.get("cpu_shares") or 0),
            "CpusetCpus": opts.get("cpuset_cpus") or "",
            "PidsLimit": int(pids) if pids not in (None, "", 0) else None,
            "Init": bool(opts.get("init")),
            "ReadonlyRootfs": bool(opts.get("read_only")),
            "LogConfig": _log_config(opts),
            **_hostopts.host_config(opts, network),
            **_security.host_config(opts),
        },
        "Mounts": mounts,
        **({"NetworkingConfig": {**({"IPAMConfig": {"IPv4Address": ip}} if ip else {}),
                                 **({"Aliases": aliases} if aliases else {})}}
           if ip or aliases else {}),
    }


def check_cpu_cfs(nano: int, period: int, quota: int) -> None:
    """docker's checks of --cpus, --cpu-period and --cpu-quota (moby's verifyContainerResources;
    `update` makes them too): --cpus sets period and quota itself."""
    if nano and period:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano and quota:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if period and not 1000 <= period <= 1_000_000:
        raise InvalidArgument("CPU cfs period can not be less than 1ms (i.e. 1000) or larger "
                              "than 1s (i.e. 1000000)")
    if quota and 0 < quota < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")


def _check_mac(mac: str) -> None:
    """--mac-address: six hex bytes; a unicast address (the kernel refuses the others)."""
    parts = mac.split(":")
    if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p)
                                  for p in parts):
        raise InvalidArgument(f"invalid argument \"{mac}\" for \"--mac-address\" flag: "
                              f"{mac} is not a valid mac address")
    if int(parts[0], 16) & 1:
        raise InvalidArgument(f"invalid argument \"{mac}\" for \"--mac-address\" flag: "
                              f"{mac} is a multicast address, not a container's")


def _mount_points(ic: dict, opts: dict, volumes_from) -> tuple:
    """-v, --mount, --volumes-from and the image's VOLUMEs to the container's mount points
    (container.mounts); also Binds, VolumesFrom and Config.Volumes as docker records them."""
    from layerbox.container import mounts as _mounts

    volumes = opts.get("volumes") or []
    if isinstance(volumes, dict):  # docker-py: {host: {"bind": ctr, "mode": "ro"}}
        volumes = [f"{h}:{v['bind']}:{v.get('mode', 'rw')}" if isinstance(v, dict) else f"{h}:{v}"
                   for h, v in volumes.items()]
    elif isinstance(volumes, str):
        volumes = [volumes]
    volumes = [str(v) for v in volumes]
    specs = opts.get("volumes_from") or []
    if isinstance(specs, str):
        specs = [specs]
    inherited = []
    for spec in specs:
        ref, mode = _mounts.parse_volumes_from(spec)
        if volumes_from is None:
            raise InvalidArgument("--volumes-from needs the container engine")
        inherited.extend(_mounts.copied_from(volumes_from(ref), mode))
    api_mounts = opts.get("mounts") or []
    image_volumes = dict(ic.get("Volumes") or {})
    for p in _mounts.anonymous_paths(volumes):
        image_volumes.setdefault(p, {})
    tmpfs = opts.get("tmpfs") or []
    tmpfs_paths = list(tmpfs) if isinstance(tmpfs, dict) else [t.partition(":")[0] for t in tmpfs]
    points = _mounts.register(volumes, api_mounts, inherited,
                              list(image_volumes) if opts.get("image_volumes", True) else [],
                              tmpfs_paths)
    return volumes, points, list(specs), image_volumes or None


def _attached(stream: str, opts: dict) -> bool:
    """Config.Attach*: every stream unless detached, or those -a names."""
    if opts.get("detach"):
        return False
    return not opts.get("attach") or stream in opts["attach"]


def _log_config(opts: dict) -> dict:
    """--log-driver/--log-opt, or the SDK's log_config ({"Type", "Config"}, docker.types.LogConfig)."""
    sdk = opts.get("log_config")
    if sdk:
        get = (lambda k: sdk.get(k) or sdk.get(k.lower())) if isinstance(sdk, dict) else (
            lambda k: getattr(sdk, k.lower(), None))
        return _logdriver.log_config(get("Type"), get("Config") or {})
    return _logdriver.log_config(opts.get("log_driver"), opts.get("log_opt") or ())


def check_ip(addr: str, flag: str) -> None:
    import ipaddress

    try:
        ipaddress.ip_address(addr)
    except ValueError:
        raise InvalidArgument(f"invalid argument \"{addr}\" for \"{flag}\" flag: "
                              f"{addr} is not an ip address") from None


def _port_range(text: str, what: str = "port") -> list:
    """"80", "80/udp", "8000-8002/tcp" -> [(port, proto), ...]."""
    port, _, proto = text.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp"):
        raise InvalidArgument(f"invalid proto: {proto}")
    lo, sep, hi = port.partition("-")
    try:
        a = int(lo)
        b = int(hi) if sep else a
    except ValueError:
        raise InvalidArgument(f"invalid containerPort: {port}" if what == "port" else
                              f"invalid hostPort: {port}") from None
    if not (0 < a <= 65535 and 0 < b <= 65535 and a <= b):
        raise InvalidArgument(f"invalid range specified for {what}: {port}")
    return [(p, proto) for p in range(a, b + 1)]


def parse_ports(ports) -> dict:
    """docker's PortBindings ({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}) from -p specs
    ("[IP:][HOSTPORT:]CTRPORT[/PROTO]", ranges allowed) or docker-py's ports dict."""
    out: dict = {}
    if not ports:
        return out
    if isinstance(ports, dict):  # docker-py: {"80/tcp": 8080 | ("ip", port) | [..] | None}
        for ctr, host in ports.items():
            key = str(ctr) if "/" in str(ctr) else f"{ctr}/tcp"
            _port_range(key)
            for h in (host if isinstance(host, list) else [host]):
                if isinstance(h, tuple):
                    ip, hp = (h[0], h[1]) if len(h) > 1 else (h[0], None)
                else:
                    ip, hp = "", h
                out.setdefault(key, []).append({"HostIp": ip or "", "HostPort": str(hp or "")})
        return out
    for spec in ports:
        spec = str(spec)
        body, slash, proto = spec.rpartition("/") if "/" in spec else (spec, "", "tcp")
        parts = body.rsplit(":", 2)
        if len(parts) == 3:
            ip, hp, cp = parts
        elif len(parts) == 2:
            ip, hp, cp = "", parts[0], parts[1]
        else:
            ip, hp, cp = "", "", parts[0]
        ip = ip.strip("[]")
        if ip:
            check_ip(ip, "--publish")
            if ":" in ip:
                raise InvalidArgument(f"IPv6 published ports are not supported by layerbox yet: {spec}")
        ctr = _port_range(f"{cp}/{proto}")
        host = _port_range(hp, "hostPort") if hp else []
        if host and len(host) != len(ctr) and len(host) > 1 and len(ctr) > 1:
            raise InvalidArgument(f"invalid ranges specified for container and host Ports: {cp} and {hp}")
        for i, (p, pr) in enumerate(ctr):
            if not host:
                h = ""
            elif len(ctr) == 1 and len(host) > 1:
                h = f"{host[0][0]}-{host[-1][0]}"  # docker: any free port of the range
            else:
                h = str(host[i][0])
            out.setdefault(f"{p}/{pr}", []).append({"HostIp": ip, "HostPort": h})
    return out
