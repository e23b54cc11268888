"""Networks and their addresses, without a daemon.

Store layout (under ``<root>/networks``)::

    <id>/network.json      docker's network document (Name, Id, Driver, IPAM, Options, ...)
    <id>/ips/<a.b.c.d>     symlink -> the container's id, as claim_target writes it: the
                           address is that container's
    <id>/cursor            the last address handed out, as an offset in the subnet (ten digits;
                           the next search starts after it)

A network's address changes happen under an flock on its directory. Allocation is O(1): it
tries the address after the cursor, and a claim whose container no longer runs (stopped,
removed, or its monitor gone) is free to take, so a crash never leaks an address; the
container's monitor removes its claims when the container ends. The kernel side (bridge,
veths, nftables) is made by the monitor (csrc/shim/net_bridge.cpp) and removed by it when the
container ends; `_net` removes what a crash left.

Nothing here is imported by `--network none|host` runs.
"""

from __future__ import annotations

import binascii
import fcntl
import os
import sys
import struct

from layerbox import _util
from layerbox.errors import Conflict, InvalidArgument, NotFound

DEFAULT_NAME = "bridge"
DEFAULT_BRIDGE = "layerbox0"
BUILTIN = ("bridge", "host", "none")


class NetworkNotFound(NotFound):
    pass


def _ip2int(s: str) -> int:
    """"a.b.c.d" -> int (no `socket` import: it pulls in enum, too slow for `run`)."""
    parts = s.split(".")
    if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 and int(p) < 256 for p in parts):
        raise InvalidArgument(f"invalid IP address: {s}")
    a, b, c, d = (int(p) for p in parts)
    return a << 24 | b << 16 | c << 8 | d


def _int2ip(n: int) -> str:
    return f"{n >> 24 & 255}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def parse_cidr(s: str) -> tuple[int, int]:
    """(network, prefix) of "a.b.c.d/n"; the host bits must be zero, as docker checks."""
    addr, _, p = s.partition("/")
    if not p.isdigit() or not 0 < int(p) <= 30:
        raise InvalidArgument(f"invalid subnet {s}: expected a.b.c.d/n with n from 1 to 30")
    n, prefix = _ip2int(addr), int(p)
    mask = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
    if n & ~mask & 0xFFFFFFFF:
        raise InvalidArgument(f"invalid subnet {s}: it has host bits set "
                              f"(did you mean {_int2ip(n & mask)}/{prefix}?)")
    return n, prefix


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    p = min(a[1], b[1])
    mask = (0xFFFFFFFF << (32 - p)) & 0xFFFFFFFF if p else 0
    return (a[0] & mask) == (b[0] & mask)


def host_routes() -> list[tuple[int, int]]:
    """The IPv4 routes of this network namespace (/proc/net/route is per namespace), but the
    default route, which every subnet would overlap."""
    out = []
    try:
        with open("/proc/net/route") as f:
            next(f)
            for line in f:
                fields = line.split()
                dest = struct.unpack("<I", bytes.fromhex(fields[1]))[0]
                mask = struct.unpack("<I", bytes.fromhex(fields[7]))[0]
                prefix = bin(mask).count("1")
                if prefix:
                    out.append((struct.unpack("!I", struct.pack("<I", dest))[0], prefix))
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    return out


def _pool():
    """docker's default address pools: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s."""
    for b in range(17, 32):
        yield (172 << 24 | b << 16, 16)
    for c in range(0, 256, 16):
        yield (192 << 24 | 168 << 16 | c << 8, 20)


def _mac(ip: int) -> str:
    return "02:42:" + ":".join(f"{b:02x}" for b in struct.pack("!I", ip))


