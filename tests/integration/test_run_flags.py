"""The run/create flags scripts use, as a user sees them: --cidfile, --ulimit, --shm-size,
--sysctl, --oom-score-adj, --group-add, --pid/--ipc/--uts host, --ipc container:, -a,
--env-file/--label-file as docker parses them, -e VAR from the caller, --pull, --platform."""

from __future__ import annotations

import json
import os

import pytest

pytestmark = pytest.mark.privileged


def run(cli, *args, **kw):
    return cli("run", "--rm", *args, **kw)


def _inspect(cli, name, path):
    r = cli("inspect", "-f", "{{json " + path + "}}", name)
    assert r.returncode == 0, r.err
    return json.loads(r.out)


def test_cidfile(cli, busybox_image, tmp_path):
    path = tmp_path / "cid"
    r = cli("run", "-d", "--cidfile", path, "busybox", "sleep", "30")
    assert r.returncode == 0, r.err
    cid = r.out.strip()
    try:
        assert path.read_text() == cid
        assert _inspect(cli, cid, ".HostConfig.ContainerIDFile") == str(path)
        r = cli("create", "--cidfile", path, "busybox", "true")
        assert r.returncode == 125
        assert f"Container ID file found, make sure the other container isn't running or delete {path}" in r.err
    finally:
        cli("rm", "-f", cid)


def test_ulimit(cli, busybox_image):
    r = run(cli, "--ulimit", "nofile=512:1024", "--ulimit", "nproc=100", "busybox", "sh", "-c",
            "ulimit -n; ulimit -Hn; ulimit -u")
    assert r.returncode == 0, r.err
    assert r.out.split() == ["512", "1024", "100"]
    for bad, msg in (("nofile=2:1", "ulimit soft limit must be less than or equal to hard limit: 2 > 1"),
                     ("bogus=1", "invalid ulimit type: bogus"),
                     ("nofile", "invalid ulimit argument: nofile")):
        r = cli("create", "--ulimit", bad, "busybox", "true")
        assert r.returncode == 125 and msg in r.err, r.err


def test_shm_size(cli, busybox_image):
    r = run(cli, "--shm-size", "8m", "busybox", "df", "-k", "/dev/shm")
    assert r.returncode == 0, r.err
    assert r.out.splitlines()[1].split()[1] == "8192"
    r = run(cli, "busybox", "df", "-k", "/dev/shm")
    assert r.out.splitlines()[1].split()[1] == "65536"


def test_sysctl_namespaced_only(cli, busybox_image):
    r = run(cli, "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmni=2048",
            "busybox", "sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni")
    assert r.returncode == 0, r.err
    assert r.out.split() == ["1", "2048"]
    with open("/proc/sys/kernel/shmmni") as f:
        assert f.read().strip() != "2048" or True  # the host's own value is not ours to assert
    r = cli("create", "--sysctl", "kernel.pid_max=100000", "busybox", "true")
    assert r.returncode == 125
    assert 'sysctl "kernel.pid_max" is not in a separate kernel namespace' in r.err
    r = cli("create", "--network", "host", "--sysctl", "net.ipv4.ip_forward=1", "busybox", "true")
    assert r.returncode == 125 and "not allowed in host network namespace" in r.err


def test_oom_score_adj(cli, busybox_image):
    r = run(cli, "--oom-score-adj", "500", "busybox", "cat", "/proc/self/oom_score_adj")
    assert r.returncode == 0, r.err
    assert r.out.strip() == "500"
    r = cli("create", "--oom-score-adj", "1001", "busybox", "true")
    assert r.returncode == 125
    assert "Invalid value 1001, range for oom score adj is [-1000, 1000]" in r.err


def test_group_add(cli, busybox_image):
    r = run(cli, "--group-add", "staff", "--group-add", "4242", "-u", "1000", "busybox", "id", "-G")
    assert r.returncode == 0, r.err
    assert set(r.out.split()) >= {"50", "4242"}
    r = cli("run", "--rm", "--group-add", "nosuchgroup", "busybox", "true")
    assert r.returncode != 0 and "Unable to find group nosuchgroup" in r.err


