"""The `layerbox` entry point.

Hot verbs are parsed from the generated table (_verb_table.py) and run without importing click; the
rest, and anything the fast parser does not handle exactly like click (help, errors), go to the
click definition in layerbox.cli.commands.
"""

from __future__ import annotations

import os
import sys


# -- how a failure ends the command: docker's exit codes, one table --------------------------
#
# docker's CLI exits 125 when `run` or `create` fails in the engine, 126 when the container's
# command cannot be invoked and 127 when it does not exist (a StartError carries which); `exec`
# passes on 126/127 of its command the same way. Every other failure of every other command
# (start, stop, logs, kill, rename, pause, rm, exec on a stopped container, top, cp, tag, rmi,
# save, load, pull, ps --filter with a bad key, ...) exits 1. A bad flag or a flag's bad value
# is a usage error: 125 everywhere; a wrong number of arguments: 1.
EXIT_FAILED = 1
EXIT_USAGE = 125
_ENGINE_EXIT = {"run": 125, "create": 125}
_START_ERROR_VERBS = ("run", "exec")


def exit_code(e: BaseException, verb: str) -> int:
    """The exit code of `verb` failing with e (see the table above)."""
    from layerbox.errors import StartError

    if isinstance(e, StartError) and verb in _START_ERROR_VERBS and e.exit_code in (126, 127):
        return e.exit_code
    return _ENGINE_EXIT.get(verb, EXIT_FAILED)


def message(e: BaseException) -> str:
    """What the user reads (layerbox.errors.describe)."""
    from layerbox.errors import describe

    return describe(e)


def _report(e: BaseException, verb: str = "") -> int:
    msg = message(e)
    sys.stderr.write(f"Error: {msg}\n" if msg else "Error\n")
    return exit_code(e, verb)


def _broken_pipe() -> int:
    """The reader of our output left (`layerbox ps | head -1`): end quietly, as docker does
    (it dies of the SIGPIPE; so do we, so that a shell sees the same status)."""
    try:
        sys.stdout = open(os.devnull, "w")
    except OSError:
        pass
    import signal

    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGPIPE)
    return 141  # only when SIGPIPE cannot be delivered


def _is_epipe(e: BaseException) -> bool:
    return isinstance(e, OSError) and e.errno == 32


def _run_action(target: str, ctx, params: dict, verb: str = "") -> int:
    mod, _, fn = target.partition(":")
    from layerbox.errors import LayerboxError

    try:
        # __import__, not importlib.import_module: the importlib package imports warnings (1-4 ms)
        __import__(mod)
        return getattr(sys.modules[mod], fn)(ctx, **params) or 0
    except (LayerboxError, OSError) as e:
        if _is_epipe(e):
            return _broken_pipe()
        return _report(e, verb)


def _fast(args: list):
    """(action, ctx, params) for a hot verb the table covers, else None."""
    root = None
    i = 0
    while i < len(args) and args[i].startswith("-"):
        a = args[i]
        if a == "--root" and i + 1 < len(args):
            root = args[i + 1]
            i += 2
        elif a.startswith("--root="):
            root = a[7:]
            i += 1
        else:
            return None
    if i >= len(args):
        return None
    verb = args[i]
    i += 1
    if verb == "container" and i < len(args):
        verb = args[i]
        i += 1
        if verb == "inspect":  # containers only, unlike `inspect`: click's container_inspect
            return None
    elif verb == "system" and i < len(args) and args[i] == "service":
        verb = "system service"
        i += 1
    from layerbox.cli._verb_table import VERB_TABLE

    spec = VERB_TABLE.get(verb)
    if spec is None:
        return None
    from layerbox.cli import fastparse

    params = fastparse.parse(spec, args[i:])
    if params is None:
        return None
    from layerbox.cli.context import CliContext

    return spec["action"], CliContext(root or os.environ.get("LAYERBOX_ROOT") or None), params, verb


_GROUPS = ("container", "image", "system", "volume")


def _verb(args: list) -> str:
    """The command a command line names ("run", "ls", ...; "" for none): what the exit code
    table is keyed by."""
    words, i = [], 0
    while i < len(args) and len(words) < 2:
        a = args[i]
        if a == "--root":
            i += 2
            continue
        if a.startswith("-"):
            if words:
                break
            i += 1
            continue
        words.append(a)
        if a not in _GROUPS:
            break
        i += 1
    if len(words) == 2 and words[0] in ("volume", "image", "system"):
        return " ".join(words)  # `volume create` is not `create`: it exits 1, as docker's
    return words[-1] if words else ""