def _write_cursor(path: str, off: int) -> None:
    """Overwrites the cursor in place, always ten digits: a file truncated and written again
    costs ext4 a block freed and allocated (2.3 ms here against 0.006 ms), on every start."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        os.pwrite(fd, b"%010d" % off, 0)
    finally:
        os.close(fd)


def claim_target(cid: str) -> str:
    """What an address claim (a symlink) holds: the container's id in 43 characters (base64
    of its 32 bytes, unpadded), so the link is an ext4 fast symlink, kept in its inode (under
    60 bytes). The 64-character id needed a block of its own, which creating the claim
    allocated and removing it freed, with a discard on this disk (~2 ms, under the network's
    lock, where the next start's allocation waited for it)."""
    return binascii.b2a_base64(bytes.fromhex(cid), newline=False).rstrip(b"=").decode()


def claim_holder(target: str) -> str:
    """The container id of a claim's target (claim_target's, or a 64-character id as claims
    were written before it)."""
    if len(target) != 43:
        return target
    try:
        return binascii.a2b_base64(target + "=").hex()
    except binascii.Error:
        return target


class _DirLock:
    def __init__(self, path: str):
        self.path = path

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


class Networks:
    def __init__(self, store):
        self.store = store
        self.root = os.path.join(store.root, "networks")

    # -- records -----------------------------------------------------------------------------
    def _dir(self, nid: str) -> str:
        return os.path.join(self.root, nid)

    def _records(self) -> list[dict]:
        try:
            ids = os.listdir(self.root)
        except FileNotFoundError:
            return []
        out = []
        for nid in ids:
            try:
                out.append(_util.read_json(os.path.join(self.root, nid, "network.json")))
            except (FileNotFoundError, NotADirectoryError):
                continue
        return out

    def get(self, ref: str) -> dict:
        if ref == DEFAULT_NAME:
            return self.default()
        recs = self._records()
        for r in recs:
            if r["Name"] == ref or r["Id"] == ref:
                return r
        matches = [r for r in recs if r["Id"].startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if ref in ("host", "none"):
            return self._pseudo(ref)
        raise NetworkNotFound(f"network {ref} not found")

    def _pseudo(self, name: str) -> dict:
        return {"Name": name, "Id": name, "Created": _util.now_rfc3339(), "Scope": "local",
                "Driver": "host" if name == "host" else "null", "EnableIPv6": False,
                "IPAM": {"Driver": "default", "Options": None, "Config": []}, "Internal": False,
                "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
                "ConfigOnly": False, "Options": {}, "Labels": {}}

    def default(self) -> dict:
        """The default `bridge` network, made on first use (subnet: $LAYERBOX_BIP, else
        docker's first free pool that overlaps no route of this namespace)."""
        for r in self._records():
            if r["Name"] == DEFAULT_NAME:
                return r
        bip = os.environ.get("LAYERBOX_BIP") or None
        gateway = None
        if bip:
            ip, _, p = bip.partition("/")
            n, prefix = _ip2int(ip), int(p or 16)
            mask = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
            bip, gateway = f"{_int2ip(n & mask)}/{prefix}", ip
        return self.create(DEFAULT_NAME, subnet=bip, gateway=gateway, _bridge=DEFAULT_BRIDGE,
                           _exist_ok=True)

    def create(self, name: str, *, driver: str = "bridge", subnet: str | None = None,
               gateway: str | None = None, ip_range: str | None = None, internal: bool = False,
               labels: dict | None = None, options: dict | None = None, _bridge: str | None = None,
               _exist_ok: bool = False) -> dict:
        if driver not in ("bridge", None, ""):
            raise InvalidArgument(f"plugin \"{driver}\" not found: layerbox has the bridge driver only")
        if name in ("host", "none") or (name == DEFAULT_NAME and not _bridge):
            raise Conflict(f"network with name {name} already exists" if name != DEFAULT_NAME else
                           f"network with name {name} already exists")
        for k in options or {}:
            raise InvalidArgument(f"network option {k} is not supported by layerbox")
        store = self.store.ensure()
        os.makedirs(self.root, exist_ok=True)
        with store.lock():
            for r in self._records():
                if r["Name"] == name:
                    if _exist_ok:
                        return r
                    raise Conflict(f"network with name {name} already exists")
            taken = [parse_cidr(c["Subnet"]) for r in self._records()
                     for c in r["IPAM"]["Config"]]
            if subnet:
                net = parse_cidr(subnet)
                for t in taken:
                    if _overlap(net, t):
                        raise Conflict(f"Pool overlaps with other one on this address space")
            else:
                routes = host_routes()
                net = next((p for p in _pool() if not any(_overlap(p, t) for t in taken + routes)),
                           None)
                if net is None:
                    raise Conflict("could not find an available, non-overlapping IPv4 address "
                                   "pool among the defaults to assign to the network")
            size = 1 << (32 - net[1])
            gw = _ip2int(gateway) if gateway else net[0] + 1
            if not net[0] < gw < net[0] + size - 1:
                raise InvalidArgument(f"no matching subnet for gateway {gateway}")
            pool = {}
            if ip_range:  # containers' addresses come from this part of the subnet only
                if not subnet:
                    raise InvalidArgument("cannot specify --ip-range without --subnet")
                rng = parse_cidr(ip_range)
                if rng[1] < net[1] or not _overlap(rng, net):
                    raise InvalidArgument(f"no matching subnet for range {ip_range}")
                pool = {"IPRange": f"{_int2ip(rng[0])}/{rng[1]}"}
            nid = os.urandom(32).hex()
            bridge = _bridge or "br-" + nid[:12]
            doc = {
                "Name": name, "Id": nid, "Created": _util.now_rfc3339(), "Scope": "local",
                "Driver": "bridge", "EnableIPv6": False,
                "IPAM": {"Driver": "default", "Options": {},
                         "Config": [{"Subnet": f"{_int2ip(net[0])}/{net[1]}", **pool,
                                     "Gateway": _int2ip(gw)}]},
                "Internal": bool(internal), "Attachable": False, "Ingress": False,
                "ConfigFrom": {"Network": ""}, "ConfigOnly": False,
                "Options": {"com.docker.network.bridge.name": bridge},
                "Labels": dict(labels or {}),
            }
            tmp = store.mkdtemp("network-")
            os.mkdir(os.path.join(tmp, "ips"))
            _util.write_atomic(os.path.join(tmp, "network.json"), _util.dump_json(doc))
            os.rename(tmp, self._dir(nid))
        if not _bridge:  # the default bridge appears by itself, without an event (as docker's)
            _network_event(self.store, "create", doc)
        return doc

    # -- addresses ---------------------------------------------------------------------------
    def _holder_running(self, cid: str, nid: str, ip: str) -> bool:
        """True while container `cid` runs with `ip` on this network."""
        cdir = os.path.join(self.store.containers, cid)
        try:
            st = _util.read_json(os.path.join(cdir, "state.json"))
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return os.path.isdir(cdir) and self._starting(cdir)
        if st.get("Status") not in ("running", "restarting", "paused"):
            return self._starting(cdir)
        from layerbox import _core

        pid = st.get("MonitorPid") or 0
        if not pid or _core.process_start_time(pid) != st.get("MonitorStartTime"):
            return False
        nets = (st.get("NetworkSettings") or {}).get("Networks") or {}
        if any(n.get("NetworkID") == nid and n.get("IPAddress") == ip for n in nets.values()):
            return True
        return self._starting(cdir)  # being connected: the claim comes before the state

    @staticmethod
    def _starting(cdir: str) -> bool:
        """A container being started holds its lock (the claim comes before its state)."""
        return _util.flock_held(cdir, by_writer_only=True)

    def allocate(self, net: dict, cid: str, want: str | None = None) -> str:
        """An address of `net` for container `cid` (`want` for --ip)."""
        nid = net["Id"]
        base, prefix = parse_cidr(net["IPAM"]["Config"][0]["Subnet"])
        gw = _ip2int(net["IPAM"]["Config"][0]["Gateway"])
        size = 1 << (32 - prefix)
        ndir = self._dir(nid)
        ips = os.path.join(ndir, "ips")
        with _DirLock(ndir):
            if want:
                n = _ip2int(want)
                if not base < n < base + size - 1 or n == gw:
                    raise InvalidArgument(f"invalid address {want}: it does not belong to any of "
                                          f"this network's subnets")
                if self._claim(ips, nid, n, cid):
                    return want
                raise Conflict(f"Address already in use: {want}")
            try:
                with open(os.path.join(ndir, "cursor")) as f:
                    cur = int(f.read() or 0)
            except (FileNotFoundError, ValueError):
                cur = 0
            first, count = base, size  # --ip-range: the search stays inside it
            if net["IPAM"]["Config"][0].get("IPRange"):
                first, p = parse_cidr(net["IPAM"]["Config"][0]["IPRange"])
                count = 1 << (32 - p)
            last = base + cur
            start = (last - first + 1) % count if first <= last < first + count else 0
            for k in range(count):
                n = first + (start + k) % count
                off = n - base
                if off == 0 or off == size - 1 or n == gw:
                    continue
                if self._claim(ips, nid, n, cid):
                    _write_cursor(os.path.join(ndir, "cursor"), off)
                    return _int2ip(n)
        raise Conflict(f"no available IPv4 addresses on network {net['Name']}")

    def _claim(self, ips: str, nid: str, n: int, cid: str) -> bool:
        ip = _int2ip(n)
        link = os.path.join(ips, ip)
        target = claim_target(cid)
        try:
            os.symlink(target, link)
            return True
        except FileExistsError:
            holder = claim_holder(os.readlink(link))
            if holder != cid and self._holder_running(holder, nid, ip):
                return False
            os.unlink(link)
            os.symlink(target, link)
            return True

    def claim_of(self, nid: str, ip: str) -> str:
        """The id of the container that claims `ip` on network `nid` (OSError: none)."""
        return claim_holder(os.readlink(os.path.join(self._dir(nid), "ips", ip)))

    def release(self, nid: str, ip: str, cid: str) -> None:
        link = os.path.join(self._dir(nid), "ips", ip)
        try:
            if claim_holder(os.readlink(link)) == cid:
                os.unlink(link)
        except OSError:
            pass

    def endpoints(self, net: dict) -> dict:
        """{container id: ip} of the running containers on `net`."""
        ips = os.path.join(self._dir(net["Id"]), "ips")
        out = {}
        try:
            names = os.listdir(ips)
        except FileNotFoundError:
            return out
        for ip in names:
            try:
                cid = self.claim_of(net["Id"], ip)
            except OSError:
                continue
            if self._holder_running(cid, net["Id"], ip):
                out[cid] = ip
        return out

    # -- removal -----------------------------------------------------------------------------
    def remove(self, ref: str) -> None:
        if ref in BUILTIN:
            raise Conflict(f"{ref} is a pre-defined network and cannot be removed")
        net = self.get(ref)
        with self.store.lock():
            with _DirLock(self._dir(net["Id"])):
                users = self.endpoints(net)
                if users:
                    raise Conflict(f"error while removing network: network {net['Name']} id "
                                   f"{net['Id']} has active endpoints")
                self._unmake(net)
                dns_forget(self.store, net)
                from layerbox import _core

                _core.remove_tree(self._dir(net["Id"]))
        _network_event(self.store, "destroy", net)

    def _unmake(self, net: dict) -> None:
        """The network's bridge and nftables elements, in this network namespace."""
        from layerbox import _net

        _net.remove_network(bridge_name(net), net["IPAM"]["Config"][0]["Subnet"])

    def prune(self) -> list[str]:
        removed = []
        for r in self._records():
            if r["Name"] == DEFAULT_NAME:
                continue
            try:
                self.remove(r["Id"])
                removed.append(r["Name"])
            except (Conflict, NotFound):
                pass
        return removed

    def list(self) -> list[dict]:
        recs = self._records()
        if not any(r["Name"] == DEFAULT_NAME for r in recs):
            recs.append(self.default())
        return recs + [self._pseudo("host"), self._pseudo("none")]


def _network_event(store, action: str, net: dict, **attributes) -> None:
    """A network event in the store's event log (layerbox.events): docker's attributes."""
    from layerbox import events

    events.record(store, "network", action, net["Id"],
                  {"name": net["Name"], "type": net.get("Driver") or "bridge", **attributes})


def bridge_name(net: dict) -> str:
    return net["Options"].get("com.docker.network.bridge.name") or "br-" + net["Id"][:12]


# -- what a container start needs --------------------------------------------------------------
def resolv_conf(cfg: dict, embedded=()) -> str:
    """docker's: the host's resolv.conf without loopback nameservers (they do not answer in the
    container's namespace; Google's public ones when none is left, as docker), or --dns."""
    host = cfg["HostConfig"]
    dns = host.get("Dns") or []
    search = host.get("DnsSearch") or []
    opts = host.get("DnsOptions") or []
    lines, servers, hsearch, hopts = [], [], [], []
    try:
        with open("/etc/resolv.conf") as f:
            text = f.read()
    except OSError:
        text = ""
    for line in text.splitlines():
        f = line.split()
        if not f or f[0].startswith(("#", ";")):
            continue
        if f[0] == "nameserver" and len(f) > 1:
            if not (f[1].startswith("127.") or f[1] == "::1"):
                servers.append(f[1])
        elif f[0] in ("search", "domain"):
            hsearch = f[1:]
        elif f[0] == "options":
            hopts += f[1:]
    servers = dns or servers or ["8.8.8.8", "8.8.4.4"]
    if embedded:  # user networks: their resolvers (aardvark-dns on the gateways) first
        servers = list(embedded) + list(dns)
        opts = opts or ["ndots:0"]
    search = search or hsearch
    opts = opts or hopts
    if search:
        lines.append("search " + " ".join(search))
    lines += [f"nameserver {s}" for s in servers]
    if opts:
        lines.append("options " + " ".join(opts))
    return "\n".join(lines) + "\n"


def hosts_file(cfg: dict, ips, base: str, store=None) -> str:
    """/etc/hosts: the base, --add-host entries, then the container's name on each address."""
    out = base + extra_hosts_lines(cfg, store)
    for ip in ([ips] if isinstance(ips, str) else ips or ()):
        out += hosts_line(cfg, ip)
    return out


def hosts_line(cfg: dict, ip: str) -> str:
    """The container's own line in /etc/hosts for one of its addresses."""
    c = cfg["Config"]
    names = [c["Hostname"]]
    if c.get("Domainname"):
        names.insert(0, f"{c['Hostname']}.{c['Domainname']}")
    return f"{ip}\t{' '.join(names)}\n"


def extra_hosts_lines(cfg: dict, store=None) -> str:
    """--add-host NAME:ADDR lines; `host-gateway` is the default bridge's gateway, the host's
    address that every bridge network's containers reach (docker's --host-gateway-ip)."""
    out = ""
    for h in cfg["HostConfig"].get("ExtraHosts") or []:
        name, _, addr = h.partition(":")
        if addr == "host-gateway":
            addr = host_gateway(store)
        out += f"{addr}\t{name}\n"
    return out


def host_gateway(store) -> str:
    return Networks(store).default()["IPAM"]["Config"][0]["Gateway"]


# -- name resolution on user networks -----------------------------------------------------------
# aardvark-dns (Debian's package, podman's resolver for exactly this): one process per store
# serves every user network, each a file `networks/aardvark/<network name>` (first line: the
# gateway it listens on; then `<id> <ipv4> <ipv6> <name,alias,...>`); it answers a query only
# with the names of the asker's own network (it finds the network by the source address), so
# names do not cross networks, and reloads on SIGHUP. Chosen over a resolver of our own: it is
# maintained, packaged, and does what docker's embedded DNS does for containers.
AARDVARK_PATHS = ("/usr/lib/podman/aardvark-dns", "/usr/libexec/podman/aardvark-dns")


def _aardvark() -> str:
    exe = os.environ.get("LAYERBOX_AARDVARK")
    if exe:
        return exe
    for p in AARDVARK_PATHS:
        if os.access(p, os.X_OK):
            return p
    raise InvalidArgument("name resolution on user networks needs aardvark-dns "
                          "(apt-get install aardvark-dns)")


def _dns_dir(store) -> str:
    return os.path.join(store.root, "networks", "aardvark")


def _aardvark_pid(d: str) -> int:
    try:
        with open(os.path.join(d, "aardvark.pid")) as f:
            pid = int(f.read().strip() or 0)
        with open(f"/proc/{pid}/comm") as f:
            # a zombie (exited, its parent has not reaped it yet) serves nothing
            return pid if f.read().strip().startswith("aardvark") and _alive(pid) else 0
    except (OSError, ValueError):
        return 0


def _dns_names(cfg: dict, cid: str, netname: str, aliases=None, settings: dict | None = None) -> list:
    """The names a container answers to on a user network: its name, then the endpoint's
    aliases (with its short id, as docker's)."""
    names = [cfg.get("Name", "").lstrip("/")]
    if aliases is None and settings is not None:
        aliases = ((settings.get("Networks") or {}).get(netname) or {}).get("Aliases")
    names += [a for a in aliases or () if a not in names]
    if cid[:12] not in names:
        names.append(cid[:12])
    return [n for n in names if n]


def _dns_update(store, net: dict, cid: str, ip: str, names: list, drop: bool = False) -> None:
    """Rewrites the network's aardvark file from its running containers (plus `cid` unless
    `drop`) and starts aardvark-dns, or makes it reload."""
    nets = Networks(store)
    d = _dns_dir(store)
    os.makedirs(d, exist_ok=True)
    lines = [net["IPAM"]["Config"][0]["Gateway"]]
    for other, oip in sorted(nets.endpoints(net).items()):
        if other == cid:
            continue
        cdir = os.path.join(store.containers, other)
        try:
            ocfg = _util.read_json(os.path.join(cdir, "config.json"))
            ost = _util.read_json(os.path.join(cdir, "state.json"))
        except (OSError, ValueError):
            continue
        lines.append(_dns_record(other, oip, _dns_names(ocfg, other, net['Name'],
                                                        settings=ost.get('NetworkSettings'))))
    if not drop:
        lines.append(_dns_record(cid, ip, names))
    with _DirLock(d):  # the lock the monitors take to change the file (csrc/net/dnsrecords.hpp)
        _util.write_atomic(os.path.join(d, net["Name"]), ("\n".join(lines) + "\n").encode())
        _aardvark_reload_locked(d)


def _dns_record(cid: str, ip: str, names: list) -> str:
    """A container's line in aardvark-dns's file of a network (no IPv6 address)."""
    return f"{cid} {ip}  {','.join(names)}"


def dns_drop(store, net_name: str, cid: str) -> None:
    """Takes a container's records out of its network's resolver, as its monitor does when
    the container ends: for a container whose monitor was killed with it."""
    d = _dns_dir(store)
    path = os.path.join(d, net_name)
    try:
        with _DirLock(d):
            with open(path) as f:
                lines = f.read().splitlines()
            keep = lines[:1] + [ln for ln in lines[1:] if not ln.startswith(cid + " ")]
            if keep != lines:
                _util.write_atomic(path, ("\n".join(keep) + "\n").encode())
                _aardvark_reload_locked(d)
    except FileNotFoundError:
        pass  # no resolver, or the network went: no records


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, exited but not reaped yet, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _aardvark_stop(pid: int) -> None:
    """SIGTERM, waited for (bounded): aardvark-dns drops a SIGTERM that comes while it is
    still reloading after a SIGHUP (seen when a network's last container and the network go
    in quick succession), so it is sent again, and SIGKILL after 2 s."""
    import time

    for i in range(40):
        if not _alive(pid):
            return
        if i % 10 == 0:
            os.kill(pid, 15)
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, 9)


def _aardvark_reload(d: str) -> None:
    with _DirLock(d):
        _aardvark_reload_locked(d)


def _aardvark_reload_locked(d: str) -> None:
    """Starts aardvark-dns, makes it read the networks' files again, or stops it when no
    network has a file any more; under the directory's lock."""
    pid = _aardvark_pid(d)
    configs = [n for n in os.listdir(d) if n != "aardvark.pid" and not n.startswith(".")]
    if pid and configs:
        os.kill(pid, 1)  # SIGHUP: it reads the networks' files again
        _aardvark_wait_listening(d, configs)
        return
    if pid:
        _aardvark_stop(pid)
        return
    if not configs:
        return
    devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    try:
        # It daemonizes: the process we start exits once the server is listening.
        child = os.posix_spawn(_aardvark(), ["aardvark-dns", "--config", d, "-p", "53", "run"],
                               dict(os.environ),
                               file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0),
                                             (os.POSIX_SPAWN_DUP2, devnull, 1),
                                             (os.POSIX_SPAWN_DUP2, devnull, 2)])
    finally:
        os.close(devnull)
    _, status = os.waitpid(child, 0)
    if status != 0:
        raise InvalidArgument(f"aardvark-dns did not start (status {status}): name resolution "
                              f"on user networks is not available")


