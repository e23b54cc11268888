"""The merged view of layer directories (layerbox.store.layerview), as overlayfs shows it:
used by the user lookup of a container start and by the builder's path resolution."""

import os

import pytest

from layerbox.builder import layered
from layerbox.container import users
from layerbox.store import layerview

# whiteouts are 0/0 character devices and opaque dirs carry a trusted.* xattr: both need root
pytestmark = pytest.mark.root


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


@pytest.fixture
def layers(tmp_path):
    top, mid, low = (str(tmp_path / n) for n in ("top", "mid", "low"))
    _write(f"{low}/etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:7:7::/home/app:/bin/sh\n")
    _write(f"{low}/etc/group", "root:x:0:\napp:x:7:\n")
    _write(f"{low}/opt/a/old", "old")
    _write(f"{low}/srv/kept", "kept")
    _write(f"{mid}/etc/group", "root:x:0:\n")
    os.makedirs(f"{mid}/opt/a")
    os.setxattr(f"{mid}/opt/a", layerview.OPAQUE_XATTR, b"y")
    _write(f"{mid}/opt/a/new", "new")
    os.makedirs(f"{top}/etc")
    os.mknod(f"{top}/etc/group", 0o600 | 0o020000, os.makedev(0, 0))  # a whiteout
    os.makedirs(f"{top}/srv")
    os.symlink("/etc/passwd", f"{top}/srv/link")
    return [top, mid, low]


def test_whiteouts_and_opaque_dirs_hide_lower_layers(layers):
    assert layerview.find(layers, ["etc", "group"]) is None
    assert layerview.read_file(layers, "etc/group") is None
    assert layerview.find(layers, ["opt", "a", "old"]) is None
    assert layerview.read_file(layers, "/opt/a/new") == b"new"
    assert layerview.find(layers, ["opt", "a"])[:2] == ("d", "")
    assert layerview.read_file(layers, "srv/kept") == b"kept"
    assert layerview.find(layers, ["srv", "link"])[:2] == ("l", "/etc/passwd")
    assert layerview.read_file(layers, "srv/link") is None  # never followed
    assert layerview.read_file(layers, "no/such") is None


def test_users_and_the_builder_see_the_same_view(layers):
    u = users.resolve("app", lambda rel: users.read_layered(layers, rel))
    assert (u.uid, u.gid, u.home) == (7, 7, "/home/app")
    assert layered.resolve(layers, "/srv/link") == ("/etc/passwd", "f")
    assert layered.resolve(layers, "/etc/group") == ("/etc/group", None)
    assert layered.missing_parents(layers, "/opt/a/old/x") == ["/opt/a/old"]
