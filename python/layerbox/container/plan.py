"""A container's launch plan: Python decides what (layers, mounts, env, user, limits); the C++
core and the monitor carry it out (see csrc/core/plan.hpp for the schema)."""

from __future__ import annotations

import os

from layerbox.container import hostopts as _hostopts
from layerbox.container import security as _security
from layerbox.container.cgroups import CgroupLayout
from layerbox.container.process import namespaces, process_env
from layerbox.container.security import DEFAULT_CAPS

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
# For a root whose upper dir is thrown away or committed right after the container ends (an
# --rm container, a build step's): no sync of the whole upper file system when the overlay is
# unmounted (overlayfs' "volatile", Linux 5.10; the layer a build step makes from it is made
# durable by the step's own syncfs before it is published). The mount leaves
# work/work/incompat/volatile behind, which the core removes before such a root is mounted
# again and which goes with the container's directory.
VOLATILE_OPTIONS = OVERLAY_OPTIONS + [["volatile", ""]]


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
    writes them into the container's own /dev tmpfs (under /dev/pts, before devpts hides
    them: mount_ops puts them right after /dev) and binds them into place, so they live and
    die with the container (docker regenerates them at each start too). Read-only with
    --read-only, as docker's; none where the user binds a file of their own."""
    host = config["HostConfig"]
    host_net = host.get("NetworkMode") == "host"
    hosts = _host_file("/etc/hosts", HOSTS_NONE) if host_net else HOSTS_NONE
    ro = bool(host.get("ReadonlyRootfs"))
    taken = {m["Destination"] for m in config.get("Mounts") or ()}
    files = [
        {"kind": "file", "target": "/etc/hostname", "source": config["Config"]["Hostname"] + "\n", "ro": ro},
        {"kind": "file", "target": "/etc/hosts", "source": hosts, "ro": ro},
        {"kind": "file", "target": "/etc/resolv.conf", "source": _host_file("/etc/resolv.conf", ""), "ro": ro},
    ]
    return [f for f in files if f["target"] not in taken]


def cgroup_mounts(cg: dict, privileged: bool) -> list:
    """The container's own cgroup at /sys/fs/cgroup, read-only (as docker's): the init runs in a
    cgroup namespace rooted at its cgroup, so a cgroup2 mount shows that cgroup as the root; on
    v1 each hierarchy the container is in is its cgroup's directory bound on a tmpfs, as runc
    binds them. So a process reads its own limits (memory.max, memory.limit_in_bytes,
    cpu.max, cpu.cfs_quota_us) where JVMs, Go and Node look for them."""
    ro = not privileged
    flags = {"nosuid": True, "nodev": True, "noexec": True}
    if cg.get("version") == 2:
        return [{"kind": "fs", "fstype": "cgroup2", "source": "cgroup", "target": "/sys/fs/cgroup",
                 "ro": ro, **flags}]
    if cg.get("version") != 1:
        return []
    ops = [{"kind": "fs", "fstype": "tmpfs", "source": "tmpfs", "target": "/sys/fs/cgroup",
            "data": [["mode", "755"]], **flags}]
    for ctl, d in sorted((cg.get("dirs") or {}).items()):
        ops.append({"kind": "bind", "target": f"/sys/fs/cgroup/{ctl}", "source": d,
                    "recursive": False, "ro": ro, **flags})
    if ro:
        ops.append({"kind": "readonly", "target": "/sys/fs/cgroup", "in_place": True})
    return ops


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


def mount_ops(cdir: str, config: dict, volume_source, device_ops=(), *, shm_source="", cgroup=None,
              first_start: bool = False) -> list:
    from layerbox.container import mounts as _mounts

    host = config["HostConfig"]
    ops = list(BASE_MOUNTS)
    if shm_source or host.get("ShmSize"):
        ops = [_hostopts.shm_mount(op, host, shm_source) if op["target"] == "/dev/shm" else op
               for op in ops]
    if host.get("Privileged"):  # docker: /sys read-write, nothing masked or read-only
        ops = [dict(op, ro=False) if op.get("fstype") == "sysfs" else op for op in ops]
    if cgroup:
        ops.extend(cgroup_mounts(cgroup, bool(host.get("Privileged"))))
    ops.extend(device_ops)
    at = next(i for i, op in enumerate(ops) if op["target"] == "/dev") + 1
    ops[at:at] = etc_files(config)
    ops.extend(_mounts.plan_ops(config.get("Mounts") or (), volume_source, first_start,
                                lambda path, opts: _security.tmpfs_mounts({"Tmpfs": {path: opts}})))
    ops.extend(_security.tmpfs_mounts(host))
    if not host.get("Privileged"):
        ops.extend(MASKS)
    return ops


def build(cid: str, cdir: str, config: dict, lower_dirs: list, user, *, volume_source,
          tty_size=(0, 0), cgroups: CgroupLayout | None = None, seccomp_cache: str = "",
          first_start: bool = False, namespace_of=None, volatile: bool = False) -> dict:
    """The plan for starting container `cid` (config.json contents in `config`). `volatile`:
    the root's upper dir does not outlive the container (see VOLATILE_OPTIONS); an --rm
    container's is always."""
    c = config["Config"]
    host = config["HostConfig"]
    env = process_env(config, user.home, bool(c.get("Tty")))
    layout = cgroups or CgroupLayout.default()
    device_ops, device_rules = _security.device_nodes(host)
    cg = layout.plan(cid, host, device_rules)
    extra = _hostopts.plan_part(config, namespace_of) if namespace_of else {}
    shared = _hostopts.namespaces_shared(host)
    shm_source = _hostopts.shm_source(host, extra)
    return {
        **extra,
        "id": cid,
        "rootfs": {
            "lower": lower_dirs,
            "upper": f"{cdir}/upper",
            "work": f"{cdir}/work",
            "target": f"{cdir}/merged",
            "options": VOLATILE_OPTIONS if volatile or host.get("AutoRemove") else OVERLAY_OPTIONS,
            "readonly": bool(host.get("ReadonlyRootfs")),
            "legacy_mount": os.environ.get("LAYERBOX_LEGACY_MOUNT") == "1",
        },
        "mounts": mount_ops(cdir, config, volume_source, device_ops, shm_source=shm_source, cgroup=cg,
                            first_start=first_start),
        # the namespaces made for it; exec joins all of its init's (process.exec_base)
        "namespaces": [n for n in namespaces(config) if n not in shared],
        "exec_namespaces": namespaces(config),
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
