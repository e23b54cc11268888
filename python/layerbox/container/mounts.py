"""What a container mounts: docker's mount specs to the container's mount points (config.json
"Mounts"), and mount points to the launch plan's operations and to inspect's "Mounts".

The specs, in moby's registerMountPoints order (a later one at a destination replaces an
earlier one; two -v at one destination, or a -v and a --mount, are "Duplicate mount point"):
``--volumes-from`` (the other container's mount points), ``-v``/``Binds`` (moby's linux
parser), ``--mount``/``HostConfig.Mounts`` (the CLI's csv fields; the API's and the SDK's Mount
dicts), then the image's VOLUMEs and ``-v /path`` as anonymous volumes wherever nothing else is
mounted (createContainerVolumesOS).

A mount point: Type ("bind", "volume", "tmpfs"), Name (a volume's), Source (a bind's host path;
a volume's name, "" when anonymous), Destination, Mode (docker's text), RW, Propagation (a
bind's), CopyData (a volume is filled with the image's content there on first use),
Anonymous (the container owns the volume: `rm -v` removes it), NonRecursive (a bind's),
TmpfsOptions (a tmpfs's "size=..,mode=.."), Labels (a volume --mount creates).
"""

from __future__ import annotations

import os
import posixpath

from layerbox.errors import InvalidArgument

_RW = ("ro", "rw")
_LABEL = ("z", "Z")
_PROPAGATION = ("private", "rprivate", "slave", "rslave", "shared", "rshared")
_COPY = ("nocopy",)
_CONSISTENCY = ("consistent", "cached", "delegated", "default")
# MS_* flags of each propagation, for the core (set on the bind once it is in place).
_MS_REC, _MS_PRIVATE, _MS_SLAVE, _MS_SHARED = 0x4000, 1 << 18, 1 << 19, 1 << 20
PROPAGATION_FLAGS = {
    "private": _MS_PRIVATE, "rprivate": _MS_PRIVATE | _MS_REC,
    "slave": _MS_SLAVE, "rslave": _MS_SLAVE | _MS_REC,
    "shared": _MS_SHARED, "rshared": _MS_SHARED | _MS_REC,
}
# What a volume name may be (the local driver's rule).
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def valid_volume_name(name: str) -> bool:
    return bool(name) and name[0].isascii() and name[0].isalnum() and set(name) <= _NAME_CHARS


def check_volume_name(name: str) -> None:
    if not valid_volume_name(name):
        raise InvalidArgument(f'create {name}: "{name}" includes invalid characters for a local '
                              'volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you '
                              "intended to pass a host directory, use absolute path")


def _valid_mode(mode: str) -> bool:
    """moby's linuxValidMountMode: known words, at most one of each kind."""
    if not mode:
        return True
    counts = [0] * 5
    for o in mode.split(","):
        for i, kind in enumerate((_RW, _LABEL, _PROPAGATION, _COPY, _CONSISTENCY[:3])):
            if o in kind:
                counts[i] += 1
                break
        else:
            return False
    return max(counts) <= 1


def _mount_config_error(kind: str, why: str) -> InvalidArgument:
    return InvalidArgument(f'invalid mount config for type "{kind}": {why}')


def _honoured_propagation(prop: str) -> str:
    """The propagation modes layerbox carries out: private ones. A container's mount namespace is
    made rprivate before its binds, so a shared or slave bind would take no mount from the host
    nor give one back: refused, rather than accepted and silently private (docker's rshared and
    rslave want / kept rshared/rslave with only the root's parent private, not done yet)."""
    if prop not in ("private", "rprivate"):
        raise InvalidArgument(f"bind propagation {prop} is not supported by layerbox: a container's "
                              "mounts do not propagate to or from the host (use private or rprivate)")
    return prop


def _check_target(kind: str, target: str) -> str:
    if not target:
        raise _mount_config_error(kind, "field Target must not be empty")
    if posixpath.normpath(target.replace("\\", "/")) == "/":
        raise _mount_config_error(kind, "invalid specification: destination can't be '/'")
    if not target.startswith("/"):
        raise _mount_config_error(kind, f"invalid mount path: '{target}' mount path must be absolute")
    return posixpath.normpath(target)


# -- -v / Binds -------------------------------------------------------------------------------

