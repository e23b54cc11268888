"""network verbs: docker's names, flags and help; the work is in layerbox.cli.actions.network."""

from __future__ import annotations

import click

from layerbox.cli.actions import network as act
from layerbox.cli.commands import CONTEXT_SETTINGS, cli, register


@cli.group("network", context_settings=CONTEXT_SETTINGS)
def network_group() -> None:
    """Manage networks."""


@click.command("create", context_settings=CONTEXT_SETTINGS)
@click.option("-d", "--driver", default="bridge", help="Driver to manage the Network (only bridge).")
@click.option("--subnet", metavar="CIDR", help="Subnet in CIDR format that represents a network segment.")
@click.option("--gateway", metavar="IP", help="IPv4 Gateway for the master subnet.")
@click.option("--ip-range", metavar="CIDR", help="Allocate container ip from a sub-range.")
@click.option("--internal", is_flag=True, help="Restrict external access to the network.")
@click.option("--label", multiple=True, metavar="K=V", help="Set metadata on a network.")
@click.option("-o", "--opt", multiple=True, metavar="K=V", help="Set driver specific options.")
@click.argument("name")
@click.pass_obj
def network_create(obj, **kw):
    """Create a network."""
    return act.create(obj, **kw)


@click.command("ls", context_settings=CONTEXT_SETTINGS)
@click.option("-q", "--quiet", is_flag=True, help="Only display network IDs.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output.")
@click.option("--format", "fmt", metavar="TEMPLATE", help="Format output using a Go-style template, or 'json'.")
@click.pass_obj
def network_ls(obj, **kw):
    """List networks."""
    return act.ls(obj, **kw)


@click.command("inspect", context_settings=CONTEXT_SETTINGS)
@click.option("-f", "--format", "fmt", metavar="TEMPLATE", help="Format output using a Go-style template.")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def network_inspect(obj, **kw):
    """Display detailed information on one or more networks."""
    return act.inspect(obj, **kw)


@click.command("rm", context_settings=CONTEXT_SETTINGS)
@click.option("-f", "--force", is_flag=True, help="Do not error if the network does not exist.")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def network_rm(obj, **kw):
    """Remove one or more networks."""
    return act.rm(obj, **kw)


@click.command("prune", context_settings=CONTEXT_SETTINGS)
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.pass_obj
def network_prune(obj, **kw):
    """Remove all unused networks."""
    return act.prune(obj, **kw)


@click.command("connect", context_settings=CONTEXT_SETTINGS)
@click.option("--ip", metavar="IP", help="IPv4 address (e.g., \"172.30.100.104\").")
@click.option("--alias", multiple=True, metavar="NAME", help="Add network-scoped alias for the container.")
@click.argument("network")
@click.argument("container")
@click.pass_obj
def network_connect(obj, **kw):
    """Connect a container to a network."""
    return act.connect(obj, **kw)


@click.command("disconnect", context_settings=CONTEXT_SETTINGS)
@click.option("-f", "--force", is_flag=True, help="Force the container to disconnect from a network.")
@click.argument("network")
@click.argument("container")
@click.pass_obj
def network_disconnect(obj, **kw):
    """Disconnect a container from a network."""
    return act.disconnect(obj, **kw)


register(network_group, network_create, "create")
register(network_group, network_connect, "connect")
register(network_group, network_disconnect, "disconnect")
register(network_group, network_ls, "ls", "list")
register(network_group, network_inspect, "inspect")
register(network_group, network_rm, "rm", "remove")
register(network_group, network_prune, "prune")
