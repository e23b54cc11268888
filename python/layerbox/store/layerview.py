"""The merged view of layer directories, read without mounting them: what overlayfs would show.

Layers are given top first. A whiteout (a character device 0/0) hides what lower layers have at
its path; a directory with the ``trusted.overlay.opaque`` xattr set to ``y`` hides what lower
layers have below it. Every directory is opened with O_NOFOLLOW, so a symlink inside a layer
never leads out of it. Used where the overlay is not mounted in this process: the user lookup
of a container start (container/users.py) and the builder's path resolution (builder/layered.py).
"""

from __future__ import annotations

import os
import stat as S

OPAQUE_XATTR = "trusted.overlay.opaque"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def is_whiteout(st: os.stat_result) -> bool:
    """overlayfs's whiteout: a character device with device number 0/0."""
    return S.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(dir_fd: int) -> bool:
    """Whether the directory open at ``dir_fd`` hides the lower layers' contents."""
    try:
        return os.getxattr(dir_fd, OPAQUE_XATTR) == b"y"
    except OSError:
        return False  # no such xattr (ENODATA), or a filesystem without xattrs: not opaque


def find(layers: list, parts: list):
    """What the merged view of ``layers`` has at ``parts`` (path components whose parents
    are directories in that view): (kind, link target, layer) with kind "d" (directory), "f"
    (regular file), "l" (symlink, its target given) or "o" (anything else); None when nothing
    is there."""
    for layer in layers:
        try:
            fd = os.open(layer, _DIR_FLAGS)
        except OSError:
            continue  # a layer directory that does not exist has nothing to show
        hides_lower = False
        try:
            present = True
            for p in parts[:-1]:
                try:
                    st = os.lstat(p, dir_fd=fd)
                except (FileNotFoundError, NotADirectoryError):
                    present = False
                    break
                if not S.S_ISDIR(st.st_mode):
                    # a whiteout, or a non-directory under a directory of a higher layer: either
                    # way nothing below comes from here or lower down
                    return None
                nfd = os.open(p, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = nfd
                if is_opaque(fd):
                    hides_lower = True
            if present:
                try:
                    st = os.lstat(parts[-1], dir_fd=fd)
                except (FileNotFoundError, NotADirectoryError):
                    st = None
                if st is not None:
                    mode = st.st_mode
                    if is_whiteout(st):
                        return None
                    if S.S_ISDIR(mode):
                        return "d", "", layer
                    if S.S_ISLNK(mode):
                        return "l", os.readlink(parts[-1], dir_fd=fd), layer
                    return ("f" if S.S_ISREG(mode) else "o"), "", layer
        finally:
            os.close(fd)
        if hides_lower:
            return None
    return None


def read_file(layers: list, rel: str) -> bytes | None:
    """Contents of the regular file the merged view has at ``rel`` (no symlink followed),
    or None when there is none."""
    parts = [p for p in rel.split("/") if p and p != "."]
    if not parts:
        return None
    hit = find(layers, parts)
    if hit is None or hit[0] != "f":
        return None
    try:
        fd = os.open(hit[2], _DIR_FLAGS)
    except OSError:
        return None  # the layer went away meanwhile
    try:
        for p in parts[:-1]:
            nfd = os.open(p, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nfd
        ffd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    except OSError:
        return None  # changed under us since find(): as if absent
    finally:
        os.close(fd)
    try:
        if not S.S_ISREG(os.fstat(ffd).st_mode):
            return None
        chunks = []
        while True:
            b = os.read(ffd, 65536)
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks)
    finally:
        os.close(ffd)
