"""Resolving "user[:group]" against the image's own /etc/passwd and /etc/group.

The files are read as data from the container's layers (its upper dir first, then the image's
layers top-down, honouring whiteouts and opaque directories), never through the host's NSS and
never by following a symlink out of a layer.
"""

from __future__ import annotations

from layerbox.errors import InvalidArgument


def read_layered(layers_top_first: list[str], rel: str) -> bytes | None:
    """Contents of rel as the container would see it, or None."""
    # Here, not at the top: exec reads a running container's files through its root instead.
    from layerbox.store import layerview as _layerview

    return _layerview.read_file(layers_top_first, rel)


def _entries(data: bytes | None):
    if not data:
        return
    for line in data.decode(errors="replace").splitlines():
        if not line or line.startswith("#"):
            continue
        yield line.split(":")


class ResolvedUser:
    __slots__ = ("uid", "gid", "groups", "home")

    def __init__(self, uid: int, gid: int, groups: list[int], home: str):
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.home = home


def with_groups(user: ResolvedUser, names, read) -> ResolvedUser:
    """--group-add: numbers as they are, names from the container's /etc/group (docker's
    GetAdditionalGroups); the user's own groups first."""
    groups_db = list(_entries(read("etc/group")))
    extra = list(user.groups)
    for n in names:
        n = str(n)
        if n.isdigit():
            g = int(n)
        else:
            for e in groups_db:
                if len(e) >= 3 and e[0] == n and e[2].isdigit():
                    g = int(e[2])
                    break
            else:
                raise InvalidArgument(f"Unable to find group {n}: no matching entries in group file")
        if g not in extra and g != user.gid:
            extra.append(g)
    return ResolvedUser(user.uid, user.gid, extra, user.home)


def resolve(spec: str, read) -> ResolvedUser:
    """docker's rules: "" is root; a name must exist in passwd; a number need not; ":group"
    names or numbers a group; supplementary groups are those of /etc/group listing the user.
    ``read(rel)`` returns a file's bytes from the container's root, or None."""
    user, _, group = (spec or "").partition(":")
    passwd = list(_entries(read("etc/passwd")))
    uid, gid, home, name = 0, 0, "/", "root"
    found = None
    if user:
        if user.isdigit():
            uid = int(user)
            for e in passwd:
                if len(e) >= 7 and e[2] == user:
                    found = e
                    break
        else:
            for e in passwd:
                if len(e) >= 7 and e[0] == user:
                    found = e
                    break
            if found is None:
                raise InvalidArgument(
                    f"unable to find user {user}: no matching entries in passwd file")
    else:
        for e in passwd:
            if len(e) >= 7 and e[2] == "0":
                found = e
                break
    if found is not None:
        name = found[0]
        uid = int(found[2]) if found[2].isdigit() else uid
        gid = int(found[3]) if found[3].isdigit() else 0
        home = found[5] or "/"
    elif user:
        name = ""
    groups_db = list(_entries(read("etc/group")))
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            for e in groups_db:
                if len(e) >= 3 and e[0] == group:
                    gid = int(e[2])
                    break
            else:
                raise InvalidArgument(
                    f"unable to find group {group}: no matching entries in group file")
    extra = []
    if name:
        for e in groups_db:
            if len(e) >= 4 and e[2].isdigit() and name in e[3].split(","):
                g = int(e[2])
                if g != gid and g not in extra:
                    extra.append(g)
    return ResolvedUser(uid, gid, extra, home)