def test_uts_pid_ipc_host(cli, busybox_image):
    r = run(cli, "--uts", "host", "busybox", "hostname")
    assert r.out.strip() == os.uname().nodename
    r = run(cli, "--pid", "host", "busybox", "sh", "-c", "echo $$")
    assert r.returncode == 0, r.err
    assert r.out.strip() != "1"
    r = run(cli, "--ipc", "host", "busybox", "readlink", "/proc/self/ns/ipc")
    assert r.out.strip() == os.readlink("/proc/self/ns/ipc")
    r = run(cli, "busybox", "readlink", "/proc/self/ns/ipc")
    assert r.out.strip() != os.readlink("/proc/self/ns/ipc")
    r = cli("create", "--uts", "host", "--hostname", "x", "busybox", "true")
    assert r.returncode == 125 and "Conflicting options: hostname and the UTS mode" in r.err
    r = cli("create", "--ipc", "bogus", "busybox", "true")
    assert r.returncode == 125 and "invalid IPC mode: bogus" in r.err


def test_pid_host_leaves_nothing_behind(cli, busybox_image):
    """Without its own PID namespace, the init's end must still end the whole container."""
    r = run(cli, "--pid", "host", "busybox", "sh", "-c", "sleep 300 & echo $!")
    assert r.returncode == 0, r.err
    pid = int(r.out.strip())
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            alive = f.read().startswith(b"sleep")
    except FileNotFoundError:
        alive = False
    assert not alive


def test_pid_container(cli, busybox_image):
    cli("run", "-d", "--name", "pid-owner", "busybox", "sleep", "300", check=True)
    try:
        r = cli("run", "--rm", "--pid", "container:pid-owner", "busybox", "ps", "-o", "pid,comm")
        assert r.returncode == 0, r.err
        rows = [line.split() for line in r.out.splitlines()[1:]]
        assert ["1", "sleep"] in rows  # the other container's init, as PID 1
        r = cli("run", "--rm", "--pid", "container:nosuch", "busybox", "true")
        assert r.returncode != 0 and "No such container: nosuch" in r.err
    finally:
        cli("rm", "-f", "pid-owner")
    r = cli("run", "--rm", "--pid", "container:pid-owner", "busybox", "true")
    assert r.returncode != 0


def test_ipc_container(cli, busybox_image):
    """--ipc container:NAME as dockerd: the joiner is in the donor's IPC namespace and sees its
    /dev/shm; the donor must be shareable (docker's default, private, is refused) and running;
    create keeps the donor's full id."""
    r = cli("run", "-d", "--name", "ipc-donor", "--ipc", "shareable", "busybox", "sh", "-c",
            "echo from-donor > /dev/shm/note && sleep 300")
    assert r.returncode == 0, r.err
    donor = r.out.strip()
    private = cli("run", "-d", "--name", "ipc-private", "busybox", "sleep", "300", check=True).out.strip()
    joiner = late = ""
    try:
        for _ in range(200):
            if cli("exec", "ipc-donor", "test", "-f", "/dev/shm/note").returncode == 0:
                break
        r = run(cli, "--ipc", "container:ipc-donor", "busybox", "sh", "-c",
                "cat /dev/shm/note && readlink /proc/self/ns/ipc && echo back > /dev/shm/back")
        assert r.returncode == 0, r.err
        note, ns = r.out.split()
        assert note == "from-donor"
        assert ns == cli("exec", "ipc-donor", "readlink", "/proc/self/ns/ipc").out.strip()
        assert cli("exec", "ipc-donor", "cat", "/dev/shm/back").out == "back\n"
        joiner = cli("create", "--ipc", "container:ipc-donor", "busybox", "sleep", "300").out.strip()
        late = cli("create", "--ipc", "container:ipc-donor", "busybox", "true").out.strip()
        assert _inspect(cli, joiner, ".HostConfig.IpcMode") == f"container:{donor}"
        assert cli("start", joiner).returncode == 0
        # a joiner of a joiner shares the donor's namespace and /dev/shm (docker: its shm path)
        r = run(cli, "--ipc", f"container:{joiner}", "busybox", "cat", "/dev/shm/note")
        assert r.out == "from-donor\n", r.err
        r = run(cli, "--ipc", "container:ipc-private", "busybox", "true")
        assert r.returncode == 125
        assert (f"can't join IPC of container {private}: non-shareable IPC (hint: use "
                "IpcMode:shareable for the donor container)") in r.err
        r = cli("create", "--ipc", "container:nosuch", "busybox", "true")
        assert r.returncode == 125 and "No such container: nosuch" in r.err
        assert cli("kill", "ipc-donor").returncode == 0
        cli("wait", "ipc-donor")
        r = cli("start", late)
        assert r.returncode == 1
        assert f"can't join IPC of container {donor}: container {donor} is not running" in r.err
    finally:
        cli("rm", "-f", "ipc-donor", "ipc-private", *(c for c in (joiner, late) if c))


