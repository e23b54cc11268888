"""RUN: the command in a container of the previous step's image; its read-write layer, committed.

The container is an ordinary one of the engine (it shows in ``ps -a`` while it runs): the
step's config Env plus the build args in scope (docker's ``FilterAllowed``: args an ENV sets
are the ENV's), the config's WorkingDir and User, the build's network (the default bridge unless
``--network none|host``) and no entrypoint. Its output goes where the build's output goes, as it comes. A
non-zero exit stops the build with docker's message and that exit code; the container is
removed whatever happens (docker keeps a failed step's container unless --force-rm).

As in docker, what the command writes below a VOLUME of the image is not kept: docker mounts a
volume there (creating the mount point in the container first, which the layer then holds), so
the changes land in the volume. Here the mount points are made the same way before the command
runs, and what the command changed inside them is dropped from the layer afterwards.
"""

from __future__ import annotations

import os
import stat as S

from layerbox.errors import BuildError, NotFound
from layerbox.store import fault

from . import dockerfile as D
from .dispatch import BUILTIN_ARGS, RunFailed


def run(b, st, inst: D.Run) -> None:
    if inst.mounts:
        raise BuildError("RUN --mount needs BuildKit's cache, secret and ssh mounts; layerbox "
                         "build (like docker's classic builder) does not support it")
    if inst.security == "insecure":
        raise BuildError("RUN --security=insecure is not supported (no privileged containers)")
    network = b.opts.network_mode if inst.network in (None, "default") else inst.network
    shebang = inst.shebang_heredoc()
    script_name = f".layerbox-heredoc-{os.urandom(6).hex()}" if shebang is not None else ""
    cmd = ["/" + script_name] if shebang is not None else b.step_command(st, inst)
    env_keys = {e.split("=", 1)[0] for e in st.run.get("Env") or []}
    args = {k: v for k, v in b.allowed_args(st).items() if k not in env_keys}
    # docker's prependEnvOnCmd: the args in the history (and the cache key) are the declared
    # ones and any non-proxy one; an unreferenced proxy arg is invisible, so changing it
    # neither shows nor busts the cache.
    shown = sorted(f"{k}={v}" for k, v in args.items() if k in st.args or k not in BUILTIN_ARGS)
    saved = ([f"|{len(shown)}", *shown] if shown else []) + cmd
    if shebang is not None:
        saved = saved[:-1] + ["<<" + shebang.name]  # the history shows the heredoc, not a path
    env = list(st.run.get("Env") or []) + [f"{k}={v}" for k, v in args.items()]

    def make_layer():
        return _run_container(b, st, cmd, env, network, shebang, script_name)

    b.commit_step(st, " ".join(saved), make_layer, extra=f"network={network}")


def _run_container(b, st, cmd, env, network, shebang, script_name):
    from layerbox.container.commit import write_container_layer

    if not st.image_id:
        raise BuildError("RUN in an empty image (FROM scratch with nothing copied yet): there is "
                         "nothing to run")
    engine = b.engine
    c = engine.create_container(st.image_id, command=cmd, entrypoint="", environment=env,
                                working_dir=st.run.get("WorkingDir") or None,
                                user=st.run.get("User") or "", network_mode=network, detach=True,
                                # a step's VOLUMEs are handled below, not as anonymous volumes
                                image_volumes=False,
                                # its output goes straight to the build's; a container that
                                # is removed after the step (the default) keeps no log file
                                log_config=({"Type": "none"} if b.opts.rm or b.opts.forcerm
                                            else None))
    # While the step runs, a staging dir named after the container and this process: if the
    # build is killed, the next command reclaims it and the container with it (store.heal).
    held = engine.store.mkdtemp("run", c.id)
    fault("build-step-created")
    upper = os.path.join(c.dir, "upper")
    done = False  # removed already, or kept on purpose (--rm=false after a success)
    try:
        b.out.write(f" ---> Running in {c.id[:12]}\n")
        if shebang is not None:
            path = os.path.join(upper, script_name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o755)
            with os.fdopen(fd, "w") as f:
                f.write(shebang.data)
            os.chmod(path, 0o755)
        volumes = _mount_points(b, c, st.run.get("Volumes") or {})
        code = _start_and_wait(b, engine, c.id)
        if code != 0:
            raise RunFailed(f"The command '{' '.join(cmd)}' returned a non-zero code: {code}",
                            exit_code=code)
        if shebang is not None:
            _remove_entry(upper, script_name)
        for vol in volumes:
            _clear_below(upper, vol)
        # the upper dir becomes the layer's unpacked dir: the container goes right after
        fault("build-step-ran")
        layer = write_container_layer(b.images, upper, adopt_upper=True, staged=True)
        done = True
        try:
            if b.opts.rm or b.opts.forcerm:
                engine.remove(c.id, force=True, volumes=True)
                b.out.write(f"Removing intermediate container {c.id[:12]}\n")
        except BaseException:
            if layer is not None:
                from layerbox import _core

                _core.remove_tree(layer[0])
            raise
        return layer
    finally:
        if not done:
            # A failed (or interrupted) step's container never stays behind.
            try:
                engine.remove(c.id, force=True, volumes=True)
            except NotFound:
                pass
        from layerbox import _util

        _util.later(os.rmdir, held)  # after the answer: a removal waits for the disk's discard


