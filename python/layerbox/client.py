"""The Python API, shaped like the Docker SDK for Python (``docker.from_env()``).

    import layerbox
    client = layerbox.from_env()
    out = client.containers.run("busybox", ["echo", "hi"])          # b"hi\\n"
    c = client.containers.run("busybox", "sleep 60", detach=True)
    c.exec_run("ls /").output
    c.stop(); c.remove()

Objects, method names, arguments and errors follow the SDK, so code written for docker carries
over. It is the same engine the CLI uses; there is no daemon and no socket: calls act on the
store directly, and are safe from several threads and several processes at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from layerbox import errors as _errors

if TYPE_CHECKING:
    from layerbox.container.engine import ContainerEngine
    from layerbox.image.store import ImageStore
    from layerbox.store import Store


# The Docker SDK's keyword arguments of containers.run and containers.create (docker-py 7.1.0:
# RUN_CREATE_KWARGS, RUN_HOST_CONFIG_KWARGS and the ones _create_container_args handles itself),
# each honoured or refused. A refused one raises InvalidArgument naming it when it is given a
# value (None, False, 0 and empty are what the SDK sends when it is not used); a name missing
# here raises TypeError as the SDK does. Supporting one more is moving its line to HONOURED.
HONOURED, REFUSED = True, False
SDK_RUN_ARGS = {
    "auto_remove": HONOURED,
    "command": HONOURED,
    "cpu_shares": HONOURED,
    "cpuset_cpus": HONOURED,
    "detach": HONOURED,
    "domainname": HONOURED,
    "entrypoint": HONOURED,
    "environment": HONOURED,
    "hostname": HONOURED,
    "init": HONOURED,
    "labels": HONOURED,
    "mem_limit": HONOURED,
    "memswap_limit": HONOURED,
    "name": HONOURED,
    "nano_cpus": HONOURED,
    "network": HONOURED,  # the SDK's alias of network_mode
    "network_mode": HONOURED,  # bridge, none, host and user networks; others refused with why
    "pids_limit": HONOURED,
    "platform": HONOURED,  # linux/amd64; others are refused
    "read_only": HONOURED,
    "restart_policy": HONOURED,
    "stdin_open": HONOURED,
    "stop_signal": HONOURED,
    "tty": HONOURED,
    "user": HONOURED,
    "volumes": HONOURED,  # {host_or_name: {"bind": path, "mode": "ro"}} or ["src:dst[:mode]", "/anon"]
    "mounts": HONOURED,  # docker.types.Mount dicts (bind, volume, tmpfs)
    "volumes_from": HONOURED,  # ["container[:ro|:rw]"]
    "working_dir": HONOURED,
    "cap_add": HONOURED,
    "cap_drop": HONOURED,
    "devices": HONOURED,
    "privileged": HONOURED,
    "security_opt": HONOURED,
    "tmpfs": HONOURED,
    "ports": HONOURED,  # {"80/tcp": 8080 | ("ip", port) | [..] | None}
    "publish_all_ports": HONOURED,
    "dns": HONOURED,
    "dns_opt": HONOURED,
    "dns_search": HONOURED,
    "extra_hosts": HONOURED,  # {name: ip} or ["name:ip"]  # the SDK's {path: options} or docker's PATH[:OPTIONS] list
    # There is no client config with proxies to add here, as with docker and none configured.
    "use_config_proxy": HONOURED,
    # The Engine API version a HostConfig is made for: there is no Engine API in between.
    "version": HONOURED,
    "ulimits": HONOURED,  # ["nofile=1024:2048"] or docker.types.Ulimit
    "shm_size": HONOURED,
    "sysctls": HONOURED,  # namespaced ones only, as runc checks
    "oom_score_adj": HONOURED,
    "group_add": HONOURED,
    "pid_mode": HONOURED,  # host; container:NAME refused
    "ipc_mode": HONOURED,  # private, shareable, host, container:NAME
    "uts_mode": HONOURED,  # host
    "healthcheck": HONOURED,  # {"test", "interval", "timeout", "retries", "start_period"}
    "cpu_period": HONOURED,
    "cpu_quota": HONOURED,
    "log_config": HONOURED,  # {"Type": json-file|local|none, "Config": {"max-size", "max-file"}}
    "blkio_weight": REFUSED,
    "blkio_weight_device": REFUSED,
    "cgroup_parent": REFUSED,
    "cgroupns": REFUSED,
    "cpu_count": REFUSED,
    "cpu_percent": REFUSED,
    "cpu_rt_period": REFUSED,
    "cpu_rt_runtime": REFUSED,
    "cpuset_mems": REFUSED,
    "device_cgroup_rules": REFUSED,
    "device_read_bps": REFUSED,
    "device_read_iops": REFUSED,
    "device_requests": REFUSED,
    "device_write_bps": REFUSED,
    "device_write_iops": REFUSED,
    "init_path": REFUSED,
    "isolation": REFUSED,
    "kernel_memory": REFUSED,
    "links": REFUSED,
    "lxc_conf": REFUSED,
    "mac_address": HONOURED,
    "mem_reservation": REFUSED,
    "mem_swappiness": REFUSED,
    "network_disabled": REFUSED,
    "networking_config": REFUSED,
    "oom_kill_disable": REFUSED,
    "runtime": REFUSED,
    "storage_opt": REFUSED,
    "userns_mode": REFUSED,
    "volume_driver": REFUSED,
}


def _given(value) -> bool:
    """Whether an argument asks for something (the SDK passes None, False, 0 or an empty
    value for what is not used)."""
    if value is None or value is False or (type(value) is int and value == 0):
        return False
    return not (isinstance(value, (str, bytes, list, tuple, dict, set)) and len(value) == 0)


def _check_run_args(kwargs: dict) -> dict:
    """containers.run/create keyword arguments checked against SDK_RUN_ARGS, as the engine
    takes them (``network`` becomes ``network_mode``)."""
    unknown = sorted(k for k in kwargs if k not in SDK_RUN_ARGS)
    if unknown:
        quoted = ", ".join(f"'{k}'" for k in unknown)
        many = "s" if len(unknown) > 1 else ""
        raise TypeError(f"run() got {'unexpected' if many else 'an unexpected'} keyword "
                        f"argument{many} {quoted}")
    refused = sorted(k for k, v in kwargs.items() if not SDK_RUN_ARGS[k] and _given(v))
    if len(refused) == 1:
        raise _errors.InvalidArgument(f"the argument '{refused[0]}' is not supported by layerbox")
    if refused:
        quoted = ", ".join(f"'{k}'" for k in refused)
        raise _errors.InvalidArgument(f"the arguments {quoted} are not supported by layerbox")
    opts = {k: v for k, v in kwargs.items() if SDK_RUN_ARGS[k]}
    if "network" in opts:
        network = opts.pop("network")
        if network and opts.get("network_mode"):
            raise RuntimeError('The options "network" and "network_mode" can not be used '
                               "together.")
        if network:
            opts["network_mode"] = network
    return opts


class Model:
    """A container or image: ``id``, ``short_id``, ``attrs`` (the inspect document)."""

    id_attribute = "Id"

    def __init__(self, attrs: dict, client: "Client", collection: Any = None):
        self.attrs = attrs
        self.client = client
        self.collection = collection

    @property
    def id(self) -> str:
        return self.attrs[self.id_attribute]

    @property
    def short_id(self) -> str:
        i = self.id
        return i[:19] if i.startswith("sha256:") else i[:12]

    def __eq__(self, other) -> bool:
        return isinstance(other, self.__class__) and self.id == other.id

    def __hash__(self) -> int:
        return hash(f"{self.__class__.__name__}:{self.id}")

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__}: {self.short_id}>"

    def reload(self) -> None:
        """Refresh ``attrs`` from the store."""
        self.attrs = self.collection.get(self.id).attrs


class ExecResult(tuple):
    """(exit_code, output), as the SDK's exec_run returns."""

    def __new__(cls, exit_code, output):
        return super().__new__(cls, (exit_code, output))

    @property
    def exit_code(self):
        return self[0]

    @property
    def output(self):
        return self[1]


