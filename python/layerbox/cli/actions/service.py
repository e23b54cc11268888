"""`system service`: the Docker Engine API on a socket (layerbox.api). On the fast path (no
click): the service's first answer waits for everything imported before it."""

from __future__ import annotations

import os
import sys


def service(ctx, idle: int = 5, insecure_tcp: bool = False, uri: str | None = None) -> int:
    from layerbox.errors import InvalidArgument

    if idle < 0:
        raise InvalidArgument(f"invalid --time {idle}: it cannot be negative")
    from layerbox.api import sockets

    sock, path = sockets.activation_socket(), None
    if sock is None:
        sock, path = sockets.listen(uri or "unix://" + sockets.DEFAULT_SOCKET, insecure_tcp)
    try:
        serve = _server()
    except ImportError as e:
        sock.close()
        if path:
            os.unlink(path)
        raise InvalidArgument(f"the Engine API needs aiohttp ({e}): pip install aiohttp") from None
    return serve(sock, path, idle=idle, root=ctx.root)


def _server():
    """layerbox.api.app.serve, aiohttp's server imported with it (and nothing more: the first
    answer waits for it)."""
    from layerbox import api

    try:
        api.import_server_only()
        from layerbox.api.app import serve
    except ImportError:
        if not sys.flags.no_site:
            raise
        # Started by the launcher without site processing: aiohttp may live where only site
        # looks (a venv's system site-packages, a .pth).
        import site

        site.main()
        api.import_server_only()
        from layerbox.api.app import serve
    return serve
