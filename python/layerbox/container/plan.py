"""A container's launch plan: Python decides what (layers, mounts, env, user, limits); the C++
core and the monitor carry it out (see csrc/core/plan.hpp for the schema)."""

from __future__ import annotations

import os

from layerbox.container import security as _security
from layerbox.container import config as _config
from layerbox.container.security import CAP_MKNOD, DEFAULT_CAPS, DEVICE_RULES  # noqa: F401

# What every container gets, in order (targets resolved inside the root by the core). The
# masked and read-only paths are docker's: nothing in /proc or /sys that could reach the host.
_DEV_NODES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
              ("urandom", 1, 9), ("tty", 5, 0))
BASE_MOUNTS = [
    {"kind": "fs", "fstype": "proc", "target": "/proc", "nosuid": True, "noexec": True,
     "nodev": True},
    {"kind": "fs", "fstype": "tmpfs", "target": "/dev", "nosuid": True,
     "data": [["mode", "755"], ["size", "65536k"]]},
    *({"kind": "mknod", "target": f"/dev/{n}", "mode": 0o666, "major": a, "minor": b}
      for n, a, b in _DEV_NODES),
    {"kind": "fs", "fstype": "devpts", "target": "/dev/pts", "nosuid": True, "noexec": True,
     "data": [["newinstance", ""], ["ptmxmode", "0666"], ["mode", "0620"], ["gid", "5"]]},
    {"kind": "symlink", "target": "/dev/ptmx", "source": "pts/ptmx"},
    {"kind": "fs", "fstype": "tmpfs", "target": "/dev/shm", "nosuid": True, "nodev": True,
     "noexec": True, "data": [["mode", "1777"], ["size", "65536k"]]},
    {"kind": "fs", "fstype": "mqueue", "target": "/dev/mqueue", "nosuid": True, "nodev": True,
     "noexec": True},
    {"kind": "symlink", "target": "/dev/fd", "source": "/proc/self/fd"},
    {"kind": "symlink", "target": "/dev/stdin", "source": "/proc/self/fd/0"},
    {"kind": "symlink", "target": "/dev/stdout", "source": "/proc/self/fd/1"},
    {"kind": "symlink", "target": "/dev/stderr", "source": "/proc/self/fd/2"},
    {"kind": "symlink", "target": "/dev/core", "source": "/proc/kcore"},
    {"kind": "fs", "fstype": "sysfs", "target": "/sys", "ro": True, "nosuid": True,
     "noexec": True, "nodev": True},
]
MASKS = [
    *({"kind": "mask-dir", "target": p, "optional": True}
      for p in ("/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/firmware",
                "/sys/devices/virtual/powercap")),
    *({"kind": "mask-file", "target": p, "optional": True}
      for p in ("/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug")),
    *({"kind": "readonly", "target": p, "optional": True}
      for p in ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")),
]
# Overlay options we insist on where the kernel knows them: without redirect_dir and metacopy,
# the upper dir holds whole files and whole directories, so a tar of it is the container's diff.
OVERLAY_OPTIONS = [["redirect_dir", "off"], ["index", "off"], ["metacopy", "off"]]


class CgroupLayout:
    """Where container cgroups go: v1 (one hierarchy per controller under /sys/fs/cgroup/<ctl>)
    or v2 (one unified tree). ``base`` is normally /sys/fs/cgroup; tests/unit/test_plan.py
    points it at a temporary directory."""

    _cached: dict = {}

    def __init__(self, base: str = "/sys/fs/cgroup", parent: str = "layerbox"):
        self.base = base
        self.parent = parent
        self.version = 2 if os.path.exists(os.path.join(base, "cgroup.controllers")) else 1

    @classmethod
    def default(cls) -> "CgroupLayout":
        key = os.environ.get("LAYERBOX_CGROUP_PARENT", "layerbox")
        if key not in cls._cached:
            cls._cached[key] = cls(parent=key)
        return cls._cached[key]

    def plan(self, cid: str, host: dict, device_rules=()) -> dict:
        """The cgroup part of a plan: directories and the limit files with their values.
        `device_rules` are the container's own on top of docker's ("a *:* rwm": every device)."""
        settings = []
        memory, memswap = host.get("Memory") or 0, host.get("MemorySwap") or 0
        nano, shares = host.get("NanoCpus") or 0, host.get("CpuShares") or 0
        cpuset, pids = host.get("CpusetCpus") or "", host.get("PidsLimit")
        if self.version == 1:
            ctls = ["freezer", "pids", "memory", "devices"]
            if nano or shares:
                ctls += ["cpu"]
            if cpuset:
                ctls += ["cpuset"]
            dirs = {c: f"{self.base}/{c}/{self.parent}/{cid}" for c in ctls}
            if device_rules:
                # A v1 child never gets more than its parent, and ours holds docker's rules:
                # a container with devices of its own (or all, --privileged) lives under an
                # unrestricted sibling parent and writes its rules itself.
                dirs["devices"] = self._custom_devices_dir(cid)
                if "a *:* rwm" not in device_rules:
                    settings.append(["devices", "devices.deny", "a"])
                    settings += [["devices", "devices.allow", r]
                                 for r in (*DEVICE_RULES, *device_rules)]
            elif not self._devices_parent_ready():
                settings.append(["devices", "devices.deny", "a"])
                settings += [["devices", "devices.allow", r] for r in DEVICE_RULES]
            if memory:
                settings.append(["memory", "memory.limit_in_bytes", str(memory)])
                if memswap:
                    settings.append(["memory", "memory.memsw.limit_in_bytes", str(memswap)])
            if pids:
                settings.append(["pids", "pids.max", "max" if pids < 0 else str(pids)])
            if nano:
                settings.append(["cpu", "cpu.cfs_period_us", "100000"])
                settings.append(["cpu", "cpu.cfs_quota_us", str(nano * 100000 // 10**9)])
            if shares:
                settings.append(["cpu", "cpu.shares", str(shares)])
            if cpuset:
                settings.append(["cpuset", "cpuset.cpus", cpuset])
        else:
            self._enable_v2_controllers()
            dirs = {"unified": f"{self.base}/{self.parent}/{cid}"}
            if memory:
                settings.append(["unified", "memory.max", str(memory)])
                if memswap:
                    settings.append(["unified", "memory.swap.max",
                                     "max" if memswap < 0 else str(memswap - memory)])
            if pids:
                settings.append(["unified", "pids.max", "max" if pids < 0 else str(pids)])
            if nano:
                settings.append(["unified", "cpu.max", f"{nano * 100000 // 10**9} 100000"])
            if shares:
                settings.append(["unified", "cpu.weight", str(1 + ((shares - 2) * 9999) // 262142)])
            if cpuset:
                settings.append(["unified", "cpuset.cpus", cpuset])
            if "a *:* rwm" not in device_rules:
                # No devices.allow in v2: the core attaches an eBPF program with the rules.
                return {"version": 2, "dirs": dirs, "settings": settings,
                        "devices": [*DEVICE_RULES, *device_rules]}
        return {"version": self.version, "dirs": dirs, "settings": settings}

    def _devices_parent_ready(self) -> bool:
        """A v1 devices cgroup starts with its parent's rules: when the parent carries docker's
        device rules, a container's cgroup needs no writes of its own (12 fewer per start)."""
        if getattr(self, "_devices_ok", False):
            return True
        parent = f"{self.base}/devices/{self.parent}"
        try:
            os.mkdir(parent, 0o755)
            created = True
        except FileExistsError:
            created = False
        except OSError:
            return False  # cannot prepare the parent: each container's cgroup gets the rules itself
        try:
            if created:
                with open(f"{parent}/devices.deny", "w") as f:
                    f.write("a")
                for rule in DEVICE_RULES:
                    with open(f"{parent}/devices.allow", "w") as f:
                        f.write(rule)
            with open(f"{parent}/devices.list") as f:
                listed = f.read().split("\n")
        except OSError:
            return False  # cannot prepare the parent: each container's cgroup gets the rules itself
        self._devices_ok = "a *:* rwm" not in listed
        return self._devices_ok

    def _enable_v2_controllers(self) -> None:
        parent = os.path.join(self.base, self.parent)
        if os.path.isdir(parent):
            return
        os.makedirs(parent, exist_ok=True)
        for d in (self.base, parent):
            try:
                with open(os.path.join(d, "cgroup.subtree_control"), "w") as f:
                    f.write("+memory +pids +cpu +cpuset")
            except OSError:
                pass  # a controller the kernel lacks: its limits fail, by name, when asked for

    def _custom_devices_dir(self, cid: str) -> str:
        return f"{self.base}/devices/{self.parent}-devices/{cid}"

    def cgroup_for(self, cid: str) -> dict:
        """Spec without settings: enough to freeze, signal, list or remove an existing one."""
        if self.version == 1:
            ctls = ("freezer", "pids", "memory", "devices", "cpu", "cpuset")
            dirs = {c: f"{self.base}/{c}/{self.parent}/{cid}" for c in ctls}
            dirs["devices-custom"] = self._custom_devices_dir(cid)  # one of the two exists
            return {"version": 1, "dirs": dirs}
        return {"version": 2, "dirs": {"unified": f"{self.base}/{self.parent}/{cid}"}}


HOSTS_NONE = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)
_host_files: dict = {}


def _host_file(path: str, default: str) -> str:
    """The host's /etc/hosts or /etc/resolv.conf, re-read only when it changed."""
    try:
        st = os.stat(path)
    except OSError:
        return default  # no such file on the host: the container gets the default
    key = (st.st_mtime_ns, st.st_size, st.st_ino)
    hit = _host_files.get(path)
    if hit and hit[0] == key:
        return hit[1]
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return default  # no such file on the host: the container gets the default
    _host_files[path] = (key, text)
    return text


def etc_files(config: dict) -> list:
    """/etc/hostname, /etc/hosts and /etc/resolv.conf as the container sees them. The core
    writes them into the container's own /dev tmpfs and binds them into place, so they live
    and die with the container (docker regenerates them at each start too)."""
    host_net = config["HostConfig"].get("NetworkMode") == "host"
    hosts = _host_file("/etc/hosts", HOSTS_NONE) if host_net else HOSTS_NONE
    return [
        {"kind": "file", "target": "/etc/hostname", "source": config["Config"]["Hostname"] + "\n"},
        {"kind": "file", "target": "/etc/hosts", "source": hosts},
        {"kind": "file", "target": "/etc/resolv.conf", "source": _host_file("/etc/resolv.conf", "")},
    ]


def container_caps(layout: CgroupLayout, host: dict | None = None) -> int:
    """The container's capabilities: docker's, changed by --cap-add/--cap-drop/--privileged.
    Device access is enforced by the devices cgroup on v1 and by an eBPF program on v2, so
    CAP_MKNOD is safe to give on both, as docker does."""
    return _security.capabilities(host or {}, DEFAULT_CAPS)


def process_security(layout: CgroupLayout, host: dict, seccomp_cache: str) -> dict:
    """The process's caps, no_new_privs and seccomp program: one source for run and exec."""
    caps = container_caps(layout, host)
    out = {"caps": caps, "no_new_privs": _security.security_options(host)["no_new_privs"]}
    seccomp = _security.seccomp_spec(host, caps, seccomp_cache)
    if seccomp:
        out["seccomp"] = seccomp
    return out


def mount_ops(cdir: str, config: dict, volume_source, device_ops=()) -> list:
    host = config["HostConfig"]
    ops = list(BASE_MOUNTS)
    if host.get("Privileged"):  # docker: /sys read-write, nothing masked or read-only
        ops = [dict(op, ro=False) if op.get("fstype") == "sysfs" else op for op in ops]
    ops.extend(device_ops)
    ops.extend(etc_files(config))
    for m in config.get("Mounts") or ():
        src = volume_source(m)
        ops.append({"kind": "bind", "target": m["Destination"], "source": src,
                    "recursive": True, "ro": not m.get("RW", True)})
    ops.extend(_security.tmpfs_mounts(host))
    if not host.get("Privileged"):
        ops.extend(MASKS)
    return ops


def process_env(config: dict, home: str, tty: bool, overrides=()) -> list:
    """The environment of a process in the container, for its init (run) and for exec alike:
    docker's default PATH when the config has none, HOSTNAME, the config's Env and
    ``overrides`` ("K=V" entries, exec -e) on top, then HOME (the user's) and, with a tty,
    TERM=xterm, unless already set."""
    c = config["Config"]
    base = list(c.get("Env") or [])
    keys = {e.split("=", 1)[0] for e in base}
    head = [] if "PATH" in keys else [_config.DEFAULT_PATH]
    head.append("HOSTNAME=" + c["Hostname"])
    # docker's ReplaceOrAppendEnvValues: one entry per name, the later value winning
    env = _config.merge_env(head + base, list(overrides))
    keys = {e.split("=", 1)[0] for e in env}
    if "HOME" not in keys:
        env.append(f"HOME={home}")
    if tty and "TERM" not in keys:
        env.append("TERM=xterm")
    return env


def namespaces(config: dict) -> list:
    """The namespaces a container's processes live in (exec joins the same ones)."""
    ns = ["mount", "pid", "uts", "ipc", "cgroup"]
    if config["HostConfig"].get("NetworkMode") != "host":
        ns.append("net")
    return ns


def build(cid: str, cdir: str, config: dict, lower_dirs: list, user, *, volume_source,
          tty_size=(0, 0), cgroups: CgroupLayout | None = None, seccomp_cache: str = "") -> dict:
    """The plan for starting container `cid` (config.json contents in `config`)."""
    c = config["Config"]
    host = config["HostConfig"]
    env = process_env(config, user.home, bool(c.get("Tty")))
    layout = cgroups or CgroupLayout.default()
    device_ops, device_rules = _security.device_nodes(host)
    cg = layout.plan(cid, host, device_rules)
    return {
        "id": cid,
        "rootfs": {
            "lower": lower_dirs,
            "upper": f"{cdir}/upper",
            "work": f"{cdir}/work",
            "target": f"{cdir}/merged",
            "options": OVERLAY_OPTIONS,
            "readonly": bool(host.get("ReadonlyRootfs")),
            "legacy_mount": os.environ.get("LAYERBOX_LEGACY_MOUNT") == "1",
        },
        "mounts": mount_ops(cdir, config, volume_source, device_ops),
        "namespaces": namespaces(config),
        "hostname": c["Hostname"],
        "init": bool(host.get("Init")),
        "process": {
            "args": [config["Path"], *config["Args"]],
            "env": env,
            "cwd": c.get("WorkingDir") or "/",
            "uid": user.uid,
            "gid": user.gid,
            "groups": [user.gid] + [g for g in user.groups if g != user.gid],
            **process_security(layout, host, seccomp_cache),
            "tty": bool(c.get("Tty")),
            "rows": tty_size[0],
            "cols": tty_size[1],
        },
        "cgroup": cg,
    }