class Container(Model):
    @property
    def name(self) -> str:
        return (self.attrs.get("Name") or "").lstrip("/")

    @property
    def status(self) -> str:
        return self.attrs["State"]["Status"]

    @property
    def health(self) -> str:
        """The SDK's: State.Health's Status, or "unknown" without a healthcheck."""
        h = self.attrs["State"].get("Health")
        return h["Status"] if h else "unknown"

    @property
    def labels(self) -> dict:
        return self.attrs["Config"].get("Labels") or {}

    @property
    def image(self) -> "Image | None":
        try:
            return self.client.images.get(self.attrs["Image"])
        except _errors.ImageNotFound:
            return None

    @property
    def ports(self) -> dict:
        return (self.attrs.get("NetworkSettings") or {}).get("Ports") or {}

    @property
    def _engine(self) -> "ContainerEngine":
        return self.client._engine

    def start(self, **kwargs) -> None:
        if kwargs:  # the SDK refuses them too (DeprecatedMethod): configuration belongs to create
            raise TypeError("Providing configuration in the start() method is no longer supported; "
                            f"give {', '.join(sorted(kwargs))} to create() or run()")
        self._engine.start(self.id)

    def stop(self, timeout: float | None = None) -> None:
        self._engine.stop(self.id, timeout)

    def kill(self, signal: str | int | None = None) -> None:
        self._engine.kill(self.id, signal or "SIGKILL")

    def pause(self) -> None:
        self._engine.pause(self.id)

    def unpause(self) -> None:
        self._engine.unpause(self.id)

    def restart(self, timeout: float | None = None) -> None:
        self._engine.restart(self.id, timeout)

    def remove(self, v: bool = False, link: bool = False, force: bool = False) -> None:
        self._engine.remove(self.id, force=force, volumes=v)

    def rename(self, name: str) -> None:
        self._engine.rename(self.id, name)

    def wait(self, timeout: float | None = None, condition: str | None = None) -> dict:
        """Blocks until the container stops; ``{"StatusCode": n, "Error": None}``."""
        return self._engine.wait(self.id, timeout)

    def logs(self, stdout: bool = True, stderr: bool = True, stream: bool = False,
             timestamps: bool = False, tail: str | int = "all", since=None, follow: bool | None = None,
             until=None):
        """The container's output: bytes, or a generator of chunks with ``stream=True``."""
        from layerbox.container.logs import container_logs

        if follow is None:
            follow = stream
        backlog, live = container_logs(self._engine, self.id, stdout=stdout, stderr=stderr,
                                       timestamps=timestamps, tail=tail, since=since,
                                       until=until, follow=follow)
        if not stream:
            return b"".join(d for _s, d in backlog) + b"".join(d for _s, d in live or ())

        def gen() -> Iterator[bytes]:
            for _s, d in backlog:
                yield d
            for _s, d in live or ():
                yield d

        return gen()

    def exec_run(self, cmd, stdout: bool = True, stderr: bool = True, stdin: bool = False,
                 tty: bool = False, privileged: bool = False, user: str = "", detach: bool = False,
                 stream: bool = False, socket: bool = False, environment=None, workdir=None,
                 demux: bool = False) -> ExecResult:
        """Runs cmd in the container: ExecResult(exit_code, output)."""
        from layerbox.container import config as _config
        from layerbox.container import process as _process
        from layerbox.container.execution import run_captured

        if privileged:
            raise _errors.InvalidArgument("privileged exec is not supported")
        command = _config.split_command(cmd)
        env = _process.parse_env_list(environment)
        if tty and not detach:
            code, out, err = self._exec_on_tty(command, env, workdir, user or None)
        else:
            code, out, err = run_captured(self._engine, self.id, command, env=env,
                                          workdir=workdir, user=user or None, detach=detach,
                                          tty=tty)
        if detach:
            return ExecResult(None, b"")
        if demux:
            return ExecResult(code, (out if stdout else None, err if stderr else None))
        output = (out if stdout else b"") + (err if stderr else b"")
        if stream:
            return ExecResult(None, iter([output]))
        return ExecResult(code, output)

    def _exec_on_tty(self, command, env, workdir, user):
        """exec on a new terminal of the container's, its output read from the terminal's
        master (one stream, as docker gives with a tty): (exit_code, output, b"")."""
        import errno
        import os

        from layerbox.container import execution

        p = execution.Recorded(self._engine, self.id, command, env=env, workdir=workdir,
                               user=user, tty=True)
        chunks = []
        while True:
            try:
                b = os.read(p.process.pty, 65536)
            except OSError as e:
                if e.errno == errno.EIO:
                    break  # every holder of the terminal closed it: the output is complete
                raise
            if not b:
                break
            chunks.append(b)
        return p.wait(), b"".join(chunks), b""

    def top(self, ps_args: str | None = None) -> dict:
        return self._engine.top(self.id, ps_args or "")

    def diff(self) -> list:
        from layerbox.container import changes

        return changes.diff(self._engine, self.id)

    def commit(self, repository: str | None = None, tag: str | None = None, message: str = "",
               author: str = "", pause: bool = True, changes=None, conf=None) -> "Image":
        from layerbox.container import commit as _commit

        ref = f"{repository}:{tag}" if repository and tag else repository
        image_id = _commit.commit(self._engine, self.id, ref, message=message or "",
                                  author=author or "", pause=pause,
                                  changes=[changes] if isinstance(changes, str) else changes,
                                  config=conf)
        return self.client.images.get(image_id)

    def export(self, chunk_size: int = 2 * 1024 * 1024) -> Iterator[bytes]:
        from layerbox.container import archive

        return archive.export_chunks(self._engine, self.id, chunk_size)

    def get_archive(self, path: str, chunk_size: int = 2 * 1024 * 1024, encode_stream=False):
        from layerbox.container import archive

        return archive.get_archive(self._engine, self.id, path, chunk_size)

    def put_archive(self, path: str, data) -> bool:
        from layerbox.container import archive

        return archive.put_archive(self._engine, self.id, path, data)

    def stats(self, decode: bool | None = None, stream: bool = True, one_shot: bool | None = None):
        """docker's stats JSON from the container's cgroup: one dict with ``stream=False``,
        else a generator of samples a second apart (dicts with ``decode=True``, else JSON
        bytes, as the SDK) until the container stops."""
        from layerbox.container import stats as _stats

        engine = self._engine
        c = engine.get(self.id)
        if not stream:
            return _stats.stats_doc(engine, c)
        if decode is False or decode is None:
            import json

            return (json.dumps(d).encode() for d in _stats.stream(engine, c))
        return _stats.stream(engine, c)

    def attach(self, stdout: bool = True, stderr: bool = True, stream: bool = False,
               logs: bool = False, demux: bool = False):
        """The container's output as it writes it (from its log): with ``stream=True`` a
        generator of chunks until it stops, else everything until it stops, as bytes
        (``logs=True``: what it wrote before, too). attach_socket (the SDK's raw HTTP
        connection) is refused."""
        from layerbox.container.logs import container_logs

        engine = self._engine
        c = engine.get(self.id)
        backlog, live = container_logs(engine, c.id, stdout=stdout, stderr=stderr,
                                       tail=None if logs else 0, follow=True)

        def pairs():
            yield from backlog
            yield from live or ()

        def shaped(s, d):
            if demux:
                return (d, None) if s == "stdout" else (None, d)
            return d

        if stream:
            return (shaped(s, d) for s, d in pairs())
        got = list(pairs())
        if demux:
            return (b"".join(d for s, d in got if s == "stdout") or None,
                    b"".join(d for s, d in got if s == "stderr") or None)
        return b"".join(d for _s, d in got)

    def attach_socket(self, params=None, ws: bool = False):
        raise _errors.InvalidArgument("attach_socket is not supported by layerbox's Python API "
                                      "(the SDK's is the Engine API's hijacked connection: "
                                      "`layerbox system service` serves it, stdin included)")

    # The SDK's update() arguments, as the Engine API's UpdateConfig fields.
    _UPDATE_FIELDS = {"blkio_weight": "BlkioWeight", "cpu_period": "CpuPeriod",
                      "cpu_quota": "CpuQuota", "cpu_shares": "CpuShares",
                      "cpuset_cpus": "CpusetCpus", "cpuset_mems": "CpusetMems",
                      "mem_limit": "Memory", "mem_reservation": "MemoryReservation",
                      "memswap_limit": "MemorySwap", "kernel_memory": "KernelMemory"}

    def update(self, **kwargs) -> dict:
        """The SDK's Container.update: limits (container/update.py, as `layerbox update`) and
        restart_policy; what layerbox does not limit is refused, naming it."""
        from layerbox.container import update as _update
        from layerbox.container.config import parse_bytes

        unknown = sorted(set(kwargs) - set(self._UPDATE_FIELDS) - {"restart_policy"})
        if unknown:
            raise TypeError(f"update() got an unexpected keyword argument '{unknown[0]}'")
        res = {}
        for k, field in self._UPDATE_FIELDS.items():
            v = kwargs.get(k)
            if v is None:
                continue
            if field in ("Memory", "MemorySwap", "MemoryReservation", "KernelMemory") and isinstance(v, str):
                v = -1 if v == "-1" else parse_bytes(v)
            res[field] = v
        warnings = _update.update(self.client._engine, self.id, res, kwargs.get("restart_policy"))
        self.reload()
        return {"Warnings": warnings or None}


