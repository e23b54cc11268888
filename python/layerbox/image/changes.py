"""`commit --change` and `import --change`: Dockerfile instructions applied to an image config.

Each change is parsed by the Dockerfile parser (layerbox.build.dockerfile), so quoting, exec
form, variable substitution and the error messages are the builder's. Only the instructions
docker accepts in a change are allowed; they act as in a build: ENV and LABEL add or replace,
a shell-form CMD/ENTRYPOINT runs through /bin/sh -c, an ENTRYPOINT resets the CMD unless a
CMD came before it in the same set of changes, a relative WORKDIR extends the previous one.
"""

from __future__ import annotations

import posixpath

from layerbox.errors import InvalidArgument

# docker's validCommitCommands, less HEALTHCHECK and ONBUILD (not implemented here).
ALLOWED = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")
_SHELL = ["/bin/sh", "-c"]


def parse_change(text: str):
    """One change ("ENV A=1", "CMD [\"sh\"]") as a parsed instruction; InvalidArgument naming
    the change when it is not a valid one."""
    from layerbox.build import dockerfile

    word = text.strip().split(None, 1)[0].upper() if text.strip() else ""
    if word not in ALLOWED:
        raise InvalidArgument(f"{word.lower() or repr(text)} is not a valid change command")
    try:
        df = dockerfile.parse("FROM scratch\n" + text)
    except dockerfile.DockerfileError as e:
        raise InvalidArgument(f"dockerfile parse error on change {text!r}: {e.reason}") from None
    steps = df.stages[0].instructions
    if len(steps) != 1:
        raise InvalidArgument(f"a change must be exactly one instruction: {text!r}")
    return steps[0]


def _command(inst) -> list | None:
    if inst.prepend_shell:
        return _SHELL + [inst.cmd[0] if inst.cmd else ""]
    return list(inst.cmd) or None


def _set_env(env: list, key: str, value: str) -> list:
    out = [e for e in env if e.split("=", 1)[0] != key]
    for i, e in enumerate(env):  # keep the variable's position, as docker does
        if e.split("=", 1)[0] == key:
            out.insert(i, f"{key}={value}")
            return out
    return out + [f"{key}={value}"]


def apply_changes(conf: dict, changes) -> dict:
    """A copy of `conf` (a docker image Config: Cmd, Env, ...) with the changes applied."""
    from layerbox.build import dockerfile as D

    conf = dict(conf or {})
    cmd_set = False
    for text in changes or ():
        if not text or not text.strip():
            continue
        inst = parse_change(text)
        env = list(conf.get("Env") or [])
        try:
            inst = inst.expanded(env)
        except D.DockerfileError as e:
            raise InvalidArgument(f"change {text!r}: {e.reason}") from None
        if isinstance(inst, D.Cmd):
            conf["Cmd"] = _command(inst)
            cmd_set = True
        elif isinstance(inst, D.Entrypoint):
            conf["Entrypoint"] = _command(inst)
            if not cmd_set:
                conf["Cmd"] = None
        elif isinstance(inst, D.Env):
            for k, v in inst.pairs:
                env = _set_env(env, k, v)
            conf["Env"] = env
        elif isinstance(inst, D.Label):
            labels = dict(conf.get("Labels") or {})
            labels.update(dict(inst.pairs))
            conf["Labels"] = labels
        elif isinstance(inst, D.Expose):
            ports = dict(conf.get("ExposedPorts") or {})
            for p in inst.ports:
                ports[p if "/" in p else p + "/tcp"] = {}
            conf["ExposedPorts"] = ports
        elif isinstance(inst, D.User):
            conf["User"] = inst.user
        elif isinstance(inst, D.Workdir):
            conf["WorkingDir"] = posixpath.normpath(posixpath.join("/", conf.get("WorkingDir") or "/",
                                                                   inst.path))
        elif isinstance(inst, D.StopSignal):
            conf["StopSignal"] = inst.signal
        elif isinstance(inst, D.Volume):
            vols = dict(conf.get("Volumes") or {})
            for p in inst.paths:
                vols[p] = {}
            conf["Volumes"] = vols
    return conf
