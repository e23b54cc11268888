"""What a container may do: capabilities, seccomp, no_new_privs, devices and tmpfs mounts, as
docker's options ask (--privileged, --cap-add/--cap-drop, --security-opt, --device, --tmpfs).

Python decides; the core carries it out. Options are checked and normalized when a container
is created (what `inspect` shows under HostConfig, as docker stores it), and turned into the
launch plan at each start (which depends on this host: its capability bounding set, its
devices, its kernel).

Seccomp: Docker's default profile ships as package data (seccomp_default.json, moby's
profiles/seccomp/default.json). It is resolved here for this machine's architecture, kernel and
the container's capabilities (moby's setupSeccomp), then compiled to BPF by libseccomp in the
core, once: the program is cached in the store (``seccomp/``; the default profile's by what its
resolution depends on, a custom one by the sha256 of its resolved text), the plan names the
file, and the container's process installs its bytes.
"""

from __future__ import annotations

import os

from layerbox.errors import InvalidArgument

# Capability numbers (linux/capability.h), by name without the CAP_ prefix.
CAP_NAMES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)
CAP_NUMBER = {"CAP_" + n: i for i, n in enumerate(CAP_NAMES)}
# Docker's 14 default capabilities (CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID
# SETFCAP SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE).
DEFAULT_CAPS = 0xA80425FB
CAP_MKNOD = 27

# Device access as docker allows it by default (devices cgroup rules): nothing, then these.
DEVICE_RULES = ("c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
                "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm",
                "c 10:200 rwm")

_SECCOMP_ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                    "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW",
                    "SCMP_ACT_LOG")
_SECCOMP_OPS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
                "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ")
_SECCOMP_FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2,
                  "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32}
# uname -m -> (libseccomp's name, Go's GOARCH as the profile's includes/excludes spell it)
_ARCHES = {"x86_64": ("SCMP_ARCH_X86_64", "amd64"), "aarch64": ("SCMP_ARCH_AARCH64", "arm64"),
           "s390x": ("SCMP_ARCH_S390X", "s390x"), "riscv64": ("SCMP_ARCH_RISCV64", "riscv64"),
           "ppc64le": ("SCMP_ARCH_PPC64LE", "ppc64le"), "i686": ("SCMP_ARCH_X86", "386"),
           "armv7l": ("SCMP_ARCH_ARM", "arm")}
_DEFAULT_PROFILE = os.path.join(os.path.dirname(__file__), "seccomp_default.json")


def _json():
    from layerbox import _jsonfast

    return _jsonfast


# -- create time: docker's options, checked and normalized -----------------------------------

def _normalize_cap(name, which: str) -> str:
    c = str(name).strip().upper()
    if c == "ALL":
        return c
    if not c.startswith("CAP_"):
        c = "CAP_" + c
    if c not in CAP_NUMBER:
        raise InvalidArgument(f'invalid {which}: unknown capability: "{c}"')
    return c


def effective_cap_add_drop(add, drop) -> tuple[list, list]:
    """docker's EffectiveCapAddCapDrop: names upper-cased with CAP_, checked, ALL trumping
    the rest of its list, a capability both added and dropped only added; sorted."""
    adds = {_normalize_cap(c, "CapAdd") for c in add or ()}
    drops = {_normalize_cap(c, "CapDrop") for c in drop or ()}
    if "ALL" in adds:
        adds = {"ALL"}
    if "ALL" in drops:
        drops = {"ALL"}
    drops -= adds
    return sorted(adds), sorted(drops)


