"""The `layerbox` entry point.

Hot verbs are parsed from the generated table (_spec.py) and run without importing click; the
rest, and anything the fast parser does not handle exactly like click (help, errors), go to the
click definition in layerbox.cli.commands.
"""

from __future__ import annotations

import os
import sys


def _report(e: BaseException) -> int:
    from layerbox.errors import LayerboxError

    msg = str(e)
    sys.stderr.write(f"Error: {msg}\n" if msg else "Error\n")
    return e.exit_code if isinstance(e, LayerboxError) else 125


def _run_action(target: str, ctx, params: dict) -> int:
    from importlib import import_module

    mod, _, fn = target.partition(":")
    from layerbox.errors import LayerboxError

    try:
        return getattr(import_module(mod), fn)(ctx, **params) or 0
    except LayerboxError as e:
        return _report(e)
    except OSError as e:
        return _report(e)


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
    from layerbox.cli._spec import SPEC

    spec = SPEC.get(verb)
    if spec is None:
        return None
    from layerbox.cli import fastparse

    params = fastparse.parse(spec, args[i:])
    if params is None:
        return None
    from layerbox.cli.context import CliContext

    return spec["action"], CliContext(root or os.environ.get("LAYERBOX_ROOT") or None), params


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
        e.show()
        return 125
    except click.exceptions.Abort:
        return 1
    except click.exceptions.Exit as e:
        return e.exit_code
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 0
    except (LayerboxError, OSError) as e:
        return _report(e)


def main(argv: list | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
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
        # `layerbox ps | head`: the reader left; say nothing more.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass  # nowhere left to write to: exiting is all that is left
        return 0


def run_and_exit() -> None:
    """For the launcher: run, flush, and leave without the interpreter's teardown of every
    loaded module (nothing of ours needs it; it costs ~1 ms per command)."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    os._exit(code if isinstance(code, int) else 1)


if __name__ == "__main__":
    sys.exit(main())
