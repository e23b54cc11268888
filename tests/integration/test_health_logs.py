"""Healthchecks run by the monitor, and logs that do not fill the disk, as a user sees them:
`ps` STATUS and `--filter health=`, inspect's State.Health and Config.Healthcheck, docker's
json-file records on disk with rotation, `logs` over rotated files, `--log-driver none`."""

from __future__ import annotations

import json
import os
import time

import pytest

pytestmark = pytest.mark.privileged


def _inspect(cli, name, path="."):
    r = cli("inspect", "-f", "{{json " + path + "}}", name)
    assert r.returncode == 0, r.err
    return json.loads(r.out)


def _wait_health(cli, name, status, limit=30.0):
    """Polls State.Health until it says `status` (bounded: a wait, not a timing assertion)."""
    deadline = time.monotonic() + limit
    h = None
    while time.monotonic() < deadline:
        h = _inspect(cli, name, ".State.Health")
        if h and h["Status"] == status:
            return h
        time.sleep(0.1)
    pytest.fail(f"{name}: health never became {status}: {h}")


@pytest.fixture
def names(cli):
    made = []
    yield made
    for n in made:
        cli("rm", "-f", n)


def test_health_cmd_becomes_healthy_and_shows_in_ps(cli, busybox_image, names):
    names.append("hc-ok")
    r = cli("run", "-d", "--name", "hc-ok", "--health-cmd", "echo probed; test -e /tmp/ready",
            "--health-interval", "100ms", "--health-retries", "50", "busybox",
            "sh", "-c", "sleep 0.5; touch /tmp/ready; sleep 60")
    assert r.returncode == 0, r.err
    h = _inspect(cli, "hc-ok", ".State.Health")
    assert h["Status"] in ("starting", "healthy")
    assert cli("ps", "--filter", "name=hc-ok", "--format", "{{.Status}}").out.strip().endswith(
        ("(health: starting)", "(healthy)"))
    h = _wait_health(cli, "hc-ok", "healthy")
    assert h["FailingStreak"] == 0
    last = h["Log"][-1]
    assert last["ExitCode"] == 0 and last["Output"] == "probed\n"
    assert last["Start"] <= last["End"]
    assert len(h["Log"]) <= 5
    assert cli("ps", "--filter", "name=hc-ok", "--format", "{{.Status}}").out.strip().endswith("(healthy)")
    assert cli("ps", "-q", "--filter", "health=healthy", "--filter", "name=hc-ok").out.strip()
    assert not cli("ps", "-q", "--filter", "health=unhealthy", "--filter", "name=hc-ok").out.strip()
    hc = _inspect(cli, "hc-ok", ".Config.Healthcheck")
    assert hc["Test"] == ["CMD-SHELL", "echo probed; test -e /tmp/ready"]
    assert hc["Interval"] == 100_000_000 and hc["Retries"] == 50
    # a stopped container's health is unhealthy, as docker leaves it
    cli("stop", "-t", "0", "hc-ok", check=True)
    assert _inspect(cli, "hc-ok", ".State.Health")["Status"] == "unhealthy"


def test_failing_check_becomes_unhealthy_after_retries(cli, busybox_image, names):
    names.append("hc-bad")
    cli("run", "-d", "--name", "hc-bad", "--health-cmd", "echo nope >&2; exit 3",
        "--health-interval", "50ms", "--health-retries", "2", "busybox", "sleep", "60", check=True)
    h = _wait_health(cli, "hc-bad", "unhealthy")
    assert h["FailingStreak"] >= 2
    assert h["Log"][-1]["ExitCode"] == 3 and h["Log"][-1]["Output"] == "nope\n"
    assert "(unhealthy)" in cli("ps", "--filter", "name=hc-bad", "--format", "{{.Status}}").out
    assert "hc-bad" in cli("ps", "--filter", "health=unhealthy", "--format", "{{.Names}}").out.split()
    # the log keeps the last five results
    deadline = time.monotonic() + 30
    while len(_inspect(cli, "hc-bad", ".State.Health")["Log"]) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(_inspect(cli, "hc-bad", ".State.Health")["Log"]) == 5