class ContainerCollection:
    """client.containers"""

    model = Container

    def __init__(self, client: "Client"):
        self.client = client

    def _prepare(self, image, command, kwargs: dict) -> dict:
        opts = _check_run_args(kwargs)
        opts["command"] = command
        for k in ("use_config_proxy", "version"):
            opts.pop(k, None)
        return opts

    def create(self, image, command=None, **kwargs) -> Container:
        """Creates a container (not started). Options as the SDK's ``containers.create``."""
        from layerbox.container import views

        if isinstance(image, Image):
            image = image.id
        engine = self.client._engine
        c = engine.create_container(image, **self._prepare(image, command, kwargs))
        return Container(views.inspect(engine, c), self.client, self)

    def run(self, image, command=None, stdout: bool = True, stderr: bool = False,
            remove: bool = False, **kwargs):
        """Runs a container. With ``detach=True`` returns the Container; otherwise waits and
        returns its output (stdout, and stderr when asked), raising ContainerError on a
        non-zero exit."""
        if isinstance(image, Image):
            image = image.id
        detach = kwargs.pop("detach", False)
        stream = kwargs.pop("stream", False)
        if detach and remove:
            kwargs["auto_remove"] = True
        kwargs["detach"] = detach
        engine = self.client._engine
        cid, _ = engine.run(image, remove_on_failure=remove, **self._prepare(image, command, kwargs))
        container = self.get(cid) if not kwargs.get("auto_remove") else Container(
            {"Id": cid, "Name": "", "State": {"Status": "running"}, "Config": {}}, self.client, self)
        if detach:
            return container
        code = engine.wait(cid)["StatusCode"]
        out = b""
        try:
            out = container.logs(stdout=stdout, stderr=stderr)
            err = container.logs(stdout=False, stderr=True) if code != 0 else None
        except _errors.NotFound:
            err = None
        if remove:
            try:
                engine.remove(cid, force=True)
            except _errors.NotFound:
                pass
        if code != 0:
            raise _errors.ContainerError(container, code, command, image, err)
        return iter([out]) if stream else out

    def get(self, container_id: str) -> Container:
        from layerbox.container import views

        engine = self.client._engine
        return Container(views.inspect(engine, engine.get(container_id)), self.client, self)

    def list(self, all: bool = False, before=None, filters: dict | None = None, limit: int = -1,
             since=None, sparse: bool = False, ignore_removed: bool = False) -> list:
        from layerbox.container import views

        engine = self.client._engine
        flt = {k: (v if isinstance(v, list) else [v]) for k, v in (filters or {}).items()}
        flt = {k: [str(x).lower() if isinstance(x, bool) else str(x) for x in v] for k, v in flt.items()}
        show_all = all or limit > 0 or "status" in flt
        items = engine.filter(engine.list(all=show_all), flt)
        if limit > 0:
            items = items[:limit]
        return [Container(views.inspect(engine, c), self.client, self) for c in items]

    def prune(self, filters: dict | None = None) -> dict:
        flt = {k: (v if isinstance(v, list) else [v]) for k, v in (filters or {}).items()}
        return self.client._engine.prune(filters=flt)


