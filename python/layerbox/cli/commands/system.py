"""System verbs: version, info, system prune/df."""

from __future__ import annotations

import click

from layerbox.cli.actions import system as act
from layerbox.cli.commands import CONTEXT_SETTINGS, cli, register, system_group, volume_group


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


@click.command("events", context_settings=CONTEXT_SETTINGS)
@click.option("--since", metavar="TIME", help="Show all events created since timestamp.")
@click.option("--until", metavar="TIME", help="Stream events until this timestamp.")
@click.option("-f", "--filter", "filters", multiple=True, metavar="KEY=VALUE",
              help="Filter output based on conditions provided (type, event, container, image, "
                   "network, volume, label).")
@click.option("--format", "fmt", metavar="TEMPLATE", help="Format output using a Go-style template, or 'json'.")
@click.pass_obj
def events(obj, **kw):
    """Get real time events from the store (what every client of it did)."""
    return act.events(obj, **kw)


register(cli, version)
register(cli, events)
register(system_group, events)
register(cli, info)
register(system_group, info)


@click.command("df", context_settings=CONTEXT_SETTINGS)
@click.option("-v", "--verbose", is_flag=True, help="Show detailed information on space usage.")
@click.option("--format", "fmt", metavar="TEMPLATE", help="Format output using a Go-style template, or 'json'.")
@click.pass_obj
def df(obj, **kw):
    """Show layerbox disk usage."""
    return act.df(obj, **kw)


@click.command("prune", context_settings=CONTEXT_SETTINGS)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused images, not just dangling ones.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--volumes", is_flag=True, help="Prune anonymous volumes.")
@click.pass_obj
def system_prune(obj, **kw):
    """Remove unused data: stopped containers, dangling (or all unused) images, and optionally volumes."""
    return act.system_prune(obj, **kw)


@click.command("check", context_settings=CONTEXT_SETTINGS)
@click.option("--repair", is_flag=True, help="Repair what can be repaired safely.")
@click.pass_obj
def system_check(obj, **kw):
    """Check the store: blobs, layers, images, tags, containers, mounts, cgroups, staging."""
    return act.system_check(obj, **kw)


register(system_group, df)
register(system_group, system_prune, "prune")
register(system_group, system_check, "check")


@click.command("create", context_settings=CONTEXT_SETTINGS)
@click.option("-l", "--label", multiple=True, metavar="K=V", help="Set metadata for a volume.")
@click.option("-d", "--driver", default="local", help="Volume driver name (only local).")
@click.argument("name", required=False)
@click.pass_obj
def volume_create(obj, **kw):
    """Create a volume."""
    return act.volume_create(obj, **kw)


@click.command("ls", context_settings=CONTEXT_SETTINGS)
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names.")
@click.option("-f", "--filter", "filters", multiple=True, metavar="KEY=VALUE",
              help="Provide filter values (dangling=true, name=, label=, driver=).")
@click.option("--format", "fmt", metavar="TEMPLATE", help="Format output using a Go-style template, or 'json'.")
@click.pass_obj
def volume_ls(obj, **kw):
    """List volumes."""
    return act.volume_ls(obj, **kw)


@click.command("inspect", context_settings=CONTEXT_SETTINGS)
@click.option("-f", "--format", "fmt", metavar="TEMPLATE", help="Format output using a Go-style template.")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def volume_inspect(obj, **kw):
    """Display detailed information on one or more volumes."""
    return act.volume_inspect(obj, **kw)


@click.command("rm", context_settings=CONTEXT_SETTINGS)
@click.option("-f", "--force", is_flag=True, help="Do not error when a volume does not exist.")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def volume_rm(obj, **kw):
    """Remove one or more volumes."""
    return act.volume_rm(obj, **kw)


@click.command("prune", context_settings=CONTEXT_SETTINGS)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused volumes, not just anonymous ones.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.pass_obj
def volume_prune(obj, **kw):
    """Remove unused volumes."""
    return act.volume_prune(obj, **kw)


register(volume_group, volume_create, "create")
register(volume_group, volume_ls, "ls", "list")
register(volume_group, volume_inspect, "inspect")
register(volume_group, volume_rm, "rm", "remove")
register(volume_group, volume_prune, "prune")