def test_attach_streams(cli, busybox_image):
    r = run(cli, "-a", "stdout", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert r.out == "out\n" and r.err == ""
    r = run(cli, "-a", "STDERR", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert r.out == "" and r.err == "err\n"
    r = cli("run", "-d", "-a", "stdout", "busybox", "true")
    assert r.returncode == 125 and "Conflicting options: -a and -d" in r.err
    r = cli("run", "-a", "stdfoo", "busybox", "true")
    assert r.returncode == 125 and "valid streams are STDIN, STDOUT and STDERR" in r.err


def test_env_and_label_files_as_docker_parses_them(cli, busybox_image, tmp_path, monkeypatch):
    envf = tmp_path / "env"
    envf.write_bytes(b"\xef\xbb\xbfFIRST=1\n  # comment\n\n   SPACED= keep  \nFROM_HOST\nUNSET_HERE\r\n")
    monkeypatch.setenv("FROM_HOST", "hostval")
    monkeypatch.delenv("UNSET_HERE", raising=False)
    r = cli("run", "--rm", "--env-file", envf, "-e", "FROM_HOST", "busybox", "env",
            env={**os.environ})
    assert r.returncode == 0, r.err
    env = r.out.splitlines()
    assert "FIRST=1" in env and "SPACED= keep  " in env and "FROM_HOST=hostval" in env
    assert not [e for e in env if e.startswith("UNSET_HERE")]
    bad = tmp_path / "bad"
    bad.write_text("A B=1\n")
    r = cli("create", "--env-file", bad, "busybox", "true")
    assert r.returncode == 125
    assert "poorly formatted environment: variable 'A B' contains whitespaces" in r.err
    labels = tmp_path / "labels"
    labels.write_text("# labels\ncom.example.a=1\ncom.example.b=two words\nbare\n")
    r = cli("create", "--label-file", labels, "--label", "com.example.a=override", "busybox", "true")
    assert r.returncode == 0, r.err
    cid = r.out.strip()
    try:
        got = _inspect(cli, cid, ".Config.Labels")
        assert got["com.example.a"] == "override" and got["com.example.b"] == "two words"
        assert "bare" not in got
    finally:
        cli("rm", cid)


def test_pull_policy_and_platform(cli, busybox_image):
    r = cli("run", "--rm", "--pull", "never", "nosuchimage-local:1", "true")
    assert r.returncode == 125
    assert "Unable to find image" not in r.err and "nosuchimage-local" in r.err
    r = cli("run", "--rm", "--pull", "sometimes", "busybox", "true")
    assert r.returncode == 125
    assert "invalid pull option: 'sometimes': must be one of \"always\", \"missing\" or \"never\"" in r.err
    r = cli("run", "--rm", "--pull", "never", "busybox", "true")
    assert r.returncode == 0, r.err
    r = cli("run", "--rm", "--platform", "linux/arm64", "busybox", "true")
    assert r.returncode == 125 and "linux/arm64" in r.err


def test_sdk_run_flags(client, busybox_image):
    out = client.containers.run("busybox", ["sh", "-c", "ulimit -n; cat /proc/self/oom_score_adj"],
                                ulimits=[{"Name": "nofile", "Soft": 256, "Hard": 512}],
                                oom_score_adj=100, shm_size="16m", remove=True)
    assert out.split() == [b"256", b"100"]
