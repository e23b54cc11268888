"""Resolving "user[:group]" against the image's own /etc/passwd and /etc/group.

The files are read as data from the container's layers (its upper dir first, then the image's
layers top-down, honouring whiteouts and opaque directories), never through the host's NSS and
never by following a symlink out of a layer.
"""

from __future__ import annotations

import os
import stat

from layerbox.errors import InvalidArgument

_OPAQUE = "trusted.overlay.opaque"


def _open_nofollow(layer: str, rel: str) -> int | None:
    """fd of layer/rel opened without following any symlink, or None when absent."""
    parts = [p for p in rel.split("/") if p]
    try:
        fd = os.open(layer, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        for p in parts[:-1]:
            nfd = os.open(p, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = nfd
        return os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    except OSError:
        return None
    finally:
        os.close(fd)


def _hidden_below(layer: str, rel: str) -> bool:
    """True when this layer hides lower layers' rel: a whiteout on it or on a parent, or an
    opaque parent directory."""
    parts = [p for p in rel.split("/") if p]
    path = layer
    for i, p in enumerate(parts):
        path = os.path.join(path, p)
        try:
            st = os.lstat(path)
        except OSError:
            return False
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            return True  # whiteout
        if i < len(parts) - 1 and stat.S_ISDIR(st.st_mode):
            try:
                if os.getxattr(path, _OPAQUE, follow_symlinks=False) == b"y":
                    return True
            except OSError:
                pass
    return False


def read_layered(layers_top_first: list[str], rel: str) -> bytes | None:
    """Contents of rel as the container would see it, or None."""
    for layer in layers_top_first:
        fd = _open_nofollow(layer, rel)
        if fd is not None:
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    return None
                chunks = []
                while True:
                    b = os.read(fd, 65536)
                    if not b:
                        break
                    chunks.append(b)
                return b"".join(chunks)
            finally:
                os.close(fd)
        if _hidden_below(layer, rel):
            return None
    return None


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