class Image(Model):
    @property
    def tags(self) -> list:
        return [t for t in self.attrs.get("RepoTags") or [] if t != "<none>:<none>"]

    @property
    def labels(self) -> dict:
        return (self.attrs.get("Config") or {}).get("Labels") or {}

    @property
    def short_id(self) -> str:
        return self.id[:19]

    def history(self) -> list:
        from layerbox.image import views

        return views.history(self.client._images, self.id)

    def tag(self, repository: str, tag: str | None = None, force: bool = False) -> bool:
        # force: accepted as the SDK accepts it (docker dropped it in API 1.24: tags always move)
        self.client._images.tag(self.id, f"{repository}:{tag}" if tag else repository)
        return True

    def save(self, chunk_size: int = 2 * 1024 * 1024, named: bool = False) -> Iterator[bytes]:
        from layerbox.image import archive

        refs = [self.tags[0]] if named is True and self.tags else ([named] if isinstance(named, str) else [self.id])
        return archive.save_chunks(self.client._images, refs, chunk_size)


class ImageCollection:
    """client.images"""

    model = Image

    def __init__(self, client: "Client"):
        self.client = client

    def get(self, name: str) -> Image:
        from layerbox.image import views

        images = self.client._images
        return Image(views.inspect(images, images.resolve(name)), self.client, self)

    def list(self, name: str | None = None, all: bool = False, filters: dict | None = None) -> list:
        from layerbox.image import views

        images = self.client._images
        rows = views.image_rows(images, all_=all)
        ids = []
        for r in rows:
            if r["FullID"] not in ids:
                ids.append(r["FullID"])
        out = [Image(views.inspect(images, i), self.client, self) for i in ids]
        if name:
            from layerbox.image.reference import normalize

            key = normalize(name) if ":" in name.rpartition("/")[2] else None
            out = [i for i in out if any((t == key) if key else t.rpartition(":")[0] == name
                                         for t in i.tags)]
        flt = filters or {}
        if "dangling" in flt:
            want = str(flt["dangling"]).lower() in ("true", "1")
            out = [i for i in out if (not i.tags) == want]
        if "label" in flt:
            for lab in flt["label"] if isinstance(flt["label"], list) else [flt["label"]]:
                k, eq, v = lab.partition("=")
                out = [i for i in out if k in i.labels and (not eq or i.labels[k] == v)]
        return out

    def remove(self, image: str, force: bool = False, noprune: bool = False) -> list:
        return self.client._images.remove(image, force=force, prune=not noprune).lines

    def prune(self, filters: dict | None = None) -> dict:
        dangling = str((filters or {}).get("dangling", True)).lower() in ("true", "1")
        return self.client._images.prune(all_=not dangling)

    def load(self, data) -> list:
        from layerbox.image import archive

        return [self.get(i) for i in archive.load_bytes(self.client._images, data)]

    def import_image(self, src, repository: str | None = None, tag: str | None = None,
                     changes=None, message: str = "") -> Image:
        from layerbox.image.importer import import_tar

        ref = f"{repository}:{tag}" if repository and tag else repository
        return self.get(import_tar(self.client._images, src, ref, changes or [], message))

    def build(self, **kwargs):
        from layerbox.builder import api as _build

        image_id, logs = _build.build(self.client._engine, **kwargs)
        return self.get(image_id), logs

    def pull(self, repository: str, tag: str | None = None, all_tags: bool = False, **kwargs):
        """The images pulled; with stream=True (docker's APIClient.pull) a generator of
        docker's progress messages instead (dicts with decode=True)."""
        from layerbox.registry import api as _reg

        if kwargs.get("stream"):
            return _reg.pull_stream(self.client._images, repository, tag, all_tags=all_tags,
                                    platform=kwargs.get("platform"),
                                    auth_config=kwargs.get("auth_config"),
                                    decode=bool(kwargs.get("decode")))
        ids = _reg.pull(self.client._images, repository, tag, all_tags=all_tags,
                        platform=kwargs.get("platform"), auth_config=kwargs.get("auth_config"))
        got = [self.get(i) for i in ids]
        return got if all_tags else got[0]

    def push(self, repository: str, tag: str | None = None, **kwargs):
        from layerbox.registry import api as _reg

        return _reg.push(self.client._images, repository, tag, **kwargs)

    def search(self, term: str, **kwargs):
        raise _errors.InvalidArgument("image search is not supported by layerbox (it has no index "
                                      "to search)")

    def get_registry_data(self, name: str, auth_config=None):
        raise _errors.InvalidArgument("registry data (distribution) is not supported by layerbox")


