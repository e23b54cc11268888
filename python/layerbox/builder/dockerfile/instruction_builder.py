"""From parsed lines to typed instructions (BuildKit's instructions package): each
instruction's flags and arguments checked, RUN --mount parsed."""

from __future__ import annotations


from layerbox.errors import InvalidArgument

from ..shellwords import go_quote
from .instructions import (
    Add, Arg, Cmd, Copy, DockerfileError, Entrypoint, Env, Expose, _Fail, From, Healthcheck,
    Heredoc, Instruction, INSTRUCTIONS, Label, Maintainer, Onbuild, Run, RunMount, Shell,
    StopSignal, User, Volume, Workdir,
)
from .gocompat import parse_duration, _parse_int32, _strip, _suggest
from .lines import _Node, parse_heredoc

TYPE_CHECKING = False  # typing costs 3 ms to import; annotations here are never evaluated
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional, Tuple


# -- instruction-level parsing (BuildKit's instructions package) -----------------------------------
_BOOL, _STR, _STRS = "bool", "str", "strs"

_FLAGS: Dict[str, Dict[str, str]] = {
    "ADD": {"chown": _STR, "chmod": _STR, "link": _BOOL, "keep-git-dir": _BOOL,
            "checksum": _STR, "unpack": _BOOL, "exclude": _STRS},
    "COPY": {"chown": _STR, "from": _STR, "chmod": _STR, "link": _BOOL, "parents": _BOOL,
             "exclude": _STRS},
    "FROM": {"platform": _STR},
    "RUN": {"mount": _STRS, "network": _STR, "security": _STR},
    "HEALTHCHECK": {"interval": _STR, "timeout": _STR, "start-period": _STR,
                    "start-interval": _STR, "retries": _STR},
}
_NO_FLAGS: Dict[str, str] = {}


def _parse_flags(args: List[str], spec: Dict[str, str]) -> Dict[str, Any]:
    used: Dict[str, Any] = {}
    for arg in args:
        if not arg.startswith("--"):
            raise _Fail(f"Arg should start with -- : {arg}")
        if arg == "--":
            break
        body = arg[2:]
        name, eq, value = body.partition("=")
        kind = spec.get(name)
        if kind is None:
            raise _Fail(f"Unknown flag: {name}{_suggest(name, spec)}")
        if name in used and kind != _STRS:
            raise _Fail(f"Duplicate flag specified: {name}")
        if kind == _BOOL:
            if eq and value == "":
                raise _Fail(f"Missing a value on flag: {name}")
            low = value.lower()
            if low == "":
                used[name] = True
            elif low in ("true", "false"):
                used[name] = low == "true"
            else:
                raise _Fail(f"Expecting boolean value for flag {name}, not: {value}")
        elif kind == _STR:
            if not eq:
                raise _Fail(f"Missing a value on flag: {name}")
            used[name] = value
        else:
            if not eq:
                raise _Fail(f"Missing a value on flag: {name}")
            used.setdefault(name, []).append(value)
    return used


def _handle_json_args(args: List[str], is_json: bool) -> List[str]:
    if not args:
        return []
    if is_json:
        return list(args)
    return [" ".join(args)]


_STAGE_NAME_FIRST = frozenset("abcdefghijklmnopqrstuvwxyz")
_STAGE_NAME_CHARS = _STAGE_NAME_FIRST | frozenset("0123456789-_.")


def _valid_stage_name(name: str) -> bool:
    """[a-z][a-z0-9-_.]*, as BuildKit's stage names."""
    return bool(name) and name[0] in _STAGE_NAME_FIRST and all(c in _STAGE_NAME_CHARS for c in name)
_MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
_MOUNT_KEYS = ("type", "target", "dst", "destination", "src", "source", "from", "readonly", "ro",
               "readwrite", "rw", "required", "id", "sharing", "mode", "uid", "gid", "size", "env")
_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def _csv_fields(spec: str) -> List[str]:
    """Split a mount spec on commas, honouring double quotes like Go's encoding/csv."""
    fields: List[str] = []
    cur: List[str] = []
    quoted = False
    i = 0
    while i < len(spec):
        ch = spec[i]
        if quoted:
            if ch == '"':
                if i + 1 < len(spec) and spec[i + 1] == '"':
                    cur.append('"')
                    i += 1
                else:
                    quoted = False
            else:
                cur.append(ch)
        elif ch == '"' and not cur:
            quoted = True
        elif ch == ",":
            fields.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    fields.append("".join(cur))
    return fields


