"""Generates layerbox/cli/_verb_table.py from the click definitions: `python -m layerbox.cli.gen_verb_table`.

The fast path (fastparse.py) reads that table instead of importing click; the test suite
regenerates it and fails when the committed file differs, so the two can never drift. An
option or argument whose behaviour the table cannot carry (a callback, a callable default, an
environment variable, a count, a prompt, ...) makes generation fail with UnsupportedShape
rather than being left out: leave that verb to click, or teach fastparse and this file the shape.
"""

from __future__ import annotations

import os
import pprint

import click

from layerbox.cli.commands import cli

# The verbs that must reach the kernel without importing click (the hot path), and the ones
# scripts call in loops or around big data where click's 50 ms would show (commit, save,
# export, logs, inspect, images, build).
# `system service` too: its first answer (socket-activated) waits for what its start imports.
HOT_VERBS = ("run", "create", "start", "exec", "stop", "kill", "rm", "ps", "wait", "pause",
             "unpause", "commit", "save", "export", "logs", "inspect", "images", "build",
             "system service")


def _type(t) -> dict:
    if isinstance(t, click.types.IntParamType):
        return {"type": "int"}
    if isinstance(t, click.types.FloatParamType):
        return {"type": "float"}
    if isinstance(t, click.Choice):
        return {"type": "choice", "choices": list(t.choices)}
    if isinstance(t, (click.types.StringParamType, click.types.UnprocessedParamType)):
        return {"type": "string"}
    if isinstance(t, click.types.BoolParamType):
        return {"type": "bool"}
    raise TypeError(f"fast path cannot convert {t!r}; extend fastparse or leave the verb to click")


_UNSET = getattr(click.core, "UNSET", None)


class UnsupportedShape(TypeError):
    """A hot verb's parameter that fastparse could not parse as click does."""


def _refuse(cmd: click.Command, p: click.Parameter, what: str):
    raise UnsupportedShape(f"{cmd.name}: {p.name}: {what}: the fast path cannot parse it as "
                           "click does; extend fastparse or leave the verb to click")


def _check_shape(cmd: click.Command, p: click.Parameter) -> None:
    """Refuses what the table cannot carry (see the module's docstring)."""
    if p.callback is not None:
        _refuse(cmd, p, "a callback")
    if callable(p.default):
        _refuse(cmd, p, "a callable default")
    if p.envvar:
        _refuse(cmd, p, "a value from the environment")
    if getattr(p, "deprecated", False):
        _refuse(cmd, p, "deprecated (click warns)")
    if p.is_eager:
        _refuse(cmd, p, "an eager parameter")
    if isinstance(p, click.Argument):
        if p.nargs not in (1, -1):
            _refuse(cmd, p, f"nargs={p.nargs}")
        return
    if p.count:
        _refuse(cmd, p, "a count")
    if p.nargs != 1:
        _refuse(cmd, p, f"nargs={p.nargs}")
    if p.prompt:
        _refuse(cmd, p, "a prompt")
    if p.required:
        _refuse(cmd, p, "a required option")
    if _optional_value(p) and (p.multiple or p.flag_value in (_UNSET, None)):
        _refuse(cmd, p, "an optional value without a value to take in its place")


def _optional_value(p: click.Option) -> bool:
    """An option whose value may be left out (``-p`` alone means its flag_value)."""
    return not p.is_flag and bool(getattr(p, "_flag_needs_value", False))


def _default(p: click.Parameter):
    d = p.default
    if d is _UNSET:
        d = None
    if d is None:
        if getattr(p, "is_flag", False):
            return False
        if getattr(p, "multiple", False) or (isinstance(p, click.Argument) and p.nargs == -1):
            return []
    if isinstance(d, tuple):
        d = list(d)
    return d


def verb_entry(cmd: click.Command) -> dict:
    params = []
    for p in cmd.params:
        if not p.expose_value:
            # not one of the callback's arguments; the fast path does not know its flags, so
            # a command line using them goes to click
            continue
        _check_shape(cmd, p)
        if isinstance(p, click.Option):
            d = {"name": p.name, "kind": "option", "opts": list(p.opts),
                 "secondary": list(p.secondary_opts), "flag": bool(p.is_flag),
                 "multiple": bool(p.multiple), "default": _default(p)}
            if p.is_flag:
                # click >= 8.3 leaves flag_value UNSET for a plain boolean flag, meaning True
                d["flag_value"] = True if p.flag_value in (_UNSET, None) else p.flag_value
            else:
                d.update(_type(p.type))
                if _optional_value(p):
                    d["optional_value"] = p.flag_value
            params.append(d)
        elif isinstance(p, click.Argument):
            d = {"name": p.name, "kind": "argument", "nargs": p.nargs, "required": bool(p.required),
                 "default": _default(p)}
            d.update(_type(p.type))
            params.append(d)
    cb = cmd.callback
    module = cb.__module__.replace(".commands.", ".actions.")
    return {
        "params": params,
        "interspersed": bool(cmd.context_settings.get("allow_interspersed_args", True)),
        "action": f"{module}:{cb.__name__}",
    }


def build() -> dict:
    def command(verb: str) -> click.Command:
        cmd = cli
        for word in verb.split():
            cmd = cmd.commands[word]
        return cmd

    return {v: verb_entry(command(v)) for v in HOT_VERBS}


def render() -> str:
    return ('"""Generated by `python -m layerbox.cli.gen_verb_table` from the click definitions: do not edit."""\n\n'
            "VERB_TABLE = " + pprint.pformat(build(), width=100, sort_dicts=True) + "\n")


def path() -> str:
    return os.path.join(os.path.dirname(__file__), "_verb_table.py")


if __name__ == "__main__":
    with open(path(), "w") as f:
        f.write(render())
    print(f"wrote {path()}")