class Network(Model):
    @property
    def name(self) -> str:
        return self.attrs["Name"]

    @property
    def containers(self) -> list:
        return [self.client.containers.get(cid) for cid in self.attrs.get("Containers") or {}]

    def reload(self) -> None:
        self.attrs = self.collection._doc(self.id)

    def remove(self) -> None:
        self.collection._nets().remove(self.id)

    def connect(self, container, aliases=None, links=None, ipv4_address=None, ipv6_address=None,
                link_local_ips=None, driver_opt=None, mac_address=None) -> None:
        """docker-py's Network.connect: ipv4_address and aliases; the others are refused."""
        for k, v in (("links", links), ("ipv6_address", ipv6_address),
                     ("link_local_ips", link_local_ips), ("driver_opt", driver_opt),
                     ("mac_address", mac_address)):
            if v:
                raise _errors.InvalidArgument(f"network connect: {k} is not supported by layerbox")
        from layerbox.network import endpoints

        ref = container.id if hasattr(container, "id") else container
        endpoints.connect(self.client._engine, self.id, ref, ip=ipv4_address,
                          aliases=list(aliases or ()))

    def disconnect(self, container, force: bool = False) -> None:
        from layerbox.network import endpoints

        ref = container.id if hasattr(container, "id") else container
        endpoints.disconnect(self.client._engine, self.id, ref, force=force)