def _udp_listening() -> set:
    """The host's bound UDP local addresses, as /proc/net/udp writes them (hex, host order)."""
    with open("/proc/net/udp") as f:
        next(f)
        return {line.split(None, 2)[1] for line in f}


def _aardvark_wait_listening(d: str, configs: list) -> None:
    """After a SIGHUP aardvark-dns binds a new network's gateway:53 in its own time: the
    signal returns at once, and a container started right after asked a socket nobody had
    bound yet ("connection refused"). Waits, bounded (2 s), until every network's gateway
    has its UDP socket."""
    import socket
    import time

    want = set()
    for name in configs:
        try:
            with open(os.path.join(d, name)) as f:
                gw = f.readline().split()[0].split(",")[0]
            packed = socket.inet_aton(gw)
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile, or an IPv6-only gateway: nothing to wait for
        want.add("%08X:0035" % int.from_bytes(packed, sys.byteorder))
    for _ in range(200):
        if want <= _udp_listening():
            return
        time.sleep(0.01)


def dns_forget(store, net: dict) -> None:
    """The network goes: its aardvark file too (and aardvark-dns with the last one)."""
    d = _dns_dir(store)
    try:
        os.unlink(os.path.join(d, net["Name"]))
    except FileNotFoundError:
        return
    _aardvark_reload(d)


