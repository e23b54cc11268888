"""The service's listening socket: a unix socket (0660; root's, or the layerbox group's when
it exists), a loopback TCP address (another only with --insecure-tcp), or the socket systemd
passed (LISTEN_FDS). Made before aiohttp and the engine are imported, so that clients connect
(and wait in the backlog) from the first moment."""

from __future__ import annotations

import os
import socket
import stat

from layerbox import errors as _errors

DEFAULT_SOCKET = "/run/layerbox/layerbox.sock"
SD_LISTEN_FDS_START = 3


def activation_socket() -> socket.socket | None:
    """The listening socket systemd passed (LISTEN_FDS, LISTEN_PID: sd_listen_fds(3))."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    n = int(os.environ.get("LISTEN_FDS") or 0)
    for k in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(k, None)
    if n < 1:
        return None
    if n > 1:
        raise _errors.InvalidArgument(f"socket activation passed {n} sockets; one is served")
    fd = SD_LISTEN_FDS_START
    os.set_inheritable(fd, False)
    st = os.fstat(fd)
    if not stat.S_ISSOCK(st.st_mode):
        raise _errors.InvalidArgument(f"socket activation: fd {fd} is not a socket")
    return socket.socket(fileno=fd)


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def listen(uri: str, insecure_tcp: bool = False) -> tuple[socket.socket, str | None]:
    """(the listening socket, the unix socket's path to remove at exit) for unix:///path or
    tcp://host:port."""
    if uri.startswith("unix://"):
        path = uri[len("unix://"):]
    elif uri.startswith("tcp://"):
        hostport = uri[len("tcp://"):].rstrip("/")
        host, sep, port = hostport.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise _errors.InvalidArgument(f"invalid address {uri}: want tcp://HOST:PORT")
        if not _is_loopback(host) and not insecure_tcp:
            raise _errors.InvalidArgument(
                f"refusing to serve on {uri}: it is not a loopback address, and the API has no "
                "TLS and no authentication, so anyone who reaches it controls this machine as "
                "root (pass --insecure-tcp to serve it anyway)")
        import ipaddress

        h = host.strip("[]")
        try:
            family = socket.AF_INET6 if ipaddress.ip_address(h).version == 6 else socket.AF_INET
        except ValueError:
            family = socket.AF_INET  # localhost
        s = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((h, int(port)))
        except OSError as e:
            s.close()
            raise _errors.InvalidArgument(f"listen on {uri}: {(e.strerror or str(e)).lower()}") from None
        s.listen(1024)
        return s, None
    elif "://" in uri:
        raise _errors.InvalidArgument(f"unsupported address {uri}: want unix:///PATH or tcp://HOST:PORT")
    else:
        path = uri
    if not path.startswith("/"):
        raise _errors.InvalidArgument(f"invalid socket path {path}: it must be absolute")
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise _errors.InvalidArgument(f"{path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            probe.connect(path)
            raise _errors.Conflict(f"another service is listening on {path}")
        except (ConnectionRefusedError, FileNotFoundError):
            os.unlink(path)  # left by a service that ended without removing it
        finally:
            probe.close()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    # Made with no access for anyone else, then opened to the group: never a moment in which
    # another user could connect.
    old = os.umask(0o177)
    try:
        s.bind(path)
    finally:
        os.umask(old)
    gid = _socket_group()
    if gid is not None:
        os.chown(path, -1, gid)
    os.chmod(path, 0o660)
    s.listen(1024)
    return s, path


def _socket_group() -> int | None:
    """The `layerbox` group's id when it exists (its members may use the socket), else None
    (root's group only)."""
    import grp

    try:
        return grp.getgrnam("layerbox").gr_gid
    except KeyError:
        return None