def parse_security_opts(opts) -> list:
    """--security-opt values as docker's CLI keeps them: a seccomp profile file is read now and
    stored as its (compact) JSON text, so the container does not depend on the file later."""
    out = []
    for opt in opts or ():
        opt = str(opt)
        k, sep, v = opt.partition("=")
        if not sep and k != "no-new-privileges":
            k, sep, v = opt.partition(":")
        if (not sep or not v) and k != "no-new-privileges":
            raise InvalidArgument(f'Invalid --security-opt: "{opt}"')
        if k == "seccomp" and v not in ("builtin", "unconfined"):
            if v.lstrip().startswith("{"):  # already a profile's text (the API, a re-create)
                text = v
            else:
                try:
                    with open(v, "rb") as f:
                        text = f.read().decode()
                except (OSError, UnicodeDecodeError) as e:
                    why = e.strerror.lower() if isinstance(e, OSError) and e.strerror else str(e)
                    raise InvalidArgument(f"opening seccomp profile ({v}) failed: {why}") from None
            profile = load_profile(text, v)
            opt = "seccomp=" + _json().dumps(profile)
        elif k == "no-new-privileges" and sep:
            if _parse_bool(v) is None:
                raise InvalidArgument(f'invalid --security-opt 2: "{opt}"')
        elif k in ("label", "apparmor"):
            _check_lsm(k, v)
        elif k not in ("seccomp", "no-new-privileges"):
            raise InvalidArgument(f'invalid --security-opt 2: "{opt}"')
        out.append(opt)
    return out


def _parse_bool(v: str):
    v = v.strip().lower()
    if v in ("1", "t", "true"):
        return True
    if v in ("0", "f", "false"):
        return False
    return None


def host_lsm() -> str:
    """The Linux security module that could apply label=/apparmor= options here, or ''."""
    if os.path.isdir("/sys/fs/selinux") and os.path.exists("/sys/fs/selinux/enforce"):
        return "selinux"
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            if f.read().strip() == "Y":
                return "apparmor"
    except OSError:
        pass
    return ""


def _check_lsm(kind: str, value: str) -> None:
    lsm = host_lsm()
    if lsm:
        # Accepting and ignoring is what we never do: this host would apply it under docker.
        raise InvalidArgument(f"--security-opt {kind}={value}: this host runs {lsm}, and "
                              f"layerbox cannot apply {kind} options")


def lsm_notice(security_opt) -> str:
    """The one-line note the CLI prints when label=/apparmor= options are accepted because
    this host has no security module to apply them; '' when there is nothing to say."""
    kinds = sorted({o.partition("=")[0].partition(":")[0] for o in security_opt or ()}
                   & {"label", "apparmor"})
    if not kinds or host_lsm():
        return ""
    return (f"WARNING: this host has no SELinux or AppArmor: --security-opt "
            f"{' and '.join(k + '=' for k in kinds)} accepted with nothing to apply")