def test_timeout_and_exec_form(cli, busybox_image, names):
    names.append("hc-slow")
    cli("create", "--name", "hc-slow", "--health-cmd", "sleep 5", "--health-interval", "50ms",
        "--health-timeout", "200ms", "--health-retries", "1", "busybox", "sleep", "60", check=True)
    # created, never started: no health yet (docker shows none)
    assert "Health" not in _inspect(cli, "hc-slow", ".State")
    cli("start", "hc-slow", check=True)
    h = _wait_health(cli, "hc-slow", "unhealthy")
    assert h["Log"][-1]["ExitCode"] == -1
    assert h["Log"][-1]["Output"] == "Health check exceeded timeout (200ms)"
    # killed probes do not pile up: the container's own sleep and at most the probe running now
    r = cli("exec", "hc-slow", "ps", "-o", "comm")
    assert 1 <= r.out.count("sleep") <= 2, r.out


def test_start_period_failures_do_not_count(cli, busybox_image, names):
    names.append("hc-start")
    cli("run", "-d", "--name", "hc-start", "--health-cmd", "exit 1", "--health-interval", "50ms",
        "--health-retries", "1", "--health-start-period", "1h", "busybox", "sleep", "60",
        check=True)
    deadline = time.monotonic() + 30
    h = None
    while time.monotonic() < deadline:
        h = _inspect(cli, "hc-start", ".State.Health")
        if len(h["Log"]) >= 2:
            break
        time.sleep(0.1)
    assert h["Status"] == "starting" and h["FailingStreak"] == 0, h
    assert "(health: starting)" in cli("ps", "--filter", "name=hc-start", "--format",
                                       "{{.Status}}").out
    assert "hc-start" in cli("ps", "--filter", "health=starting", "--format", "{{.Names}}").out