def parse_bind(raw: str) -> dict:
    """One ``-v`` spec (``SRC:DST[:MODE]``, ``NAME:DST[:MODE]`` or ``DST``), read as moby's
    ParseMountRaw reads it, to a mount point."""
    arr = raw.split(":", 3)
    bad = InvalidArgument(f"invalid volume specification: '{raw}'")
    if arr[0] == "":
        raise bad  # "-v :/data", "-v ''"
    mode = ""
    if len(arr) == 1:
        source, target = "", arr[0]
    elif len(arr) == 2:
        if _valid_mode(arr[1]):
            raise bad  # "/foo:rw": a destination and a mode is not a volume
        source, target = arr
    elif len(arr) == 3:
        source, target, mode = arr
    else:
        raise bad
    if not _valid_mode(mode):
        raise InvalidArgument(f"invalid mode: {mode}")
    opts = mode.split(",") if mode else []
    kind = "bind" if source.startswith("/") else "volume"
    try:
        dest = _check_target(kind, target)
    except InvalidArgument as e:
        raise InvalidArgument(f"{bad}: {e}") from None
    m = {"Type": kind, "Source": "", "Destination": dest, "Mode": mode, "RW": "ro" not in opts}
    if kind == "bind":
        m["Source"] = posixpath.normpath(source)
        m["Propagation"] = _honoured_propagation(next((o for o in opts if o in _PROPAGATION), "rprivate"))
        m["CreateSource"] = True  # -v makes a missing host directory; --mount refuses it
        return m
    if any(o in _PROPAGATION for o in opts):
        raise InvalidArgument(f"{bad}: {_mount_config_error('volume', 'field BindOptions must not be specified')}")
    if source:
        check_volume_name(source)
        m.update(Source=source, Name=source, Mode=mode or "z")
    m["CopyData"] = "nocopy" not in opts
    return m


def absolute_bind_sources(specs, cwd: str | None = None) -> list:
    """The CLI's part (docker 23+): a ``-v`` source of "." or "./..." is relative to the
    client's working directory. Other relative sources stay as they are (volume names)."""
    out = []
    for spec in specs:
        host, sep, rest = spec.partition(":")
        if sep and (host == "." or host.startswith("./")):
            spec = os.path.normpath(os.path.join(cwd or os.getcwd(), host)) + ":" + rest
        out.append(spec)
    return out


# -- --mount / HostConfig.Mounts ----------------------------------------------------------------

_BOOL_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_BOOL_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def _go_bool(v: str):
    if v in _BOOL_TRUE:
        return True
    if v in _BOOL_FALSE:
        return False
    return None


def parse_mount_flag(value: str, cwd: str | None = None) -> dict:
    """``--mount`` as docker's CLI reads it (opts/mount.go: one csv record of key=value fields;
    an unknown key is refused) to the API's Mount dict."""
    import csv

    def fail(why: str) -> InvalidArgument:
        return InvalidArgument(f'invalid argument "{value}" for "--mount" flag: {why}')

    try:
        rows = list(csv.reader([value], strict=True))
    except csv.Error as e:
        raise fail(str(e)) from None
    fields = rows[0] if rows else []
    m: dict = {"Type": "volume"}

    def vol() -> dict:
        return m.setdefault("VolumeOptions", {})

    for field in fields:
        key, eq, val = field.partition("=")
        key = key.lower()
        if not eq:
            if key in ("readonly", "ro"):
                m["ReadOnly"] = True
            elif key == "volume-nocopy":
                vol()["NoCopy"] = True
            elif key == "bind-nonrecursive":
                m.setdefault("BindOptions", {})["NonRecursive"] = True
            else:
                raise fail(f"invalid field '{field}' must be a key=value pair")
            continue
        if key == "type":
            m["Type"] = val.lower()
        elif key in ("source", "src"):
            m["Source"] = val
            if val == "." or val.startswith("./"):
                m["Source"] = os.path.normpath(os.path.join(cwd or os.getcwd(), val))
        elif key in ("target", "dst", "destination"):
            m["Target"] = val
        elif key in ("readonly", "ro", "bind-nonrecursive", "volume-nocopy"):
            b = _go_bool(val)
            if b is None:
                raise fail(f"invalid value for {key}: {val}")
            if key in ("readonly", "ro"):
                m["ReadOnly"] = b
            elif key == "bind-nonrecursive":
                m.setdefault("BindOptions", {})["NonRecursive"] = b
            else:
                vol()["NoCopy"] = b
        elif key == "consistency":
            m["Consistency"] = val.lower()
        elif key == "bind-propagation":
            m.setdefault("BindOptions", {})["Propagation"] = val.lower()
        elif key == "volume-label":
            k, _, v = val.partition("=")
            if k:
                vol().setdefault("Labels", {})[k] = v
        elif key == "volume-driver":
            vol().setdefault("DriverConfig", {})["Name"] = val
        elif key == "volume-opt":
            k, _, v = val.partition("=")
            if k:
                vol().setdefault("DriverConfig", {}).setdefault("Options", {})[k] = v
        elif key == "tmpfs-size":
            from layerbox.container.config import parse_bytes

            try:
                m.setdefault("TmpfsOptions", {})["SizeBytes"] = parse_bytes(val)
            except InvalidArgument:
                raise fail(f"invalid value for {key}: {val}") from None
        elif key == "tmpfs-mode":
            try:
                mode = int(val, 8)
            except ValueError:
                mode = -1
            if not 0 <= mode < 1 << 32:
                raise fail(f"invalid value for {key}: {val}")
            m.setdefault("TmpfsOptions", {})["Mode"] = mode
        else:
            raise fail(f"unexpected key '{key}' in '{field}'")
    if not m.get("Target"):
        raise fail("target is required")
    for opt, kind in (("VolumeOptions", "volume"), ("BindOptions", "bind"), ("TmpfsOptions", "tmpfs")):
        if opt in m and m["Type"] != kind:
            raise fail(f"cannot mix '{kind}-*' options with mount type '{m['Type']}'")
    return m


