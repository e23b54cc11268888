"""Registry credentials: what `layerbox login` stores and pull/push use.

One file per user, like docker's ~/.docker/config.json and in the same shape
(``{"auths": {"localhost:5000": {"auth": base64("user:password")}}}``), so it reads the same
way: ``$LAYERBOX_CONFIG/auth.json``, by default ``~/.config/layerbox/auth.json``. Credentials
belong to the user, not to a store (two stores on one machine share a login, as docker
contexts do). The directory is 0700 and the file 0600, written by rename: only its owner
(root, here) can read it. The password is stored unencrypted, as docker does without a
credential helper; `login` says so.
"""

from __future__ import annotations

import base64
import os

from layerbox import _jsonfast, _util
from layerbox.errors import InvalidArgument

_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com")
HUB_KEY = "docker.io"


def config_dir() -> str:
    return os.environ.get("LAYERBOX_CONFIG") or os.path.join(os.path.expanduser("~"), ".config", "layerbox")


def path() -> str:
    return os.path.join(config_dir(), "auth.json")


def server_key(server: str) -> str:
    """How a server is named in the file: host[:port], whatever URL form it was given in
    ("https://localhost:5000/v2/" -> "localhost:5000"); Docker Hub's names -> "docker.io"."""
    s = server.strip()
    if "://" in s:
        s = s.split("://", 1)[1]
    s = s.split("/", 1)[0].lower()
    if not s:
        raise InvalidArgument(f"invalid registry address: {server!r}")
    return HUB_KEY if s in _HUB_ALIASES else s


def _load() -> dict:
    from layerbox import shape

    try:
        return shape.read(path(), {"auths": shape.MapOf({"auth": str})}, error=InvalidArgument,
                          prefix="credentials ")
    except FileNotFoundError:
        return {}
    except InvalidArgument as e:
        raise InvalidArgument(f"{e} (remove it and log in again)") from None


def _save(doc: dict) -> None:
    d = config_dir()
    os.makedirs(d, mode=0o700, exist_ok=True)
    _util.write_atomic(path(), _jsonfast.dumps(doc).encode(), fsync=True, mode=0o600)


def get(server: str) -> tuple[str, str] | None:
    """(username, password) stored for the server, or None."""
    entry = (_load().get("auths") or {}).get(server_key(server)) or {}
    auth = entry.get("auth")
    if not auth:
        return None
    try:
        user, _, password = base64.b64decode(auth).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


def store(server: str, username: str, password: str) -> str:
    """Stores the credentials; returns the file's path."""
    doc = _load()
    auths = doc.setdefault("auths", {})
    auths[server_key(server)] = {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
    _save(doc)
    return path()


def remove(server: str) -> bool:
    """Forgets the server's credentials; False when there were none."""
    doc = _load()
    auths = doc.get("auths") or {}
    if server_key(server) not in auths:
        return False
    del auths[server_key(server)]
    _save(doc)
    return True