def endpoints_config(cfg: dict) -> dict:
    """{network name: {"NetworkID", "IPAMConfig", "Aliases"}}: the networks a container joins
    at its start, its first network first. `network connect/disconnect` record the whole list
    in NetworkingConfig.EndpointsConfig (docker's create API field); before that, the list is
    the one network of HostConfig.NetworkMode with --ip and --network-alias."""
    nc = cfg.get("NetworkingConfig") or {}
    if "EndpointsConfig" in nc:
        return dict(nc["EndpointsConfig"] or {})
    mode = cfg["HostConfig"].get("NetworkMode") or "bridge"
    if mode in ("none", "host") or mode.startswith("container:"):
        return {}
    want = (nc.get("IPAMConfig") or {}).get("IPv4Address")
    return {DEFAULT_NAME if mode == "default" else mode: {
        "NetworkID": "", "IPAMConfig": {"IPv4Address": want} if want else None,
        "Aliases": list(nc.get("Aliases") or ())}}


def host_if(cid: str, nid: str, first: bool) -> str:
    """The host end of a container's veth on a network (IFNAMSIZ: 15 characters at most)."""
    return "lbv" + cid[:12] if first else "lbv" + cid[:6] + nid[:6]


def endpoint(store, net: dict, cfg: dict, cid: str, *, want: str | None = None,
             aliases=(), first: bool = True, ports=(), ifname: str = "") -> tuple[dict, dict]:
    """A container's endpoint on `net`: the monitor's part and the NetworkSettings.Networks
    entry. Claims the address (released by the caller if what follows fails); on a user
    network the resolver learns the container's names."""
    nets = Networks(store)
    ipam = net["IPAM"]["Config"][0]
    if want and net["Name"] == DEFAULT_NAME:
        raise InvalidArgument("user specified IP address is supported on user defined networks only")
    if aliases and net["Name"] == DEFAULT_NAME:
        raise InvalidArgument("network-scoped alias is supported only for containers in user "
                              "defined networks")
    ip = nets.allocate(net, cid, want)
    try:
        prefix = int(ipam["Subnet"].split("/")[1])
        mac = cfg["Config"].get("MacAddress") if first else ""
        mac = mac or _mac(_ip2int(ip))
        monitor = {
            "name": net["Name"], "bridge": bridge_name(net), "subnet": ipam["Subnet"],
            "gateway": ipam["Gateway"], "address": f"{ip}/{prefix}", "mac": mac,
            "host_if": host_if(cid, net["Id"], first), "default_route": first,
            "masquerade": not net.get("Internal"), "ports": list(ports),
            # the monitor gives the address up when the container ends (no restart follows)
            "claim": {"path": os.path.join(nets._dir(net["Id"]), "ips", ip), "id": claim_target(cid)},
        }
        if ifname:
            monitor["ifname"] = ifname
        names = [] if net["Name"] == DEFAULT_NAME else list(aliases) + [cid[:12]]
        entry = {"IPAMConfig": {"IPv4Address": want} if want else None, "Links": None,
                 "Aliases": names or None, "NetworkID": net["Id"],
                 "EndpointID": cid[:32] + net["Id"][:32], "Gateway": ipam["Gateway"],
                 "IPAddress": ip, "IPPrefixLen": prefix, "IPv6Gateway": "",
                 "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": mac,
                 "DriverOpts": None}
        if net["Name"] != DEFAULT_NAME:
            # Name resolution: the bridge must exist for aardvark-dns to listen on the gateway
            # before the container can ask (the monitor would make it a moment later).
            from layerbox import _net

            _net.ensure_bridge(bridge_name(net), ipam["Subnet"], f"{ipam['Gateway']}/{prefix}",
                               not net.get("Internal"))
            dns_names = _dns_names(cfg, cid, net["Name"], names)
            _dns_update(store, net, cid, ip, dns_names)
            monitor["dns"] = {"dir": _dns_dir(store), "file": net["Name"], "id": cid,
                              "record": _dns_record(cid, ip, dns_names)}
    except BaseException:
        nets.release(net["Id"], ip, cid)
        raise
    return monitor, entry