def load_profile(text: str, where: str = "") -> dict:
    """A seccomp profile in Docker's JSON format, checked: a bad one is a clear error."""
    import json

    src = f" ({where})" if where and not where.lstrip().startswith("{") else ""
    try:
        p = json.loads(text)
    except ValueError as e:
        raise InvalidArgument(f"decoding seccomp profile{src} failed: {e}") from None

    def bad(why: str):
        return InvalidArgument(f"invalid seccomp profile{src}: {why}")

    if not isinstance(p, dict):
        raise bad("not a JSON object")
    if p.get("defaultAction", "") not in ("", *_SECCOMP_ACTIONS):
        raise bad(f"unknown defaultAction {p['defaultAction']!r}")
    if p.get("architectures") and p.get("archMap"):
        raise bad("both 'architectures' and 'archMap' are specified, use either 'architectures' "
                  "or 'archMap'")
    if p.get("listenerPath"):
        raise bad("listenerPath (SCMP_ACT_NOTIFY) is not supported")
    for f in p.get("flags") or ():
        if f not in _SECCOMP_FLAGS:
            raise bad(f"unknown flag {f!r}")
    arches = list(p.get("architectures") or ())
    for a in p.get("archMap") or ():
        if not isinstance(a, dict) or not isinstance(a.get("architecture"), str):
            raise bad("archMap entries need an 'architecture'")
        arches += [a["architecture"], *(a.get("subArchitectures") or ())]
    for a in arches:
        if not isinstance(a, str) or not a.startswith("SCMP_ARCH_"):
            raise bad(f"unknown architecture {a!r}")
    calls = p.get("syscalls") or []
    if not isinstance(calls, list):
        raise bad("'syscalls' must be a list")
    for i, s in enumerate(calls):
        if not isinstance(s, dict):
            raise bad(f"syscalls[{i}] is not an object")
        if s.get("name") and s.get("names"):
            raise bad(f"syscalls[{i}]: both 'name' and 'names' are specified, use either "
                      "'name' or 'names'")
        names = [s["name"]] if s.get("name") else s.get("names")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise bad(f"syscalls[{i}]: 'names' must be a list of syscall names")
        if s.get("action") not in _SECCOMP_ACTIONS:
            raise bad(f"syscalls[{i}]: unknown action {s.get('action')!r}")
        if "errnoRet" in s and (not isinstance(s["errnoRet"], int) or s["errnoRet"] < 0):
            raise bad(f"syscalls[{i}]: errnoRet must be a number")
        for a in s.get("args") or ():
            if (not isinstance(a, dict) or not isinstance(a.get("index"), int)
                    or not 0 <= a["index"] <= 5):
                raise bad(f"syscalls[{i}]: an argument needs an index from 0 to 5")
            if a.get("op") not in _SECCOMP_OPS:
                raise bad(f"syscalls[{i}]: unknown operator {a.get('op')!r}")
            for key in ("value", "valueTwo"):
                if not isinstance(a.get(key, 0), int) or not 0 <= a.get(key, 0) < 1 << 64:
                    raise bad(f"syscalls[{i}]: argument {key} must be a 64-bit number")
        for part in ("includes", "excludes"):
            if s.get(part) is not None and not isinstance(s[part], dict):
                raise bad(f"syscalls[{i}]: '{part}' must be an object")
    return p


def parse_device(spec) -> dict:
    """--device HOST[:CONTAINER][:PERMISSIONS] (docker's parseDevice), or the SDK's dict."""
    if isinstance(spec, dict):
        src, dst = spec.get("PathOnHost", ""), spec.get("PathInContainer", "")
        perms = spec.get("CgroupPermissions") or "rwm"
    else:
        parts = str(spec).split(":")
        if len(parts) > 3 or not parts[0]:
            raise InvalidArgument(f"invalid device specification: {spec}")
        src, dst, perms = parts[0], "", "rwm"
        if len(parts) == 3:
            dst, perms = parts[1], parts[2]
        elif len(parts) == 2:
            if _valid_device_mode(parts[1]):
                perms = parts[1]
            else:
                dst = parts[1]
    dst = dst or src
    if not _valid_device_mode(perms):
        raise InvalidArgument(f"invalid device mode: {perms}")
    for p in (src, dst):
        if not p.startswith("/"):
            raise InvalidArgument(f"bad format for path: {p}")
    return {"PathOnHost": src, "PathInContainer": os.path.normpath(dst),
            "CgroupPermissions": perms}


def _valid_device_mode(m: str) -> bool:
    return bool(m) and len(set(m)) == len(m) and set(m) <= set("rwm")


_TMPFS_FLAGS = {"rw", "ro", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "atime",
                "noatime", "relatime", "norelatime", "strictatime", "nostrictatime",
                "diratime", "nodiratime", "private", "rprivate", "shared", "rshared", "slave",
                "rslave", "tmpcopyup", "notmpcopyup"}
