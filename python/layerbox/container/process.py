"""A process in a container, for its init (`run`) and for `exec` alike: its environment and the
namespaces it lives in, and what `exec` needs of the container's init to start another one.

`exec` is a hot verb: this module imports nothing but the standard library and _core, so that
an exec never loads the planning (plan, config, security) that a start needs.
"""

from __future__ import annotations

import os

from layerbox import _core
from layerbox.errors import InvalidArgument

DEFAULT_PATH = _core.DEFAULT_PATH  # docker's PATH when the image sets none

# What the container's init was started with that every exec'd process shares: namespaces,
# cgroup, capabilities, no_new_privs, seccomp program. Written at start beside state.json, so
# exec reads the facts the init got instead of re-deriving them (as runc's exec reads its state).
EXEC_BASE = "process.json"


def parse_env_list(env) -> list[str]:
    """environment as a list of "K=V" or a dict, docker-py style. A bare "K" (a dict's None
    value) stays bare: it unsets K, as the daemon's ReplaceOrAppendEnvValues does (an image's
    K is removed). Nothing is looked up here: this is what every front door's request says, and
    the API's clients must not read the service's own environment. Only the CLI fills a bare
    K from its caller's environment (caller_env), as docker's client does."""
    from layerbox._jsonfast import valid_text  # as docker's CLI sends it: JSON text

    if env is None:
        return []
    if isinstance(env, dict):
        return [valid_text(k if v is None else f"{k}={v}") for k, v in env.items()]
    out = []
    for e in env:
        if not e or e.startswith("="):
            raise InvalidArgument(f"invalid environment variable: {e}")
        out.append(valid_text(e))
    return out


def caller_env(entries) -> list[str]:
    """docker's CLI -e (opts.ValidateEnv): a bare "K" takes the caller's value when the caller
    has K, and is sent bare otherwise (which unsets K in the container)."""
    out = []
    for e in entries:
        if "=" not in e and e in os.environ:
            e = f"{e}={os.environ[e]}"
        out.append(e)
    return out


def _kv_file(path: str, lookup) -> list[str]:
    """docker's parseKeyValueFile (opts/file.go): a UTF-8 BOM dropped, each line's leading
    whitespace trimmed, blank and # lines skipped; KEY=VALUE passed as is (no trimming of the
    value); a bare KEY takes ``lookup(KEY)`` when it gives a value, else is dropped."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InvalidArgument(f"open {path}: {(e.strerror or str(e)).lower()}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    out = []
    for n, raw in enumerate(data.split(b"\n"), 1):
        raw = raw.rstrip(b"\r")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidArgument(f"env file {path} contains invalid utf8 bytes at line {n}: "
                                  f"{e.reason}") from None
        line = text.lstrip()
        if not line or line.startswith("#"):
            continue
        k, eq, v = line.partition("=")
        if any(c.isspace() for c in k):
            raise InvalidArgument(f"poorly formatted environment: variable '{k}' contains whitespaces")
        if not k:
            raise InvalidArgument(f"poorly formatted environment: no variable name on line '{line}'")
        if eq:
            out.append(f"{k}={v}")
        elif lookup is not None:
            value = lookup(line.strip())
            if value is not None:
                out.append(f"{line.strip()}={value}")
    return out


def read_env_file(path: str) -> list[str]:
    """docker's --env-file: K=V lines, # comments, blank lines; a bare K takes the caller's."""
    return _kv_file(path, os.environ.get)


def read_label_file(path: str) -> list[str]:
    """docker's --label-file: the same lines; a bare KEY is dropped (no lookup for labels)."""
    return _kv_file(path, None)


def config_env(image_env: list[str], user_env: list[str]) -> list[str]:
    """A container's Config.Env: the user's entries as given, then the image's the user's do
    not name (docker's create; core/procenv.cpp)."""
    return _core.config_env(list(image_env), list(user_env))


def process_env(config: dict, home: str, tty: bool, overrides=()) -> list:
    """The environment of a process in the container, for its init (run) and for exec alike
    (core/procenv.cpp, shared with the compiled exec path): docker's PATH, HOSTNAME and, with
    a tty, TERM=xterm, the config's Env on top, ``overrides`` (exec -e) on top of that, then
    HOME (the user's) unless set."""
    c = config["Config"]
    return _core.process_env(list(c.get("Env") or []), c["Hostname"], home, tty, list(overrides))


def namespaces(config: dict) -> list:
    """The namespaces a container's processes live in (exec joins the same ones)."""
    ns = ["mount", "pid", "uts", "ipc", "cgroup"]
    mode = config["HostConfig"].get("NetworkMode") or ""
    if mode != "host" and not mode.startswith("container:"):  # container: joins the other's
        ns.append("net")
    return ns


def exec_base(plan: dict, cgroup: dict, events: dict) -> dict:
    """From a start's launch plan: the part every exec of that container reuses (and where
    the compiled exec path records its events: events.log_part)."""
    proc = plan["process"]
    # exec enters all of the init's namespaces: those joined (--network container:, --ipc
    # container:) as well
    own = plan.get("exec_namespaces") or plan["namespaces"]
    joined = [t for t, _ in plan.get("join_namespaces") or () if t not in own]
    base = {"namespaces": own + joined, "cgroup": cgroup,
            "caps": proc["caps"], "no_new_privs": proc["no_new_privs"], "events": events}
    if "seccomp" in proc:
        base["seccomp"] = proc["seccomp"]
    return base
