"""The container lifecycle without a daemon: create, start, ps, stop, kill, pause, exec, logs,
wait, rm, inspect, restart, rename, and what happens when the monitor or the CLI dies."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest

pytestmark = pytest.mark.privileged


@pytest.fixture
def ctr(cli, busybox_image):
    """Creates containers for a test and removes whatever is left of them afterwards."""
    made = []

    def make(*args, detach=True):
        r = cli("run", "-d", *args) if detach else cli("create", *args)
        assert r.returncode == 0, r.err
        cid = r.out.strip().splitlines()[-1]
        made.append(cid)
        return cid

    yield make
    for cid in made:
        cli("rm", "-f", cid)


def inspect(cli, ref):
    r = cli("inspect", ref)
    assert r.returncode == 0, r.err
    return json.loads(r.out)[0]


def wait_for(pred, timeout=10.0, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def test_create_then_start(cli, ctr):
    cid = ctr("--name", "created1", "busybox", "sh", "-c", "echo started; sleep 30", detach=False)
    assert len(cid) == 64 and all(c in "0123456789abcdef" for c in cid)
    doc = inspect(cli, "created1")
    assert doc["State"]["Status"] == "created"
    assert doc["Name"] == "/created1"
    ps = cli("ps", "-a", "--format", "{{.Names}} {{.Status}}").out
    assert "created1 Created" in ps
    assert cli("start", "created1").out.strip() == "created1"
    doc = inspect(cli, cid)
    assert doc["State"]["Status"] == "running" and doc["State"]["Running"] is True
    assert doc["State"]["Pid"] > 0
    assert wait_for(lambda: "started" in cli("logs", cid).out)


def test_start_attached(cli, ctr):
    cid = ctr("busybox", "sh", "-c", "echo out; echo err >&2; exit 6", detach=False)
    r = cli("start", "-a", cid)
    assert (r.out, r.err, r.returncode) == ("out\n", "err\n", 6)
    cid = ctr("-i", "busybox", "sh", "-c", "tr a-z A-Z", detach=False)
    r = cli("start", "-ai", cid, input=b"shout\n")
    assert (r.out, r.returncode) == ("SHOUT\n", 0)


def test_ps_columns_and_status(cli, ctr):
    cid = ctr("--name", "pscol", "busybox", "sleep", "30")
    exited = ctr("--name", "psexit", "busybox", "sh", "-c", "exit 3")
    cli("wait", exited, check=True)
    r = cli("ps")
    lines = r.out.splitlines()
    assert lines[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS",
                                "PORTS", "NAMES"]
    row = next(l for l in lines if "pscol" in l)
    assert row.startswith(cid[:12])
    assert '"sleep 30"' in row and "busybox" in row
    # docker's units.HumanDuration: "Less than a second", "1 second", "N seconds"
    assert re.search(r" Up (Less than a second|1 second|\d+ seconds) ", row), row
    assert "psexit" not in r.out
    r = cli("ps", "-a")
    row = next(l for l in r.out.splitlines() if "psexit" in l)
    assert "Exited (3)" in row and "ago" in row
    assert cli("ps", "-q").out.split()[0] == cid[:12] or cid[:12] in cli("ps", "-q").out.split()
    assert cid in cli("ps", "-q", "--no-trunc").out.split()
    assert cli("ps", "-a", "-n", "1", "-q").out.split() == [exited[:12]]
    assert cli("ps", "-l", "-q").out.split() == [exited[:12]]
    assert cli("ps", "-a", "-q", "--filter", "status=exited").out.split() == [exited[:12]] or \
        exited[:12] in cli("ps", "-a", "-q", "--filter", "status=exited").out.split()
    assert cli("ps", "-a", "-q", "--filter", "name=pscol").out.split() == [cid[:12]]
    assert cli("ps", "-a", "-q", "--filter", f"id={cid[:8]}").out.split() == [cid[:12]]
    assert cli("ps", "-a", "-q", "--filter", "exited=3").out.split() == [exited[:12]]
    js = [json.loads(l) for l in cli("ps", "-a", "--format", "json").out.splitlines()]
    mine = {j["Names"]: j for j in js}
    assert mine["pscol"]["State"] == "running" and mine["psexit"]["State"] == "exited"
    assert cli("ps", "--filter", "bogus=1").returncode == 1


def test_labels_and_ancestor_filters(cli, ctr):
    a = ctr("-l", "team=red", "-l", "tier", "busybox", "sleep", "30")
    b = ctr("-l", "team=blue", "busybox", "sleep", "30")
    q = lambda *f: cli("ps", "-q", *sum((["--filter", x] for x in f), [])).out.split()  # noqa: E731
    assert q("label=team=red") == [a[:12]]
    assert set(q("label=team")) >= {a[:12], b[:12]}
    assert q("label=tier") == [a[:12]]
    assert set(q("ancestor=busybox")) >= {a[:12], b[:12]}
    assert inspect(cli, a)["Config"]["Labels"] == {"team": "red", "tier": ""}


def test_stop_kills_a_process_that_ignores_sigterm(cli, ctr):
    cid = ctr("busybox", "sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done")
    assert wait_for(lambda: "ready" in cli("logs", cid).out)
    t = time.time()
    r = cli("stop", "-t", "1", cid)
    elapsed = time.time() - t
    assert r.returncode == 0 and r.out.strip() == cid
    assert 0.9 <= elapsed < 4.0, elapsed
    doc = inspect(cli, cid)
    assert doc["State"]["Status"] == "exited"
    assert doc["State"]["ExitCode"] == 137


def test_stop_uses_stop_signal_and_children_die(cli, ctr):
    cid = ctr("--stop-signal", "USR1", "busybox", "sh", "-c",
              "trap 'exit 42' USR1; sleep 4321 & sleep 4321 & echo ready; while :; do sleep 0.1; done")
    assert wait_for(lambda: "ready" in cli("logs", cid).out)
    assert cli("stop", cid).returncode == 0
    assert inspect(cli, cid)["State"]["ExitCode"] == 42
    out = subprocess.run(["pgrep", "-f", "sleep 4321"], capture_output=True, text=True).stdout
    assert out.strip() == ""


def test_kill_with_signal(cli, ctr):
    cid = ctr("busybox", "sh", "-c", "trap 'exit 9' HUP; echo ready; while :; do sleep 0.1; done")
    assert wait_for(lambda: "ready" in cli("logs", cid).out)
    assert cli("kill", "-s", "HUP", cid).out.strip() == cid
    assert cli("wait", cid).out.strip() == "9"
    r = cli("kill", cid)
    assert r.returncode != 0 and "is not running" in r.err


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_pause_stops_cpu_use(cli, ctr):
    cid = ctr("busybox", "sh", "-c", "while :; do :; done")
    pid = inspect(cli, cid)["State"]["Pid"]
    assert cli("pause", cid).returncode == 0
    doc = inspect(cli, cid)
    assert doc["State"]["Status"] == "paused" and doc["State"]["Paused"] is True
    assert "(Paused)" in cli("ps", "--filter", f"id={cid}", "--format", "{{.Status}}").out
    before = cpu_ticks(pid)
    time.sleep(1.0)
    assert cpu_ticks(pid) - before <= 1
    assert cli("pause", cid).returncode != 0  # already paused
    assert cli("unpause", cid).returncode == 0
    time.sleep(0.5)
    assert cpu_ticks(pid) - before > 10
    assert inspect(cli, cid)["State"]["Status"] == "running"


def test_stop_kill_rm_of_a_paused_container(cli, ctr):
    a = ctr("busybox", "sleep", "1000")
    b = ctr("busybox", "sleep", "1000")
    c = ctr("busybox", "sleep", "1000")
    for x in (a, b, c):
        cli("pause", x, check=True)
    assert cli("stop", "-t", "1", a).returncode == 0
    assert inspect(cli, a)["State"]["Status"] == "exited"
    assert cli("kill", b).returncode == 0
    assert cli("wait", b).out.strip() == "137"
    assert cli("rm", c).returncode != 0
    assert cli("rm", "-f", c).returncode == 0
    assert cli("inspect", c).returncode != 0


def test_exec_joins_the_container(cli, ctr):
    cid = ctr("--name", "execme", "-e", "CONTAINER_VAR=1", "busybox", "sh", "-c",
              "echo content > /marker; sleep 1000")
    assert wait_for(lambda: cli("exec", cid, "test", "-f", "/marker").returncode == 0)
    r = cli("exec", "execme", "sh", "-c",
            "cat /marker; cat /proc/1/cmdline | tr '\\0' ' '; echo; hostname; echo $CONTAINER_VAR; "
            "grep -E 'CapEff|NoNewPrivs' /proc/self/status")
    lines = r.out.splitlines()
    assert lines[0] == "content"
    assert lines[1].strip() == "sleep 1000"  # sh exec()s its last command: PID 1 of the container
    assert lines[2] == cid[:12]
    assert lines[3] == "1"
    assert lines[4].split() == ["CapEff:", "00000000a80425fb"]
    assert lines[5].split() == ["NoNewPrivs:", "1"]
    # the same cgroup as the container
    cg = cli("exec", cid, "cat", "/proc/self/cgroup").out
    assert all(l.endswith(":/") for l in cg.splitlines() if "pids" in l or "memory" in l), cg
    # exit codes, user, env, workdir
    assert cli("exec", cid, "sh", "-c", "exit 5").returncode == 5
    assert cli("exec", cid, "nope").returncode == 127
    assert cli("exec", "-u", "user", "-w", "/tmp", "-e", "X=y", cid, "sh", "-c",
               "id -u; pwd; echo $X").out.split() == ["1000", "/tmp", "y"]
    assert cli("exec", "-i", cid, "cat", input=b"piped\n").out == "piped\n"
    # detached exec keeps running after the CLI returns
    assert cli("exec", "-d", cid, "sh", "-c", "sleep 0.3; touch /detached").returncode == 0
    assert wait_for(lambda: cli("exec", cid, "test", "-f", "/detached").returncode == 0)


def test_exec_in_a_stopped_container_fails(cli, ctr):
    cid = ctr("busybox", "true")
    cli("wait", cid)
    r = cli("exec", cid, "true")
    assert r.returncode == 1 and "is not running" in r.err


def test_logs_streams_tail_timestamps(cli, ctr):
    cid = ctr("busybox", "sh", "-c", "for i in 1 2 3; do echo out$i; echo err$i >&2; done")
    cli("wait", cid, check=True)
    r = cli("logs", cid)
    assert r.out == "out1\nout2\nout3\n"
    assert r.err == "err1\nerr2\nerr3\n"
    only_out = ctr("busybox", "sh", "-c", "for i in 1 2 3; do echo line$i; done")
    cli("wait", only_out, check=True)
    assert cli("logs", "--tail", "2", only_out).out == "line2\nline3\n"
    assert cli("logs", "--tail", "0", only_out).out == ""
    ts = cli("logs", "-t", cid).out.splitlines()
    assert len(ts) == 3 and ts[0].endswith(" out1") and ts[0][:4].isdigit() and "T" in ts[0]
    assert cli("logs", "--since", "1h", cid).out == "out1\nout2\nout3\n"
    assert cli("logs", "--since", "2999-01-01T00:00:00Z", cid).out == ""


def test_logs_follow(cli, ctr):
    cid = ctr("busybox", "sh", "-c", "echo one; sleep 1; echo two")
    r = cli("logs", "-f", cid, timeout=30)
    assert r.out == "one\ntwo\n"


def test_wait_prints_exit_codes(cli, ctr):
    a = ctr("busybox", "sh", "-c", "sleep 0.5; exit 4")
    b = ctr("busybox", "true")
    assert cli("wait", a, b).out.split() == ["4", "0"]


def test_top(cli, ctr):
    cid = ctr("busybox", "sh", "-c", "sleep 999 & sleep 998")
    assert wait_for(lambda: "sleep 998" in cli("top", cid).out)
    out = cli("top", cid).out
    assert "PID" in out.splitlines()[0]
    assert "sleep 999" in out and "sleep 998" in out


def test_rm_refuses_running_and_force_removes(cli, ctr, store_root):
    cid = ctr("busybox", "sleep", "1000")
    r = cli("rm", cid)
    assert r.returncode == 1 and "You cannot remove a running container" in r.err
    assert cli("rm", "-f", cid).out.strip() == cid
    assert not os.path.exists(os.path.join(store_root, "containers", cid))


def test_restart_and_rename(cli, ctr):
    cid = ctr("--name", "rs1", "busybox", "sh", "-c", "echo run; sleep 1000")
    pid1 = inspect(cli, cid)["State"]["Pid"]
    assert cli("restart", "-t", "1", "rs1").returncode == 0
    doc = inspect(cli, cid)
    assert doc["State"]["Status"] == "running" and doc["State"]["Pid"] != pid1
    assert wait_for(lambda: cli("logs", cid).out == "run\nrun\n")
    assert cli("rename", "rs1", "rs2").returncode == 0
    assert inspect(cli, "rs2")["Name"] == "/rs2"
    assert cli("inspect", "rs1").returncode != 0


def test_names_are_unique_and_generated(cli, ctr):
    a = ctr("--name", "uniq", "busybox", "true")
    r = cli("run", "-d", "--name", "uniq", "busybox", "true")
    assert r.returncode == 125
    assert 'The container name "/uniq" is already in use by container' in r.err
    b = ctr("busybox", "true")
    name = inspect(cli, b)["Name"].lstrip("/")
    assert "_" in name and name.replace("_", "").isalnum()
    # a unique id prefix works
    assert inspect(cli, a[:6])["Id"] == a


def test_two_concurrent_runs_with_one_name(cli, busybox_image):
    procs = [cli.popen("run", "-d", "--name", "race", "busybox", "sleep", "5",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=30)
        results.append((p.returncode, out, err))
    try:
        codes = sorted(r[0] for r in results)
        assert codes == [0, 125], results
        loser = next(r for r in results if r[0] == 125)
        assert b"already in use" in loser[2]
    finally:
        cli("rm", "-f", "race")


def test_inspect_document(cli, ctr, store_root):
    cid = ctr("--name", "insp", "-m", "64m", "--pids-limit", "50", "--init", "-e", "K=V",
              "busybox", "sleep", "1000")
    d = inspect(cli, "insp")
    assert d["Id"] == cid and d["Path"] == "sleep" and d["Args"] == ["1000"]
    st = d["State"]
    for k in ("Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid",
              "ExitCode", "Error", "StartedAt", "FinishedAt"):
        assert k in st
    assert d["Config"]["Image"] == "busybox" and "K=V" in d["Config"]["Env"]
    assert d["HostConfig"]["Memory"] == 64 * 1024 * 1024
    assert d["HostConfig"]["PidsLimit"] == 50 and d["HostConfig"]["Init"] is True
    assert d["GraphDriver"]["Name"] == "overlay"
    assert d["GraphDriver"]["Data"]["UpperDir"] == os.path.join(store_root, "containers", cid, "upper")
    assert cli("inspect", "-f", "{{.State.Status}} {{.Config.Hostname}}", cid).out.strip() == \
        f"running {cid[:12]}"
    assert cli("container", "inspect", "--format", "{{json .HostConfig.AutoRemove}}", cid).out.strip() == "false"


def test_detached_container_survives_sigkill_of_the_cli(cli, busybox_image):
    # `run -i` in the foreground would be attached; kill -9 the CLI of a detached run mid-way
    p = cli.popen("run", "--name", "survivor", "busybox", "sh", "-c", "echo up; sleep 1000",
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert p.stdout.readline() == b"up\n"
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
        p.stdout.close()  # the monitor still relays to these pipes: let them break
        p.stderr.close()
        time.sleep(0.3)
        doc = inspect(cli, "survivor")
        assert doc["State"]["Status"] == "running"
        assert cli("exec", "survivor", "true").returncode == 0
    finally:
        cli("rm", "-f", "survivor")


def test_monitor_killed_is_reconciled(cli, ctr, store_root):
    cid = ctr("busybox", "sleep", "1000")
    with open(os.path.join(store_root, "containers", cid, "state.json")) as f:
        st = json.load(f)
    os.kill(st["MonitorPid"], signal.SIGKILL)
    time.sleep(0.5)
    doc = inspect(cli, cid)
    assert doc["State"]["Status"] == "exited"
    assert "monitor" in doc["State"]["Error"] and "unexpectedly" in doc["State"]["Error"]
    # the process is gone, and so is its cgroup
    from layerbox import _core

    assert _core.process_start_time(st["Pid"]) == 0
    parent = os.environ["LAYERBOX_CGROUP_PARENT"]
    assert not any(os.path.exists(os.path.join("/sys/fs/cgroup", h, parent, cid))
                   for h in os.listdir("/sys/fs/cgroup"))
    # start and rm work on it again
    assert cli("start", cid).returncode == 0
    assert inspect(cli, cid)["State"]["Status"] == "running"
    assert cli("rm", "-f", cid).returncode == 0


def test_state_json_has_one_schema_for_the_monitor_and_the_commands(cli, ctr, store_root):
    # state.json has two writers, the monitor (C++) and the commands (Python): every state
    # either writes has exactly the fields of STATE_SCHEMA with their types, and each side
    # starts from what the other wrote.
    from layerbox.container.engine import STATE_SCHEMA

    def state(cid):
        with open(os.path.join(store_root, "containers", cid, "state.json")) as f:
            st = json.load(f)
        assert set(st) == set(STATE_SCHEMA), set(st) ^ set(STATE_SCHEMA)
        for k, t in STATE_SCHEMA.items():
            assert type(st[k]) is t, (k, st[k])
        return st

    # fails once, is restarted by its monitor, then runs: the monitor counts the restart
    cid = ctr("--restart", "on-failure:1", "busybox", "sh", "-c",
              "test -e /again || { touch /again; exit 3; }; exec sleep 1000")
    running = wait_for(lambda: (lambda st: st if st["Status"] == "running"
                                and st["RestartCount"] == 1 else None)(state(cid)))
    assert running and running["MonitorPid"] > 0 and running["BootId"]
    os.kill(running["MonitorPid"], signal.SIGKILL)
    time.sleep(0.5)
    assert inspect(cli, cid)["State"]["Status"] == "exited"
    reconciled = state(cid)  # written by the command that noticed the monitor was gone
    assert (reconciled["ExitCode"], reconciled["MonitorPid"]) == (255, 0)
    assert reconciled["RestartCount"] == 1
    # the next monitor starts from the commands' state: it keeps the restart count
    assert cli("start", cid).returncode == 0
    again = state(cid)
    assert again["Status"] == "running" and again["RestartCount"] == 1
    assert again["Error"] == "" and again["MonitorPid"] not in (0, running["MonitorPid"])
    assert cli("stop", "-t", "0", cid).returncode == 0
    assert state(cid)["Status"] == "exited"
    # a process that could not start: the monitor records it
    r = cli("create", "busybox", "/no/such/program")
    assert r.returncode == 0, r.err
    failed = r.out.strip()
    try:
        assert cli("start", failed).returncode != 0
        st = state(failed)
        assert st["Status"] == "created" and st["ExitCode"] == 127 and st["Error"]
    finally:
        cli("rm", "-f", failed)


def test_reboot_is_detected(cli, ctr, store_root):
    cid = ctr("busybox", "true")
    cli("wait", cid)
    path = os.path.join(store_root, "containers", cid, "state.json")
    with open(path) as f:
        st = json.load(f)
    # What a container looks like after the machine rebooted under it.
    st.update(Status="running", Running=True, Pid=999999, MonitorPid=999998,
              BootId="00000000-0000-0000-0000-000000000000")
    with open(path, "w") as f:
        json.dump(st, f)
    doc = inspect(cli, cid)
    assert doc["State"]["Status"] == "exited"
    assert "rebooted" in doc["State"]["Error"]


def test_restart_always_after_reboot(cli, ctr, store_root):
    cid = ctr("--restart", "always", "busybox", "sleep", "1000")
    path = os.path.join(store_root, "containers", cid, "state.json")
    cli("kill", cid)  # a user's kill: no restart now
    cli("wait", cid)
    with open(path) as f:
        st = json.load(f)
    st.update(Status="running", Running=True, Pid=999999, MonitorPid=999998,
              BootId="00000000-0000-0000-0000-000000000000")
    with open(path, "w") as f:
        json.dump(st, f)
    # the first command after "boot" brings it back, as docker's daemon would at start-up
    doc = inspect(cli, cid)
    assert doc["State"]["Status"] == "running"
    assert cli("exec", cid, "true").returncode == 0


def test_init_reaps_zombies(cli, ctr):
    # Without an init the orphaned children stay zombies under a PID 1 that never waits.
    script = "for i in 1 2 3 4 5; do sh -c 'sleep 0.1 &'; done; sleep 1; ps -o stat= | grep -c Z"
    cid = ctr("--init", "busybox", "sleep", "1000")
    time.sleep(0.2)
    # PID 1 is the init; the command is its child
    r = cli("exec", cid, "ps", "-o", "pid,ppid,args")
    rows = [l.split(None, 2) for l in r.out.splitlines()[1:]]
    assert any(pid == "1" for pid, _pp, _a in rows)
    assert any(a == "sleep 1000" and pp == "1" and pid != "1" for pid, pp, a in rows), rows
    r = cli("run", "--rm", "--init", "busybox", "sh", "-c", script)
    assert r.out.strip() == "0", r.out


def test_init_forwards_signals(cli, ctr):
    cid = ctr("--init", "busybox", "sh", "-c", "trap 'exit 11' TERM; while :; do sleep 0.1; done")
    time.sleep(0.3)
    assert cli("stop", cid).returncode == 0
    assert inspect(cli, cid)["State"]["ExitCode"] == 11


def test_restart_policy_on_failure(cli, ctr):
    cid = ctr("--restart", "on-failure:2", "busybox", "sh", "-c", "echo try; exit 1")
    assert wait_for(lambda: inspect(cli, cid)["State"]["Status"] == "exited", timeout=15)
    d = inspect(cli, cid)
    assert d["RestartCount"] == 2 and d["State"]["ExitCode"] == 1
    assert cli("logs", cid).out == "try\ntry\ntry\n"


def test_restart_always_until_stopped(cli, ctr):
    cid = ctr("--restart", "always", "busybox", "sh", "-c", "echo x; sleep 0.1")
    assert wait_for(lambda: inspect(cli, cid)["RestartCount"] >= 2, timeout=15)
    assert cli("stop", "-t", "1", cid).returncode == 0
    assert wait_for(lambda: inspect(cli, cid)["State"]["Status"] == "exited")
    n = inspect(cli, cid)["RestartCount"]
    time.sleep(0.5)
    assert inspect(cli, cid)["RestartCount"] == n
    assert cli("run", "--rm", "--restart", "always", "busybox", "true").returncode == 125


def test_container_prune(cli, busybox_image):
    a = cli("run", "-d", "busybox", "true").out.strip()
    b = cli("run", "-d", "busybox", "sleep", "100").out.strip()
    cli("wait", a)
    try:
        r = cli("container", "prune", "-f")
        assert a in r.out and b not in r.out
        assert cli("inspect", a).returncode != 0
        assert inspect(cli, b)["State"]["Running"]
    finally:
        cli("rm", "-f", b)


def test_ps_reads_the_running_index_and_heals_it(cli, ctr, store_root):
    """`ps` lists running containers from store/running (one marker each), not by reading
    every container: a stopped one's marker is dropped by the next reader, a store made
    before the index gets one built on first use, and a marker of a removed container goes."""
    index = os.path.join(store_root, "running")
    up = ctr("--name", "idx-up", "busybox", "sleep", "30")
    done = ctr("--name", "idx-done", "busybox", "true")
    assert cli("wait", done).out.strip() == "0"
    assert up in os.listdir(index)
    assert cli("ps", "-q", "--no-trunc").out.split() .count(up) == 1
    assert done not in cli("ps", "-q", "--no-trunc").out.split()
    assert done not in os.listdir(index)  # seen stopped: dropped
    # A store from before the index: rebuilt from the containers on the next `ps`.
    subprocess.run(["rm", "-rf", index], check=True)
    assert up in cli("ps", "-q", "--no-trunc").out.split()
    assert up in os.listdir(index) and done not in os.listdir(index)
    # A marker whose container is gone (a crash between the two): dropped, not listed.
    ghost = "f" * 64
    open(os.path.join(index, ghost), "w").close()
    assert ghost not in cli("ps", "-a", "-q", "--no-trunc").out.split()
    cli("ps")
    assert ghost not in os.listdir(index)
    # A stopped container started again is listed again; rm drops its marker.
    assert cli("start", done).returncode == 0
    cli("wait", done)
    assert cli("rm", "-f", up).returncode == 0
    assert up not in os.listdir(index)