def _asks_for_help(args: list) -> bool:
    """Help and version need no store: they work for any user."""
    return (not args or any(a in ("--help", "-h", "--version", "-v") for a in args)
            or _verb(args) in ("help", "version"))


def _click(args: list) -> int:
    if sys.flags.no_site:
        # Started by the launcher without site processing: click may live anywhere site knows.
        import site

        site.main()
    import click

    from layerbox.cli.commands import cli
    from layerbox.errors import LayerboxError

    try:
        rv = cli.main(args, prog_name="layerbox", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except click.exceptions.NoArgsIsHelpError as e:
        click.echo(e.ctx.get_help() if e.ctx else str(e))
        return 0
    except click.UsageError as e:
        if e.message.startswith("No such command"):
            # docker: "docker: 'nosuch' is not a docker command." and exit 1
            name = e.message.split("'")[1] if e.message.count("'") >= 2 else e.message
            sys.stderr.write(f"layerbox: '{name}' is not a layerbox command.\nSee 'layerbox --help'\n")
            return EXIT_FAILED
        # docker: a wrong number of arguments exits 1; a bad flag or flag value 125.
        if (isinstance(e, click.MissingParameter) and isinstance(e.param, click.Argument)) or \
                "unexpected extra argument" in e.message:
            sys.stderr.write(_arity_message(e.ctx))
            return EXIT_FAILED
        if isinstance(e, click.NoSuchOption) and e.ctx is not None:
            name = e.option_name
            what = f"unknown shorthand flag: '{name[1]}' in {name}" if name[:2] != "--" and len(name) > 1 \
                else f"unknown flag: {name}"
            sys.stderr.write(f"{what}\nSee '{e.ctx.command_path} --help'.\n")
            return EXIT_USAGE
        e.show()
        return EXIT_USAGE
    except click.exceptions.Abort:
        return 1
    except click.exceptions.Exit as e:
        return e.exit_code
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 0
    except (LayerboxError, OSError) as e:
        if _is_epipe(e):
            return _broken_pipe()
        return _report(e, _verb(args))


def _arity_message(ctx) -> str:
    """docker's (cobra's) words for a wrong number of arguments: '"docker rename" requires
    exactly 2 arguments.', the help hint, the usage line and the command's one-line help."""
    import click

    if ctx is None:
        return "Error: wrong number of arguments\n"
    args = [p for p in ctx.command.params if isinstance(p, click.Argument)]
    least = sum(max(p.nargs, 1) for p in args if p.required)
    most = None if any(p.nargs < 0 for p in args) else sum(p.nargs for p in args)
    if most is None:
        how = f"at least {least} argument{'s' if least != 1 else ''}"
    elif least == most:
        how = f"exactly {least} argument{'s' if least != 1 else ''}"
    elif least == 0:
        how = f"at most {most} argument{'s' if most != 1 else ''}"
    else:
        how = f"at least {least} and at most {most} arguments"
    usage = " ".join(ctx.command.collect_usage_pieces(ctx))
    short = ctx.command.get_short_help_str(limit=120)
    return (f'"{ctx.command_path}" requires {how}.\nSee \'{ctx.command_path} --help\'.\n\n'
            f"Usage:  {ctx.command_path} {usage}\n\n{short}\n")


def main(argv: list | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if os.geteuid() != 0 and not _asks_for_help(args):
        # Namespaces, mounts, cgroups and the store all need it; say so before anything fails
        # half-way with a bare "permission denied".
        sys.stderr.write("Error: layerbox needs root: run it as root (for example with sudo)\n")
        return EXIT_FAILED
    try:
        fast = _fast(args)
        if fast is not None:
            code = _run_action(*fast)
        else:
            code = _click(args)
        sys.stdout.flush()
        report = os.environ.get("LAYERBOX_IMPORT_REPORT")
        if report:  # for the test that keeps the hot path's imports in check
            with open(report, "w") as f:
                f.write("\n".join(sorted(sys.modules)))
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _broken_pipe()
    except Exception as e:  # noqa: BLE001 - a bug of ours: one line, not a traceback
        if os.environ.get("LAYERBOX_DEBUG"):
            raise
        sys.stderr.write(f"Error: internal error: {type(e).__name__}: {e} "
                         "(LAYERBOX_DEBUG=1 shows where)\n")
        return exit_code(e, _verb(args))


def run_and_exit() -> None:
    """For the launcher: run, flush, and leave without the interpreter's teardown of every
    loaded module (nothing of ours needs it; it costs ~1 ms per command)."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    from layerbox import _util

    _util.end_later()  # what the command left to do after answering (rm: the files)
    os._exit(code if isinstance(code, int) else 1)


if __name__ == "__main__":
    sys.exit(main())
