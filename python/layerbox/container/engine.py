"""The container lifecycle without a daemon.

Every state change happens in the calling process, under the container's lock (an flock on
its directory) and, where images are involved, the store's lock. While a container runs, its
monitor (layerbox-shim) owns state.json; otherwise the commands do. A monitor that died, or a
machine that rebooted, is noticed by the next command that reads the container, which then
reconciles it (see ``_reconcile``).
"""

from __future__ import annotations

import errno
import os

from layerbox import _core, _jsonfast, _util, events
from layerbox.container import process as _process
from layerbox.errors import (Conflict, ContainerNotFound, ImageNotFound, InvalidArgument,
                             LayerboxError, NotFound, StartError, Timeout)
from layerbox.store import Store, fault
from layerbox.store import owner as _store_owner

# Imported where needed (names, users, the image store; plan and config, which only create and
# start use): `exec`, `stop`, `ps` and friends never load them (see tests/cli/test_fastpath.py).

# The monitor binary installed beside the extension (LAYERBOX_SHIM overrides it for development).
SHIM = os.environ.get("LAYERBOX_SHIM") or os.path.join(os.path.dirname(_core.__file__), "layerbox-shim")
SHIM_NET = os.environ.get("LAYERBOX_SHIM_NET") or os.path.join(os.path.dirname(_core.__file__),
                                                                 "layerbox-shim-net")
_SIGKILL = 9
_ZERO_TIME = "0001-01-01T00:00:00Z"
_RUNNING = ("running", "restarting")

# state.json, one schema for its two writers: the monitor (csrc/shim/monitor.cpp) while the
# container runs, the commands (here: _reconcile) otherwise. Each reads what the other wrote:
# commands read the file, and the monitor starts from the state a command hands it in the plan
# (it keeps RestartCount from there). Every field is always present; a field added here must be
# added there. tests/integration/test_lifecycle.py checks the states both sides write.
STATE_SCHEMA = {
    "Status": str, "Running": bool, "Paused": bool, "Restarting": bool, "OOMKilled": bool,
    "Dead": bool, "Pid": int, "ExitCode": int, "Error": str, "StartedAt": str,
    "FinishedAt": str, "RestartCount": int,
    "PidStartTime": int, "MonitorPid": int, "MonitorStartTime": int, "BootId": str,
    # a bridge network's part (layerbox.network): empty on none and host
    "NetworkSettings": dict, "NetworkPorts": list,
    # the healthcheck's (container/health.py; the monitor's Health in csrc/shim/health.hpp):
    # {} without one
    "Health": dict,
}


def _initial_state() -> dict:
    return {
        "Status": "created", "Running": False, "Paused": False, "Restarting": False,
        "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
        "StartedAt": _ZERO_TIME, "FinishedAt": _ZERO_TIME, "RestartCount": 0,
        "PidStartTime": 0, "MonitorPid": 0, "MonitorStartTime": 0, "BootId": "",
        "NetworkSettings": {}, "NetworkPorts": [], "Health": {},
    }


class Container:
    """A container's config and state as read from the store (a snapshot)."""

    __slots__ = ("id", "dir", "config", "state")

    def __init__(self, cid: str, cdir: str, config: dict, state: dict):
        self.id = cid
        self.dir = cdir
        self.config = config
        self.state = state

    @property
    def name(self) -> str:
        return self.config.get("Name", "").lstrip("/")

    @property
    def status(self) -> str:
        return self.state.get("Status", "created")

    @property
    def running(self) -> bool:
        return self.state.get("Status") in ("running", "paused", "restarting")


