"""Helpers for tests, benchmarks and demos: a tiny busybox image made from the host's
busybox-static, no registry needed.

    python -m layerbox.testing busybox:latest      # import it into the default store
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    "user:x:1000:1000:a user:/home/user:/bin/sh\n"
)
GROUP = (
    "root:x:0:\n"
    "daemon:x:1:\n"
    "wheel:x:10:root\n"
    "staff:x:50:user\n"
    "nogroup:x:65534:\n"
    "user:x:1000:\n"
)


def busybox_path() -> str:
    return shutil.which("busybox") or "/bin/busybox"


def make_rootfs(dest: str) -> None:
    """A small busybox root: /bin/busybox and its applets as symlinks, /etc/passwd, /etc/group."""
    bb = busybox_path()
    for d in ("bin", "etc", "tmp", "root", "home/user", "var", "usr/bin", "sbin"):
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    shutil.copy2(bb, os.path.join(dest, "bin", "busybox"))
    applets = subprocess.run([bb, "--list"], capture_output=True, text=True, check=True).stdout
    for a in applets.split():
        if a != "busybox" and not os.path.lexists(os.path.join(dest, "bin", a)):
            os.symlink("busybox", os.path.join(dest, "bin", a))
    with open(os.path.join(dest, "etc", "passwd"), "w") as f:
        f.write(PASSWD)
    with open(os.path.join(dest, "etc", "group"), "w") as f:
        f.write(GROUP)
    os.chown(os.path.join(dest, "home", "user"), 1000, 1000)


def tar_of(directory: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name in sorted(os.listdir(directory)):
            t.add(os.path.join(directory, name), arcname=name)
    return buf.getvalue()


def import_busybox(client, tag: str = "busybox:latest") -> str:
    """Builds the busybox rootfs in a temp dir and imports it; returns the image ID."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        root = os.path.join(d, "rootfs")
        make_rootfs(root)
        path = os.path.join(d, "busybox.tar")
        with open(path, "wb") as f:
            f.write(tar_of(root))
        return client.images.import_image(path, repository=tag).id


if __name__ == "__main__":
    import layerbox

    print(import_busybox(layerbox.from_env(), sys.argv[1] if len(sys.argv) > 1 else "busybox:latest"))
