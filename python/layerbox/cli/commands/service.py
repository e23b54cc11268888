"""`system service`: the Docker Engine API on a socket (layerbox.api)."""

from __future__ import annotations

import os

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
    from layerbox.api import sockets

    sock, path = sockets.activation_socket(), None
    if sock is None:
        sock, path = sockets.listen(uri or "unix://" + sockets.DEFAULT_SOCKET, insecure_tcp)
    try:
        from layerbox import api

        api.import_server_only()  # the first answer waits for it: only what a server needs
        from layerbox.api.app import serve
    except ImportError as e:
        sock.close()
        if path:
            os.unlink(path)
        raise InvalidArgument(f"the Engine API needs aiohttp ({e}): pip install aiohttp") from None
    return serve(sock, path, idle=idle, root=obj.root)


register(system_group, service, "service")
