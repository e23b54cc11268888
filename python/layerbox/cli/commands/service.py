"""`system service`: the Docker Engine API on a socket (layerbox.api; the work is
cli.actions.service's, which the fast path runs without click)."""

from __future__ import annotations

import click

from layerbox.cli.commands import CONTEXT_SETTINGS, register, system_group


@click.command("service", context_settings=CONTEXT_SETTINGS)
@click.option("-t", "--time", "idle", type=int, default=5, show_default=True, metavar="SECONDS",
              help="Exit after SECONDS without a request (0: never).")
@click.option("--insecure-tcp", is_flag=True,
              help="Allow a tcp:// address that is not loopback (no TLS, no authentication).")
@click.argument("uri", required=False)
@click.pass_obj
def service(obj, idle, insecure_tcp, uri):
    """Serve the Docker Engine API on URI (default unix:///run/layerbox/layerbox.sock)."""
    from layerbox.cli.actions.service import service as run

    return run(obj, idle=idle, insecure_tcp=insecure_tcp, uri=uri)


register(system_group, service, "service")
