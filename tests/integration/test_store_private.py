"""The store is private: no other host user reaches a container's files (the CVE-2021-41091
class: a setuid-root file a container leaves in its upper dir) or its config (its environment),
while the containers' own non-root users keep working."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile

import pytest

from conftest import Cli, tool

pytestmark = pytest.mark.privileged

NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def open_store(busybox_tar):
    """A store whose parent every host user may traverse (the session's lives under a 0700
    pytest dir, which would hide the store's own modes), with busybox in it."""
    base = tempfile.mkdtemp(prefix="layerbox-private-", dir="/tmp")
    os.chmod(base, 0o755)
    c = Cli(os.path.join(base, "store"))
    c("import", busybox_tar, "busybox:latest", check=True)
    yield c
    for cid in c("ps", "-a", "-q", "--no-trunc").out.split():
        c("rm", "-f", cid)
    shutil.rmtree(base)


def as_nobody(*argv) -> subprocess.CompletedProcess:
    # Through sh: setpriv keeps its capabilities until its own exec, so it would resolve the
    # path with root's; the shell resolves it as nobody.
    return subprocess.run([tool("setpriv"), *NOBODY, "sh", "-c", 'exec "$0" "$@"', *argv],
                          capture_output=True, text=True)


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def test_setuid_file_in_upper_dir_and_config_unreachable_by_other_users(open_store):
    c = open_store
    # The host's `id` (busybox's drops a setuid euid), left setuid-root in the upper dir.
    cid = c("run", "-d", "-e", "DB_PASSWORD=secret", "-v", f"{os.path.dirname(tool('id'))}:/hostbin:ro",
            "busybox", "sh", "-c", "cp /hostbin/id /suid && chmod 4755 /suid && echo left").out.strip()
    assert c("wait", cid).out.strip() == "0"
    root = c.root
    suid = os.path.join(root, "containers", cid, "upper", "suid")
    config = os.path.join(root, "containers", cid, "config.json")
    st = os.stat(suid)
    assert st.st_uid == 0 and st.st_mode & stat.S_ISUID  # the container did leave one
    assert "DB_PASSWORD=secret" in read(config)

    # Another host user can neither run it (with 0755 dirs: "euid=0(root)") nor read the
    # container's environment.
    r = as_nobody(suid)
    assert r.returncode == 126 and "euid=0" not in r.stdout, r
    assert "ermission denied" in r.stderr
    r = as_nobody("cat", config)
    assert r.returncode != 0 and "secret" not in r.stdout
    r = as_nobody("ls", os.path.join(root, "containers"))
    assert r.returncode != 0
    assert as_nobody("ls", os.path.dirname(root)).returncode == 0  # the parent was reachable

    # The modes, the monitor's state.json included (written in C++).
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    for name, mode in (("config.json", 0o600), ("state.json", 0o600)):
        assert stat.S_IMODE(os.stat(os.path.join(root, "containers", cid, name)).st_mode) == mode, name
    assert not stat.S_IMODE(os.stat(os.path.join(root, "containers", cid, "container.log")).st_mode) & 0o007


def test_an_existing_store_is_made_private_on_first_use(open_store):
    c = open_store
    cid = c("create", "-e", "DB_PASSWORD=secret", "busybox", "true").out.strip()
    root = c.root
    config = os.path.join(root, "containers", cid, "config.json")
    # As an older layerbox left it: world-readable, no marker.
    for d in (root, os.path.join(root, "containers"), os.path.join(root, "containers", cid),
              os.path.join(root, "layers")):
        os.chmod(d, 0o755)
    os.chmod(config, 0o644)
    os.unlink(os.path.join(root, "private-v1"))
    assert as_nobody("cat", config).returncode == 0  # the problem, shown
    r = c("system", "check")
    assert r.returncode == 1 and "readable by other users" in r.out, r.out
    c("create", "busybox", "true", check=True)  # any command that uses the store
    assert as_nobody("cat", config).returncode != 0
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    r = c("system", "check")
    assert r.returncode == 0, r.out


def test_non_root_container_users_work_in_a_private_store(cli, busybox_image, store_root, tmp_path):
    assert stat.S_IMODE(os.stat(store_root).st_mode) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(shared, 0o777)
    cli("volume", "create", "privvol", check=True)
    cli("run", "--rm", "-v", "privvol:/v", "busybox", "sh", "-c", "echo from-root > /v/f", check=True)
    r = cli("run", "--rm", "-u", "nobody", "-v", f"{shared}:/data", "-v", "privvol:/v", "busybox", "sh",
            "-c", "id -u; cat /bin/busybox > /dev/null && echo hi > /tmp/x && cat /tmp/x && "
            "echo w > /data/out && cat /v/f && ls /")
    assert r.returncode == 0, r.err
    lines = r.out.splitlines()
    assert lines[:3] == ["65534", "hi", "from-root"], r.out
    assert (shared / "out").read_text() == "w\n"
    cli("volume", "rm", "privvol", check=True)


def test_config_json_not_world_readable_after_rename(cli, busybox_image, store_root):
    cid = cli("create", "--name", "privren1", "busybox", "true").out.strip()
    cli("rename", "privren1", "privren2", check=True)
    config = os.path.join(store_root, "containers", cid, "config.json")
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    assert json.loads(read(config))["Name"] == "/privren2"
    cli("rm", cid, check=True)
