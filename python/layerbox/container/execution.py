"""`exec`: running another process inside a running container (see csrc/core/exec.hpp)."""

from __future__ import annotations

import os

from layerbox import _core, _jsonfast
from layerbox.container import process as _process
from layerbox.container import users as _users
from layerbox.errors import Conflict


def build_spec(engine, c, command: list, *, env=(), workdir=None, user=None, tty=False,
               detach=False, tty_size=(0, 0)) -> dict:
    if not c.running:
        raise Conflict(f"Container {c.id} is not running")
    if c.status == "paused":
        raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
    if not command:
        from layerbox.errors import InvalidArgument

        raise InvalidArgument("no command specified")
    st = c.state
    cfg = c.config
    root = f"/proc/{st['Pid']}/root"
    # The container's own /etc/passwd, read inside its root: a symlink there cannot lead out.
    read = lambda rel: _core.read_in_root(root, rel)  # noqa: E731
    u = _users.resolve(user if user is not None else (cfg["Config"].get("User") or ""), read)
    if cfg["HostConfig"].get("GroupAdd"):  # docker's exec gets the container's --group-add too
        u = _users.with_groups(u, cfg["HostConfig"]["GroupAdd"], read)
    envs = _process.process_env(cfg, u.home, tty, _process.parse_env_list(list(env)))
    base = _exec_base(engine, c)
    cgroup = base["cgroup"]
    cgroup["dirs"] = {k: d for k, d in cgroup["dirs"].items() if os.path.isdir(d)}
    security = {k: base[k] for k in ("caps", "no_new_privs", "seccomp") if k in base}
    return {
        "pid": st["Pid"],
        "pid_start_time": st.get("PidStartTime", 0),
        "cgroup": cgroup,
        "namespaces": base["namespaces"],
        "detach": detach,
        # A sealed copy of the shim joins the container, never this (Python) process.
        "helper": _engine_shim(),
        # ... started from the monitor's own copy when that is of the same file.
        "monitor_pid": st.get("MonitorPid") or 0,
        "monitor_start_time": st.get("MonitorStartTime") or 0,
        "process": {
            "args": list(command),
            "env": envs,
            "cwd": workdir or cfg["Config"].get("WorkingDir") or "/",
            "uid": u.uid,
            "gid": u.gid,
            "groups": [u.gid] + [g for g in u.groups if g != u.gid],
            **security,
            "tty": tty,
            "rows": tty_size[0],
            "cols": tty_size[1],
            "create_cwd": False,
        },
    }


def _exec_base(engine, c) -> dict:
    """What the container's init was started with (namespaces, cgroup, capabilities, seccomp):
    written by the start that made it run. A container started by a layerbox that did not
    write it gets the same facts derived again from its config."""
    try:
        with open(os.path.join(c.dir, _process.EXEC_BASE), "rb") as f:
            return _jsonfast.loads(f.read())
    except FileNotFoundError:
        from layerbox.container import plan as _plan

        cfg = c.config
        sec = _plan.process_security(engine.cgroups, cfg["HostConfig"], engine.seccomp_cache)
        return {"namespaces": _process.namespaces(cfg), "cgroup": engine.cgroups.cgroup_for(c.id), **sec}


def _engine_shim() -> str:
    from layerbox.container.engine import SHIM

    return SHIM


def start(engine, ref: str, command: list, *, stdin=-1, stdout=-1, stderr=-1, **kw):
    c = engine.get(ref)
    spec = build_spec(engine, c, command, **kw)
    return _core.exec_start(_jsonfast.dumps(spec).encode(), stdin, stdout, stderr)


def exec_cli(engine, ref: str, command: list, *, detach=False, interactive=False, tty=False,
             env=(), workdir=None, user=None, tty_size=(0, 0)) -> int:
    p = start(engine, ref, command, stdin=0 if interactive else -1, stdout=1, stderr=2,
              detach=detach, tty=tty, env=env, workdir=workdir, user=user, tty_size=tty_size)
    if detach:
        return 0
    return p.wait(forward_signals=True, relay_stdin=interactive, raw_tty=tty and interactive)


def run_captured(engine, ref: str, command: list, *, env=(), workdir=None, user=None,
                 detach=False, tty=False):
    """exec with the output captured: (exit_code, stdout_bytes, stderr_bytes)."""
    import threading

    if detach:
        start(engine, ref, command, detach=True, env=env, workdir=workdir, user=user)
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
        p = start(engine, ref, command, stdout=out_w, stderr=err_w, env=env, workdir=workdir,
                  user=user, tty=False)
    except BaseException:
        for fd in (out_r, out_w, err_r, err_w):
            os.close(fd)
        raise
    os.close(out_w)
    os.close(err_w)
    t = threading.Thread(target=drain, args=(err_r,), daemon=True)
    t.start()
    drain(out_r)
    code = p.wait()
    t.join()
    return code, b"".join(bufs[out_r]), b"".join(bufs[err_r])
