"""Resolving "user[:group]" against the image's own /etc/passwd and /etc/group.

The files are read as data from the container's layers (its upper dir first, then the image's
layers top-down, honouring whiteouts and opaque directories), never through the host's NSS and
never by following a symlink out of a layer.
"""

from __future__ import annotations

from layerbox import _core
from layerbox.errors import InvalidArgument


def read_layered(layers_top_first: list[str], rel: str) -> bytes | None:
    """Contents of rel as the container would see it, or None."""
    # Here, not at the top: exec reads a running container's files through its root instead.
    from layerbox.store import layerview as _layerview

    return _layerview.read_file(layers_top_first, rel)


class ResolvedUser:
    __slots__ = ("uid", "gid", "groups", "home")

    def __init__(self, uid: int, gid: int, groups: list[int], home: str):
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.home = home


def _of(t: tuple) -> ResolvedUser:
    return ResolvedUser(t[0], t[1], list(t[2]), t[3])


def with_groups(user: ResolvedUser, names, read) -> ResolvedUser:
    """--group-add: numbers as they are, names from the container's /etc/group (docker's
    GetAdditionalGroups); the user's own groups first."""
    try:
        return _of(_core.with_groups(user.uid, user.gid, user.groups, user.home,
                                     [str(n) for n in names], read("etc/group") or b""))
    except ValueError as e:
        raise InvalidArgument(str(e)) from None


def resolve(spec: str, read) -> ResolvedUser:
    """docker's rules (core/users.cpp, shared with the compiled exec path): "" is root; a name
    must exist in passwd; a number need not; ":group" names or numbers a group; supplementary
    groups are those of /etc/group listing the user. ``read(rel)`` returns a file's bytes from
    the container's root, or None."""
    try:
        return _of(_core.resolve_user(spec or "", read("etc/passwd") or b"", read("etc/group") or b""))
    except ValueError as e:
        raise InvalidArgument(str(e)) from None