def settings_doc(networks: dict, ports: dict, bridge: str = "") -> dict:
    """docker's NetworkSettings from the entries of the networks: the top-level fields are
    those of the default bridge's endpoint, as docker fills them."""
    doc = {
        "Bridge": "", "SandboxID": "", "HairpinMode": False, "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0, "Ports": ports, "SandboxKey": "",
        "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None, "EndpointID": "",
        "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": "",
        "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "", "Networks": networks,
    }
    d = networks.get(DEFAULT_NAME)
    if d:
        doc.update(Bridge=bridge or DEFAULT_BRIDGE, Gateway=d["Gateway"], IPAddress=d["IPAddress"],
                   IPPrefixLen=d["IPPrefixLen"], MacAddress=d["MacAddress"],
                   EndpointID=d["EndpointID"])
    return doc


def attach(store, cfg: dict, cid: str) -> tuple[dict, dict, list]:
    """For a container start on bridge networks: the monitor's network config, the
    NetworkSettings to record, and the container's addresses. Claims the addresses."""
    nets = Networks(store)
    ports = cfg.get("_ports") or []
    endpoints, entries, ips = [], {}, []
    try:
        for i, (name, epc) in enumerate(endpoints_config(cfg).items()):
            net = nets.default() if name in (DEFAULT_NAME, "default") else nets.get(
                epc.get("NetworkID") or name)
            want = (epc.get("IPAMConfig") or {}).get("IPv4Address")
            mon, entry = endpoint(store, net, cfg, cid, want=want, aliases=epc.get("Aliases") or (),
                                  first=i == 0, ports=ports if i == 0 else (), ifname=f"eth{i}")
            endpoints.append(mon)
            entries[net["Name"]] = entry
            ips.append(entry["IPAddress"])
    except BaseException:
        for e in entries.values():
            nets.release(e["NetworkID"], e["IPAddress"], cid)
        raise
    return {"endpoints": endpoints}, settings_doc(entries, port_map(cfg, ports)), ips


