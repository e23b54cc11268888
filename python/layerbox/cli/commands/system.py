"""System verbs: version, info, system prune/df."""

from __future__ import annotations

import click

from layerbox.cli.actions import system as act
from layerbox.cli.commands import CONTEXT_SETTINGS, cli, register, system_group


@click.command("version", context_settings=CONTEXT_SETTINGS)
@click.option("-f", "--format", "fmt", metavar="TEMPLATE", help="Format output using a Go-style template.")
@click.pass_obj
def version(obj, **kw):
    """Show the layerbox version information."""
    return act.version(obj, **kw)


@click.command("info", context_settings=CONTEXT_SETTINGS)
@click.option("-f", "--format", "fmt", metavar="TEMPLATE", help="Format output using a Go-style template.")
@click.pass_obj
def info(obj, **kw):
    """Display system-wide information."""
    return act.info(obj, **kw)


register(cli, version)
register(cli, info)
register(system_group, info)