class ContainerEngine:
    def __init__(self, store: Store, images=None, cgroups=None):
        self.store = store
        self._images = images
        self._cgroups = cgroups
        self._users: dict = {}  # (image id, user spec) -> ResolvedUser
        # The CLI's `run` sets a runtemplate.Recorder: the texts of the one container it makes
        # and what they were computed from, for the compiled launcher's next same `run`.
        self.recorder = None

    @property
    def images(self):
        if self._images is None:
            from layerbox.image.store import ImageStore

            self._images = ImageStore(self.store)
        return self._images

    @property
    def cgroups(self):
        """Where this machine's container cgroups are (container.cgroups.CgroupLayout)."""
        if self._cgroups is None:
            from layerbox.container.cgroups import CgroupLayout

            self._cgroups = CgroupLayout.default()
        return self._cgroups

    @property
    def seccomp_cache(self) -> str:
        """Where compiled seccomp programs are kept (see container/security.py)."""
        return os.path.join(self.store.root, "seccomp")

    # -- lookup ------------------------------------------------------------------------------
    def resolve(self, ref: str) -> str:
        """Container id from a name, a full id or a unique id prefix."""
        if not ref:
            raise InvalidArgument("container name or ID cannot be empty")
        ref = ref.lstrip("/")
        if len(ref) == 64 and os.path.isdir(os.path.join(self.store.containers, ref)):
            return ref
        try:
            target = os.readlink(os.path.join(self.store.names, ref))
            if os.path.isdir(os.path.join(self.store.containers, target)):
                return target
        except OSError:
            pass  # not a name (ENOENT) or not a link: try it as an id prefix
        try:
            ids = os.listdir(self.store.containers)
        except FileNotFoundError:
            ids = []
        matches = [i for i in ids if i.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise Conflict(f"multiple IDs found with provided prefix: {ref}")
        raise ContainerNotFound(f"No such container: {ref}")

    def get(self, ref: str, reconcile: bool = True) -> Container:
        cid = self.resolve(ref)
        return self.load(cid, reconcile=reconcile)

    def load(self, cid: str, reconcile: bool = True, wait: bool = True) -> Container:
        """The container `cid` as its files say, reconciled with its monitor (one found gone
        is settled under the container's lock; `wait=False`: WouldWait instead of taking it)."""
        cdir = os.path.join(self.store.containers, cid)
        from layerbox import shape

        try:
            config = shape.read(os.path.join(cdir, "config.json"), shape.CONTAINER_CONFIG_FILE,
                                error=shape.damaged)
        except FileNotFoundError:
            raise ContainerNotFound(f"No such container: {cid}") from None
        try:
            state = shape.read(os.path.join(cdir, "state.json"), shape.CONTAINER_STATE_FILE,
                               error=shape.damaged)
        except FileNotFoundError:
            state = _initial_state()  # never started
        c = Container(cid, cdir, config, state)
        if reconcile and state.get("Status") in _RUNNING:
            if not self._monitor_alive(state):
                if not wait:
                    raise WouldWait(cid)
                return self._reconcile(cid)
            if state.get("Status") == "running" and self._frozen(cid):
                state["Status"] = "paused"
                state["Paused"] = True
        return c

    def list(self, all: bool = False, wait: bool = True) -> list[Container]:
        """The containers, newest first: all of them, or (the default, `ps`) the running ones,
        found through the running index so that stopped containers cost nothing. `wait=False`:
        WouldWait instead of waiting for a container's lock (see load)."""
        ids = self.ids() if all else self._running_ids()
        out = []
        for cid in ids:
            try:
                c = self.load(cid, wait=wait)
            except NotFound:
                if not all:
                    self._unmark_running(cid)  # removed meanwhile
                continue
            if all or c.running:
                out.append(c)
            else:
                self._unmark_running(cid)
        out.sort(key=lambda c: c.config.get("Created", ""), reverse=True)
        return out

    def count(self, all: bool = False) -> int:
        """How many containers list(all) reads (an upper bound: one removed meanwhile is
        counted)."""
        return len(self.ids() if all else self._running_ids())

    def ids(self) -> list[str]:
        """Every container's id (a directory of the store's; one being removed may be gone
        by the time it is read)."""
        return _listdir(self.store.containers)

    # -- the running index (store.running) ------------------------------------------------------
    # A marker per container that may be running: made before its monitor starts, dropped when
    # a reader sees it stopped (or by rm, or with an --rm container's files). A stale marker
    # costs one load; a missing one would hide a running container, so markers are made
    # first and dropped only under the container's lock.
    def _running_ids(self) -> list[str]:
        try:
            return os.listdir(self.store.running)
        except FileNotFoundError:
            return self._index_running()

    def _index_running(self) -> list[str]:
        """Builds the index of a store that has none (made before it existed): one scan,
        published by rename. Two builders race harmlessly: a rename onto a non-empty index
        fails and the loser's copy goes; onto an empty one, nothing is lost."""
        store = self.store.ensure()
        ids = []
        for cid in _listdir(store.containers):
            try:
                if self.load(cid).running:
                    ids.append(cid)
            except NotFound:
                continue
        tmp = store.mkdtemp("running-index")
        for cid in ids:
            os.close(os.open(os.path.join(tmp, cid), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
        try:
            os.rename(tmp, store.running)
        except OSError:
            _core.remove_tree(tmp)  # another process published one first
        return _listdir(store.running)

    def _mark_running(self, cid: str) -> None:
        # Only its name counts: a hard link of the container's config.json costs no inode (on
        # this ext4 without a journal each new inode is found past those freed in the last
        # seconds, which a churn of containers makes many; and an empty file's would be
        # allocated and freed at every start).
        marker = os.path.join(self.store.running, cid)
        config = os.path.join(self.store.containers, cid, "config.json")
        for _attempt in range(2):
            try:
                os.link(config, marker)
                return
            except FileExistsError:
                return  # marked already (a restart, or a reader's index)
            except FileNotFoundError:
                if os.path.isdir(self.store.running):
                    break  # no config.json to link (cannot be, under the lock): a file then
                self._index_running()
            except OSError:
                break  # a file system without hard links: a file then
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.close(fd)

    def _unmark_running(self, cid: str) -> None:
        """Drops a container seen stopped (or gone) from the index: under its lock, taken
        without waiting (a holder may be starting it: its marker stays, for the next reader),
        and after reading its state again under that lock."""
        import fcntl

        try:
            fd = os.open(os.path.join(self.store.containers, cid),
                         os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            fd = -1  # removed: nothing can start it again
        except OSError:
            return
        try:
            if fd >= 0:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return
                try:
                    if self.load(cid, reconcile=False).running:
                        return
                except NotFound:
                    pass
            try:
                os.unlink(os.path.join(self.store.running, cid))
            except FileNotFoundError:
                pass  # dropped by another reader
        finally:
            if fd >= 0:
                os.close(fd)

    # -- create ------------------------------------------------------------------------------
    def create(self, image: str, **opts) -> str:
        """Creates a container from `image` with docker-py style options; returns its id.
        ``warnings``, a list, gets docker's warnings of the create (as dockerd's answer has
        them), for the front door to show."""
        return self.create_container(image, **opts).id

    def create_container(self, image: str, **opts) -> Container:
        """create(), returning the new container as loaded (without reading it back)."""
        from layerbox.container import names as _names

        from layerbox.container import config as _config
        from layerbox.container import mounts as _mounts

        _config.check_platform(opts.get("platform"))
        warnings = opts.pop("warnings", None)
        store = self.store.ensure()
        name = opts.get("name")
        if name:
            name = name.lstrip("/")
            if not _names.valid(name):
                raise InvalidArgument(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] "
                                      "are allowed")
        cid = os.urandom(32).hex()
        cdir = os.path.join(store.containers, cid)
        with store.lock(shared=True):  # the image cannot be removed under us
            image_id = self.images.resolve(image)
            layers = self.images.layers(image_id)
            cfg = _config.build_config(image_id, image, self.images.config_view(image_id), opts,
                                       volumes_from=self._mount_points_of,
                                       swap_accounted=self.cgroups.swap_limit)
            self._check_swap_limit(cfg["HostConfig"], warnings)
            for key in ("IpcMode", "PidMode"):  # dockerd keeps the other container's full id
                joined = cfg["HostConfig"].get(key) or ""
                if joined.startswith("container:"):
                    cfg["HostConfig"][key] = "container:" + self.resolve(joined[10:])
            mode = cfg["HostConfig"]["NetworkMode"]
            if mode.startswith("container:"):  # docker: "No such container" when missing
                cfg["HostConfig"]["NetworkMode"] = "container:" + self.resolve(mode[10:])
            elif mode not in _config.NETWORK_MODES:
                from layerbox.network import Networks

                Networks(self.store).get(mode)  # NotFound if not
            # Made in tmp/ (named after this process, so a crash leaves only garbage the next
            # command reclaims, name included), published complete by one rename. The staging
            # dir exists before the name points at it: a name whose container is neither
            # published nor being created by a live process is the leftover of a crash.
            staging = store.mkdtemp("create", cid)
            claimed = ""
            try:
                claimed = self._claim_name(cid, name)
                fault("create-named")
                for d in ("upper", "work", "merged"):
                    os.mkdir(os.path.join(staging, d), 0o755)
                cfg["Id"] = cid
                cfg["Name"] = "/" + claimed
                host_net = (cfg["HostConfig"]["NetworkMode"] == "host"
                            or cfg["HostConfig"].get("UTSMode") == "host")
                shared_net = cfg["HostConfig"]["NetworkMode"].startswith("container:")
                if not cfg["Config"]["Hostname"] and not shared_net:  # shared: the other's
                    cfg["Config"]["Hostname"] = os.uname().nodename if host_net else cid[:12]
                cfg["Layers"] = layers
                # docker's: none keeps no log, so names no file
                cfg["LogPath"] = (store.container_log(cid)
                                  if cfg["HostConfig"]["LogConfig"]["Type"] != "none" else "")
                cfg["Driver"] = "overlay"
                _mounts.name_volumes(self.store, cfg["Mounts"])
                # No state.json yet: a container that never started is "created" (one file
                # fewer to write and remove for every container).
                # 0600: the environment in it may hold secrets. Straight into the staging dir,
                # which nobody reads before its rename publishes it whole (no temporary file).
                fd = os.open(os.path.join(staging, "config.json"),
                             os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                try:
                    _util._write_all(fd, _util.dump_json(cfg))
                finally:
                    os.close(fd)
                fault("create-staged")
                os.rename(staging, cdir)
            except BaseException:
                _core.remove_tree(staging)
                if claimed:
                    self._release_name(claimed, cid)
                raise
            if self.recorder is not None and not warnings:
                self.recorder.created(store, cid, claimed, not name, cfg, image, image_id, layers)
        _event(store, "create", cid, name=claimed, image=image)
        return Container(cid, cdir, cfg, _initial_state())

    def _check_swap_limit(self, host: dict, warnings: list | None) -> None:
        """A swap limit on a kernel that does not account swap: as dockerd, the memory is
        limited without swap (MemorySwap -1) and the create's warnings say so (every front
        door shows them: the CLI on stderr, the API in its answer)."""
        if (host.get("MemorySwap") or 0) > 0 and not self.cgroups.swap_limit():
            from layerbox.container.update import NO_SWAP_LIMIT

            host["MemorySwap"] = -1
            if warnings is not None:
                warnings.append(NO_SWAP_LIMIT)

    def _claim_name(self, cid: str, name: str | None) -> str:
        """Claims a name by creating names/<name> -> id: exactly one of two racing creators wins."""
        from layerbox.container import names as _names

        for attempt in range(20):
            n = name or _names.generate(attempt)
            link = os.path.join(self.store.names, n)
            try:
                os.symlink(cid, link)
                return n
            except FileExistsError:
                holder = self._name_holder(link)
                if holder is None:
                    if self._drop_stale_name(link):
                        continue
                    holder = self._name_holder(link) or ""
                if name:
                    raise Conflict(
                        f'Conflict. The container name "/{n}" is already in use by container '
                        f'"{holder}". You have to remove (or rename) that container to be able to '
                        "reuse that name.") from None
        raise Conflict("could not generate a unique container name")

    def _name_holder(self, link: str) -> str | None:
        """The container a name belongs to, or None when the link is stale (its container
        directory is gone: a crash between removing a container and its name)."""
        try:
            holder = os.readlink(link)
        except OSError:
            return ""  # gone meanwhile: held by nobody we can name
        # Its creation staging first: the rename that publishes it comes between the two.
        if self._being_created(holder) or os.path.isdir(os.path.join(self.store.containers, holder)):
            return holder
        return None

    def _being_created(self, cid: str) -> bool:
        from layerbox.store import owner_alive, staging_owner

        try:
            names = os.listdir(self.store.tmp)
        except FileNotFoundError:
            return False
        return any(n.startswith("create-") and n.endswith("-" + cid) and owner_alive(staging_owner(n))
                   for n in names)

    def _drop_stale_name(self, link: str) -> bool:
        """Removes a stale name link. Under a lock on the names directory, so two creators
        cannot both decide it is stale, one of them removing the other's fresh claim."""
        import fcntl

        fd = os.open(self.store.names, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if self._name_holder(link) is None:
                try:
                    os.unlink(link)
                except FileNotFoundError:
                    pass
            return True
        finally:
            os.close(fd)

    def _release_name(self, name: str, cid: str, into: str = "") -> None:
        """Drops names/<name> if it still points at `cid`: unlinked, or moved to `into` (a
        path in staging of ours, removed later)."""
        link = os.path.join(self.store.names, name)
        try:
            if os.readlink(link) == cid:
                if into:
                    os.rename(link, into)
                else:
                    os.unlink(link)
        except OSError:
            pass  # already gone, or taken over by another container: not ours to remove

    # -- run -----------------------------------------------------------------------------------
    def create_fetching(self, image: str, on_missing_image=None, **opts) -> str:
        """create(); when the store lacks the image, ``on_missing_image(image)`` may fetch it
        (returning True) and the create is tried once more."""
        try:
            return self.create(image, **opts)
        except ImageNotFound:
            if on_missing_image is None or not on_missing_image(image):
                raise
        return self.create(image, **opts)

    def run(self, image: str, *, on_missing_image=None, remove_on_failure: bool = False,
            stdin: int = -1, stdout: int = -1, stderr: int = -1, tty_size=(0, 0),
            on_created=None, **opts):
        """`run` for the CLI and the API alike: create (see create_fetching), then start with
        the given fds as the container's attached stdio. A container that fails to start is
        removed when it is --rm or ``remove_on_failure``. Returns (id, the monitor handle)."""
        cid = self.create_fetching(image, on_missing_image, **opts)
        try:
            if on_created is not None:
                on_created(cid)  # --cidfile: written before the start, as docker does
            mon = self.start(cid, stdin=stdin, stdout=stdout, stderr=stderr, tty_size=tty_size)
        except BaseException:
            if remove_on_failure or opts.get("auto_remove"):
                try:
                    self.remove(cid, force=True)
                except NotFound:
                    pass  # --rm: the monitor or start() removed it already
            raise
        return cid, mon

    def prepare_run(self, network_mode: str | None) -> None:
        """For a process about to run one container (the CLI's `run`): its monitor runs from a
        sealed copy of the shim that the process makes once (1.7 MB copied into a memfd, ~1.5
        ms here); a thread makes it now, while this one creates the container and plans its
        start. Not for a process that forks (the copy's lock could be held at the fork)."""
        mode = network_mode or ""
        shim = SHIM if mode in ("none", "host") or mode.startswith("container:") else SHIM_NET
        import _thread

        _thread.start_new_thread(_core.prepare_sealed, (shim,))

    # -- start -------------------------------------------------------------------------------
    def start(self, ref: str, *, stdin: int = -1, stdout: int = -1, stderr: int = -1,
              tty_size=(0, 0), volatile: bool = False):
        """Starts the container; returns the monitor handle (``_core.Monitor``), or None when it
        was already running. The given fds become the container's attached stdio. `volatile`:
        its read-write layer is removed or committed as soon as it ends, never started again
        (a build step's): its overlay is mounted without the sync at unmount (see
        plan.VOLATILE_OPTIONS; an --rm container's always is)."""
        cid = self.resolve(ref)
        with self.store.container_lock(cid):
            c = self.load(cid)
            if c.status == "paused":
                raise Conflict(f"cannot start a paused container, try unpause instead")
            if c.running:
                return None
            try:
                # "start" is the monitor's event (csrc/shim/monitor.cpp), recorded before the
                # process can die: recorded here, it could follow the "die" of a quick exit.
                return self._launch(c, stdin, stdout, stderr, tty_size, volatile)
            except StartError:
                raise  # the monitor recorded it (and removed an --rm container)
            except BaseException:
                if c.config["HostConfig"].get("AutoRemove"):
                    self._remove_files(c.id, c.config)  # --rm: a container that never ran goes
                raise

    def lower_dirs(self, c: Container) -> list[str]:
        """The overlay's lower dirs, top first: paths only (for inspect); _launch unpacks what
        is missing."""
        layers = [self.store.layer_diff(d) for d in reversed(c.config.get("Layers") or [])]
        return [self.store.init_layer, *layers]

    def log_path(self, c: Container) -> str:
        """The container's log file (its LogPath; containers made before LogPath was
        recorded have it in the same place); "" with the none log driver."""
        lc = c.config["HostConfig"].get("LogConfig") or {}
        if lc.get("Type") == "none":
            return ""
        return c.config.get("LogPath") or self.store.container_log(c.id)

    def layer_dirs(self, c: Container) -> list[str]:
        """The container's image layers, top first, unpacked (a committed layer is unpacked
        from its tar when first used)."""
        layers = c.config.get("Layers") or []
        paths = [self.store.layer_diff(d) for d in reversed(layers)]
        if all(os.path.isdir(p) for p in paths):
            return paths
        return self.images.unpacked(layers)

    def _launch(self, c: Container, stdin: int, stdout: int, stderr: int, tty_size,
                volatile: bool = False):
        from layerbox.container import plan as _plan

        cfg = c.config
        lowers = [self.store.init_layer, *self.layer_dirs(c)]
        upper = os.path.join(c.dir, "upper")
        spec = cfg["Config"].get("User") or ""
        # A container that has not written /etc yet sees its image's passwd and group files:
        # resolve once per image and user.
        key = (cfg["Image"], spec) if not os.path.lexists(os.path.join(upper, "etc")) else None
        user = self._users.get(key) if key else None
        if user is None:
            from layerbox.container import users as _users

            read = lambda rel: _users.read_layered([upper, *lowers[1:]], rel)  # noqa: E731
            user = _users.resolve(spec, read)
            if key:
                self._users[key] = user
        if cfg["HostConfig"].get("GroupAdd"):
            from layerbox.container import users as _users

            user = _users.with_groups(user, cfg["HostConfig"]["GroupAdd"], lambda rel: _users.read_layered(
                [upper, *lowers[1:]], rel))
        plan = _plan.build(c.id, c.dir, cfg, lowers, user, volume_source=self._volume_source,
                           tty_size=tty_size, cgroups=self.cgroups,
                           seccomp_cache=self.seccomp_cache,
                           first_start=c.state.get("StartedAt", _ZERO_TIME) == _ZERO_TIME,
                           namespace_of=self._namespace_of, volatile=volatile)
        mode = cfg["HostConfig"].get("NetworkMode") or ""
        if mode.startswith("container:"):
            from layerbox.network import shared

            shared.join(self, c, plan)
        elif cfg["HostConfig"].get("ExtraHosts") and mode in ("none", "host"):
            from layerbox.network import extra_hosts_lines

            for op in plan["mounts"]:
                if op.get("kind") == "file" and op["target"] == "/etc/hosts":
                    op["source"] += extra_hosts_lines(cfg, self.store)
        # Before the monitor exists, so an exec of the running container always finds it.
        base = _util.dump_json(_process.exec_base(plan, self.cgroups.cgroup_for(c.id),
                                                  events.log_part(self.store.root)))
        _util.write_atomic(os.path.join(c.dir, _process.EXEC_BASE), base, mode=0o600)
        host = cfg["HostConfig"]
        state = c.state
        for k in ("ExitCode", "Error"):
            state.pop(k, None)
        state.setdefault("Health", {})  # a state written before health was recorded
        conf = cfg["Config"]
        attach = stdout >= 0
        plan["monitor"] = {
            "dir": c.dir,
            "log": self.log_path(c),
            "state": state,
            "attach_stdin": stdin >= 0,
            "attach_stdout": attach,
            "attach_stderr": stderr >= 0,
            "open_stdin": bool(conf.get("OpenStdin")),
            "restart": host["RestartPolicy"]["Name"],
            "restart_max": host["RestartPolicy"]["MaximumRetryCount"],
            "autoremove": bool(host.get("AutoRemove")),
            "remove_paths": [c.dir, os.path.join(self.store.running, c.id)]
            + self._anonymous_volume_paths(cfg, c.id),
            # and its name link there, found at its exit (see the monitor's paths_to_remove)
            "names_dir": self.store.names,
            # moved into a staging dir there before the exit is reported, removed after it
            "remove_staging": self.store.tmp,
            # start, die (each run and restart) and destroy (--rm) are the monitor's to record
            "events": {**events.log_part(self.store.root), "id": c.id,
                       "attributes": event_attributes(c)},
        }
        self._mark_running(c.id)
        from layerbox.container import logdriver as _logdriver

        plan["monitor"].update(_logdriver.monitor_part(cfg))
        if conf.get("Healthcheck"):
            from layerbox.container import health as _health

            cg = {"version": plan["cgroup"]["version"], "dirs": plan["cgroup"]["dirs"]}
            plan["monitor"]["health"] = _health.monitor_part(cfg, plan, cg, SHIM)
        shim = SHIM
        if mode not in ("none", "host") and not mode.startswith("container:"):
            shim = self._attach_network(c, plan)
        if self.recorder is not None:
            self.recorder.launched(plan, base, shim, (stdin, stdout, stderr))
        return _core.start_monitor(shim, c.dir, _jsonfast.dumps(plan).encode(), stdin, stdout,
                                   stderr)

    def _attach_network(self, c: Container, plan: dict) -> str:
        """Bridge networks: the addresses (claimed here, under the container's lock), the
        monitor's network part, the hosts and resolv.conf files, and NetworkSettings in the
        state. The monitor builds the links and rules; see layerbox.network."""
        from layerbox import network as _network

        cfg = c.config
        ports = _network_ports(cfg)
        cfg["_ports"] = ports
        monitor, settings, ips = _network.attach(self.store, cfg, c.id)
        cfg.pop("_ports")
        plan["monitor"]["network"] = monitor
        c.state["NetworkSettings"] = settings
        c.state["NetworkPorts"] = ports
        for op in plan["mounts"]:
            if op.get("kind") == "file" and op["target"] == "/etc/hosts":
                op["source"] = _network.hosts_file(cfg, ips, op["source"], self.store)
            elif op.get("kind") == "file" and op["target"] == "/etc/resolv.conf":
                op["source"] = _network.resolv_conf(cfg, _network.resolvers(settings))
        return SHIM_NET

    def _mount_points_of(self, ref: str) -> list:
        """--volumes-from: the mount points of container `ref`."""
        return list(self.get(ref, reconcile=False).config.get("Mounts") or ())

    def _namespace_of(self, ref: str, kind: str) -> str:
        """--pid container:ID and --ipc container:ID (the id create resolved): the namespace
        file of a running container's init, with dockerd's rules and words (getPidContainer,
        getIpcContainer). An IPC donor must share its IPC: shareable, host, or itself joined to
        a shareable one; docker's default, private, is refused."""
        what = f"can't join IPC of container {ref}: " if kind == "ipc" else ""
        try:
            other = self.get(ref)
        except NotFound as e:  # removed since create
            raise NotFound(f"{what}{e}") from None
        if other.status != "running":
            raise Conflict(f"{what}container {other.id} is not running")
        mode = other.config["HostConfig"].get("IpcMode") or "private"
        if kind == "ipc" and mode not in ("shareable", "host") and not mode.startswith("container:"):
            raise InvalidArgument(f"{what}non-shareable IPC (hint: use IpcMode:shareable for the "
                                  "donor container)")
        return f"/proc/{other.state['Pid']}/ns/{kind}"

    def volume_binds(self, c: Container) -> list:
        """The container's volumes and binds as the plan's bind operations, without copy-up or
        tmpfs (dockerd's mountVolumes): what `cp` and the archive API reach at those paths in a
        stopped container, as they do through a running one's root."""
        from layerbox.container import mounts as _mounts

        ops = _mounts.plan_ops(c.config.get("Mounts") or (), self._volume_source, False,
                               lambda path, opts: [])
        return [{k: v for k, v in op.items() if k != "propagation"} for op in ops]

    def _volume_source(self, m: dict) -> str:
        if m["Type"] == "bind":
            src = m["Source"]
            if not os.path.exists(src):
                if not m.get("CreateSource", True):
                    raise InvalidArgument(f'invalid mount config for type "bind": bind source '
                                          f"path does not exist: {src}")
                os.makedirs(src, exist_ok=True)  # docker -v creates a missing host directory
            return src
        data = os.path.join(self.store.volumes, m["Name"], "_data")
        from layerbox.volumes import Volumes, mount_of

        vols = Volumes(self.store)
        if not os.path.isdir(data):
            vols.create(m["Name"], options=m.get("DriverOpts"))  # a named volume: on first use
        how = mount_of(vols.options(m["Name"]), data)
        if how["kind"] == "dir":
            return data
        if how["kind"] == "bind":  # type=none,o=bind: the host directory, as the local driver binds it
            if not os.path.isdir(how["source"]):
                raise InvalidArgument(f"error while mounting volume '{data}': failed to mount local "
                                      f"volume: mount {how['source']}:{data}, flags: 0x1000: no such "
                                      "file or directory")
            return {"kind": "bind", "source": how["source"], "recursive": how["recursive"], "ro": how["ro"]}
        # tmpfs: one per set of containers running with it, as the local driver's mount from the
        # first user to the last: a sharer's, cloned from inside its mount namespace, or a new one
        sharer = self._running_user(m["Name"])
        if sharer:
            pid, dest = sharer
            return {"kind": "bind", "source": dest, "source_mntns": f"/proc/{pid}/ns/mnt",
                    "recursive": False, "ro": how["ro"]}
        return {"kind": "fs", "fstype": "tmpfs", "source": "tmpfs", "data": how["data"], "ro": how["ro"]}

    def _running_user(self, volume: str):
        """(pid, mount path) of a running container that has `volume` mounted, or None."""
        from layerbox.volumes import Volumes

        for cid in Volumes(self.store).users().get(volume, ()):
            try:
                c = self.load(cid)
            except NotFound:
                continue  # removed meanwhile
            pid = c.state.get("Pid") or 0
            if not c.running or not pid or _core.process_start_time(pid) != c.state.get("PidStartTime"):
                continue
            for p in c.config.get("Mounts") or ():
                if p.get("Type") == "volume" and p.get("Name") == volume:
                    return pid, p["Destination"]
        return None

    def _anonymous_volume_paths(self, cfg: dict, cid: str = "") -> list[str]:
        """The container's own anonymous volumes that no other container mounts (one that
        --volumes-from shares stays, as docker keeps a volume in use)."""
        names = [m["Name"] for m in cfg.get("Mounts") or () if m.get("Anonymous")]
        if names:
            from layerbox.volumes import Volumes

            users = Volumes(self.store).users()
            names = [n for n in names if not set(users.get(n, ())) - {cid}]
        return [os.path.join(self.store.volumes, n) for n in names]

    # -- monitor liveness and reconciliation --------------------------------------------------
    def _monitor_alive(self, state: dict) -> bool:
        pid = state.get("MonitorPid") or 0
        if not pid:
            return False
        if state.get("BootId") and state["BootId"] != _boot_id():
            return False
        return _core.process_start_time(pid) == state.get("MonitorStartTime")

    def _reconcile(self, cid: str) -> Container:
        """The monitor is gone (killed, or the machine rebooted): whatever is left of the
        container goes, and the state says so. Done once, under the container's lock."""
        cdir = os.path.join(self.store.containers, cid)
        with self.store.container_lock(cid):
            c = self.load(cid, reconcile=False)
            config, state = c.config, c.state
            if state.get("Status") in _RUNNING and not self._monitor_alive(state):
                rebooted = state.get("BootId") and state["BootId"] != _boot_id()
                if not rebooted and state.get("Pid"):
                    _core.signal_process(state["Pid"], state.get("PidStartTime", 0), _SIGKILL)
                cg = _core.Cgroup(self.cgroups.cgroup_for(cid))
                if not rebooted:
                    try:
                        cg.signal_all(_SIGKILL)
                    except OSError:
                        pass  # the cgroup is gone already: nothing left to kill
                try:
                    cg.destroy()
                except OSError:
                    pass  # gone already, or still busy: the state records the exit either way
                if state.get("NetworkSettings") and not rebooted:
                    from layerbox import network as _network

                    _network.cleanup_after_crash(self.store, cid, state)
                why = ("the host rebooted while the container was running" if rebooted else
                       f"container monitor (pid {state.get('MonitorPid')}) exited unexpectedly")
                state.update(Status="exited", Running=False, Paused=False, Restarting=False,
                             Pid=0, ExitCode=255, Error=why, FinishedAt=_util.now_rfc3339(),
                             MonitorPid=0)
                _util.write_atomic(os.path.join(cdir, "state.json"), _util.dump_json(state), mode=0o600)
                try:
                    os.unlink(os.path.join(cdir, "monitor.sock"))
                except FileNotFoundError:
                    pass
                if config["HostConfig"].get("AutoRemove"):
                    self._remove_files(cid, config)
                    raise ContainerNotFound(f"No such container: {cid}")
                c = Container(cid, cdir, config, state)
                policy = config["HostConfig"].get("RestartPolicy", {}).get("Name")
                if rebooted and policy in ("always", "unless-stopped"):
                    # What docker's daemon does when it comes up after a reboot; without a
                    # daemon, the first command that looks at the container does it.
                    try:
                        self._launch(c, -1, -1, -1, (0, 0)).close()
                        c = self.load(cid, reconcile=False)
                    except (StartError, OSError) as e:
                        state["Error"] = f"restart after reboot failed: {e}"
                        _util.write_atomic(os.path.join(cdir, "state.json"), _util.dump_json(state), mode=0o600)
                return c
            return Container(cid, cdir, config, state)

    def _frozen(self, cid: str) -> bool:
        cg = self.cgroups
        if cg.version == 1:
            path = f"{cg.base}/freezer/{cg.parent}/{cid}/freezer.state"
            try:
                with open(path) as f:
                    return f.read().strip() == "FROZEN"
            except OSError:
                return False  # no freezer cgroup: the container is not running, so not frozen
        try:
            with open(f"{cg.base}/{cg.parent}/{cid}/cgroup.events") as f:
                return "frozen 1" in f.read()
        except OSError:
            return False  # no cgroup: the container is not running, so not frozen

    # -- stop, kill, wait, pause --------------------------------------------------------------
    def _connect(self, c: Container):
        return _core.connect_monitor(c.dir)

    def stdin_of(self, ref: str) -> int:
        """A descriptor that writes to the running container's stdin (the pipe of an -i
        container, or its terminal's master), handed over by its monitor; the caller owns and
        closes it. Conflict when the container has none to give."""
        import array
        import socket

        c = self.get(ref)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        dfd = os.open(c.dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC) as s:
                s.settimeout(15)
                try:
                    s.connect(f"/proc/self/fd/{dfd}/monitor.sock")  # any length of c.dir
                    s.send(b"stdin")
                    msg, anc, _flags, _addr = s.recvmsg(4096, socket.CMSG_SPACE(4),
                                                        socket.MSG_CMSG_CLOEXEC)
                except OSError:
                    raise Conflict(f"Container {c.id} is not running") from None
        finally:
            os.close(dfd)
        fds = array.array("i")
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
        doc = _jsonfast.loads(msg) if msg else {}
        if not doc.get("ok") or not fds:
            for fd in fds:
                os.close(fd)
            raise Conflict(f"cannot attach to the stdin of container {c.id[:12]}: "
                           f"{doc.get('message') or 'its monitor did not answer'}")
        for fd in fds[1:]:  # one is asked for: anything more is not ours to keep open
            os.close(fd)
        return fds[0]

    def close_stdin(self, ref: str) -> None:
        """Closes the running container's stdin pipe (its monitor's end; the end of an
        attached client's input with StdinOnce, as docker's)."""
        c = self.get(ref)
        if c.running:
            ask_monitor(c, "stdin-close", {})

    def wait(self, ref: str, timeout: float | None = None) -> dict:
        """Blocks until the container exits; returns {"StatusCode": n, "Error": None}."""
        import time

        cid = self.resolve(ref)
        cdir = os.path.join(self.store.containers, cid)
        deadline = None if timeout is None else time.monotonic() + timeout
        # A monitor that answers is the container's, running (or finishing: it accepts and
        # answers every connection until its final state is written), so the state is read
        # only when none does: a container that is not running, or a monitor that is gone
        # (reconciled by load). One connect instead of a load (two files, /proc, the
        # freezer) before it.
        conn = _core.connect_monitor(cdir)
        while True:
            if conn is not None:
                try:
                    left = -1 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
                    r = conn.wait(left)
                finally:
                    conn.close()
                if r["exited"]:  # each exit, as docker's wait, restart policy or not
                    return {"StatusCode": r["exit_code"], "Error": None}
                if deadline is not None and time.monotonic() >= deadline:
                    raise Timeout(f"timed out waiting for container {cid[:12]}")
            c = self.load(cid)
            if not c.running:
                return {"StatusCode": c.state.get("ExitCode", 0), "Error": None}
            conn = self._connect(c)
            if conn is None:
                # The monitor is finishing (its final state is written before its socket
                # closes) or gone (reconciled by the next load): look again.
                time.sleep(0.001)
                if deadline is not None and time.monotonic() >= deadline:
                    raise Timeout(f"timed out waiting for container {cid[:12]}")

    def kill(self, ref: str, signal="SIGKILL") -> Container:
        from layerbox import signals as _signals

        sig = _signals.parse(signal)
        c = self.get(ref)
        if not c.running:
            raise Conflict(f"Cannot kill container: {ref}: Container {c.id} is not running")
        stop_sig = _signals.parse(c.config["Config"].get("StopSignal") or "SIGTERM")
        if sig in (_SIGKILL, stop_sig):
            self._mark_stopping(c)  # as docker: no restart after a user's kill
        self._signal(c, sig)
        _event(self.store, "kill", c.id, name=c.name, signal=sig)
        return c

    def _mark_stopping(self, c: Container) -> None:
        conn = self._connect(c)
        if conn is not None:
            try:
                conn.request("stop", 2000)
            except OSError:
                pass  # the monitor is ending (or gone: the next read reconciles)
            finally:
                conn.close()

    def _signal(self, c: Container, sig: int) -> None:
        st = c.state
        if st.get("Pid"):
            _core.signal_process(st["Pid"], st.get("PidStartTime", 0), sig)
        if sig == _SIGKILL or c.status == "paused":
            # A frozen process cannot act on a signal: thaw so it can die (docker does too).
            cg = _core.Cgroup(self.cgroups.cgroup_for(c.id))
            if cg.frozen():
                cg.thaw()

    def stop(self, ref: str, timeout: float | None = None, signal=None) -> Container:
        """StopSignal to the container's init, SIGKILL after `timeout` seconds (default 10,
        or the container's StopTimeout). Killing the init ends every process of the
        container, since they share its PID namespace."""
        c = self.get(ref)
        if not c.running:
            return c
        if timeout is None:
            timeout = c.config["Config"].get("StopTimeout") or 10
        self._mark_stopping(c)
        conn = self._connect(c)
        try:
            from layerbox import signals as _signals

            sig = _signals.parse(signal or c.config["Config"].get("StopSignal") or "SIGTERM")
            self._signal(c, sig)
            if conn is not None:
                r = conn.wait(max(0, int(timeout * 1000)))
                if r["exited"]:
                    return c
            self._signal(self.load(c.id), _SIGKILL)
            if conn is not None:
                conn.wait(30000)
        finally:
            if conn is not None:
                conn.close()
            _event(self.store, "stop", c.id, name=c.name)
        return c

    def pause(self, ref: str) -> None:
        c = self.get(ref)
        if c.status == "paused":
            raise Conflict(f"Container {c.id} is already paused")
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        try:
            _core.Cgroup(self.cgroups.cgroup_for(c.id)).freeze()
        except OSError as e:
            # Its cgroup went with it: it stopped between the check and the freeze.
            if e.errno == errno.ENOENT and not self.get(c.id).running:
                raise Conflict(f"Container {c.id} is not running") from None
            raise
        _event(self.store, "pause", c.id, name=c.name)

    def unpause(self, ref: str) -> None:
        c = self.get(ref)
        if c.status != "paused":
            raise Conflict(f"Container {c.id} is not paused")
        _core.Cgroup(self.cgroups.cgroup_for(c.id)).thaw()
        _event(self.store, "unpause", c.id, name=c.name)

    def restart(self, ref: str, timeout: float | None = None) -> None:
        c = self.stop(ref, timeout)
        self.wait(c.id)
        self.start(c.id)

    # -- remove -------------------------------------------------------------------------------
    def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        cid = self.resolve(ref)
        for _attempt in range(3):
            try:
                with self.store.container_lock(cid):
                    c = self.load(cid)
                    if not c.running:
                        self._remove_files(c.id, c.config, volumes)
                        _event(self.store, "destroy", c.id, name=c.name)
                        return
            except (FileNotFoundError, ContainerNotFound):
                return  # removed by its monitor (--rm) meanwhile
            if not force:
                raise Conflict(f"You cannot remove a running container {c.id}. Stop the container "
                               "before attempting removal or force remove")
            # Killed and waited for outside the lock: the monitor takes it to finish.
            self._mark_stopping(c)
            conn = self._connect(c)
            self._signal(c, _SIGKILL)
            if conn is not None:
                try:
                    conn.wait(30000)
                finally:
                    conn.close()
        raise Conflict(f"container {cid} keeps running; could not remove it")

    def _remove_files(self, cid: str, config: dict, volumes: bool = True) -> None:
        cdir = os.path.join(self.store.containers, cid)
        # Out of sight at once, into staging of ours: a crash from here on leaves garbage
        # that the next command reclaims (its name too), never half a container.
        gone = os.path.join(self.store.tmp, f"rm-{_store_owner()}-{cid}")
        os.rename(cdir, gone)
        fault("rm-moved")
        # The name is moved in with the rest (a symlink to a 64-character id has a block of
        # its own: its unlink waits for the disk's discard here, ~2 ms), so it is free now
        # and unlinked with the files, after the answer.
        self._release_name(config.get("Name", "").lstrip("/"), cid, into=os.path.join(gone, ".name"))
        try:
            os.unlink(os.path.join(self.store.running, cid))
        except FileNotFoundError:
            pass  # never started, or seen stopped
        if volumes:
            for p in self._anonymous_volume_paths(config):
                _core.remove_tree(p)
        fault("rm-unnamed")
        # The container is gone for everyone from here (renamed into our staging): its files
        # (upper, work, merged, state, config: ~10 unlinks, 5 ms and more on this disk under
        # load) go after the caller has its answer, on this process's worker.
        _util.later(_core.remove_tree, gone)
        image = config.get("Image", "")
        if (image and not os.path.exists(self.store.image_record(image))
                and image not in self.images._staged):  # a build's step image, record to come
            # Its image was removed with `rmi -f` while this container kept its layers: now
            # nothing may be left using them.
            with self.store.lock():
                self.images.gc_locked()

    def rename(self, ref: str, new_name: str) -> None:
        from layerbox.container import names as _names

        new_name = new_name.lstrip("/")
        if not _names.valid(new_name):
            raise InvalidArgument(f"Invalid container name ({new_name}), only "
                                  "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        cid = self.resolve(ref)
        with self.store.container_lock(cid):
            c = self.load(cid)
            old = c.name
            if old == new_name:
                raise Conflict(f"Renaming a container with the same name as its current name")
            self._claim_name(cid, new_name)
            c.config["Name"] = "/" + new_name
            _util.write_atomic(os.path.join(c.dir, "config.json"), _util.dump_json(c.config), mode=0o600)
            self._release_name(old, cid)
        _event(self.store, "rename", cid, name=new_name, oldName=old)

    def filter(self, containers: list, filters: dict) -> list:
        """docker ps --filter: status, name, id, label, ancestor, exited (values of one key OR,
        except label's, which all must match; keys AND)."""
        if not filters:
            return containers
        known = {"status", "name", "id", "label", "ancestor", "exited", "health"}
        for k in filters:
            if k not in known:
                raise InvalidArgument(f"invalid filter '{k}'")
        for s in filters.get("status", ()):
            if s not in ("created", "restarting", "running", "removing", "paused", "exited", "dead"):
                raise InvalidArgument(f"invalid filter 'status={s}'")
        for h in filters.get("health", ()):
            if h not in ("starting", "healthy", "unhealthy", "none"):
                raise InvalidArgument(f"Unrecognised filter value for health: {h}")
        ancestors = set()
        for a in filters.get("ancestor", ()):
            try:
                ancestors.add(self.images.resolve(a))
            except Exception:  # an unknown ancestor matches nothing, as docker
                ancestors.add(a)

        def ok(c):
            labels = c.config["Config"].get("Labels") or {}
            tests = {
                "status": lambda v: c.status == v,
                "name": lambda v: _name_matches(v, c.name),
                "id": lambda v: c.id.startswith(v),
                "label": lambda v: (labels.get(v.partition("=")[0]) == v.partition("=")[2])
                if "=" in v else v in labels,
                "exited": lambda v: c.status == "exited" and str(c.state.get("ExitCode")) == v,
                "health": lambda v: _health_word(c) == v,
                "ancestor": lambda v: c.config.get("Image") in ancestors
                or c.config["Config"].get("Image") in filters["ancestor"],
            }
            # label filters all apply (docker ANDs them), the others' values are alternatives
            return all((all if k == "label" else any)(tests[k](v) for v in vals)
                       for k, vals in filters.items())

        return [c for c in containers if ok(c)]

    def prune(self, filters: dict | None = None) -> dict:
        deleted = []
        cands = self.filter(self.list(all=True), {k: v for k, v in (filters or {}).items()
                                                  if k == "label"})
        for c in cands:
            if c.status in ("exited", "created", "dead"):
                try:
                    self.remove(c.id)
                    deleted.append(c.id)
                except (NotFound, Conflict):
                    pass
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": 0}

    def top(self, ref: str, ps_args: str = "") -> dict:
        """docker top: the host's ps with `ps_args` (default -ef) over the container's
        processes (container/top.py)."""
        from layerbox.container import top as _top

        c = self.get(ref)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        _top.validate_ps_args(ps_args)
        pids = list(_core.Cgroup(self.cgroups.cgroup_for(c.id)).procs())
        return _top.top(pids, ps_args)


class WouldWait(Exception):
    """A call told not to wait would have waited for a container's lock (the container named:
    its monitor is gone, and settling it takes the lock)."""


class MonitorRefused(LayerboxError):
    """A running container's monitor could not do what it was asked (a network endpoint, an
    update of its limits)."""


def ask_monitor(c: Container, verb: str, req: dict, timeout_ms: int = 15000) -> dict:
    """One request to the container's monitor ("VERB {json}" on its socket, answered with
    {"ok", "message", ...}; see csrc/shim/monitor.cpp on_control). Raises MonitorRefused."""
    conn = _core.connect_monitor(c.dir)
    if conn is None:
        raise MonitorRefused(f"container {c.id[:12]}: its monitor is gone (it stopped meanwhile)")
    try:
        reply = conn.request(verb + " " + _jsonfast.dumps(req), timeout_ms)
    finally:
        conn.close()
    if not reply:
        raise MonitorRefused(f"container {c.id[:12]}: its monitor did not answer the {verb} request")
    doc = _jsonfast.loads(reply)
    if not doc.get("ok"):
        raise MonitorRefused(f"container {c.id[:12]}: {doc.get('message') or verb + ' request failed'}")
    return doc


def _event(store, action: str, cid: str, **attributes) -> None:
    """A container event in the store's event log (layerbox.events), for every client."""
    events.record(store, "container", action, cid, attributes)


def event_attributes(c: Container) -> dict:
    """What docker's container events carry: its labels, name and image."""
    labels = c.config["Config"].get("Labels") or {}
    return {**{k: str(v) for k, v in labels.items()}, "name": c.name,
            "image": c.config["Config"].get("Image") or ""}


def _health_word(c) -> str:
    from layerbox.container import health as _health

    return _health.status_word(c)


def _network_ports(cfg: dict) -> list:
    """The published ports of a start: -p bindings, and with -P every exposed port; a host
    port left empty (or a range) gets a free one, as docker does."""
    host = cfg["HostConfig"]
    bindings = dict(host.get("PortBindings") or {})
    if host.get("PublishAllPorts"):
        for p in cfg["Config"].get("ExposedPorts") or {}:
            bindings.setdefault(p if "/" in p else p + "/tcp", [{"HostIp": "", "HostPort": ""}])
    out = []
    for key, binds in bindings.items():
        port, _, proto = key.partition("/")
        for b in binds or ():
            hp = str(b.get("HostPort") or "")
            hip = b.get("HostIp") or ""
            if hip in ("0.0.0.0",):
                hip = ""
            if not hp or "-" in hp:
                hp = _free_port(proto or "tcp", hip, hp)
            out.append({"proto": proto or "tcp", "host_ip": hip, "host_port": int(hp),
                        "port": int(port)})
    return out


def _free_port(proto: str, ip: str, span: str) -> int:
    """A host port nothing is bound to (the kernel's ephemeral range, as docker), or the first
    free one of a range "a-b". The monitor binds it again to hold it."""
    import socket

    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    candidates = [0]
    if span:
        a, _, b = span.partition("-")
        candidates = list(range(int(a), int(b) + 1))
    for port in candidates:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((ip or "0.0.0.0", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise Conflict(f"Bind for {ip or '0.0.0.0'}:{span} failed: port is already allocated")


_BOOT_ID = None


def _boot_id() -> str:
    global _BOOT_ID
    if _BOOT_ID is None:
        _BOOT_ID = _core.boot_id()
    return _BOOT_ID


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


_REGEX_CHARS = frozenset(".^$*+?()[]{}|\\")


def _name_matches(pattern: str, name: str) -> bool:
    """docker's name filter: a regular expression searched in "/NAME" and in "NAME" (`^web$`,
    `^/web`). A pattern with no special character is a substring test, so the common case
    does not load `re`; a pattern that does not compile matches nothing, as docker's."""
    if not _REGEX_CHARS.intersection(pattern):
        return pattern in "/" + name
    import re

    try:
        rx = re.compile(pattern)
    except re.error:
        return False
    return bool(rx.search("/" + name) or rx.search(name))
