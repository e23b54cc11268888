"""The click definition of the whole CLI: the root group and its global options.

Each verb group lives in its own module and only declares options; the work is done by
layerbox.cli.actions, which never imports click.
"""

from __future__ import annotations

import click

from layerbox.cli.context import CliContext

CONTEXT_SETTINGS = {"help_option_names": ["--help"], "max_content_width": 100}


def _version(ctx: click.Context, _param, value):
    if not value or ctx.resilient_parsing:
        return
    from layerbox.cli.actions import system

    system.print_version()
    ctx.exit(0)


@click.group(context_settings=dict(CONTEXT_SETTINGS, help_option_names=["-h", "--help"]))
@click.option("--root", metavar="DIR", envvar="LAYERBOX_ROOT",
              help="Store root (default /var/lib/layerbox; env LAYERBOX_ROOT).")
@click.option("-v", "--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_version, help="Print version information and quit.")
@click.pass_context
def cli(ctx: click.Context, root: str | None) -> None:
    """layerbox: Docker's commands, no daemon.

    Images are stacks of read-only layers joined by overlayfs; a container adds a read-write
    layer, its own namespaces and a cgroup, watched by a small monitor process.
    """
    ctx.obj = CliContext(root)


@cli.command("help", context_settings=CONTEXT_SETTINGS)
@click.argument("command", nargs=-1)
@click.pass_context
def help_(ctx: click.Context, command) -> None:
    """Help about any command (as `layerbox COMMAND --help`)."""
    root = ctx.parent
    group, cur = cli, root
    for name in command:
        sub = group.get_command(cur, name) if isinstance(group, click.Group) else None
        if sub is None:
            raise click.UsageError(f'unknown help topic: "{" ".join(command)}"')
        cur = click.Context(sub, info_name=name, parent=cur)
        group = sub
    click.echo(cur.get_help())


@cli.group("container", context_settings=CONTEXT_SETTINGS)
def container_group() -> None:
    """Manage containers."""


@cli.group("image", context_settings=CONTEXT_SETTINGS)
def image_group() -> None:
    """Manage images."""


@cli.group("system", context_settings=CONTEXT_SETTINGS)
def system_group() -> None:
    """Manage layerbox."""


@cli.group("volume", context_settings=CONTEXT_SETTINGS)
def volume_group() -> None:
    """Manage volumes."""


def register(group: click.Group, command: click.Command, *names: str) -> None:
    for n in names or (command.name,):
        group.add_command(command, n)


# Importing the verb modules attaches their commands to the groups above.
from layerbox.cli.commands import container as _container  # noqa: E402,F401
from layerbox.cli.commands import image as _image  # noqa: E402,F401
from layerbox.cli.commands import system as _system  # noqa: E402,F401
from layerbox.cli.commands import container_files as _container_files  # noqa: E402,F401
from layerbox.cli.commands import registry as _registry  # noqa: E402,F401
from layerbox.cli.commands import build as _build  # noqa: E402,F401
from layerbox.cli.commands import network as _network  # noqa: E402,F401
from layerbox.cli.commands import service as _service  # noqa: E402,F401
