"""What `build` does (no click here): docker's classic builder output on stdout, each RUN
step's output as it comes (its stderr on stderr), `-q` only the image ID."""

from __future__ import annotations

import os
import sys

from layerbox.errors import BuildError, InvalidArgument


def _parse_kv(items, what: str, env_fallback: bool = False) -> dict:
    out: dict = {}
    for item in items or ():
        k, eq, v = item.partition("=")
        if not k:
            raise InvalidArgument(f"invalid {what}: {item!r}")
        if eq:
            out[k] = v
        elif env_fallback:
            out[k] = os.environ.get(k)  # docker: KEY alone takes the caller's value, if any
        else:
            out[k] = ""
    return out


def build(ctx, context, tags=(), file=None, build_args=(), target=None, no_cache=False,
          pull=False, quiet=False, labels=(), network="default", rm=True, force_rm=False,
          iidfile=None, platform=None) -> int:
    from layerbox.builder import api
    from layerbox.builder.dispatch import BuildOptions, RunFailed

    if platform and platform not in ("linux", "linux/amd64", "amd64"):
        raise InvalidArgument(f"platform {platform} is not supported here (linux/amd64 only)")
    if context.startswith(("http://", "https://", "git://", "git@", "github.com/")):
        raise InvalidArgument(f"remote build contexts are not supported: {context}")
    from layerbox.image import reference

    for t in tags or ():
        try:
            reference.parse_tag_target(t)
        except InvalidArgument as e:  # docker checks -t as a flag: its usage error, exit 125
            sys.stderr.write(f'invalid argument "{t}" for "-t, --tag" flag: {e}\n'
                             "See 'layerbox build --help'.\n")
            return 125
    if context == "-" and file == "-":
        raise InvalidArgument("invalid argument: can't use stdin for both build context and dockerfile")
    options = BuildOptions(
        tags=tags, buildargs=_parse_kv(build_args, "build-arg", env_fallback=True), target=target,
        nocache=no_cache, pull=pull, labels=_parse_kv(labels, "label"), network_mode=network,
        rm=rm, forcerm=force_rm, quiet=quiet, prepare_runs=True)
    out = _QuietOutput() if quiet else _CliOutput()
    store = ctx.store
    from layerbox import _util

    # the steps' workspaces and containers are removed by a detached child after we answer
    _util.detach_later_at_exit()
    _terminate_like_interrupt()
    df_text = sys.stdin.buffer.read() if file == "-" else None
    try:
        if context == "-":
            prepared = api.prepare(store, tar_fd=sys.stdin.fileno(), dockerfile=file,
                                   dockerfile_text=df_text)
        else:
            prepared = api.prepare(store, path=context, dockerfile=None if file == "-" else file,
                                   dockerfile_text=df_text)
        with prepared:
            if not quiet:
                _sending_context(prepared)
            image_id = api.run_build(ctx, prepared, options, out)
    except BuildError as e:
        sys.stdout.flush()
        if quiet:
            sys.stderr.write(out.text())
        sys.stderr.write(f"{e}\n")
        return e.exit_code if isinstance(e, RunFailed) else 1
    if iidfile:
        with open(iidfile, "w") as f:
            f.write(image_id)
    if quiet:
        sys.stdout.write(image_id + "\n")
    return 0


def _sending_context(prepared) -> None:
    """docker's classic build's first line: the size of the context tar its CLI sends (a lone
    Dockerfile on stdin is sent as a one-file tar). Nothing is sent here (no daemon), but the
    line is what scripts and people read to see what .dockerignore left in."""
    ctx = prepared.context
    size = ctx.tar_size()
    if size == 1024 and not ctx.walk():
        size += 512 + (len(prepared.text) + 511) // 512 * 512
    sys.stdout.write(f"Sending build context to Docker daemon  {_human_size4(size):>7}\n")
    sys.stdout.flush()


def _human_size4(n: float) -> str:
    """docker's units.HumanSize: 4 significant digits, decimal units ("2.048kB")."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000.0
        i += 1
    return f"{n:.4g}{units[i]}"


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def _terminate_like_interrupt() -> None:
    """SIGTERM (and SIGHUP) end a build as Ctrl-C does: the running step's container is
    removed on the way out instead of being left behind."""
    import _signal  # the signal module builds its enums at import: 1 ms

    for sig in (_signal.SIGTERM, _signal.SIGHUP):
        _signal.signal(sig, _interrupted)


class _CliOutput:
    """Straight to stdout (and warnings to stderr); a RUN step's container writes to our
    stdout and stderr itself, through its monitor."""

    def write(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def warn(self, text: str) -> None:
        sys.stdout.flush()
        sys.stderr.write(text)
        sys.stderr.flush()

    def run_stdio(self):
        sys.stdout.flush()
        sys.stderr.flush()
        return 1, 2, _nothing


def _nothing() -> None:
    pass


class _QuietOutput:
    """Kept, to show on stderr should the build fail (docker's -q does the same)."""

    def __init__(self):
        from layerbox.builder.api import LogOutput

        self._log = LogOutput()

    def write(self, text: str) -> None:
        self._log.write(text)

    warn = write

    def run_stdio(self):
        return self._log.run_stdio()

    def text(self) -> str:
        return self._log.text()
