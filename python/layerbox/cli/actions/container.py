"""What the container verbs do. Plain functions over the engine: no click here, because `run`,
`exec`, `ps` and friends are reached without importing it (see layerbox.cli.main).

Each function takes the CLI context and the parameters click (or the fast parser) produced,
prints what docker prints, and returns the exit code.
"""

from __future__ import annotations

import errno
import os
import sys

from layerbox.errors import InvalidArgument, LayerboxError, NotFound


def _err(msg: str) -> None:
    sys.stderr.write(f"Error: {msg}\n")


def _create_options(kw: dict) -> dict:
    env = []
    for f in kw.get("env_file") or ():
        from layerbox.container.process import read_env_file

        env.extend(read_env_file(f))
    if kw.get("env"):
        from layerbox.container.process import caller_env

        env.extend(caller_env(kw["env"]))
    cpus = kw.get("cpus")
    return {
        "command": list(kw["command"]) if kw.get("command") else None,
        "entrypoint": kw.get("entrypoint"),
        "environment": env,
        "working_dir": kw.get("workdir"),
        "user": kw.get("user"),
        "hostname": kw.get("hostname"),
        "name": kw.get("name"),
        "network_mode": kw.get("network"),
        "ports": list(kw.get("publish") or ()),
        "publish_all_ports": bool(kw.get("publish_all")),
        "expose": list(kw.get("expose") or ()),
        "ip": kw.get("ip"),
        "mac_address": kw.get("mac_address"),
        "network_aliases": list(kw.get("network_alias") or ()),
        "extra_hosts": list(kw.get("add_host") or ()),
        "dns": list(kw.get("dns") or ()),
        "dns_search": list(kw.get("dns_search") or ()),
        "dns_opt": list(kw.get("dns_option") or ()),
        **_mount_options(kw),
        "stdin_open": bool(kw.get("interactive")),
        "tty": bool(kw.get("tty")),
        "init": bool(kw.get("init")),
        "mem_limit": kw.get("memory"),
        "memswap_limit": kw.get("memory_swap"),
        "nano_cpus": int(round(cpus * 1e9)) if cpus else 0,
        "cpu_shares": kw.get("cpu_shares"),
        "cpu_period": kw.get("cpu_period"),
        "cpu_quota": kw.get("cpu_quota"),
        "cpuset_cpus": kw.get("cpuset_cpus"),
        "pids_limit": kw.get("pids_limit"),
        "restart_policy": kw.get("restart"),
        "labels": _labels(kw),
        "stop_signal": kw.get("stop_signal"),
        "read_only": bool(kw.get("read_only")),
        "auto_remove": bool(kw.get("remove")),
        "detach": bool(kw.get("detach")),
        "stop_timeout": kw.get("stop_timeout"),
        "privileged": bool(kw.get("privileged")),
        "cap_add": list(kw.get("cap_add") or ()),
        "cap_drop": list(kw.get("cap_drop") or ()),
        "security_opt": list(kw.get("security_opt") or ()),
        "devices": list(kw.get("device") or ()),
        "tmpfs": list(kw.get("tmpfs") or ()),
        "platform": kw.get("platform"),
        "attach": sorted(_attach(kw)),
        "cidfile": kw.get("cidfile"),
        "health_cmd": kw.get("health_cmd"),
        "health_interval": kw.get("health_interval"),
        "health_timeout": kw.get("health_timeout"),
        "health_retries": kw.get("health_retries"),
        "health_start_period": kw.get("health_start_period"),
        "no_healthcheck": bool(kw.get("no_healthcheck")),
        "log_driver": kw.get("log_driver"),
        "log_opt": list(kw.get("log_opt") or ()),
        "ulimits": list(kw.get("ulimit") or ()),
        "shm_size": kw.get("shm_size"),
        "sysctls": list(kw.get("sysctl") or ()),
        "oom_score_adj": kw.get("oom_score_adj"),
        "group_add": list(kw.get("group_add") or ()),
        "pid_mode": kw.get("pid"),
        "ipc_mode": kw.get("ipc"),
        "uts_mode": kw.get("uts"),
    }


def _mount_options(kw: dict) -> dict:
    """-v, --mount and --volumes-from; relative bind sources ("./dir") are the CLI's to resolve
    (docker 23+), against its working directory."""
    out = {"volumes": list(kw.get("volume") or ())}
    if kw.get("volume") and any(v == "." or v.startswith("./") for v in kw["volume"]):
        from layerbox.container.mounts import absolute_bind_sources

        out["volumes"] = absolute_bind_sources(out["volumes"])
    if kw.get("mount"):
        from layerbox.container.mounts import parse_mount_flag

        out["mounts"] = [parse_mount_flag(m) for m in kw["mount"]]
    if kw.get("volumes_from"):
        out["volumes_from"] = list(kw["volumes_from"])
    return out