class NetworkCollection:
    """client.networks"""

    model = Network

    def __init__(self, client: "Client"):
        self.client = client

    def _nets(self):
        from layerbox.network import Networks

        return Networks(self.client._store)

    def _doc(self, ref: str) -> dict:
        from layerbox.cli.actions.network import inspect_doc

        class _Ctx:  # what inspect_doc reads: the store and the engine
            store = self.client._store
            engine = self.client._engine

        return inspect_doc(_Ctx, ref)

    def create(self, name: str, driver: str | None = None, options: dict | None = None,
               ipam: dict | None = None, internal: bool = False, labels: dict | None = None,
               **kwargs) -> Network:
        unknown = set(kwargs) - {"enable_ipv6", "attachable", "ingress", "scope", "check_duplicate"}
        if unknown:
            raise TypeError(f"create() got an unexpected keyword argument '{sorted(unknown)[0]}'")
        for k in ("enable_ipv6", "attachable", "ingress", "scope"):
            if kwargs.get(k):
                raise _errors.InvalidArgument(f"network option {k} is not supported by layerbox")
        subnet = gateway = ip_range = None
        pools = (ipam or {}).get("Config") or (ipam or {}).get("pool_configs") or []
        if pools:
            pool = pools[0]
            subnet = pool.get("Subnet") or pool.get("subnet")
            gateway = pool.get("Gateway") or pool.get("gateway")
            ip_range = pool.get("IPRange") or pool.get("iprange")
        doc = self._nets().create(name, driver=driver or "bridge", subnet=subnet, gateway=gateway,
                                  ip_range=ip_range, internal=internal, labels=labels,
                                  options=options)
        return self.get(doc["Id"])

    def get(self, network_id: str, verbose: bool | None = None, scope: str | None = None) -> Network:
        if verbose or scope not in (None, "local"):
            raise _errors.InvalidArgument("networks.get: verbose and a scope other than local are "
                                          "swarm options, not supported by layerbox")
        return Network(self._doc(network_id), self.client, self)

    def list(self, names=None, ids=None, filters: dict | None = None, greedy: bool = False) -> list:
        out = []
        for r in self._nets().list():
            if names and r["Name"] not in names:
                continue
            if ids and r["Id"] not in ids:
                continue
            out.append(self.get(r["Id"]) if r["Driver"] == "bridge" else Network(r, self.client, self))
        return out

    def prune(self, filters: dict | None = None) -> dict:
        return {"NetworksDeleted": self._nets().prune() or None}