def _start_and_wait(b, engine, cid: str) -> int:
    out_fd, err_fd, finish = b.out.run_stdio()
    try:
        # volatile: the upper dir becomes the step's layer (made durable with the step's
        # syncfs) or goes with the container; no sync of the file system at the unmount
        mon = engine.start(cid, stdout=out_fd, stderr=err_fd, volatile=True)
        try:
            while True:
                # In slices, so that a Ctrl-C (KeyboardInterrupt) gets through to us and the
                # finally clauses remove the container.
                r = mon.wait(timeout_ms=250)
                if r["exited"]:
                    return r["exit_code"]
        finally:
            mon.close()
    finally:
        finish()


def _remove_entry(dir_: str, name: str) -> None:
    from layerbox import _core

    try:
        st = os.lstat(os.path.join(dir_, name))
    except FileNotFoundError:
        return
    if S.S_ISDIR(st.st_mode):
        _core.remove_tree(os.path.join(dir_, name))
    else:
        os.unlink(os.path.join(dir_, name))


def _parts(path: str) -> list:
    parts = [p for p in path.split("/") if p and p != "."]
    return [] if ".." in parts else parts


def _mount_points(b, c, volumes) -> list:
    """The real paths of the image's volumes, each made in the container (0755, root) when
    missing, as docker makes a mount point before the container starts."""
    from layerbox import _core

    from . import layered
    from .files import _EMPTY_TAR, _feed_bytes

    lowers = b.engine.layer_dirs(c)
    overlay = {"lower": [b.store.init_layer, *lowers], "upper": os.path.join(c.dir, "upper"),
               "work": os.path.join(c.dir, "work"), "target": os.path.join(c.dir, "merged")}
    out = []
    for v in volumes:
        if not _parts(v):
            continue
        try:
            real, kind = layered.resolve(lowers, "/" + "/".join(_parts(v)))
        except (layered.NotADirectory, ValueError):
            continue  # docker could not mount there either; the RUN decides
        out.append(real)
        if kind is not None:
            continue
        r = _feed_bytes(_EMPTY_TAR)
        try:
            _core.extract_path(r, "", real, overlay=overlay)
        except OSError:
            pass  # best effort: a mount point the image cannot hold is reported by the RUN itself
        finally:
            os.close(r)
    return out


def _clear_below(upper: str, path: str) -> None:
    """Forget what the container changed inside ``path``: empty that directory of the upper
    dir (whiteouts included) and drop its opaque mark, walking the container's own
    directories without following any link it made."""
    parts = _parts(path)
    try:
        fd = os.open(upper, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return  # no upper dir: the container changed nothing to forget
    try:
        for p in parts:
            try:
                nfd = os.open(p, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except OSError:
                return  # nothing changed there (or not a real directory of the upper dir)
            os.close(fd)
            fd = nfd
        here = f"/proc/self/fd/{fd}"
        for name in os.listdir(fd):
            _remove_entry(here, name)
        try:
            os.removexattr(fd, "trusted.overlay.opaque")
        except OSError:
            pass  # ENODATA: the directory was not opaque
    finally:
        os.close(fd)