def _labels(kw: dict) -> list:
    """--label-file (docker's key=value file parsing) then --label, the later winning."""
    out = []
    for f in kw.get("label_file") or ():
        from layerbox.container.process import read_label_file

        out.extend(read_label_file(f))
    return out + list(kw.get("label") or ())


def _lsm_notice(opts: dict) -> None:
    """`--security-opt label=`/`apparmor=` on a host without that LSM: said once, as a notice."""
    if opts["security_opt"]:
        from layerbox.container.security import lsm_notice

        notice = lsm_notice(opts["security_opt"])
        if notice:
            sys.stderr.write(notice + "\n")


def _pull_missing(ctx):
    """What `run` and `create` do when the store lacks the image: say so, as docker does, and
    pull it when its name says from where (see registry.api.pull_on_miss)."""

    def pull(image: str) -> bool:
        from layerbox.image.reference import normalize, parse

        try:
            shown = str(parse(image)) if "@" in image else normalize(image)
        except LayerboxError:
            shown = image
        sys.stderr.write(f"Unable to find image '{shown}' locally\n")
        from layerbox.registry.api import pull_on_miss

        if not pull_on_miss(image):
            return False
        from layerbox.cli.actions.registry import pull_for_run

        pull_for_run(ctx, image)
        return True

    return pull


def _tty_size() -> tuple:
    try:
        sz = os.get_terminal_size(sys.stdout.fileno())
        return (sz.lines, sz.columns)
    except OSError:
        return (0, 0)  # stdout is not a terminal: the pty keeps the kernel's default size


def _attach(kw: dict) -> set:
    """-a/--attach: docker's stream names, any case; not with -d."""
    streams = set()
    for a in kw.get("attach") or ():
        s = a.lower()
        if s not in ("stdin", "stdout", "stderr"):
            raise InvalidArgument(f"invalid argument \"{a}\" for \"-a, --attach\" flag: valid "
                                  "streams are STDIN, STDOUT and STDERR")
        streams.add(s)
    if streams and kw.get("detach"):
        raise InvalidArgument("Conflicting options: -a and -d")
    return streams


def _image_source(ctx, kw: dict):
    """--pull: what run and create do about the image (docker's missing, always, never).
    Returns the on-missing callback for the engine."""
    policy = kw.get("pull") or "missing"
    if policy not in ("always", "missing", "never"):
        raise InvalidArgument(f"invalid pull option: '{policy}': must be one of \"always\", "
                              "\"missing\" or \"never\"")
    if policy == "never":
        return None
    if policy == "always":
        from layerbox.cli.actions.registry import pull_for_run

        pull_for_run(ctx, kw["image"])
    return _pull_missing(ctx)


def _write_cidfile(kw: dict, cid: str) -> None:
    if kw.get("cidfile"):
        from layerbox import _util

        _util.write_atomic(kw["cidfile"], cid.encode() if isinstance(cid, str) else cid, mode=0o644)


def _warn_created(kw: dict, cid: str, warnings: list) -> None:
    """After the create: the engine's warnings on stderr, as docker's CLI shows dockerd's;
    then the --cidfile."""
    for w in warnings:
        sys.stderr.write(f"WARNING: {w}\n")
    warnings.clear()
    _write_cidfile(kw, cid)


def run(ctx, **kw) -> int:
    if not kw.get("detach"):
        from layerbox import _core

        _core.block_forwarded_signals()  # a Ctrl-C during start goes to the container
    engine = ctx.engine
    streams = _attach(kw)
    opts = _create_options(kw)
    warnings: list = []
    opts["warnings"] = warnings
    engine.prepare_run(opts.get("network_mode"))
    _lsm_notice(opts)
    if kw.get("cidfile"):
        from layerbox.container.hostopts import read_cidfile_check

        read_cidfile_check(kw["cidfile"])
    on_missing = _image_source(ctx, kw)
    from layerbox.container import runtemplate

    engine.recorder = runtemplate.recorder_for(kw, sys.argv[1:])
    if kw.get("detach"):
        cid, _ = engine.run(kw["image"], on_missing_image=on_missing,
                            on_created=lambda c: _warn_created(kw, c, warnings), **opts)
        sys.stdout.write(cid + "\n")
        _save_template(engine)
        return 0
    tty = bool(kw.get("tty"))
    sys.stdout.flush()
    want = lambda s: not streams or s in streams  # noqa: E731
    cid, mon = engine.run(kw["image"], on_missing_image=on_missing,
                          on_created=lambda c: _warn_created(kw, c, warnings),
                          stdin=0 if kw.get("interactive") and want("stdin") else -1,
                          stdout=1 if want("stdout") else -1, stderr=2 if want("stderr") else -1,
                          tty_size=_tty_size() if tty else (0, 0), **opts)
    _save_template(engine)  # while the container runs
    r = mon.wait(forward_signals=True, raw_tty=tty and bool(kw.get("interactive")))
    mon.close()
    if not r["exited"]:
        return engine.wait(cid)["StatusCode"]
    return r["exit_code"]


