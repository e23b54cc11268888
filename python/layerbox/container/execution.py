"""`exec`: running another process inside a running container (see csrc/core/exec.hpp)."""

from __future__ import annotations

import os

from layerbox import _core
from layerbox.container import process as _process
from layerbox.errors import Conflict


def build_spec(engine, c, command: list, *, env=(), workdir=None, user=None, tty=False,
               detach=False, tty_size=(0, 0)) -> bytes:
    """The exec spec (JSON bytes) for a running container. Built by core/execbuild.cpp from the
    container's files, the one builder the compiled exec path of the `layerbox` command uses too;
    here the checks and errors are docker's."""
    if not c.running:
        raise Conflict(f"Container {c.id} is not running")
    if c.status == "paused":
        raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
    if not command:
        from layerbox.errors import InvalidArgument

        raise InvalidArgument("no command specified")
    _ensure_exec_base(engine, c)
    try:
        from layerbox._jsonfast import valid_text

        # docker's CLI sends them as JSON strings: what is not UTF-8 becomes U+FFFD
        command = [valid_text(a) for a in command]
        return _core.exec_spec(c.dir, command, _process.parse_env_list(list(env)), user,
                               workdir or "", tty, detach, tty_size[0], tty_size[1], _engine_shim())
    except ValueError as e:  # a user or group the container's files do not have
        from layerbox.errors import InvalidArgument

        raise InvalidArgument(str(e)) from None


def _ensure_exec_base(engine, c) -> None:
    """process.json: what the container's init was started with (namespaces, cgroup,
    capabilities, seccomp), written by the start that made it run. A container started by a
    layerbox that did not write it gets the same facts derived again, written for next time."""
    path = os.path.join(c.dir, _process.EXEC_BASE)
    if os.path.exists(path):
        return
    from layerbox.container import plan as _plan

    cfg = c.config
    sec = _plan.process_security(engine.cgroups, cfg["HostConfig"], engine.seccomp_cache)
    from layerbox import _util, events

    base = {"namespaces": _process.namespaces(cfg), "cgroup": engine.cgroups.cgroup_for(c.id), **sec,
            "events": events.log_part(engine.store.root)}

    _util.write_atomic(path, _util.dump_json(base), mode=0o600)


def _engine_shim() -> str:
    from layerbox.container.engine import SHIM

    return SHIM


def record_event(engine, c, action: str, exec_id: str, **attributes) -> None:
    """An exec's event in the store's log, as dockerd's: `exec_create: CMD ARGS`,
    `exec_start: CMD ARGS` and `exec_die` (with exitCode), each with the exec's execID and
    the container's attributes."""
    from layerbox import events
    from layerbox.container.engine import event_attributes

    events.record(engine.store, "container", action, c.id,
                  {**event_attributes(c), "execID": exec_id, **attributes})


def start(engine, ref: str, command: list, *, stdin=-1, stdout=-1, stderr=-1, **kw):
    """Starts the exec; no events (the Engine API records its own, at its create and start:
    the CLI and the Python API use Recorded)."""
    c = engine.get(ref)
    return _core.exec_start(build_spec(engine, c, command, **kw), stdin, stdout, stderr)


class Recorded:
    """An exec of the CLI or the Python API, with its events as dockerd records an exec's:
    `exec_create: CMD` and `exec_start: CMD` once it runs (a start that fails records none),
    `exec_die` with its exit code once waited for (a detached one is not waited for: none).
    The compiled exec path of the `layerbox` command records the same (launcher/exec_fast.cpp)."""

    def __init__(self, engine, ref: str, command: list, *, stdin=-1, stdout=-1, stderr=-1, **kw):
        c = engine.get(ref)
        self.process = _core.exec_start(build_spec(engine, c, command, **kw), stdin, stdout, stderr)
        self.engine, self.container, self.id = engine, c, os.urandom(32).hex()
        cmd = " ".join(command)
        record_event(engine, c, "exec_create: " + cmd, self.id)
        record_event(engine, c, "exec_start: " + cmd, self.id)

    def wait(self, **kw) -> int:
        code = self.process.wait(**kw)
        record_event(self.engine, self.container, "exec_die", self.id, exitCode=code)
        return code


def exec_cli(engine, ref: str, command: list, *, detach=False, interactive=False, tty=False,
             env=(), workdir=None, user=None, tty_size=(0, 0)) -> int:
    p = Recorded(engine, ref, command, stdin=0 if interactive else -1, stdout=1, stderr=2,
                 detach=detach, tty=tty, env=env, workdir=workdir, user=user, tty_size=tty_size)
    if detach:
        return 0
    return p.wait(forward_signals=True, relay_stdin=interactive, raw_tty=tty and interactive)


def run_captured(engine, ref: str, command: list, *, env=(), workdir=None, user=None,
                 detach=False, tty=False):
    """exec with the output captured: (exit_code, stdout_bytes, stderr_bytes)."""
    from layerbox import _util

    if detach:
        Recorded(engine, ref, command, detach=True, env=env, workdir=workdir, user=user)
        return None, b"", b""
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    bufs = {out_r: [], err_r: []}

    def drain(fd):
        while True:
            b = os.read(fd, 65536)
            if not b:
                break
            bufs[fd].append(b)
        os.close(fd)

    try:
        p = Recorded(engine, ref, command, stdout=out_w, stderr=err_w, env=env, workdir=workdir,
                     user=user, tty=False)
    except BaseException:
        for fd in (out_r, out_w, err_r, err_w):
            os.close(fd)
        raise
    os.close(out_w)
    os.close(err_w)
    t = _util.spawn(drain, err_r)
    drain(out_r)
    code = p.wait()
    t.join()
    return code, b"".join(bufs[out_r]), b"".join(bufs[err_r])