def _parse_mount(spec: str, inst: Optional[Instruction], env: Optional[Mapping[str, str]]) -> RunMount:
    """Parse one ``--mount`` value. Without ``env`` only what docker checks at parse time is
    checked; with it every value is expanded and validated."""

    def fail(msg: str) -> Exception:
        return inst.error(msg) if inst is not None and env is not None else _Fail(msg)

    mount = RunMount(raw=spec)
    options: Dict[str, str] = {}
    for field in _csv_fields(spec):
        if field == "":
            continue
        key, eq, value = field.partition("=")
        key = key.lower()
        if not eq:
            if key in ("readonly", "ro"):
                mount.readonly = True
                continue
            if key in ("readwrite", "rw"):
                mount.readonly = False
                continue
            if key == "required":
                if mount.type in ("secret", "ssh"):
                    options["required"] = "true"
                    continue
                raise fail(f"unexpected key '{key}' for mount type '{mount.type}'")
            raise fail(f"invalid field '{field}' must be a key=value pair")
        if env is not None and inst is not None:
            value = inst._word(value, env)
        elif key == "from" and ("$" in value or "\\" in value):
            raise fail(f"'{key}' doesn't support variable expansion, define alias stage instead")
        if key not in _MOUNT_KEYS:
            raise fail(f"unexpected key '{key}' in '{field}'")
        options[key] = value
        if env is None and "$" in value:
            continue  # checked after expansion
        if key == "type":
            if value.lower() not in _MOUNT_TYPES:
                raise fail(f"unsupported mount type {go_quote(value)}{_suggest(value, _MOUNT_TYPES)}")
            mount.type = value.lower()
        elif key in ("target", "dst", "destination"):
            mount.target = value
        elif key in ("src", "source"):
            mount.source = value
        elif key == "from":
            mount.from_ = value
        elif key in ("readonly", "ro", "readwrite", "rw"):
            if value in _GO_TRUE:
                b = True
            elif value in _GO_FALSE:
                b = False
            else:
                raise fail(f"invalid value for {key}: {value}")
            mount.readonly = b if key in ("readonly", "ro") else not b
        elif key == "sharing" and value not in ("shared", "private", "locked"):
            raise fail(f"unsupported sharing value {go_quote(value)}")
    mount.options = options
    return mount