def test_image_healthcheck_and_no_healthcheck(cli, busybox_image, names, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nHEALTHCHECK --interval=50ms --retries=1 CMD [\"true\"]\n")
    cli("build", "-q", "-t", "hc-image:1", str(tmp_path), check=True)
    try:
        names.append("hc-img")
        cli("run", "-d", "--name", "hc-img", "hc-image:1", "sleep", "60", check=True)
        assert _inspect(cli, "hc-img", ".Config.Healthcheck")["Test"] == ["CMD", "true"]
        _wait_health(cli, "hc-img", "healthy")
        # --health-* fields override the image's one by one
        names.append("hc-img2")
        cli("create", "--name", "hc-img2", "--health-retries", "7", "hc-image:1", "true", check=True)
        hc = _inspect(cli, "hc-img2", ".Config.Healthcheck")
        assert hc["Test"] == ["CMD", "true"] and hc["Retries"] == 7 and hc["Interval"] == 50_000_000
        names.append("hc-none")
        cli("run", "-d", "--name", "hc-none", "--no-healthcheck", "hc-image:1", "sleep", "60",
            check=True)
        assert _inspect(cli, "hc-none", ".Config.Healthcheck")["Test"] == ["NONE"]
        assert "Health" not in _inspect(cli, "hc-none", ".State")
        assert cli("ps", "--filter", "name=hc-none", "--format", "{{.Status}}").out.strip().startswith("Up")
        assert "(" not in cli("ps", "--filter", "name=hc-none", "--format", "{{.Status}}").out
        assert "hc-none" in cli("ps", "--filter", "health=none", "--format", "{{.Names}}").out
    finally:
        for n in list(names):
            cli("rm", "-f", n)
        names.clear()
        cli("rmi", "hc-image:1")


@pytest.mark.parametrize("args, message", [
    (["--no-healthcheck", "--health-cmd", "true"], "--no-healthcheck conflicts with --health-* options"),
    (["--health-interval", "-1s"], "--health-interval cannot be negative"),
    (["--health-retries", "-1"], "--health-retries cannot be negative"),
    (["--health-timeout", "10us"], "Timeout in Healthcheck cannot be less than 1ms"),
    (["--health-interval", "soon"], 'invalid argument "soon" for "--health-interval" flag'),
    (["--ps-filter-health"], None),
])
def test_bad_health_options(cli, busybox_image, args, message):
    if message is None:
        r = cli("ps", "--filter", "health=sick")
        assert r.returncode != 0 and "Unrecognised filter value for health: sick" in r.err
        return
    r = cli("create", *args, "busybox", "true")
    assert r.returncode == 125, r.out
    assert message in r.err and "Traceback" not in r.err


def test_sdk_healthcheck(client, busybox_image):
    c = client.containers.run("busybox", "sleep 60", detach=True,
                              healthcheck={"test": ["CMD", "true"], "interval": 50_000_000,
                                           "retries": 1})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            c.reload()
            if (c.attrs["State"].get("Health") or {}).get("Status") == "healthy":
                break
            time.sleep(0.1)
        assert c.attrs["State"]["Health"]["Status"] == "healthy" and c.health == "healthy"
        assert c.attrs["Config"]["Healthcheck"]["Test"] == ["CMD", "true"]
        assert client.containers.list(filters={"health": "healthy", "id": c.id})[0].id == c.id
    finally:
        c.remove(force=True)


# -- logs ------------------------------------------------------------------------------------

def test_json_file_on_disk_and_logs(cli, busybox_image, names):
    names.append("lg-json")
    cli("run", "--name", "lg-json", "busybox", "sh", "-c",
        "echo 'out <a> & \"b\"'; echo err >&2; printf partial", check=True)
    lc = _inspect(cli, "lg-json", ".HostConfig.LogConfig")
    assert lc == {"Type": "json-file", "Config": {}}
    path = _inspect(cli, "lg-json", ".LogPath")
    with open(path) as f:
        recs = [json.loads(line) for line in f]
    # each stream in order (the monitor reads two pipes: their records may interleave)
    assert [r["log"] for r in recs if r["stream"] == "stdout"] == ['out <a> & "b"\n', "partial"]
    assert [r["log"] for r in recs if r["stream"] == "stderr"] == ["err\n"]
    assert all(set(r) == {"log", "stream", "time"} and r["time"].endswith("Z") for r in recs)
    with open(path, "rb") as f:
        assert b"\\u003ca\\u003e \\u0026" in f.read()  # docker's escaping on disk
    r = cli("logs", "lg-json")
    assert r.out == 'out <a> & "b"\npartial' and r.err == "err\n"
    r = cli("logs", "-t", "--tail", "1", "lg-json")
    stamp, _, text = r.out.partition(" ")
    assert text == "partial" and len(stamp) == len("2026-01-01T00:00:00.000000000Z")


def test_rotation_keeps_max_file_and_logs_reads_across(cli, busybox_image, names):
    names.append("lg-rot")
    r = cli("run", "--name", "lg-rot", "--log-opt", "max-size=2k", "--log-opt", "max-file=3",
            "busybox", "sh", "-c", "i=0; while [ $i -lt 400 ]; do echo line$i; i=$((i+1)); done")
    assert r.returncode == 0, r.err
    assert _inspect(cli, "lg-rot", ".HostConfig.LogConfig") == {
        "Type": "json-file", "Config": {"max-size": "2k", "max-file": "3"}}
    path = _inspect(cli, "lg-rot", ".LogPath")
    d, base = os.path.split(path)
    kept = sorted(n for n in os.listdir(d) if n.startswith(base))
    assert kept == [base, base + ".1", base + ".2"]
    for n in kept:
        # a file passes max-size by at most one record before it rotates
        assert os.path.getsize(os.path.join(d, n)) < 2000 + 100
    lines = cli("logs", "lg-rot").out.splitlines()
    # the oldest lines rotated away; what is kept is in order and ends with the last line
    assert lines[-1] == "line399"
    first = int(lines[0][4:])
    assert lines == [f"line{i}" for i in range(first, 400)] and first > 0
    assert cli("logs", "--tail", "2", "lg-rot").out.splitlines() == ["line398", "line399"]


def test_follow_across_rotation(cli, busybox_image, names):
    names.append("lg-follow")
    # ten rows at a time, rotating about every fifteen rows: the follower meets both files
    # rotated while it read them and files rotated before it looked
    cli("run", "-d", "--name", "lg-follow", "--log-opt", "max-size=1k", "--log-opt", "max-file=20",
        "busybox", "sh", "-c",
        "sleep 0.5; i=0; while [ $i -lt 100 ]; do echo row$i; i=$((i+1)); "
        "[ $((i % 10)) = 0 ] && sleep 0.05; done", check=True)
    r = cli("logs", "-f", "lg-follow")
    assert r.returncode == 0, r.err
    # everything written after following began, across several rotations, in order
    assert r.out.splitlines() == [f"row{i}" for i in range(100)]


def test_log_driver_none_and_local(cli, busybox_image, names):
    names.append("lg-none")
    cli("run", "--name", "lg-none", "--log-driver", "none", "busybox", "echo", "hi", check=True)
    r = cli("logs", "lg-none")
    assert r.returncode != 0
    assert "configured logging driver does not support reading" in r.err
    assert _inspect(cli, "lg-none", ".LogPath") == ""
    cdir = os.path.dirname(os.path.dirname(_inspect(cli, "lg-none", ".GraphDriver.Data.UpperDir")))
    assert not [n for n in os.listdir(os.path.join(cdir, _inspect(cli, "lg-none", ".Id")))
                if "log" in n]
    names.append("lg-local")
    cli("run", "--name", "lg-local", "--log-driver", "local", "busybox", "echo", "hi", check=True)
    assert cli("logs", "lg-local").out == "hi\n"
    assert _inspect(cli, "lg-local", ".HostConfig.LogConfig")["Type"] == "local"


@pytest.mark.parametrize("args, message", [
    (["--log-driver", "nope"], "logger: no log driver named 'nope' is registered"),
    (["--log-driver", "syslog"], "log driver syslog is not supported by layerbox"),
    (["--log-opt", "max-size=0"], "max-size must be a positive number"),
    (["--log-opt", "max-file=0"], "max-file cannot be less than 1"),
    (["--log-opt", "bogus=1"], "unknown log opt 'bogus' for json-file log driver"),
    (["--log-opt", "compress=true"], "compress=true is not supported"),
    (["--log-driver", "none", "--log-opt", "max-size=1m"], "unknown log opt 'max-size' for none log driver"),
])
def test_bad_log_options(cli, busybox_image, args, message):
    r = cli("create", *args, "busybox", "true")
    assert r.returncode == 125 and message in r.err, r.err


def test_old_cri_log_stays_readable(cli, busybox_image, names):
    """A container made before json-file (no LogConfig, a CRI-format log) keeps its format."""
    names.append("lg-old")
    cli("run", "--name", "lg-old", "busybox", "echo", "one", check=True)
    cid = _inspect(cli, "lg-old", ".Id")
    cdir = os.path.dirname(_inspect(cli, "lg-old", ".GraphDriver.Data.UpperDir"))
    cfg_path = os.path.join(cdir, "config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    del cfg["HostConfig"]["LogConfig"]
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    path = cfg["LogPath"]
    with open(path, "w") as f:
        f.write("2026-01-01T00:00:00.000000001Z stdout F old line\n"
                "2026-01-01T00:00:00.000000002Z stderr P par\n"
                "2026-01-01T00:00:00.000000003Z stderr F tial\n")
    r = cli("logs", cid)
    assert r.out == "old line\n" and r.err == "partial\n"
    cli("start", "-a", "lg-old", check=True)  # its monitor keeps writing CRI records
    with open(path) as f:
        assert f.read().splitlines()[-1].endswith(" stdout F one")
    assert cli("logs", cid).out == "old line\none\n"
