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


def test_events_cli(cli, busybox_image):
    """`layerbox events`: the store's event log (what every client did), docker's line, its
    --format and --filter, and following until --until or the end."""
    import re
    import subprocess
    import time

    since = str(time.time() - 0.5)
    # followed: started before what it reports
    follow = subprocess.Popen([*cli.cmd, "events", "--filter", "container=ev-cli-c", "--format",
                               "{{.Status}} {{.ID}} {{.From}}"], env=cli.env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        cli("network", "create", "ev-cli-net", check=True)
        cli("network", "rm", "ev-cli-net", check=True)
        assert cli("run", "--name", "ev-cli-c", "busybox", "sh", "-c", "exit 3").returncode == 3
        cid = cli("inspect", "-f", "{{.Id}}", "ev-cli-c", check=True).out.strip()
        cli("rm", "ev-cli-c", check=True)
        seen = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not seen or not seen[-1].startswith("destroy")):
            seen.append(follow.stdout.readline().strip())
        assert [s.split()[0] for s in seen] == ["create", "start", "die", "destroy"], seen
        assert seen[0] == f"create {cid} busybox"
    finally:
        follow.terminate()
        follow.communicate(timeout=30)
    until = str(time.time() + 0.5)
    r = cli("events", "--since", since, "--until", until, "--filter", "type=network", check=True)
    lines = r.out.splitlines()
    assert len(lines) == 2, lines
    # docker's line: time (RFC 3339, nanoseconds), type, action, actor, (sorted attributes)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) network create "
                        r"[0-9a-f]{64} \(name=ev-cli-net, type=bridge\)", lines[0]), lines[0]
    assert " network destroy " in lines[1]
    docs = [json.loads(x) for x in cli("events", "--since", since, "--until", until, "--format", "json",
                                       "--filter", "event=die", check=True).out.splitlines()]
    assert [d["Actor"]["Attributes"]["exitCode"] for d in docs if d["id"] == cid] == ["3"]
    r = cli("events", "--since", since, "--until", until, "--filter", "nosuch=1")
    assert r.returncode == 1 and "invalid filter 'nosuch'" in r.err
