"""`commit --change` and `import --change`: Dockerfile instructions applied to an image config.

Each change is parsed by the Dockerfile parser (layerbox.builder.dockerfile), so quoting, exec
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


def parse_changes(text: str) -> list:
    """The instructions in one change string ("ENV A=1", or several lines as the SDK may
    pass); InvalidArgument naming the change when one is not a valid change."""
    from layerbox.builder import dockerfile

    try:
        df = dockerfile.parse("FROM scratch\n" + text)
    except dockerfile.DockerfileError as e:
        word = text.strip().split(None, 1)[0].upper() if text.strip() else ""
        if word and word not in ALLOWED:
            raise InvalidArgument(f"{word.lower()} is not a valid change command") from None
        raise InvalidArgument(f"dockerfile parse error on change {text!r}: {e.reason}") from None
    steps = df.stages[0].instructions
    for inst in steps:
        if inst.keyword not in ALLOWED:
            raise InvalidArgument(f"{inst.keyword.lower()} is not a valid change command")
    return steps


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
    conf = dict(conf or {})
    state = {"cmd_set": False}
    for text in changes or ():
        if text and text.strip():
            for inst in parse_changes(text):
                _apply(conf, inst, text, state)
    return conf


def _apply(conf: dict, inst, text: str, state: dict) -> None:
    from layerbox.builder import dockerfile as D

    env = list(conf.get("Env") or [])
    try:
        inst = inst.expanded(env)
    except D.DockerfileError as e:
        raise InvalidArgument(f"change {text!r}: {e.reason}") from None
    if isinstance(inst, D.Cmd):
        conf["Cmd"] = _command(inst)
        state["cmd_set"] = True
    elif isinstance(inst, D.Entrypoint):
        conf["Entrypoint"] = _command(inst)
        if not state["cmd_set"]:
            conf["Cmd"] = None
    elif isinstance(inst, D.Env):
        for k, v in inst.pairs:
            env = _set_env(env, k, v)
        conf["Env"] = env
    elif isinstance(inst, D.Label):
        conf["Labels"] = {**(conf.get("Labels") or {}), **dict(inst.pairs)}
    elif isinstance(inst, D.Expose):
        ports = dict(conf.get("ExposedPorts") or {})
        for p in inst.ports:
            ports[p if "/" in p else p + "/tcp"] = {}
        conf["ExposedPorts"] = ports
    elif isinstance(inst, D.User):
        conf["User"] = inst.user
    elif isinstance(inst, D.Workdir):
        conf["WorkingDir"] = posixpath.normpath(posixpath.join("/", conf.get("WorkingDir") or "/", inst.path))
    elif isinstance(inst, D.StopSignal):
        conf["StopSignal"] = inst.signal
    elif isinstance(inst, D.Volume):
        conf["Volumes"] = {**(conf.get("Volumes") or {}), **{p: {} for p in inst.paths}}
