"""The builder: a parsed Dockerfile and a build context in, an image out, as docker's classic
builder makes it.

Each step of a stage starts from the image of the step before:

- metadata instructions (ENV, LABEL, CMD, ENTRYPOINT, USER, EXPOSE, VOLUME, STOPSIGNAL,
  HEALTHCHECK, SHELL, ARG, ONBUILD, MAINTAINER) only change the config: a new image with the
  same layers and an ``empty_layer`` history entry (docker's ``/bin/sh -c #(nop)  ...``). No
  container is made for them (docker makes one and commits it unchanged), so their output has
  no "Running in" lines;
- RUN runs the command in a container of the previous image (on the default bridge unless
  the build says none or host, as docker's classic builder), with the config's Env plus the build args in scope; a non-zero exit stops the
  build; the container's read-write layer becomes the step's layer (none when it changed
  nothing: ``empty_layer``, as docker);
- COPY, ADD and WORKDIR write through an overlay of the previous image's layers mounted in a
  private mount namespace of a helper thread (:mod:`layerbox.builder.files`), so every
  destination is resolved inside the image's root; the overlay's upper directory becomes the
  layer.

Every step's image is kept, a child of the one before (``images -a`` shows them as <none>; rmi
of the final image prunes them), and the build cache (:mod:`layerbox.builder.cache`) maps what a
step depends on to the image it made. Stages are built in order, only those the target needs.
"""

from __future__ import annotations

import os
import posixpath

from layerbox import _util
from layerbox.container.process import DEFAULT_PATH
from layerbox.errors import (BuildError, ImageNotFound, InvalidArgument, LayerboxError, NotFound,
                             describe)

from . import dockerfile as D
from .cache import BuildCache, step_key
from .dockerfile.gocompat import go_duration
from .shellwords import go_quote, lexer

__all__ = ["BuildOptions", "Builder", "Output", "RunFailed", "BUILTIN_ARGS"]

# docker's builtinAllowedBuildArgs: usable without an ARG, kept out of history unless declared.
BUILTIN_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
                "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
DEFAULT_SHELL = ["/bin/sh", "-c"]
# docker's container.Config field order (the JSON of an image's config).
_CONFIG_ORDER = ("Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr",
                 "ExposedPorts", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck",
                 "ArgsEscaped", "Image", "Volumes", "WorkingDir", "Entrypoint", "NetworkDisabled",
                 "MacAddress", "OnBuild", "Labels", "StopSignal", "StopTimeout", "Shell")


class RunFailed(BuildError):
    """A RUN step exited non-zero: ``exit_code`` is the command's (every other build failure
    is a plain BuildError)."""


class BuildOptions:
    """What a build was asked to do (the CLI's flags, the SDK's keyword arguments)."""

    def __init__(self, *, tags=(), buildargs=None, target=None, nocache=False, pull=False,
                 labels=None, network_mode=None, rm=True, forcerm=False, quiet=False,
                 prepare_runs=False):
        self.tags = list(tags or ())
        self.buildargs = dict(buildargs or {})
        self.target = target or None
        self.nocache = bool(nocache)
        self.pull = bool(pull)
        self.labels = dict(labels or {})
        # docker's classic builder: RUN steps on the default bridge unless the build says
        self.network_mode = network_mode or "bridge"
        self.rm = rm is not False
        self.forcerm = bool(forcerm)
        self.quiet = bool(quiet)
        # The monitor's sealed copy made ahead on a thread (see Builder._prepare_runs): for a
        # process that makes no fork meanwhile, as the CLI's `build`.
        self.prepare_runs = bool(prepare_runs)
        if self.network_mode == "default":
            self.network_mode = "bridge"
        if self.network_mode not in ("bridge", "none", "host"):
            raise InvalidArgument(f'network mode "{self.network_mode}" is not supported for a '
                                  "build: layerbox builds with --network default (the bridge), "
                                  "bridge, none or host")