def _save_template(engine) -> None:
    if engine.recorder is not None:
        engine.recorder.save(engine.store)
        engine.recorder = None


def create(ctx, **kw) -> int:
    _attach(kw)
    opts = _create_options(kw)
    _lsm_notice(opts)
    if kw.get("cidfile"):
        from layerbox.container.hostopts import read_cidfile_check

        read_cidfile_check(kw["cidfile"])
    warnings: list = []
    cid = ctx.engine.create_fetching(kw["image"], _image_source(ctx, kw), warnings=warnings, **opts)
    _warn_created(kw, cid, warnings)
    sys.stdout.write(cid + "\n")
    return 0


def _each(names, fn, print_name: bool = True) -> int:
    """docker's multi-container verbs: do each, print each name done, report each failure,
    exit 1 if any failed."""
    failed = 0
    for n in names:
        try:
            fn(n)
            if print_name:
                sys.stdout.write(n + "\n")
        except (LayerboxError, OSError) as e:
            if isinstance(e, OSError) and e.errno == errno.EPIPE:  # our reader left: main ends quietly
                raise
            from layerbox.cli.main import message

            _err(message(e))
            failed += 1
    sys.stdout.flush()
    return 0 if not failed else 1


def start(ctx, containers, attach=False, interactive=False) -> int:
    engine = ctx.engine
    if attach or interactive:
        if len(containers) > 1:
            raise InvalidArgument("you cannot start and attach multiple containers at once")
        c = engine.get(containers[0])
        tty = bool(c.config["Config"].get("Tty"))
        mon = engine.start(c.id, stdin=0 if interactive else -1, stdout=1, stderr=2,
                           tty_size=_tty_size() if tty else (0, 0))
        if mon is None:  # already running: nothing to attach to from here
            return 0
        r = mon.wait(forward_signals=True, raw_tty=tty and interactive)
        mon.close()
        return r["exit_code"] if r["exited"] else engine.wait(c.id)["StatusCode"]
    failed = []

    def one(n):
        try:
            engine.start(n)
        except (LayerboxError, OSError):
            failed.append(n)
            raise

    if _each(containers, one):  # docker's CLI ends with the list of those that failed
        _err(f"failed to start containers: {', '.join(failed)}")
        return 1
    return 0


def stop(ctx, containers, timeout=None, signal=None) -> int:
    engine = ctx.engine
    if signal:
        return _each(containers, lambda n: engine.stop(n, timeout, signal=signal))
    return _each(containers, lambda n: engine.stop(n, timeout))


def restart(ctx, containers, timeout=None) -> int:
    return _each(containers, lambda n: ctx.engine.restart(n, timeout))


def kill(ctx, containers, signal="KILL") -> int:
    return _each(containers, lambda n: ctx.engine.kill(n, signal))


def pause(ctx, containers) -> int:
    return _each(containers, ctx.engine.pause)


def unpause(ctx, containers) -> int:
    return _each(containers, ctx.engine.unpause)


def rm(ctx, containers, force=False, volumes=False) -> int:
    return _each(containers, lambda n: ctx.engine.remove(n, force=force, volumes=volumes))