class Client:
    """A handle on one store (default: LAYERBOX_ROOT or /var/lib/layerbox)."""

    def __init__(self, root: str | None = None):
        from layerbox.container.engine import ContainerEngine
        from layerbox.image.store import ImageStore
        from layerbox.store import Store

        self._store: Store = Store(root)
        self._images: ImageStore = ImageStore(self._store)
        self._engine: ContainerEngine = ContainerEngine(self._store, self._images)
        self.containers = ContainerCollection(self)
        self.images = ImageCollection(self)
        self.networks = NetworkCollection(self)

    @property
    def root(self) -> str:
        return self._store.root

    def ping(self) -> bool:
        """True when the store can be used; APIError saying why not otherwise (the SDK's ping
        raises APIError when the engine cannot be reached)."""
        try:
            self._store.ensure()
        except OSError as e:
            raise _errors.APIError(f"store {self._store.root}: {(e.strerror or str(e)).lower()}") from None
        return True

    def version(self, api_version: bool = True) -> dict:
        """docker's version document (as the Engine API's GET /version)."""
        from layerbox.sysinfo import version_doc

        return version_doc()["Server"]

    def info(self) -> dict:
        """docker's info document: containers, images, the store, the kernel, cgroups."""
        from layerbox import sysinfo

        return sysinfo.info_doc(self._engine, self._images, self._store)

    def df(self) -> dict:
        """docker's system df document: images, containers and volumes with their sizes."""
        from layerbox import sysinfo

        return sysinfo.df_doc(self._engine)

    def events(self, since=None, until=None, filters: dict | None = None, decode: bool | None = None):
        """The store's events (every client's: the CLI, this API, the Engine API service) as
        docker's dicts (``decode=True``) or JSON bytes: those since ``since``, then those that
        happen, until ``until`` (forever without it)."""
        import json
        import time

        from layerbox import events as _events
        from layerbox.container.logs import parse_time

        def ns(t):
            v = parse_time(t if not hasattr(t, "timestamp") else t.timestamp())
            return None if v is None else int(v * 1_000_000_000)

        since_ns, until_ns = ns(since), ns(until)
        flt = {k: (v if isinstance(v, list) else [v]) for k, v in (filters or {}).items()}
        root = self._store.root

        def gen():
            past, where = _events.read(root, since_ns or 0, until_ns)
            for ev in past if since_ns is not None else ():
                if _events.matches(ev, flt):
                    yield ev
            while until_ns is None or time.time_ns() <= until_ns:
                time.sleep(0.1)
                new, where = _events.read_from(root, where)
                for ev in new:
                    if (until_ns is None or ev.get("timeNano", 0) <= until_ns) and _events.matches(ev, flt):
                        yield ev

        if decode:
            return gen()
        return (json.dumps(ev).encode() for ev in gen())

    def login(self, username: str, password: str | None = None, email=None,
              registry: str | None = None, reauth: bool = False, dockercfg_path=None) -> dict:
        """Checks the credentials against the registry and stores them (as `layerbox login`)."""
        from layerbox.registry import api as _reg

        _reg.login(registry, username, password or "")
        return {"Status": "Login Succeeded"}

    def close(self) -> None:
        """Waits for what this process left to do after answering (a removed container's
        files: see _util.later); exiting the process waits for it as well."""
        from layerbox import _util

        _util.finish_later()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


LayerboxClient = Client
DockerClient = Client


def from_env(**kwargs) -> Client:
    """A Client for the store named by LAYERBOX_ROOT (or the default /var/lib/layerbox)."""
    return Client(root=kwargs.get("root"))
