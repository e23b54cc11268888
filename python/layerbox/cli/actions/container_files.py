"""What commit, diff, export and cp do (no click here)."""

from __future__ import annotations

import os
import sys

from layerbox.errors import InvalidArgument

_TRUE = ("true", "1", "t", "yes")
_FALSE = ("false", "0", "f", "no")


def bool_or_positional(value: str, positionals: list):
    """A docker bool flag given as "-p" (then click may have taken the next word as its
    value): (flag, positionals with that word put back)."""
    v = (value or "true").lower()
    if v in _TRUE:
        return True, positionals
    if v in _FALSE:
        return False, positionals
    return True, [value] + [p for p in positionals if p is not None]


def refuse_terminal() -> None:
    """docker's check before writing an archive to stdout."""
    if os.isatty(1):
        raise InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect")


def commit(ctx, container=None, repository=None, author=None, change=(), message=None,
           pause="true") -> int:
    from layerbox.container.commit import commit as do_commit

    pause_b, pos = bool_or_positional(pause, [container, repository])
    pos = [p for p in pos if p is not None]
    if not pos or len(pos) > 2:
        raise InvalidArgument('"commit" requires at least 1 and at most 2 arguments: '
                              "CONTAINER [REPOSITORY[:TAG]]")
    image_id = do_commit(ctx.engine, pos[0], pos[1] if len(pos) > 1 else None, message=message or "",
                         author=author or "", pause=pause_b, changes=list(change))
    sys.stdout.write(image_id + "\n")
    return 0


def diff(ctx, container) -> int:
    from layerbox.container.changes import changes

    sys.stdout.write("".join(f"{k} {p}\n" for k, p in changes(ctx.engine, container)))
    return 0


def export(ctx, container, output=None) -> int:
    from layerbox.container import archive

    if output:
        archive.export_to_file(ctx.engine, container, output)
        return 0
    refuse_terminal()
    sys.stdout.flush()
    archive.export_to_fd(ctx.engine, container, 1)
    return 0


def cp(ctx, src, dest, archive=False, follow_link=False, quiet=False) -> int:
    from layerbox.container import archive as A

    sc, sp = A.split_arg(src) if src != "-" else ("", "-")
    dc, dp = A.split_arg(dest) if dest != "-" else ("", "-")
    if sc and dc:
        raise InvalidArgument("copying between containers is not supported")
    if not sc and not dc:
        raise InvalidArgument("must specify at least one container source")
    sys.stdout.flush()
    if sc:
        if dp == "-":
            refuse_terminal()
        A.copy_from_container(ctx.engine, sc, sp, dp, follow=follow_link, archive=archive)
    else:
        A.copy_to_container(ctx.engine, dc, sp, dp, follow=follow_link, archive=archive)
    return 0