def update(ctx, containers, **kw) -> int:
    """docker update: the flags as the Engine API's UpdateConfig, for each container."""
    from layerbox.container import update as _update
    from layerbox.container.config import parse_bytes

    flags = {"blkio_weight": "BlkioWeight", "cpu_rt_period": "CpuRealtimePeriod",
             "cpu_rt_runtime": "CpuRealtimeRuntime", "cpuset_mems": "CpusetMems",
             "memory_reservation": "MemoryReservation", "kernel_memory": "KernelMemory"}
    refused = [f"--{k.replace('_', '-')}" for k in flags if kw.get(k) not in (None, "", 0, "0")]
    if refused:
        raise InvalidArgument(f"{', '.join(refused)}: not supported by layerbox")
    swap = kw.get("memory_swap")
    res = {"Memory": parse_bytes(kw.get("memory")) if kw.get("memory") else 0,
           "MemorySwap": -1 if swap in ("-1",) else (parse_bytes(swap) if swap else 0),
           "NanoCpus": int(round(kw["cpus"] * 1e9)) if kw.get("cpus") else 0,
           "CpuShares": kw.get("cpu_shares") or 0, "CpuPeriod": kw.get("cpu_period") or 0,
           "CpuQuota": kw.get("cpu_quota") or 0, "CpusetCpus": kw.get("cpuset_cpus") or "",
           "PidsLimit": kw.get("pids_limit")}
    restart = None
    if kw.get("restart") is not None:
        from layerbox.container.config import parse_restart

        restart = parse_restart(kw["restart"])
    asked = any(v not in (None, 0, "") for v in res.values()) or restart is not None
    if not asked:
        raise InvalidArgument("you must provide one or more flags when using this command")
    warnings = []
    code = _each(containers, lambda n: warnings.extend(_update.update(ctx.engine, n, res, restart)))
    if warnings:  # after the names, on stdout, as docker's CLI prints the daemon's
        sys.stdout.write("\n".join(warnings) + "\n")
    return code


def wait(ctx, containers) -> int:
    def one(n):
        sys.stdout.write(f"{ctx.engine.wait(n)['StatusCode']}\n")
        sys.stdout.flush()

    return _each(containers, one, print_name=False)


def port(ctx, container, port=None) -> int:
    """docker port: "80/tcp -> 0.0.0.0:8080" lines, or the host addresses of one port."""
    from layerbox.container import views

    c = ctx.engine.get(container)
    live = views._live_network(c)
    ports = live.get("Ports") or {}
    if port:
        key = port if "/" in port else port + "/tcp"
        binds = ports.get(key)
        if not binds:
            raise NotFound(f"No public port '{key}' published for {c.name}")
        sys.stdout.write("".join(f"{b['HostIp']}:{b['HostPort']}\n" for b in binds))
        return 0
    for key, binds in sorted(ports.items(), key=lambda kv: int(kv[0].split("/")[0])):
        for b in binds or ():
            sys.stdout.write(f"{key} -> {b['HostIp']}:{b['HostPort']}\n")
    return 0


def rename(ctx, container, new_name) -> int:
    try:
        ctx.engine.rename(container, new_name)
    except (LayerboxError, OSError) as e:
        if isinstance(e, OSError) and e.errno == errno.EPIPE:
            raise
        from layerbox.cli.main import message

        _err(message(e))  # then docker's CLI names what it failed to do
        _err(f"failed to rename container named {container}")
        return 1
    return 0