def from_api(spec: dict) -> dict:
    """An API/SDK Mount dict (Type, Source, Target, ReadOnly, Consistency, BindOptions,
    VolumeOptions, TmpfsOptions; docker.types.Mount is one) checked as dockerd checks it
    (validateMountConfig), to a mount point."""
    if not isinstance(spec, dict):
        raise InvalidArgument(f"invalid mount {spec!r}: a mount is a dict (docker.types.Mount)")
    known = {"Type", "Source", "Target", "ReadOnly", "Consistency", "BindOptions",
             "VolumeOptions", "TmpfsOptions"}
    extra = sorted(set(spec) - known)
    if extra:
        raise InvalidArgument(f"invalid mount: unknown field {extra[0]}")
    kind = spec.get("Type") or ""
    source = spec.get("Source") or ""
    ro = bool(spec.get("ReadOnly"))
    bind_opts, vol_opts, tmpfs_opts = (spec.get("BindOptions"), spec.get("VolumeOptions"),
                                       spec.get("TmpfsOptions"))
    if kind not in ("bind", "volume", "tmpfs"):
        if kind in ("npipe", "cluster", "image"):
            raise _mount_config_error(kind, f"mount type {kind} is not supported by layerbox")
        raise _mount_config_error(kind, "mount type unknown")
    dest = _check_target(kind, spec.get("Target") or "")
    consistency = spec.get("Consistency") or ""
    if consistency and consistency not in _CONSISTENCY:
        raise _mount_config_error(kind, f"invalid consistency: {consistency}")
    if kind != "bind" and bind_opts:
        raise _mount_config_error(kind, "field BindOptions must not be specified")
    if kind != "volume" and vol_opts:
        raise _mount_config_error(kind, "field VolumeOptions must not be specified")
    if kind != "tmpfs" and tmpfs_opts:
        raise _mount_config_error(kind, "field TmpfsOptions must not be specified")
    m = {"Type": kind, "Source": "", "Destination": dest, "Mode": "", "RW": not ro}
    if kind == "bind":
        if not source:
            raise _mount_config_error(kind, "field Source must not be empty")
        if not source.startswith("/"):
            raise _mount_config_error(kind, f"invalid mount path: '{source}' mount path must be absolute")
        if not os.path.exists(source):
            raise _mount_config_error(kind, f"bind source path does not exist: {source}")
        prop = (bind_opts or {}).get("Propagation") or "rprivate"
        if prop not in _PROPAGATION:
            raise _mount_config_error(kind, f"invalid propagation mode: {prop}")
        _honoured_propagation(prop)
        m.update(Source=posixpath.normpath(source), Propagation=prop)
        if (bind_opts or {}).get("NonRecursive"):
            m["NonRecursive"] = True
        _refuse_unknown(bind_opts, ("Propagation", "NonRecursive", "CreateMountpoint"), "BindOptions")
        m["CreateSource"] = bool((bind_opts or {}).get("CreateMountpoint"))
        return m
    if kind == "volume":
        vol_opts = vol_opts or {}
        _refuse_unknown(vol_opts, ("NoCopy", "Labels", "DriverConfig"), "VolumeOptions")
        if ro and not source:
            raise _mount_config_error(kind, "must not set ReadOnly mode when using anonymous volumes")
        driver = vol_opts.get("DriverConfig") or {}
        if driver.get("Name") not in (None, "", "local"):
            raise InvalidArgument(f"volume driver {driver['Name']!r} is not supported (only local)")
        if driver.get("Options"):  # the options a volume made for this mount gets
            from layerbox.volumes import check_options

            m["DriverOpts"] = check_options(driver["Options"], source)
        if source:
            check_volume_name(source)
            m.update(Source=source, Name=source)
        else:
            m["Anonymous"] = True
        m["Mode"] = "z"
        m["CopyData"] = not vol_opts.get("NoCopy")
        if vol_opts.get("Labels"):
            m["Labels"] = {str(k): str(v) for k, v in vol_opts["Labels"].items()}
        return m
    # tmpfs
    if source:
        raise _mount_config_error(kind, "field Source must not be specified")
    tmpfs_opts = tmpfs_opts or {}
    _refuse_unknown(tmpfs_opts, ("SizeBytes", "Mode"), "TmpfsOptions")
    m["TmpfsOptions"] = tmpfs_data(tmpfs_opts)
    return m