def resolvers(settings: dict) -> list:
    """The name servers of a container's user networks (aardvark-dns on their gateways)."""
    return [n["Gateway"] for k, n in (settings.get("Networks") or {}).items()
            if k != DEFAULT_NAME and n.get("Gateway")][:3]


def port_map(cfg: dict, ports: list) -> dict:
    """docker's NetworkSettings.Ports: every exposed port, with its host bindings or None."""
    out: dict = {}
    for p in (cfg["Config"].get("ExposedPorts") or {}):
        out[p if "/" in p else p + "/tcp"] = None
    for p in ports:
        key = f"{p['port']}/{p['proto']}"
        out.setdefault(key, None)
        out[key] = (out[key] or []) + [{"HostIp": p.get("host_ip") or "0.0.0.0",
                                        "HostPort": str(p["host_port"])}]
    return out


def release(store, cid: str, settings: dict) -> None:
    nets = Networks(store)
    for n in (settings.get("Networks") or {}).values():
        if n.get("NetworkID") and n.get("IPAddress"):
            nets.release(n["NetworkID"], n["IPAddress"], cid)


def cleanup_after_crash(store, cid: str, state: dict) -> None:
    """What a container's monitor would have removed at its end: the veths, the published
    ports' nftables elements, the address claims."""
    settings = state.get("NetworkSettings") or {}
    if not settings:
        return
    from layerbox import _net

    names = {host_if(cid, "", True)}
    names.update(host_if(cid, n.get("NetworkID") or "", False)
                 for n in (settings.get("Networks") or {}).values() if n.get("NetworkID"))
    for name in names:
        try:
            _net.delete_link(name)
        except OSError:
            pass
    ports = state.get("NetworkPorts") or []
    ip = next((n.get("IPAddress") for n in (settings.get("Networks") or {}).values()), "")
    if ports and ip:
        try:
            _net.remove_ports(ports, ip)
        except OSError:
            pass
    for name, n in (settings.get("Networks") or {}).items():
        if name != DEFAULT_NAME:
            dns_drop(store, name, cid)
    release(store, cid, settings)