def prune(ctx, force=False, filters=()) -> int:
    if not force and sys.stdin.isatty():
        sys.stdout.write("WARNING! This will remove all stopped containers.\n"
                         "Are you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    res = ctx.engine.prune(filters=_parse_filters(filters))
    deleted = res.get("ContainersDeleted") or []
    if deleted:
        sys.stdout.write("Deleted Containers:\n" + "".join(d + "\n" for d in deleted) + "\n")
    from layerbox._util import human_size

    sys.stdout.write(f"Total reclaimed space: {human_size(res.get('SpaceReclaimed', 0))}\n")
    return 0


def _parse_filters(filters) -> dict:
    out: dict[str, list] = {}
    for f in filters or ():
        k, eq, v = f.partition("=")
        if not eq:
            raise InvalidArgument(f'bad format of filter (expected name=value): "{f}"')
        out.setdefault(k.strip().lower(), []).append(v)
    return out


def ps(ctx, all_=False, quiet=False, no_trunc=False, last=-1, latest=False, filters=(),
       fmt=None, size=False) -> int:
    from layerbox.container import views

    engine = ctx.engine
    flt = _parse_filters(filters)
    show_all = all_ or last > 0 or latest or "status" in flt or "exited" in flt
    if flt:
        loaded = engine.filter(engine.list(all=show_all), flt)
        ids = [c.id for c in loaded]
    else:
        # The running ones are read (and reconciled) by the engine; with -a the others are
        # read only by the core's rows: a container outside the running index is not running.
        loaded = engine.list(all=False)
        ids = engine.ids() if show_all else [c.id for c in loaded]
    rows = views.ps_rows(engine, ids, loaded, trunc=not no_trunc)
    if latest:
        last = 1
    if last > 0:
        rows = rows[:last]
    if quiet:
        sys.stdout.write("".join(r["ID"] + "\n" for r in rows))
        return 0
    if size:
        for r in rows:
            r["Size"] = _ps_size(ctx, engine.load(r["_id"], reconcile=False))
    from layerbox.cli import output

    if fmt:
        from layerbox.cli import gotemplate as gt

        for r in rows:  # docker's *formatter.Platform: JSON an object, printed "linux/amd64"
            p = r["Platform"]
            r["Platform"] = gt.Struct(p, "*formatter.Platform",
                                      {"String": lambda p=p: f"{p['os']}/{p['architecture']}"})
        output.render(fmt, rows, headers=_PS_HEADERS, type_name="*formatter.ContainerContext",
                      default_table=_PS_TABLE + ("\t{{.Size}}" if size else ""),
                      methods=_ps_methods)
        return 0
    output.table(["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
                 + (["SIZE"] if size else []),
                 [[r["ID"], r["Image"], r["Command"], r["RunningFor"], r["Status"], r["Ports"],
                   r["Names"]] + ([r["Size"]] if size else []) for r in rows])
    return 0


def _sizes(ctx, c) -> tuple[int, int]:
    """docker's SizeRw (the container's own layer) and SizeRootFs (that and its image: all
    the container sees)."""
    from layerbox.volumes import disk_usage

    rw = disk_usage(os.path.join(c.dir, "upper"))
    try:
        image = ctx.images.record(c.config.get("Image", "")).get("Size", 0)
    except (LayerboxError, OSError):
        image = 0
    return rw, rw + image


def _ps_size(ctx, c) -> str:
    """docker ps -s: "2B (virtual 1.98MB)"."""
    from layerbox._util import human_size

    rw, root = _sizes(ctx, c)
    return f"{human_size(rw)} (virtual {human_size(root)})"


_PS_TABLE = "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"


def _ps_methods(row) -> dict:
    """`{{.Label "key"}}` in ps --format."""
    labels = row.get("_labels") or {}
    return {"Label": lambda key: labels.get(key, "")}


_PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
               "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Status": "STATUS",
               "Ports": "PORTS", "Names": "NAMES", "State": "STATE", "Labels": "LABELS",
               "Mounts": "MOUNTS", "Networks": "NETWORKS", "Size": "SIZE", "Platform": "PLATFORM",
               "LocalVolumes": "LOCAL VOLUMES"}


def logs(ctx, container, follow=False, tail="all", timestamps=False, since=None, until=None) -> int:
    from layerbox.container.logs import container_logs

    backlog, live = container_logs(ctx.engine, container, timestamps=timestamps, tail=tail,
                                   since=since, until=until, follow=follow)
    outs = {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}
    for stream, data in backlog:
        outs[stream].write(data)
    for f in outs.values():
        f.flush()
    for stream, data in live or ():
        outs[stream].write(data)
        outs[stream].flush()
    return 0


def top(ctx, container, ps_args=()) -> int:
    res = ctx.engine.top(container, " ".join(ps_args))
    from layerbox.cli import output

    output.table(res["Titles"], res["Processes"])
    return 0


def inspect(ctx, names, fmt=None, size=False, type_=None) -> int:
    from layerbox.container import views

    docs, kinds = [], []
    failed = 0
    for n in names:
        doc = None
        kind = "container"
        if type_ in (None, "container"):
            try:
                c = ctx.engine.get(n)
                doc = views.inspect(ctx.engine, c)
                if size:  # docker inspect -s: the sizes, right after GraphDriver's place
                    doc["SizeRw"], doc["SizeRootFs"] = _sizes(ctx, c)
            except NotFound:
                doc = None
        if doc is None and type_ in (None, "image"):
            try:
                from layerbox.image import views as iviews

                doc = iviews.inspect(ctx.images, ctx.images.resolve(n))
                kind = "image"
            except (NotFound, InvalidArgument):
                doc = None
        if doc is None:  # docker: `container inspect` names what it looked for
            _err(f"No such container: {n}" if type_ == "container" else f"No such object: {n}")
            failed += 1
            continue
        docs.append(doc)
        kinds.append(kind)
    from layerbox.cli import output

    output.print_inspected(docs, fmt, kinds)
    return 1 if failed else 0


def exec_(ctx, container, command, detach=False, interactive=False, tty=False, env=(),
          env_file=(), workdir=None, user=None) -> int:
    envs = []
    for f in env_file or ():
        from layerbox.container.process import read_env_file

        envs.extend(read_env_file(f))
    if env:
        from layerbox.container.process import caller_env

        envs.extend(caller_env(env))
    from layerbox import _core
    from layerbox.container import execution

    if not detach:
        _core.block_forwarded_signals()
    return execution.exec_cli(ctx.engine, container, list(command), detach=detach,
                              interactive=interactive, tty=tty, env=envs, workdir=workdir,
                              user=user, tty_size=_tty_size() if tty else (0, 0))