def _refuse_unknown(opts, known, what: str) -> None:
    for k in opts or {}:
        if k not in known:
            raise InvalidArgument(f"invalid mount: {what}.{k} is not supported by layerbox")


def tmpfs_data(opts: dict) -> str:
    """moby's ConvertTmpfsOptions: "mode=%o", then "size=N[kmg]" with the largest unit that
    divides it."""
    out = []
    mode = int(opts.get("Mode") or 0)
    if mode:
        out.append(f"mode={mode:o}")
    size = opts.get("SizeBytes") or 0
    if isinstance(size, str):  # the SDK's Mount(tmpfs_size="64m") before it converts
        from layerbox.container.config import parse_bytes

        size = parse_bytes(size)
    size = int(size)
    if size < 0:
        raise _mount_config_error("tmpfs", f"invalid size: {size}")
    if size:
        for suffix, div in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
            if size % div == 0:
                out.append(f"size={size // div}{suffix}")
                break
        else:
            out.append(f"size={size}")
    return ",".join(out)


# -- --volumes-from ----------------------------------------------------------------------------

def parse_volumes_from(spec: str) -> tuple[str, str]:
    """``CONTAINER[:ro|:rw]`` (moby's ParseVolumesFrom)."""
    if not spec:
        raise InvalidArgument("volumes-from specification cannot be an empty string")
    ref, _, mode = spec.partition(":")
    if not mode:
        return ref, "rw"
    opts = mode.split(",")
    if not _valid_mode(mode) or any(o in _PROPAGATION or o in _COPY for o in opts):
        raise InvalidArgument(f"invalid mode: {mode}")
    return ref, mode


def copied_from(points: list, mode: str) -> list:
    """Another container's mount points as --volumes-from gives them: the same volumes and
    binds, read-only with ":ro" (":rw" never makes a read-only one writable), never filled
    again. An anonymous volume stays anonymous: `rm -v` of the last container using it
    removes it (not before: see ContainerEngine._anonymous_volume_paths)."""
    ro = "ro" in mode.split(",")
    out = []
    for p in points:
        q = {k: v for k, v in p.items() if k not in ("CopyData", "Labels", "CreateSource")}
        q["RW"] = bool(p.get("RW", True)) and not ro
        if p.get("Type") == "volume":
            q["Source"] = q["Name"] = p.get("Name") or p.get("Source")
        out.append(q)
    return out


# -- all of it --------------------------------------------------------------------------------