class Output:
    """Where a build's messages go. The base class drops everything; the CLI writes to its
    stdout, the API collects docker-py's ``{"stream": ...}`` dicts.

    ``write(text)``: a message of the builder (lines end with "\\n"). ``warn(text)``: a
    warning. ``run_stdio()``: (stdout fd, stderr fd) for a RUN step's container and a function
    to call once it has exited (it returns when its output is all written)."""

    def write(self, text: str) -> None:
        pass

    def warn(self, text: str) -> None:
        self.write(text)

    def run_stdio(self):
        return -1, -1, _nothing


def _nothing() -> None:
    pass


def short(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


class _Stage:
    """The state of the stage being built (docker's dispatchState)."""

    __slots__ = ("index", "image_id", "config", "run", "args", "cmd_set", "author", "busted")

    def __init__(self, index: int, image_id: str, config: dict):
        self.index = index
        self.image_id = image_id  # "" while a FROM scratch stage has no step yet
        self.config = config      # the current image's whole config
        self.run = dict(config.get("config") or {})  # docker's runConfig
        self.args: dict = {}      # ARGs declared in this stage: name -> default (or None)
        self.cmd_set = False
        self.author = ""
        self.busted = False       # a cache miss happened: no more lookups in this stage

    @property
    def layers(self) -> list:
        return list((self.config.get("rootfs") or {}).get("diff_ids") or [])

    @property
    def shell(self) -> list:
        return list(self.run.get("Shell") or DEFAULT_SHELL)


class Builder:
    """Builds one Dockerfile. ``services``: what has ``store``, ``images`` (the ImageStore) and
    ``engine`` (the ContainerEngine, only asked for when a RUN step runs: a cached build never
    loads it), like the CLI's context; ``context``: a
    :class:`~layerbox.builder.context.BuildContext`; ``dockerfile``: a parsed
    :class:`~layerbox.builder.dockerfile.Dockerfile`."""

    def __init__(self, services, context, dockerfile: D.Dockerfile, options: BuildOptions,
                 output: Output | None = None):
        self._services = services
        self.images = services.images
        self.store = services.store
        self.context = context
        self.df = dockerfile
        self.opts = options
        self.out = output or Output()
        self.cache = BuildCache(self.store)
        self.meta: dict = {}         # ARGs before the first FROM: name -> value (or None)
        self.referenced: set = set()  # every ARG name declared anywhere (for the unused warning)
        self.results: dict = {}      # stage index -> image ID
        self.leases: list = []       # what add_step_image leased, released when the build ends
        self.pending: list = []      # steps whose record waits for the next sync (add_step_image)
        self.scratch = ""            # a staging dir for the steps' configs and records
        self._unput: list = []       # (cache key, image ID) of steps whose record may be pending
        self.step_no = 0
        self.step_total = 0
        self._runs_prepared = False

    @property
    def engine(self):
        return self._services.engine

    # -- the whole build ------------------------------------------------------------------------
    def build(self) -> str:
        """Runs the build; returns the final image's ID (tagged as asked). Raises BuildError."""
        mask = os.umask(0o022)  # the modes of directories the extractor creates, as docker's
        try:
            return self._build()
        except BaseException:
            try:
                self.settle()  # a failed build keeps the images of the steps that were made
            except Exception:  # noqa: BLE001 - what stays unnamed goes with its lease
                pass
            raise
        finally:
            os.umask(mask)
            self.images.release_leases(self.leases)
            if self.scratch:
                from layerbox import _core

                _util.later(_core.remove_tree, self.scratch)

    def settle(self) -> None:
        """Every step's image record in place (and in the cache): before anything reads the
        last one (a RUN step's container, another stage, the end of the build)."""
        self.images.settle_step_images(self.pending)
        self._put_named()

    def _put_named(self) -> None:
        """Cache entries for the steps whose record is in place: an entry whose record is
        missing is dropped by the next lookup (BuildCache.lookup)."""
        waiting = {e["path"] for e in self.pending}
        keep = []
        for key, image_id in self._unput:
            if self.store.image_record(image_id) in waiting:
                keep.append((key, image_id))
            else:
                self.cache.put(key, image_id)
        self._unput = keep

    def _build(self) -> str:
        df = self.df
        for t in self.opts.tags:
            from layerbox.image import reference

            reference.parse_tag_target(t)  # a bad tag fails before any step runs
        target = self._target_index()
        self._expand_meta()
        needed = self._needed_stages(target)
        self.step_total = (len(df.meta_args) + sum(1 + len(df.stages[i].instructions) for i in needed)
                           + len(self.opts.labels))
        for w in df.warnings:
            self.out.warn(f"[WARNING]: {w}\n")
        for inst in df.meta_args:
            self._step(inst.original)
        from layerbox._util import deferred_dir_syncs

        # the steps' image records made durable together, before any tag
        with deferred_dir_syncs(self._services.store.images):
            for i in needed:
                stage = df.stages[i]
                self.settle()  # a stage may start from an earlier one's image
                self.results[i] = self._build_stage(stage, self.opts.labels if i == target else {})
            self.settle()
        image_id = self.results[target]
        if not image_id:
            raise BuildError("No image was generated. Is your Dockerfile empty?")
        unused = sorted(k for k in self.opts.buildargs if k not in self.referenced
                        and k not in BUILTIN_ARGS)
        if unused:
            self.out.warn(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        self.out.write(f"Successfully built {short(image_id)}\n")
        refs = self.images.refs() if self.opts.tags else {}
        for t in self.opts.tags:
            from layerbox.image import reference

            name = reference.normalize(t)
            if refs.get(name) != image_id:  # a rebuild that changed nothing leaves the tag be
                name = self.images.tag(image_id, t)
            self.out.write(f"Successfully tagged {name}\n")
        return image_id

    def _target_index(self) -> int:
        stages = self.df.stages
        if not self.opts.target:
            return len(stages) - 1
        want = self.opts.target.lower()
        for s in stages:
            if s.name == want:
                return s.index
        raise BuildError(f"failed to reach build target {self.opts.target} in Dockerfile")

    def _expand_meta(self) -> None:
        for inst in self.df.meta_args:
            inst = self._expand(inst, self._meta_env())
            for k, v in inst.pairs:
                self.referenced.add(k)
                given = self.opts.buildargs.get(k)
                self.meta[k] = given if given is not None else v

    def _meta_env(self) -> dict:
        env = {k: v for k, v in self.opts.buildargs.items() if k in BUILTIN_ARGS and v is not None}
        env.update({k: v for k, v in self.meta.items() if v is not None})
        return env

    def _from_image(self, stage: D.Stage) -> str:
        return self._expand(stage.from_, self._meta_env()).image

    def _base_stage(self, name: str, before: int):
        """FROM names an earlier stage only by name (docker's getImageOrStage)."""
        low = name.lower()
        for s in self.df.stages[:before]:
            if s.name == low:
                return s.index
        return None

    def _copy_from_stage(self, inst: D.Copy, stage_index: int):
        """(the --from value expanded with the meta args, the stage it names or None)."""
        try:
            ref = lexer(inst.escape).process_word(inst.from_, self._meta_env())
        except LayerboxError as e:
            raise BuildError(f"{inst.filename}:{inst.line}: {e}") from None
        try:
            return ref, self.df.stage_for(ref, stage_index)
        except InvalidArgument as e:
            raise BuildError(f"{inst.filename}:{inst.line}: {e}") from None

    def _needed_stages(self, target: int) -> list:
        """The stages the target depends on (FROM a stage, COPY --from a stage), in order;
        every other stage is not built (BuildKit's rule; docker's classic builder builds them
        all)."""
        need = {target}
        todo = [target]
        while todo:
            i = todo.pop()
            stage = self.df.stages[i]
            deps = []
            base = self._base_stage(self._from_image(stage), i)
            if base is not None:
                deps.append(base)
            for inst in stage.instructions:
                if isinstance(inst, D.Copy) and inst.from_:
                    _ref, dep = self._copy_from_stage(inst, i)
                    if dep is not None:
                        deps.append(dep)
            for d in deps:
                if d not in need:
                    need.add(d)
                    todo.append(d)
        return sorted(need)

    # -- output ---------------------------------------------------------------------------------
    def _step(self, text: str) -> None:
        self.step_no += 1
        self.out.write(f"Step {self.step_no}/{self.step_total} : {text}\n")

    # -- one stage --------------------------------------------------------------------------------
    def _build_stage(self, stage: D.Stage, labels: dict) -> str:
        self._step(stage.from_.original)
        name = self._from_image(stage)
        base = self._base_stage(name, stage.index)
        if base is not None:
            image_id = self.results[base]
        elif name.lower() == "scratch":
            image_id = ""
        else:
            image_id = self.resolve_image(name)
        st = self._begin(stage.index, image_id)
        triggers = st.run.pop("OnBuild", None) or []
        if triggers:
            self.out.write(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
            for text in triggers:
                self._dispatch(st, self._parse_trigger(text, stage))
        self.out.write(f" ---> {short(st.image_id)}\n")
        for inst in stage.instructions:
            self._step(inst.original)
            self._dispatch(st, inst)
            self.out.write(f" ---> {short(st.image_id)}\n")
        for k in sorted(labels):
            text = f"LABEL {k}={labels[k]}"
            self._step(text)
            st.run["Labels"] = {**(st.run.get("Labels") or {}), k: labels[k]}
            self._commit_meta(st, text)
            self.out.write(f" ---> {short(st.image_id)}\n")
        return st.image_id

    def resolve_image(self, name: str, what: str = "") -> str:
        """The ID of the image ``name`` names (FROM, COPY --from): from the store, pulled
        when the store lacks it or when the build was asked to --pull (docker's classic
        builder does the same); an image ID is never pulled."""
        from layerbox.image import reference

        try:
            if not self.opts.pull or reference.looks_like_id(name):
                try:
                    return self.images.resolve(name)
                except ImageNotFound:
                    if reference.looks_like_id(name):
                        raise
            return self._pull(name)
        except LayerboxError as e:
            raise BuildError(f"{what}{e}") from None

    def _pull(self, name: str) -> str:
        from layerbox.registry import api

        def emit(event: dict) -> None:
            status = event.get("status")
            if status is not None:
                self.out.write(f"{event['id']}: {status}\n" if event.get("id") else f"{status}\n")

        return api.pull_image(self.images, name, emit=emit)[0][0]

    def _begin(self, index: int, image_id: str) -> _Stage:
        if image_id:
            config = self.images.config(image_id)
        else:
            from layerbox.image.importer import new_config

            config = new_config([], created="")
            config.pop("created")
        st = _Stage(index, image_id, config)
        env = list(st.run.get("Env") or [])
        if not any(e.split("=", 1)[0] == "PATH" for e in env):
            st.run["Env"] = env + [DEFAULT_PATH]  # docker's setDefaultPath
        st.run.pop("OpenStdin", None)
        st.run.pop("StdinOnce", None)
        return st

    def _parse_trigger(self, text: str, stage: D.Stage):
        try:
            df = D.parse("FROM scratch\n" + text, self.df.filename)
        except D.DockerfileError as e:
            raise BuildError(f"ONBUILD trigger {text!r} of the base image: {e.reason}") from None
        insts = df.stages[0].instructions
        if len(insts) != 1:
            raise BuildError("onbuild trigger should be a single expression")
        return insts[0].replace(line=stage.line)

    # -- environment and args ---------------------------------------------------------------
    def allowed_args(self, st: _Stage) -> dict:
        """docker's GetAllAllowed: the stage's ARGs and the builtin proxy args that have a
        value (a --build-arg beats the ARG's default; a bare ARG of a meta arg takes its
        value)."""
        out = {}
        given = self.opts.buildargs
        for k in BUILTIN_ARGS:
            if given.get(k) is not None:
                out[k] = given[k]
        for k, default in st.args.items():
            if given.get(k) is not None:
                out[k] = given[k]
            elif default is not None:
                out[k] = default
            elif self.meta.get(k) is not None:
                out[k] = self.meta[k]
        return out

    def _arg_env(self, st: _Stage) -> list:
        """docker's FilterAllowed: the allowed args that ENV does not override, as K=V."""
        keys = {e.split("=", 1)[0] for e in st.run.get("Env") or []}
        return [f"{k}={v}" for k, v in self.allowed_args(st).items() if k not in keys]

    def _env(self, st: _Stage) -> list:
        return list(st.run.get("Env") or []) + self._arg_env(st)

    def _expand(self, inst, env):
        try:
            return inst.expanded(env)
        except D.DockerfileError as e:
            raise BuildError(str(e)) from None

    # -- dispatch -------------------------------------------------------------------------------
    def _dispatch(self, st: _Stage, inst) -> None:
        if getattr(inst, "from_", None):
            self.settle()  # an image it copies from is read through its record
        # A RUN's container is created from the step image this build made and knows
        # (ImageStore._staged): its record is put in place by the step's own sync, no extra one.
        handler = getattr(self, "_do_" + inst.keyword.lower())
        try:
            handler(st, inst)
        except BuildError:
            raise
        except D.DockerfileError as e:
            raise BuildError(str(e)) from None
        except LayerboxError as e:
            raise BuildError(f"{inst.keyword} failed: {e}" if inst.keyword in ("COPY", "ADD")
                             else str(e)) from None
        except OSError as e:
            raise BuildError(f"{inst.keyword} failed: {describe(e)}") from None

    def _expanded(self, st: _Stage, inst):
        if isinstance(inst, D.Copy):
            return inst.expanded(self._env(st), meta_env=self._meta_env())
        return self._expand(inst, self._env(st)) if inst.expands else inst

    def _do_env(self, st, inst):
        inst = self._expanded(st, inst)
        env = list(st.run.get("Env") or [])
        parts = []
        for k, v in inst.pairs:
            parts.append(f"{k}={v}")
            for i, e in enumerate(env):
                if e.split("=", 1)[0] == k:
                    env[i] = f"{k}={v}"
                    break
            else:
                env.append(f"{k}={v}")
        st.run["Env"] = env
        self._commit_meta(st, "ENV " + " ".join(parts))

    def _do_label(self, st, inst):
        inst = self._expanded(st, inst)
        labels = dict(st.run.get("Labels") or {})
        for k, v in inst.pairs:
            labels[k] = v
        st.run["Labels"] = labels
        self._commit_meta(st, "LABEL " + " ".join(f"{k}={v}" for k, v in inst.pairs))

    def _do_maintainer(self, st, inst):
        st.author = inst.maintainer
        self._commit_meta(st, "MAINTAINER " + inst.maintainer)

    def _do_expose(self, st, inst):
        inst = self._expanded(st, inst)
        ports = dict(st.run.get("ExposedPorts") or {})
        for p in inst.ports:
            for key in parse_port_spec(p):
                ports[key] = {}
        st.run["ExposedPorts"] = ports
        self._commit_meta(st, "EXPOSE " + " ".join(sorted(inst.ports)))

    def _do_user(self, st, inst):
        inst = self._expanded(st, inst)
        st.run["User"] = inst.user
        self._commit_meta(st, "USER " + inst.user)

    def _do_volume(self, st, inst):
        inst = self._expanded(st, inst)
        vols = dict(st.run.get("Volumes") or {})
        for p in inst.paths:
            vols[p] = {}
        st.run["Volumes"] = vols
        self._commit_meta(st, f"VOLUME [{' '.join(inst.paths)}]")

    def _do_stopsignal(self, st, inst):
        inst = self._expanded(st, inst)
        st.run["StopSignal"] = inst.signal
        self._commit_meta(st, "STOPSIGNAL " + inst.signal)

    def _do_shell(self, st, inst):
        st.run["Shell"] = list(inst.shell)
        self._commit_meta(st, f"SHELL [{' '.join(inst.shell)}]")

    def _do_onbuild(self, st, inst):
        st.run["OnBuild"] = list(st.run.get("OnBuild") or []) + [inst.expression]
        self._commit_meta(st, "ONBUILD " + inst.expression)

    def _do_healthcheck(self, st, inst):
        old = st.run.get("Healthcheck") or {}
        if old.get("Test") and old["Test"][0] != "NONE":
            self.out.write(f"Note: overriding previous HEALTHCHECK: [{' '.join(old['Test'])}]\n")
        hc = {"Test": list(inst.test)}
        for field, key in (("interval", "Interval"), ("timeout", "Timeout"),
                           ("start_period", "StartPeriod"), ("start_interval", "StartInterval"),
                           ("retries", "Retries")):
            value = getattr(inst, field)
            if value:
                hc[key] = value
        st.run["Healthcheck"] = hc
        test = "[" + " ".join(go_quote(t) for t in inst.test) + "]"
        durations = " ".join(go_quote(go_duration(getattr(inst, f)))
                             for f in ("interval", "timeout", "start_period"))
        self._commit_meta(st, f"HEALTHCHECK &{{{test} {durations} '\\x{inst.retries:02x}'}}")

    def step_command(self, st, inst) -> list:
        if inst.prepend_shell:
            script = inst.shell_script() if isinstance(inst, D.Run) else (inst.cmd[0] if inst.cmd else "")
            return st.shell + [script]
        return list(inst.cmd)

    def _do_cmd(self, st, inst):
        cmd = self.step_command(st, inst)
        st.run["Cmd"] = cmd
        self._commit_meta(st, "CMD [" + " ".join(go_quote(c) for c in cmd) + "]")
        if inst.cmd:
            st.cmd_set = True

    def _do_entrypoint(self, st, inst):
        ep = self.step_command(st, inst) if inst.cmd or inst.prepend_shell else []
        st.run["Entrypoint"] = ep or None
        if not st.cmd_set:
            st.run["Cmd"] = None
        self._commit_meta(st, "ENTRYPOINT [" + " ".join(go_quote(c) for c in ep) + "]")

    def _do_arg(self, st, inst):
        inst = self._expanded(st, inst)
        parts = []
        for k, v in inst.pairs:
            self.referenced.add(k)
            st.args[k] = v
            parts.append(k if v is None else f"{k}={v}")
        self._commit_meta(st, "ARG " + " ".join(parts))

    def _do_workdir(self, st, inst):
        from . import files

        inst = self._expanded(st, inst)
        path = inst.path
        if not path.startswith("/"):
            path = posixpath.join("/", st.run.get("WorkingDir") or "/", path)
        path = posixpath.normpath(path)
        if path.startswith("//"):
            path = path[1:]
        st.run["WorkingDir"] = path
        self.commit_step(st, f"{self.nop_prefix(st)}WORKDIR {path}",
                     lambda: files.make_workdir(self, st, path))

    def _do_run(self, st, inst):
        from . import runstep

        runstep.run(self, st, inst)

    def _do_copy(self, st, inst):
        from . import files

        files.copy(self, st, self._expanded(st, inst))

    _do_add = _do_copy

    # -- committing -------------------------------------------------------------------------------
    def nop_prefix(self, st: _Stage) -> str:
        """The start of a metadata step's history text: docker's Cmd ``SHELL + ["#(nop) "]``
        (WORKDIR, COPY and ADD join the text to it without a second space)."""
        return " ".join(st.shell) + " #(nop) "

    def _commit_meta(self, st: _Stage, text: str) -> None:
        self.commit_step(st, f"{self.nop_prefix(st)} {text}")

    def commit_step(self, st: _Stage, created_by: str, make_layer=None, extra: str = "") -> None:
        """Records a step: a cache hit adopts the cached image; otherwise make_layer() (which
        runs the step and returns its layer's meta, or None when it changed no file) and a new
        image, the child of the current one, that the cache then remembers."""
        draft = self._image_config(st, "", None, None)
        key = step_key(st.image_id, created_by, draft, extra)
        if not self.opts.nocache and not st.busted:
            hit = self.cache.lookup(key)
            if hit:
                self.out.write(" ---> Using cache\n")
                self._adopt(st, hit)
                return
        if not self._runs_prepared and self.opts.prepare_runs:
            self._prepare_runs()
        st.busted = True
        # (staging, meta) of the step's new layer, published with its image
        layer = make_layer() if make_layer is not None else None
        try:
            now = _util.now_rfc3339()
            entry = {"created": now, "created_by": created_by}
            if layer is None:
                entry["empty_layer"] = True
            config = self._image_config(st, now, entry, layer[1]["DiffID"] if layer else None)
            if not self.scratch:
                self.scratch = self.store.mkdtemp("image")
            try:
                image_id = self.images.add_step_image(config, parent=st.image_id, layer=layer,
                                                      leases=self.leases, pending=self.pending,
                                                      scratch=self.scratch)
            except NotFound as e:  # the parent's layers went meanwhile (rmi under a build)
                raise BuildError(f"failed to commit the step: {e}") from None
        finally:
            if layer is not None and os.path.exists(layer[0]):  # not published (or already was)
                from layerbox import _core

                _util.later(_core.remove_tree, layer[0])
        self._unput.append((key, image_id))
        self._put_named()
        st.image_id = image_id
        st.config = config

    def _prepare_runs(self) -> None:
        """At the first step that runs (a cache miss), when a RUN may follow: the sealed copy
        of the monitor that a RUN's container starts from is made on another thread (~1.5 ms
        of copying), while this one runs the steps before it. A build whose steps all come
        from the cache never gets here."""
        self._runs_prepared = True
        if any(isinstance(inst, D.Run) for stage in self.df.stages for inst in stage.instructions):
            self.engine.prepare_run(self.opts.network_mode)

    def _adopt(self, st: _Stage, image_id: str) -> None:
        st.image_id = image_id
        st.config = self.images.config(image_id)
        st.run = dict(st.config.get("config") or {})

    def _image_config(self, st: _Stage, created: str, entry, diff_id) -> dict:
        base = st.config
        cfg = {"architecture": base.get("architecture", "amd64")}
        if st.author:
            cfg["author"] = st.author
        cfg["config"] = ordered_config(st.run)
        cfg["created"] = created
        cfg["history"] = list(base.get("history") or []) + ([entry] if entry else [])
        cfg["os"] = base.get("os", "linux")
        layers = st.layers + ([diff_id] if diff_id else [])
        cfg["rootfs"] = {"type": "layers", "diff_ids": layers}
        for k in ("variant", "os.version"):
            if k in base:
                cfg[k] = base[k]
        return cfg


def ordered_config(run: dict) -> dict:
    """The config section in docker's field order, without empty fields (as layerbox's commit
    writes it)."""
    out = {}
    for k in _CONFIG_ORDER:
        v = run.get(k)
        if v is None or v == [] or v == {} or v == "" or v is False:
            continue
        out[k] = v
    for k, v in run.items():
        if k not in out and k not in _CONFIG_ORDER and v not in (None, [], {}, "", False):
            out[k] = v
    return out


def parse_port_spec(spec: str) -> list:
    """docker's nat.ParsePortSpecs for EXPOSE: "80", "80/udp", "8000-8002/tcp" to
    ["80/tcp"], ... (a range gives every port)."""
    port, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise BuildError(f"invalid proto: {proto}")
    if ":" in port:
        # ip:hostPort:containerPort is refused by EXPOSE
        raise BuildError(f"invalid containerPort: {spec}")
    lo, dash, hi = port.partition("-")
    if not lo.isdigit() or (dash and not hi.isdigit()):
        raise BuildError(f"invalid containerPort: {port}")
    start, end = int(lo), int(hi) if dash else int(lo)
    if start > 65535 or end > 65535 or end < start:
        raise BuildError(f"invalid containerPort: {port}")
    return [f"{p}/{proto}" for p in range(start, end + 1)]
