"""version, info."""

from __future__ import annotations

import os
import sys


def print_version() -> None:
    from layerbox import _core

    sys.stdout.write(f"layerbox version {_core.__version__}\n")


def _typed(doc: dict, type_name: str):
    """docker runs version's and info's templates on Go structs: a field they lack is an
    error naming the type."""
    from layerbox.cli import gotemplate as gt

    return gt.Struct({k: _typed(v, "*types." + k) if isinstance(v, dict) and k[:1].isupper()
                      and k not in ("Labels", "Runtimes", "IndexConfigs", "Plugins", "Details")
                      else v for k, v in doc.items()}, type_name)


def version(ctx, fmt=None) -> int:
    from layerbox.sysinfo import version_doc

    doc = version_doc()
    if fmt:
        from layerbox.cli import output

        output.render_one(fmt, _typed(doc, "system.versionInfo") if fmt != "json" else doc)
        return 0
    c, s = doc["Client"], doc["Server"]
    eng = s["Components"][0]["Details"]
    lines = ["Client:",
             f" Version:           {c['Version']}",
             f" API version:       {c['ApiVersion']}",
             f" Go version:        {c['GoVersion']}",
             f" OS/Arch:           {c['Os']}/{c['Arch']}",
             f" Context:           {c['Context']}",
             f" Experimental:      {str(c['Experimental']).lower()}",
             "",
             f"Server: {s['Platform']['Name']}",
             " Engine:",
             f"  Version:          {s['Version']}",
             f"  API version:      {s['ApiVersion']} (minimum version {s['MinAPIVersion']})",
             f"  Go version:       {s['GoVersion']}",
             f"  OS/Arch:          {s['Os']}/{s['Arch']}",
             f"  Experimental:     {eng['Experimental']}"]
    for comp in s["Components"][1:]:
        lines += [f" {comp['Name']}:", f"  Version:          {comp['Version']}"]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def info(ctx, fmt=None) -> int:
    from layerbox._util import bytes_size
    from layerbox.sysinfo import info_doc

    doc = info_doc(ctx.engine, ctx.images, ctx.store)
    if fmt:
        from layerbox.cli import output

        output.render_one(fmt, _typed(doc, "system.info") if fmt != "json" else doc)
        return 0
    d = doc
    lines = ["Client:", " Context:    default", " Debug Mode: false", "",
             "Server:",
             f" Containers: {d['Containers']}",
             f"  Running: {d['ContainersRunning']}",
             f"  Paused: {d['ContainersPaused']}",
             f"  Stopped: {d['ContainersStopped']}",
             f" Images: {d['Images']}",
             f" Server Version: {d['ServerVersion']}",
             f" Storage Driver: {d['Driver']}"]
    lines += [f"  {k}: {v}" for k, v in d["DriverStatus"]]
    lines += [f" Logging Driver: {d['LoggingDriver']}",
              f" Cgroup Driver: {d['CgroupDriver']}",
              f" Cgroup Version: {d['CgroupVersion']}",
              " Plugins:",
              f"  Volume: {' '.join(d['Plugins']['Volume'])}",
              f"  Network: {' '.join(d['Plugins']['Network'])}",
              f"  Log: {' '.join(d['Plugins']['Log'])}",
              f" Runtimes: {' '.join(d['Runtimes'])}",
              f" Default Runtime: {d['DefaultRuntime']}",
              f" Init Binary: {d['InitBinary']}",
              " Security Options:"]
    for opt in d["SecurityOptions"]:
        kv = dict(p.split("=", 1) for p in opt.split(","))
        lines.append(f"  {kv.get('name', opt)}")
        lines += [f"   {k.capitalize()}: {v}" for k, v in kv.items() if k != "name"]
    lines += [f" Kernel Version: {d['KernelVersion']}",
              f" Operating System: {d['OperatingSystem']}",
              f" OSType: {d['OSType']}",
              f" Architecture: {d['Architecture']}",
              f" CPUs: {d['NCPU']}",
              f" Total Memory: {bytes_size(d['MemTotal'])}",
              f" Name: {d['Name']}",
              f" ID: {d['ID']}",
              f" Docker Root Dir: {d['DockerRootDir']}",
              " Debug Mode: false",
              f" Registry: {d['IndexServerAddress']}",
              " Labels:",
              " Experimental: false",
              " Insecure Registries:"]
    lines += [f"  {r}" for r in d["RegistryConfig"]["InsecureRegistryCIDRs"]]
    lines += [f"  {n}" for n, i in d["RegistryConfig"]["IndexConfigs"].items() if not i["Secure"]]
    lines.append(f" Live Restore Enabled: {str(d['LiveRestoreEnabled']).lower()}")
    sys.stdout.write("\n".join(lines) + "\n\n")
    return 0


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return True
    sys.stdout.write(question + "\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _dir_size(path: str) -> int:
    from layerbox.volumes import disk_usage

    return disk_usage(path)


def df(ctx, verbose=False, fmt=None) -> int:
    """docker system df: images, containers, local volumes; sizes and what is reclaimable."""
    from layerbox._util import human_size
    from layerbox.cli import output
    from layerbox.volumes import Volumes

    images = ctx.images
    engine = ctx.engine
    containers = engine.list(all=True)
    used_images = {c.config.get("Image") for c in containers}
    layer_sizes: dict = {}
    for i in images.ids():
        for d in images.record(i).get("Layers", []):
            if d not in layer_sizes:
                try:
                    layer_sizes[d] = images.layer_meta(d).get("Size", 0)
                except OSError:
                    layer_sizes[d] = 0
    used_layers = set()
    for i in used_images:
        try:
            used_layers.update(images.record(i).get("Layers", []))
        except Exception:  # noqa: BLE001 - an image removed meanwhile
            pass
    img_total = sum(layer_sizes.values())
    img_reclaim = sum(v for k, v in layer_sizes.items() if k not in used_layers)
    c_sizes = {c.id: _dir_size(os.path.join(c.dir, "upper")) for c in containers}
    c_total = sum(c_sizes.values())
    c_reclaim = sum(v for c in containers if not c.running for v in [c_sizes[c.id]])
    vols = Volumes(ctx.store)
    users = vols.users()
    v_sizes = {n: _dir_size(os.path.join(ctx.store.volumes, n, "_data")) for n in vols.names()}
    v_total = sum(v_sizes.values())
    v_reclaim = sum(v for n, v in v_sizes.items() if n not in users)
    bc_count, bc_size = _build_cache_usage(ctx.store)

    def reclaimable(part: int, total: int) -> str:
        # docker: the share only when there is a total to take it of
        return f"{human_size(part)} ({100 * part // total}%)" if total > 0 else human_size(part)

    rows = [
        {"Type": "Images", "TotalCount": str(len(images.ids())),
         "Active": str(len([i for i in images.ids() if i in used_images])),
         "Size": human_size(img_total), "Reclaimable": reclaimable(img_reclaim, img_total)},
        {"Type": "Containers", "TotalCount": str(len(containers)),
         "Active": str(sum(1 for c in containers if c.running)), "Size": human_size(c_total),
         "Reclaimable": reclaimable(c_reclaim, c_total)},
        {"Type": "Local Volumes", "TotalCount": str(len(v_sizes)),
         "Active": str(sum(1 for n in v_sizes if n in users)), "Size": human_size(v_total),
         "Reclaimable": reclaimable(v_reclaim, v_total)},
        # The classic builder's cache: entries naming the images earlier steps made (their
        # layers count under Images); its own size is the index's.
        {"Type": "Build Cache", "TotalCount": str(bc_count), "Active": "0",
         "Size": human_size(bc_size), "Reclaimable": human_size(bc_size)},
    ]
    if fmt:
        output.render(fmt, rows, headers={"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE",
                                          "Size": "SIZE", "Reclaimable": "RECLAIMABLE"},
                      default_table="{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
                      type_name="*formatter.diskUsageImagesContext")
        return 0
    output.table(["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
                 [[r["Type"], r["TotalCount"], r["Active"], r["Size"], r["Reclaimable"]] for r in rows])
    if verbose:
        sys.stdout.write("\nLocal Volumes space usage:\n\n")
        output.table(["VOLUME NAME", "LINKS", "SIZE"],
                     [[n, str(len(users.get(n, []))), human_size(s)] for n, s in v_sizes.items()])
    return 0


def _build_cache_usage(store) -> tuple[int, int]:
    d = os.path.join(store.root, "buildcache")
    count = size = 0
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        return 0, 0
    for n in names:
        try:
            st = os.lstat(os.path.join(d, n))
        except OSError:
            continue
        size += st.st_size
        if len(n) == 64 and not n.startswith("files-"):
            count += 1
    return count, size


def system_prune(ctx, all_=False, force=False, volumes=False) -> int:
    from layerbox._util import human_size
    from layerbox.volumes import Volumes

    what = ["all stopped containers", "all dangling images" if not all_ else
            "all images without at least one container associated to them"]
    if volumes:
        what.insert(1, "all anonymous volumes not used by at least one container")
    if not force and not _confirm("WARNING! This will remove:\n" + "".join(f"  - {w}\n" for w in what)):
        return 0
    ctx.store.reclaim_staging(downloads=True)  # what killed processes left in tmp/
    res = ctx.engine.prune()
    if res.get("ContainersDeleted"):
        sys.stdout.write("Deleted Containers:\n" + "".join(c + "\n" for c in res["ContainersDeleted"]) + "\n")
    space = 0
    if volumes:
        v = Volumes(ctx.store).prune()
        space += v["SpaceReclaimed"]
        if v["VolumesDeleted"]:
            sys.stdout.write("Deleted Volumes:\n" + "".join(n + "\n" for n in v["VolumesDeleted"]) + "\n")
    r = ctx.images.prune(all_=all_)
    if r.get("ImagesDeleted"):
        sys.stdout.write("Deleted Images:\n" + "".join(
            f"{k.lower()}: {v}\n" for line in r["ImagesDeleted"] for k, v in line.items()) + "\n")
    space += r.get("SpaceReclaimed", 0) or 0
    sys.stdout.write(f"Total reclaimed space: {human_size(space)}\n")
    return 0


def system_check(ctx, repair=False) -> int:
    """layerbox system check: one line per problem; exit 1 when something is wrong (with
    --repair, 0 when everything found was repaired)."""
    from layerbox.store.check import check

    return check(ctx.store, repair=repair)


def volume_create(ctx, name=None, label=(), driver="local", opt=()) -> int:
    from layerbox.errors import InvalidArgument
    from layerbox.volumes import Volumes

    if driver != "local":
        raise InvalidArgument(f"volume driver {driver!r} is not supported (only local)")
    labels = {l.partition("=")[0]: l.partition("=")[2] for l in label}
    options = {o.partition("=")[0]: o.partition("=")[2] for o in opt}
    sys.stdout.write(Volumes(ctx.store).create(name, labels, options)["Name"] + "\n")
    return 0


def volume_ls(ctx, quiet=False, fmt=None, filters=()) -> int:
    from layerbox.cli import output
    from layerbox.errors import InvalidArgument
    from layerbox.volumes import Volumes

    wanted: dict = {}
    for f in filters:
        k, eq, v = f.partition("=")
        if not eq:
            raise InvalidArgument(f'bad format of filter (expected name=value): "{f}"')
        wanted.setdefault(k, []).append(v)
    docs = Volumes(ctx.store).list(wanted)
    if quiet:
        sys.stdout.write("".join(d["Name"] + "\n" for d in docs))
        return 0
    rows = [{"Driver": d["Driver"], "Name": d["Name"], "Mountpoint": d["Mountpoint"],
             "Scope": d["Scope"], "Labels": ",".join(f"{k}={v}" for k, v in d["Labels"].items())}
            for d in docs]
    if fmt:
        output.render(fmt, rows, headers={"Driver": "DRIVER", "Name": "VOLUME NAME",
                                          "Mountpoint": "MOUNTPOINT", "Scope": "SCOPE"},
                      default_table="{{.Driver}}\t{{.Name}}", type_name="*formatter.volumeContext")
    else:
        output.table(["DRIVER", "VOLUME NAME"], [[r["Driver"], r["Name"]] for r in rows])
    return 0


def volume_inspect(ctx, names, fmt=None) -> int:
    from layerbox.errors import NotFound
    from layerbox.volumes import Volumes

    vols = Volumes(ctx.store)
    docs, failed = [], 0
    for n in names:
        try:
            docs.append(vols.inspect(n))
        except NotFound as e:
            sys.stderr.write(f"Error: {e}\n")
            failed += 1
    from layerbox.cli import output

    output.print_inspected(docs, fmt, "volume")
    return 1 if failed else 0


def volume_rm(ctx, names, force=False) -> int:
    from layerbox.errors import LayerboxError
    from layerbox.volumes import Volumes

    vols = Volumes(ctx.store)
    failed = 0
    for n in names:
        try:
            vols.remove(n, force=force)
            sys.stdout.write(n + "\n")
        except LayerboxError as e:
            sys.stderr.write(f"Error: {e}\n")
            failed += 1
    return 1 if failed else 0  # docker: 1, as every command but run/create


def volume_prune(ctx, all_=False, force=False) -> int:
    from layerbox._util import human_size
    from layerbox.volumes import Volumes

    if not force and not _confirm("WARNING! This will remove anonymous local volumes not used by at "
                                  "least one container."):
        return 0
    r = Volumes(ctx.store).prune(all_=all_)
    if r["VolumesDeleted"]:
        sys.stdout.write("Deleted Volumes:\n" + "".join(n + "\n" for n in r["VolumesDeleted"]) + "\n")
    sys.stdout.write(f"Total reclaimed space: {human_size(r['SpaceReclaimed'])}\n")
    return 0


class _EventDoc(dict):
    """An event as docker's events.Message in a template: its Go field names (.Status, .ID,
    .From, .Scope, .Time, .TimeNano) beside the JSON ones, which `json` prints."""

    _GO = {"Status": "status", "ID": "id", "From": "from", "Scope": "scope", "Time": "time",
           "TimeNano": "timeNano"}

    def __contains__(self, k):
        return dict.__contains__(self, k) or dict.__contains__(self, self._GO.get(k, ""))

    def __getitem__(self, k):
        if dict.__contains__(self, k):
            return dict.__getitem__(self, k)
        return dict.__getitem__(self, self._GO[k])


def _event_line(ev: dict) -> str:
    """docker's default events line: time, type, action, actor, (sorted attributes)."""
    import datetime

    ns = ev.get("timeNano") or ev.get("time", 0) * 1_000_000_000
    t = datetime.datetime.fromtimestamp(ns // 1_000_000_000).astimezone()
    off = t.strftime("%z")
    zone = "Z" if off in ("+0000", "-0000") else f"{off[:3]}:{off[3:]}"
    line = f"{t.strftime('%Y-%m-%dT%H:%M:%S')}.{ns % 1_000_000_000:09d}{zone} " \
           f"{ev.get('Type')} {ev.get('Action')} {(ev.get('Actor') or {}).get('ID', '')}"
    attrs = (ev.get("Actor") or {}).get("Attributes") or {}
    if attrs:
        line += " (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")"
    return line


def events(ctx, since=None, until=None, filters=(), fmt=None) -> int:
    """docker events: the store's event log (layerbox.events), what every client recorded;
    from now on (or --since) until --until, or until interrupted."""
    import time

    from layerbox import events as _events
    from layerbox.errors import InvalidArgument

    flt: dict = {}
    for f in filters or ():
        k, eq, v = f.partition("=")
        if not eq:
            raise InvalidArgument(f'bad format of filter (expected name=value): "{f}"')
        if k not in _events.FILTERS:
            raise InvalidArgument(f"invalid filter '{k}'")
        flt.setdefault(k, []).append(v)
    since_ns, until_ns = _events.time_ns(since), _events.time_ns(until)
    if since_ns is not None and until_ns is not None and until_ns < since_ns:
        raise InvalidArgument("`since` time is after `until` time")
    tmpl = None
    if fmt and fmt != "json":
        from layerbox.cli import gotemplate as gt

        tmpl = gt.Template(fmt.replace("\\t", "\t").replace("\\n", "\n"))

    def show(ev):
        if not _events.matches(ev, flt):
            return
        if fmt == "json":
            from layerbox.cli import gotemplate as gt

            sys.stdout.write(gt.to_json(ev) + "\n")
        elif tmpl is not None:
            from layerbox.cli import gotemplate as gt

            doc = _EventDoc(ev)
            actor = dict(doc.get("Actor") or {})
            actor["Attributes"] = gt.GoMap(actor.get("Attributes") or {})
            doc["Actor"] = actor
            sys.stdout.write(tmpl.execute(doc) + "\n")
        else:
            sys.stdout.write(_event_line(ev) + "\n")

    root = ctx.store.root
    past, where = _events.read(root, since_ns or 0, until_ns)
    for ev in past if since_ns is not None else ():
        show(ev)
    sys.stdout.flush()
    # Followed until `until` (docker: without one, until interrupted): the log is polled, as
    # the service's GET /events does.
    while until_ns is None or time.time_ns() <= until_ns:
        time.sleep(0.1)
        new, where = _events.read_from(root, where)
        for ev in new:
            if until_ns is None or ev.get("timeNano", 0) <= until_ns:
                show(ev)
        sys.stdout.flush()
    return 0