class _Builder:
    """Turns line nodes into typed instructions."""

    def __init__(self, filename: str, escape: str):
        self.filename = filename
        self.escape = escape

    def base(self, node: _Node) -> Dict[str, Any]:
        return dict(keyword=node.keyword, original=_strip(node.original), line=node.start,
                    end_line=node.end, filename=self.filename, escape=self.escape)

    def build(self, node: _Node) -> Instruction:
        try:
            return self._build(node)
        except _Fail as e:
            raise DockerfileError(self.filename, node.start, str(e)) from None

    def _build(self, node: _Node) -> Instruction:
        kw = node.keyword
        fn = getattr(self, "_" + kw.lower(), None) if kw in INSTRUCTIONS else None
        if fn is None:
            raise _Fail(f"unknown instruction: {node.cmd}{_suggest(node.cmd, INSTRUCTIONS, upper=True)}")
        return fn(node)

    def _flags(self, node: _Node, kw: Optional[str] = None) -> Dict[str, Any]:
        return _parse_flags(node.flags, _FLAGS.get(kw or node.keyword, _NO_FLAGS))

    # each method follows the order of checks of BuildKit's parse functions
    def _env(self, node: _Node) -> Instruction:
        return self._kv(node, Env)

    def _label(self, node: _Node) -> Instruction:
        return self._kv(node, Label)

    def _kv(self, node: _Node, cls) -> Instruction:
        flags = self._flags(node)
        if not node.kv:
            raise _Fail(f"{node.keyword} requires at least one argument")
        for k, _ in node.kv:
            if k == "":
                raise _Fail(f"{node.keyword} names can not be blank")
        return cls(pairs=list(node.kv), flags=flags, **self.base(node))

    def _maintainer(self, node: _Node) -> Instruction:
        if len(node.args) != 1:
            raise _Fail("MAINTAINER requires exactly one argument")
        return Maintainer(maintainer=node.args[0], flags=self._flags(node), **self.base(node))

    def _files(self, node: _Node) -> Dict[str, Any]:
        kw = node.keyword
        if len(node.args) < 2:
            raise _Fail(f"{kw} requires at least two arguments, but only one was provided. "
                        "Destination could not be determined")
        flags = self._flags(node)
        srcs, dest = node.args[:-1], node.args[-1]
        if parse_heredoc_quiet(dest) is not None:
            raise _Fail(f"{kw} cannot accept a heredoc as a destination")
        by_name = {h.name: h for h in node.heredocs}
        sources: List[str] = []
        contents: List[Heredoc] = []
        for src in srcs:
            h = parse_heredoc_quiet(src) if not node.json else None
            if h is not None:
                found = by_name.get(h.name)
                contents.append(h.replace(content=found.content if found else ""))
            else:
                sources.append(src)
        return dict(sources=sources, dest=dest, contents=contents, flags=flags,
                    chown=flags.get("chown"), chmod=flags.get("chmod"),
                    link=flags.get("link", False), exclude=list(flags.get("exclude", [])),
                    **self.base(node))

    def _add(self, node: _Node) -> Instruction:
        kw = self._files(node)
        flags = kw["flags"]
        return Add(keep_git_dir=flags.get("keep-git-dir", False), checksum=flags.get("checksum"),
                   unpack=flags.get("unpack"), **kw)

    def _copy(self, node: _Node) -> Instruction:
        kw = self._files(node)
        flags = kw["flags"]
        return Copy(from_=flags.get("from") or None, parents=flags.get("parents", False), **kw)

    def _from(self, node: _Node) -> Instruction:
        args = node.args
        name = None
        if len(args) == 3 and args[1].lower() == "as":
            name = args[2].lower()
            if not _valid_stage_name(name):
                raise _Fail(f"invalid name for build stage: {go_quote(args[2])}, name can't "
                            "start with a number or contain symbols")
        elif len(args) != 1:
            raise _Fail("FROM requires either one or three arguments")
        flags = self._flags(node)
        return From(image=args[0], name=name, platform=flags.get("platform") or None,
                    flags=flags, **self.base(node))

    def _onbuild(self, node: _Node) -> Instruction:
        if node.sub is None:
            raise _Fail("ONBUILD requires at least one argument")
        flags = self._flags(node)
        trigger_kw = node.sub.keyword
        if trigger_kw == "ONBUILD":
            raise _Fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger_kw in ("MAINTAINER", "FROM"):
            raise _Fail(f"{trigger_kw} isn't allowed as an ONBUILD trigger")
        node.sub.start, node.sub.end = node.start, node.end
        trigger = self._build(node.sub)
        import re  # ONBUILD only

        expression = re.sub(r"(?i)^\s*ONBUILD\s*", "", node.original)
        for h in node.heredocs:
            expression += "\n" + h.content + h.name
        return Onbuild(expression=expression, trigger=trigger, flags=flags, **self.base(node))

    def _workdir(self, node: _Node) -> Instruction:
        if len(node.args) != 1:
            raise _Fail("WORKDIR requires exactly one argument")
        return Workdir(path=node.args[0], flags=self._flags(node), **self.base(node))

    def _run(self, node: _Node) -> Instruction:
        flags = self._flags(node)
        mounts = [_parse_mount(spec, None, None) for spec in flags.get("mount", [])]
        network = flags.get("network")
        if network is not None and network not in ("default", "none", "host"):
            raise _Fail(f"unsupported network mode {go_quote(network)}")
        security = flags.get("security")
        if security is not None and security not in ("sandbox", "insecure"):
            raise _Fail(f"unsupported security mode {go_quote(security)}")
        return Run(cmd=_handle_json_args(node.args, node.json), prepend_shell=not node.json,
                   heredocs=list(node.heredocs), mounts=mounts, network=network,
                   security=security, flags=flags, **self.base(node))

    def _cmd(self, node: _Node) -> Instruction:
        flags = self._flags(node)
        return Cmd(cmd=_handle_json_args(node.args, node.json), prepend_shell=not node.json,
                   flags=flags, **self.base(node))

    def _entrypoint(self, node: _Node) -> Instruction:
        flags = self._flags(node)
        return Entrypoint(cmd=_handle_json_args(node.args, node.json),
                          prepend_shell=not node.json, flags=flags, **self.base(node))

    def _healthcheck(self, node: _Node) -> Instruction:
        if not node.args:
            raise _Fail("HEALTHCHECK requires at least one argument")
        typ = node.args[0].upper()
        args = node.args[1:]
        if typ == "NONE":
            if args:
                raise _Fail("HEALTHCHECK NONE takes no arguments")
            flags = self._flags(node)
            return Healthcheck(test=["NONE"], flags=flags, **self.base(node))
        flags = self._flags(node)
        if typ != "CMD":
            raise _Fail(f"Unknown type {go_quote(typ)} in HEALTHCHECK (try CMD)")
        cmd = _handle_json_args(args, node.json)
        if not cmd:
            raise _Fail("Missing command after HEALTHCHECK CMD")
        test = ["CMD" if node.json else "CMD-SHELL"] + cmd
        durations = {}
        for flag in ("interval", "timeout", "start-period", "start-interval"):
            value = flags.get(flag, "")
            d = 0
            if value:
                try:
                    d = parse_duration(value)
                except ValueError as e:
                    raise _Fail(str(e)) from None
                if d != 0 and d < 10**6:
                    raise _Fail(f"Interval {go_quote(flag)} cannot be less than 1ms")
            durations[flag.replace("-", "_")] = d
        retries = 0
        if flags.get("retries"):
            try:
                retries = _parse_int32(flags["retries"])
            except ValueError as e:
                raise _Fail(str(e)) from None
            if retries < 0:
                raise _Fail(f"--retries cannot be negative ({retries})")
        return Healthcheck(test=test, retries=retries, flags=flags, **durations, **self.base(node))

    def _expose(self, node: _Node) -> Instruction:
        if not node.args:
            raise _Fail("EXPOSE requires at least one argument")
        return Expose(ports=list(node.args), flags=self._flags(node), **self.base(node))

    def _user(self, node: _Node) -> Instruction:
        if len(node.args) != 1:
            raise _Fail("USER requires exactly one argument")
        return User(user=node.args[0], flags=self._flags(node), **self.base(node))

    def _volume(self, node: _Node) -> Instruction:
        if not node.args:
            raise _Fail("VOLUME requires at least one argument")
        flags = self._flags(node)
        paths = []
        for v in node.args:
            v = _strip(v)
            if v == "":
                raise _Fail("VOLUME specified can not be an empty string")
            paths.append(v)
        return Volume(paths=paths, flags=flags, **self.base(node))

    def _stopsignal(self, node: _Node) -> Instruction:
        if len(node.args) != 1:
            raise _Fail("STOPSIGNAL requires exactly one argument")
        return StopSignal(signal=node.args[0], flags=self._flags(node), **self.base(node))

    def _arg(self, node: _Node) -> Instruction:
        if not node.args:
            raise _Fail("ARG requires at least one argument")
        flags = self._flags(node)
        pairs: List[Tuple[str, Optional[str]]] = []
        for a in node.args:
            if "=" in a:
                k, _, v = a.partition("=")
                if k == "":
                    raise _Fail("ARG names can not be blank")
                pairs.append((k, v))
            else:
                pairs.append((a, None))
        return Arg(pairs=pairs, flags=flags, **self.base(node))

    def _shell(self, node: _Node) -> Instruction:
        flags = self._flags(node)
        shell = _handle_json_args(node.args, node.json)
        if not shell:
            raise _Fail("SHELL requires at least one argument")
        if not node.json:
            raise _Fail("SHELL requires the arguments to be in JSON form")
        return Shell(shell=shell, flags=flags, **self.base(node))


def parse_heredoc_quiet(word: str) -> Optional[Heredoc]:
    """:func:`parse_heredoc` that answers None instead of raising."""
    try:
        return parse_heredoc(word)
    except InvalidArgument:
        return None
