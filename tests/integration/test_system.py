"""Volumes and `system` housekeeping."""

from __future__ import annotations

import json
import os

import pytest

pytestmark = pytest.mark.privileged


def test_named_volume_persists_between_containers(cli, busybox_image, store_root):
    assert cli("volume", "create", "-l", "team=a", "data1").out.strip() == "data1"
    r = cli("run", "--rm", "-v", "data1:/data", "busybox", "sh", "-c", "echo kept > /data/f")
    assert r.returncode == 0, r.err
    assert cli("run", "--rm", "-v", "data1:/data:ro", "busybox", "cat", "/data/f").out == "kept\n"
    doc = json.loads(cli("volume", "inspect", "data1").out)[0]
    assert doc["Name"] == "data1" and doc["Driver"] == "local" and doc["Labels"] == {"team": "a"}
    assert doc["Mountpoint"] == os.path.join(store_root, "volumes", "data1", "_data")
    assert "data1" in cli("volume", "ls", "-q").out.split()
    # in use: refused
    cid = cli("create", "-v", "data1:/data", "busybox", "true").out.strip()
    r = cli("volume", "rm", "data1")
    assert r.returncode == 1 and "volume is in use" in r.err
    cli("rm", cid, check=True)
    assert cli("volume", "rm", "data1").returncode == 0
    assert cli("volume", "inspect", "data1").returncode != 0


def test_volume_made_on_first_use_and_anonymous_volumes(cli, busybox_image, store_root):
    cid = cli("run", "-d", "-v", "auto1:/a", "-v", "/anon", "busybox", "sh", "-c",
              "echo x > /anon/f; echo y > /a/f").out.strip()
    cli("wait", cid)
    mounts = json.loads(cli("inspect", cid).out)[0]["Mounts"]
    anon = next(m["Name"] for m in mounts if m["Destination"] == "/anon")
    assert len(anon) == 64
    assert os.path.exists(os.path.join(store_root, "volumes", anon, "_data", "f"))
    cli("rm", "-v", cid, check=True)  # -v: anonymous volumes go with the container
    assert not os.path.exists(os.path.join(store_root, "volumes", anon))
    assert os.path.exists(os.path.join(store_root, "volumes", "auto1"))  # a named one stays
    r = cli("volume", "prune", "-f", "-a")
    assert "auto1" in r.out
    assert not os.path.exists(os.path.join(store_root, "volumes", "auto1"))


def test_system_df_and_prune(cli, busybox_image):
    cid = cli("run", "-d", "busybox", "sh", "-c", "echo data > /f").out.strip()
    cli("wait", cid)
    r = cli("system", "df")
    assert r.returncode == 0
    lines = r.out.splitlines()
    assert lines[0].split()[:3] == ["TYPE", "TOTAL", "ACTIVE"]
    assert any(l.startswith("Images") for l in lines)
    assert any(l.startswith("Containers") for l in lines)
    rows = [json.loads(l) for l in cli("system", "df", "--format", "json").out.splitlines()]
    assert {r["Type"] for r in rows} == {"Images", "Containers", "Local Volumes", "Build Cache"}
    r = cli("system", "prune", "-f")
    assert r.returncode == 0 and cid in r.out and "Total reclaimed space" in r.out
    assert cli("inspect", cid).returncode != 0
    assert cli("image", "inspect", "busybox").returncode == 0  # tagged: kept
