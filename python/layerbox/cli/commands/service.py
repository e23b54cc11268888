"""`system service`: the Docker Engine API on a socket (layerbox.api)."""

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
    from layerbox.errors import InvalidArgument

    if idle < 0:
        raise InvalidArgument(f"invalid --time {idle}: it cannot be negative")
    try:
        from layerbox.api.app import serve
    except ImportError as e:
        raise InvalidArgument(f"the Engine API needs aiohttp ({e}): pip install aiohttp") from None
    return serve(uri, idle=idle, insecure_tcp=insecure_tcp, root=obj.root)


register(system_group, service, "service")
