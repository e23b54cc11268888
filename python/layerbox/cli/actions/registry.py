"""What pull, push, login and logout do (no click here). Progress as docker's CLI draws it
(pkg/jsonmessage): on a terminal one line per layer, rewritten in place as its bytes move;
otherwise one line per status, without the bars."""

from __future__ import annotations

import sys

from layerbox.errors import InvalidArgument


class Display:
    """docker's DisplayJSONMessagesStream: an emit callback drawing progress messages."""

    def __init__(self, out, tty: bool | None = None):
        self.out = out
        try:
            self.tty = out.isatty() if tty is None else tty
        except (AttributeError, ValueError):
            self.tty = False
        self.width = 200
        if self.tty:
            import os

            try:
                self.width = os.get_terminal_size(out.fileno()).columns
            except (OSError, AttributeError, ValueError):
                pass
        self.ids: dict[str, int] = {}

    def __call__(self, msg: dict) -> None:
        status = msg.get("status")
        if status is None:
            return  # aux (push's digest record) and other machine-only messages
        from layerbox.progress import bar

        out, id_ = self.out, msg.get("id") or ""
        has_progress = "progressDetail" in msg
        detail = msg.get("progressDetail") or {}
        text = bar(detail.get("current", 0), detail.get("total", 0), self.width, detail.get("start", 0))
        diff = 0
        if id_ and has_progress:
            line = self.ids.get(id_)
            if line is None:
                line = self.ids[id_] = len(self.ids)
                if self.tty:
                    out.write("\n")
            diff = len(self.ids) - line
            if self.tty and diff:
                out.write(f"\x1b[{diff}A")
        else:
            # Something that is not a layer's line: the lines above are history now.
            self.ids = {}
        if self.tty and has_progress:
            out.write("\x1b[2K\r")
            out.write((f"{id_}: " if id_ else "") + f"{status} {text}\r")
        elif has_progress and text:
            pass  # no bars when not drawing on a terminal
        else:
            out.write((f"{id_}: " if id_ else "") + f"{status}\n")
        if id_ and self.tty and diff:
            out.write(f"\x1b[{diff}B")
        out.flush()


def printer(out):
    """The emit callback of a command that shows progress on `out`."""
    return Display(out)


def _default_tag(name: str, all_tags: bool, out) -> None:
    from layerbox.image import reference

    r = reference.parse(name)
    if not (r.tag or r.digest or all_tags) and out is not None:
        out.write(f"Using default tag: {reference.DEFAULT_TAG}\n")


def pull(ctx, name, quiet=False, all_tags=False, platform=None) -> int:
    from layerbox.image import reference
    from layerbox.registry import api

    _default_tag(name, all_tags, None if quiet else sys.stdout)
    pulled = api.pull_image(ctx.images, name, all_tags=all_tags, platform=platform,
                            emit=api.discard if quiet else printer(sys.stdout))
    sys.stdout.write((reference.parse(name).full_name if all_tags else pulled[0][1]) + "\n")
    return 0


def pull_for_run(ctx, name: str) -> None:
    """docker run's pull of a missing image: the progress on stderr, no final name line.
    A foreground run has blocked the signals it forwards to the container; a Ctrl-C during
    the pull must stop the pull, so they are unblocked meanwhile."""
    import signal

    from layerbox.registry import api

    old = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
    try:
        api.pull_image(ctx.images, name, emit=printer(sys.stderr))
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def push(ctx, name, quiet=False, all_tags=False) -> int:
    from layerbox.image import reference
    from layerbox.registry import api

    _default_tag(name, all_tags, None if quiet else sys.stdout)
    api.push_image(ctx.images, name, all_tags=all_tags, emit=api.discard if quiet else printer(sys.stdout))
    if quiet:
        r = reference.parse(name)
        sys.stdout.write(r.full_name + (f":{r.tag}" if r.tag else "") + "\n")
    return 0


def login(ctx, server=None, username=None, password=None, password_stdin=False) -> int:
    from layerbox.registry import api

    if password and password_stdin:
        raise InvalidArgument("--password and --password-stdin are mutually exclusive")
    if password_stdin:
        if not username:
            raise InvalidArgument("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif password:
        sys.stderr.write("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n")
    if not username or not password:
        if not sys.stdin.isatty():
            raise InvalidArgument("Cannot perform an interactive login from a non TTY device")
        if not username:
            sys.stdout.write("Username: ")
            sys.stdout.flush()
            username = sys.stdin.readline().strip()
            if not username:
                raise InvalidArgument("Username cannot be empty")
        if not password:
            import getpass

            password = getpass.getpass("Password: ")
            if not password:
                raise InvalidArgument("Password Required")
    path = api.login(server, username, password)
    sys.stderr.write(f"WARNING! Your password is stored unencrypted in {path} (readable by its owner only).\n")
    sys.stdout.write("Login Succeeded\n")
    return 0


def logout(ctx, server=None) -> int:
    from layerbox.registry import api

    domain, had = api.logout(server)
    sys.stdout.write(f"Removing login credentials for {domain}\n" if had else f"Not logged in to {domain}\n")
    return 0