def register(binds, api_mounts, from_points, image_volumes, tmpfs_paths) -> list:
    """The container's mount points from its specs (see the module's doc for the order)."""
    points: dict = {}
    for p in from_points:
        points[p["Destination"]] = p
    tmpfs = {posixpath.normpath(t) for t in tmpfs_paths}
    bound = set()
    anonymous = []
    for raw in binds:
        m = parse_bind(raw)
        if m["Type"] == "volume" and not m.get("Name"):
            anonymous.append(m["Destination"])  # the CLI's Config.Volumes: created below
            continue
        if m["Destination"] in bound or m["Destination"] in tmpfs:
            raise InvalidArgument(f"Duplicate mount point: {m['Destination']}")
        bound.add(m["Destination"])
        points[m["Destination"]] = m
    for spec in api_mounts:
        m = from_api(spec)
        if m["Destination"] in bound or m["Destination"] in tmpfs:
            raise InvalidArgument(f"Duplicate mount point: {m['Destination']}")
        bound.add(m["Destination"])
        points[m["Destination"]] = m
    for path in [*anonymous, *image_volumes]:
        dest = posixpath.normpath(path)
        if dest in points or dest in tmpfs or not dest.startswith("/") or dest == "/":
            continue
        points[dest] = {"Type": "volume", "Source": "", "Destination": dest, "Mode": "",
                        "RW": True, "CopyData": True, "Anonymous": True}
    return list(points.values())


def name_volumes(store, points: list) -> None:
    """At create: an anonymous volume gets its random name (made at the first start); a named
    one is made now, with --mount's labels, as docker makes it at create."""
    for m in points:
        if m["Type"] != "volume":
            continue
        if not m.get("Name"):
            m["Name"] = os.urandom(32).hex()
            m["Anonymous"] = True
        elif not os.path.isdir(os.path.join(store.volumes, m["Name"])):
            from layerbox.volumes import Volumes

            Volumes(store).create(m["Name"], m.get("Labels"), m.get("DriverOpts"))


def anonymous_paths(binds) -> list:
    """The ``-v /path`` specs' destinations (docker's CLI puts them in Config.Volumes)."""
    out = []
    for raw in binds:
        if ":" not in raw and raw.startswith("/"):
            out.append(posixpath.normpath(raw))
    return out


def inspect_entry(m: dict, volumes_root: str) -> dict:
    """A mount point as docker's inspect shows it."""
    kind = m["Type"]
    e: dict = {"Type": kind}
    if kind == "volume":
        e["Name"] = m.get("Name", "")
        e["Source"] = os.path.join(volumes_root, m.get("Name", ""), "_data")
        e["Destination"] = m["Destination"]
        e["Driver"] = "local"
    else:
        e["Source"] = m.get("Source", "") if kind == "bind" else ""
        e["Destination"] = m["Destination"]
    e.update(Mode=m.get("Mode", ""), RW=m.get("RW", True),
             Propagation=(m.get("Propagation") or "rprivate") if kind == "bind" else "")
    return e


def plan_ops(points: list, volume_source, first_start: bool, tmpfs_ops) -> list:
    """The launch plan's operations for the mount points, in order. `volume_source(m)` gives a
    bind's or volume's host path (making what is missing), or for a volume with driver options
    the whole operation (its tmpfs, or a bind of it from a running sharer); `tmpfs_ops(path,
    options)` a tmpfs's operations, with --tmpfs's defaults."""
    ops = []
    for m in points:
        if m["Type"] == "tmpfs":
            opts = ",".join(filter(None, [m.get("TmpfsOptions", ""), "" if m.get("RW", True) else "ro"]))
            ops.extend(tmpfs_ops(m["Destination"], opts))
            continue
        source = volume_source(m)
        if isinstance(source, dict):
            op = dict(source, target=m["Destination"], ro=source.get("ro") or not m.get("RW", True))
            if op["kind"] == "bind" and "source_mntns" not in op and m.get("CopyData") and first_start:
                op["copy_up"] = True  # a bind volume is filled as a plain one is
            ops.append(op)
            continue
        op = {"kind": "bind", "target": m["Destination"], "source": source,
              "recursive": not m.get("NonRecursive"), "ro": not m.get("RW", True)}
        prop = m.get("Propagation") if m["Type"] == "bind" else ""
        if prop and prop != "rprivate":  # rprivate is what the private root gives every mount
            op["propagation"] = PROPAGATION_FLAGS[prop]
        if m["Type"] == "volume" and m.get("CopyData") and first_start:
            op["copy_up"] = True
        ops.append(op)
    return ops


def destinations(points: list) -> set:
    return {m["Destination"] for m in points}