_TMPFS_DATA = {"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "huge", "mpol"}


def parse_tmpfs(tmpfs) -> dict:
    """--tmpfs PATH[:OPTIONS] (a list) or the SDK's {path: options}: {path: options}."""
    items = tmpfs.items() if isinstance(tmpfs, dict) else (
        str(t).partition(":")[::2] for t in tmpfs or ())
    out = {}
    for path, opts in items:
        if not path.startswith("/"):
            raise InvalidArgument(f"invalid mount config for type \"tmpfs\": invalid mount path: "
                                  f"'{path}' mount path must be absolute")
        if os.path.normpath(path) == "/":
            raise InvalidArgument("invalid mount config for type \"tmpfs\": destination can't be '/'")
        for o in filter(None, (opts or "").split(",")):
            k, eq, v = o.partition("=")
            if (eq and k not in _TMPFS_DATA) or (not eq and o not in _TMPFS_FLAGS) or (eq and not v):
                raise InvalidArgument(f"invalid tmpfs option {o!r} for {path}")
        out[os.path.normpath(path)] = opts or ""
    return out


def host_config(opts: dict) -> dict:
    """The HostConfig fields of these options, checked, as docker stores them."""
    privileged = bool(opts.get("privileged"))
    cap_add, cap_drop = effective_cap_add_drop(opts.get("cap_add"), opts.get("cap_drop"))
    devices = [parse_device(d) for d in opts.get("devices") or ()]
    return {
        "Privileged": privileged,
        "CapAdd": cap_add or None,
        "CapDrop": cap_drop or None,
        "SecurityOpt": parse_security_opts(opts.get("security_opt")) or None,
        "Devices": devices,
        "Tmpfs": parse_tmpfs(opts.get("tmpfs")) or None,
    }


# -- start time: the plan's part ---------------------------------------------------------------

_bounding: list = []  # [pid, mask]: read once per process


def bounding_set() -> int:
    """This process's capability bounding set: what a container can be given here (the
    monitor and the exec helper inherit it). Read once per process (a fork reads its own):
    a bounding set only ever shrinks, and only by its own process's prctl, which layerbox
    never makes; /proc/self/status cost 60-100 us at every start."""
    pid = os.getpid()
    if _bounding and _bounding[0] == pid:
        return _bounding[1]
    mask = DEFAULT_CAPS
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                mask = int(line.split()[1], 16)
                break
    _bounding[:] = [pid, mask]
    return mask


def capabilities(host: dict, base: int = DEFAULT_CAPS) -> int:
    """The container's capability mask (docker's TweakCapabilities), within this host's
    bounding set. `base` is the default set (without MKNOD where devices are not enforced)."""
    bound = bounding_set()
    if host.get("Privileged"):
        return bound
    adds, drops = host.get("CapAdd") or (), host.get("CapDrop") or ()
    if "ALL" in adds:
        mask = bound
        for c in drops:
            mask &= ~(1 << CAP_NUMBER[c])
        return mask
    mask = 0 if "ALL" in drops else base
    for c in drops:
        if c != "ALL":
            mask &= ~(1 << CAP_NUMBER[c])
    for c in adds:
        bit = 1 << CAP_NUMBER[c]
        if not bound & bit:
            raise InvalidArgument(f"cannot add capability {c}: this host's capability bounding "
                                  "set does not hold it")
        mask |= bit
    return mask


def security_options(host: dict) -> dict:
    """--security-opt as a dict: seccomp (None: the default profile, "unconfined", or the
    profile's JSON text) and no_new_privs."""
    out = {"seccomp": None, "no_new_privs": True}
    for opt in host.get("SecurityOpt") or ():
        k, sep, v = opt.partition("=")
        if not sep and k != "no-new-privileges":
            k, sep, v = opt.partition(":")
        if k == "seccomp":
            out["seccomp"] = None if v == "builtin" else v
        elif k == "no-new-privileges":
            out["no_new_privs"] = True if not sep else bool(_parse_bool(v))
    return out


def _kernel_at_least(version: str) -> bool:
    """uname's release >= "4.8" (numbers compared part by part; "6.18.44-fc" reads 6.18.44)."""
    def nums(s):
        out = []
        for part in s.split(".")[:3]:
            digits = ""
            for ch in part:
                if not ch.isdigit():
                    break
                digits += ch
            if not digits:
                break
            out.append(int(digits))
        return out
    return nums(os.uname().release) >= nums(version)


def resolve_profile(profile: dict, caps: int) -> dict | None:
    """moby's setupSeccomp: the profile for this architecture, kernel and these capabilities,
    in the shape the core compiles (OCI's LinuxSeccomp). None when the profile disables it."""
    if not profile.get("defaultAction") and not profile.get("syscalls"):
        return None
    native, goarch = _ARCHES.get(os.uname().machine, ("", ""))
    arches = list(profile.get("architectures") or ())
    for a in profile.get("archMap") or ():
        if a["architecture"] == native:
            arches += [a["architecture"], *(a.get("subArchitectures") or ())]
    have = {n for n, i in CAP_NUMBER.items() if caps & (1 << i)}
    calls = []
    for s in profile.get("syscalls") or ():
        ex, inc = s.get("excludes") or {}, s.get("includes") or {}
        if goarch in (ex.get("arches") or ()) or have & set(ex.get("caps") or ()):
            continue
        if ex.get("minKernel") and _kernel_at_least(ex["minKernel"]):
            continue
        if inc.get("arches") and goarch not in inc["arches"]:
            continue
        if inc.get("caps") and not set(inc["caps"]) <= have:
            continue
        if inc.get("minKernel") and not _kernel_at_least(inc["minKernel"]):
            continue
        call = {"names": [s["name"]] if s.get("name") else s["names"], "action": s["action"]}
        if "errnoRet" in s:
            call["errnoRet"] = s["errnoRet"]
        if s.get("args"):
            call["args"] = s["args"]
        calls.append(call)
    out = {"defaultAction": profile.get("defaultAction") or "SCMP_ACT_ALLOW",
           "architectures": arches, "syscalls": calls}
    if "defaultErrnoRet" in profile:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    return out


_default_profile: dict = {}


def default_profile() -> dict:
    if not _default_profile:
        with open(_DEFAULT_PROFILE, "rb") as f:
            _default_profile.update(_json().loads(f.read()))
    return _default_profile


def seccomp_spec(host: dict, caps: int, cache_dir: str) -> dict | None:
    """The process's "seccomp" part of a plan: the compiled program's file in the store and the
    filter flags; None when the container runs unconfined (--privileged, seccomp=unconfined).
    The plan names the file rather than carrying the bytes: 8 KiB less JSON to write and read
    at every start; the monitor (or the exec caller) reads it."""
    if host.get("Privileged"):
        return None  # docker: a privileged container has no seccomp filter
    opt = security_options(host)["seccomp"]
    if opt == "unconfined":
        return None
    if opt is None:
        # Every start needs this one: its name is what the resolution depends on (the
        # capabilities, this machine and kernel, the installed profile file), so a start
        # resolves nothing and only checks that the file is there.
        st = os.stat(_DEFAULT_PROFILE)
        u = os.uname()
        name = (f"default-{caps:x}-{u.machine}-{u.release}-{st.st_mtime_ns:x}-"
                f"{st.st_size:x}.bpf")
        path = os.path.join(cache_dir, name)
        if not os.path.exists(path):
            _publish_program(path, resolve_profile(default_profile(), caps))
        return {"file": path, "flags": 0}
    import hashlib

    profile = _json().loads(opt)
    resolved = resolve_profile(profile, caps)
    if resolved is None:
        return None
    text = _json().dumps(resolved)
    path = os.path.join(cache_dir, hashlib.sha256(text.encode()).hexdigest() + ".bpf")
    if not os.path.exists(path):
        _publish_program(path, resolved)
    flags = 0
    for f in profile.get("flags") or ():
        flags |= _SECCOMP_FLAGS[f]
    return {"file": path, "flags": flags}


def _publish_program(path: str, resolved: dict) -> None:
    """Compiles (libseccomp, in the core: 0.1 s and more) and publishes by rename; concurrent
    starts write the same bytes, any rename wins."""
    from layerbox import _core

    bpf = _core.seccomp_compile(_json().dumps(resolved))
    os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with open(fd, "wb") as f:
        f.write(bpf)
    os.rename(tmp, path)


def host_devices() -> list:
    """Every device node of the host's /dev, as runc's HostDevices finds them (for
    --privileged): (path, mode, major, minor, uid, gid)."""
    out = []

    def walk(d):
        try:
            entries = list(os.scandir(d))
        except OSError:
            return
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                if e.name not in ("pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"):
                    walk(e.path)
                continue
            if e.name == "console":
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            import stat as _stat

            if _stat.S_ISCHR(st.st_mode) or _stat.S_ISBLK(st.st_mode):
                out.append((e.path, st.st_mode, os.major(st.st_rdev), os.minor(st.st_rdev),
                            st.st_uid, st.st_gid))

    walk("/dev")
    return out


def device_nodes(host: dict) -> tuple[list, list]:
    """Mount operations making the container's extra device nodes, and their device cgroup
    rules ("c 1:3 rwm"). --privileged: every host device, and every access."""
    import stat as _stat

    ops, rules = [], []

    def add(path_in_ctr, mode, major, minor, uid, gid, perms):
        ops.append({"kind": "mknod", "target": path_in_ctr, "mode": mode, "major": major,
                    "minor": minor, "uid": uid, "gid": gid})
        rules.append(f"{'b' if _stat.S_ISBLK(mode) else 'c'} {major}:{minor} {perms}")

    if host.get("Privileged"):
        for path, mode, major, minor, uid, gid in host_devices():
            add(path, mode, major, minor, uid, gid, "rwm")
        rules = ["a *:* rwm"]
    for d in host.get("Devices") or ():
        src, dst, perms = d["PathOnHost"], d["PathInContainer"], d["CgroupPermissions"]
        try:
            st = os.stat(src)
        except OSError as e:
            raise InvalidArgument(f'error gathering device information while adding custom '
                                  f'device "{src}": {(e.strerror or str(e)).lower()}') from None
        if _stat.S_ISDIR(st.st_mode):  # docker: every device under the directory
            found = False
            for path, mode, major, minor, uid, gid in _devices_under(src):
                add(dst + path[len(src.rstrip("/")):], mode, major, minor, uid, gid, perms)
                found = True
            if not found:
                raise InvalidArgument(f'error gathering device information while adding custom '
                                      f'device "{src}": no device nodes found')
            continue
        if not (_stat.S_ISCHR(st.st_mode) or _stat.S_ISBLK(st.st_mode)):
            raise InvalidArgument(f'error gathering device information while adding custom '
                                  f'device "{src}": not a device node')
        add(dst, st.st_mode, os.major(st.st_rdev), os.minor(st.st_rdev), st.st_uid, st.st_gid,
            perms)
    return ops, rules


def _devices_under(d: str) -> list:
    import stat as _stat

    out = []
    for root, dirs, files in os.walk(d):
        for n in files:
            p = os.path.join(root, n)
            try:
                st = os.stat(p, follow_symlinks=False)
            except OSError:
                continue
            if _stat.S_ISCHR(st.st_mode) or _stat.S_ISBLK(st.st_mode):
                out.append((p, st.st_mode, os.major(st.st_rdev), os.minor(st.st_rdev),
                            st.st_uid, st.st_gid))
    return out


def tmpfs_mounts(host: dict) -> list:
    """--tmpfs as mount operations: docker's defaults noexec,nosuid,nodev, then the user's
    options (a later flag wins)."""
    ops = []
    for path, opts in (host.get("Tmpfs") or {}).items():
        flags = {"noexec": True, "nosuid": True, "nodev": True, "ro": False}
        data = []
        for o in filter(None, opts.split(",")):
            k, eq, v = o.partition("=")
            if eq:
                data.append([k, v])
            elif o in ("rw", "ro"):
                flags["ro"] = o == "ro"
            elif o in ("exec", "noexec", "suid", "nosuid", "dev", "nodev"):
                key = o if o.startswith("no") else "no" + o
                flags[key] = o.startswith("no")
        ops.append({"kind": "fs", "fstype": "tmpfs", "source": "tmpfs", "target": path,
                    "data": data, **flags})
    return ops
