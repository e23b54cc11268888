"""The parsing and merging behind healthchecks, log drivers and the kernel-side run flags, as
docker's rules state them (no kernel needed here; the integration tests run them for real)."""

from __future__ import annotations

import pytest

from layerbox.container import health, hostopts, logdriver, logs
from layerbox.container.process import read_env_file, read_label_file
from layerbox.errors import InvalidArgument


def test_health_from_cli_options_and_merge_with_the_image():
    own = health.from_options({"health_cmd": "curl -f localhost", "health_interval": "1m30s",
                               "health_retries": 5})
    assert own == {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 90 * 10**9,
                   "Timeout": 0, "StartPeriod": 0, "Retries": 5}
    image = {"Test": ["CMD", "true"], "Interval": 10**9, "Timeout": 2 * 10**9, "Retries": 2}
    merged = health.merge(image, health.from_options({"health_retries": 9}))
    assert merged == {"Test": ["CMD", "true"], "Interval": 10**9, "Timeout": 2 * 10**9,
                      "StartPeriod": 0, "Retries": 9}
    # moby's merge fills the other fields from the image even under NONE
    assert health.merge(image, health.from_options({"no_healthcheck": True})) == dict(image, Test=["NONE"])
    assert health.merge(image, None) == image
    assert health.from_options({}) is None


def test_health_from_the_sdk():
    assert health.from_options({"healthcheck": {"test": "exit 0", "interval": 10**9}}) == {
        "Test": ["CMD-SHELL", "exit 0"], "Interval": 10**9}
    assert health.from_options({"healthcheck": {"Test": ["CMD", "x"], "StartPeriod": 5 * 10**6}})[
        "StartPeriod"] == 5 * 10**6
    with pytest.raises(InvalidArgument, match="unknown key"):
        health.from_options({"healthcheck": {"bogus": 1}})


@pytest.mark.parametrize("opts, message", [
    ({"no_healthcheck": True, "health_retries": 1}, "--no-healthcheck conflicts with --health-* options"),
    ({"health_timeout": "-1s"}, "--health-timeout cannot be negative"),
    ({"health_start_period": "500us"}, "StartPeriod in Healthcheck cannot be less than 1ms"),
    ({"health_interval": "5"}, 'time: missing unit in duration "5"'),
    ({"healthcheck": {"test": ["SOMETIMES", "x"]}}, "unknown healthcheck type"),
])
def test_health_refusals(opts, message):
    with pytest.raises(InvalidArgument, match=message.replace("*", r"\*")):
        health.from_options(opts)


def test_probe_argv_uses_the_shell():
    assert health.probe_argv({"Test": ["CMD-SHELL", "a && b"]}, None) == ["/bin/sh", "-c", "a && b"]
    assert health.probe_argv({"Test": ["CMD-SHELL", "x"]}, ["/bin/bash", "-ec"]) == ["/bin/bash", "-ec", "x"]
    assert health.probe_argv({"Test": ["CMD", "a", "b"]}, None) == ["a", "b"]


def test_log_config_and_what_the_monitor_is_told():
    assert logdriver.log_config(None, ()) == {"Type": "json-file", "Config": {}}
    lc = logdriver.log_config("json-file", ["max-size=10m", "max-file=3"])
    cfg = {"HostConfig": {"LogConfig": lc}}
    assert logdriver.monitor_part(cfg) == {"log_format": "json", "log_max_size": 10_000_000,
                                           "log_max_file": 3}
    local = {"HostConfig": {"LogConfig": logdriver.log_config("local", ())}}
    assert logdriver.monitor_part(local) == {"log_format": "json", "log_max_size": 20_000_000,
                                             "log_max_file": 5}
    # a container made before LogConfig keeps its CRI log
    assert logdriver.monitor_part({"HostConfig": {}}) == {"log_format": "cri"}
    assert logdriver.log_config("local", {"compress": "false"})["Config"] == {"compress": "false"}
    with pytest.raises(InvalidArgument, match="invalid key value pair"):
        logdriver.log_config(None, ["max-size"])
    with pytest.raises(InvalidArgument, match="log-opt tag is not supported"):
        logdriver.log_config(None, ["tag=x"])


def test_both_log_formats_parse():
    assert logs._parse(b'{"log":"a \\u003cb\\u003e\\n","stream":"stderr","time":"2026-01-01T00:00:00.5Z"}',
                       "json") == ("2026-01-01T00:00:00.5Z", "stderr", b"a <b>\n", False)
    assert logs._parse(b'{"log":"part","stream":"stdout","time":"t"}', "json")[3] is True
    assert logs._parse(b"2026-01-01T00:00:00.000000001Z stdout F x y", "cri") == (
        "2026-01-01T00:00:00.000000001Z", "stdout", b"x y\n", False)
    assert logs._parse(b"not a record", "json") is None
    assert logs.fixed_time("2026-01-01T00:00:00.5Z") == "2026-01-01T00:00:00.500000000Z"
    assert logs.fixed_time("2026-01-01T00:00:00Z") == "2026-01-01T00:00:00.000000000Z"


def test_ulimits_sysctls_and_namespace_modes():
    assert hostopts.parse_ulimit("nofile=1024:2048") == {"Name": "nofile", "Soft": 1024, "Hard": 2048}
    assert hostopts.parse_ulimit({"Name": "core", "Soft": -1, "Hard": -1})["Soft"] == -1
    part = hostopts.plan_part({"HostConfig": {"Ulimits": [{"Name": "core", "Soft": -1, "Hard": -1}],
                                              "OomScoreAdj": 10, "Sysctls": {"net.a": "1"}}},
                              lambda ref, kind: "")
    assert part == {"rlimits": [[4, (1 << 64) - 1, (1 << 64) - 1]], "oom_score_adj": 10,
                    "sysctl": {"net.a": "1"}}
    hostopts.check_sysctl("fs.mqueue.msg_max", {"IpcMode": "private"})
    with pytest.raises(InvalidArgument, match="host IPC namespace"):
        hostopts.check_sysctl("kernel.shmmax", {"IpcMode": "host"})
    with pytest.raises(InvalidArgument, match="not in a separate kernel namespace"):
        hostopts.check_sysctl("vm.swappiness", {})
    hc = hostopts.host_config({"ipc_mode": "host", "uts_mode": "host", "pid_mode": "host"}, "bridge")
    assert hostopts.namespaces_shared(hc) == {"pid", "ipc", "uts"}
    assert hostopts.host_config({}, "bridge")["IpcMode"] == "private"
    hc = hostopts.host_config({"ipc_mode": "container:x"}, "bridge")
    assert hc["IpcMode"] == "container:x" and hostopts.namespaces_shared(hc) == {"ipc"}
    # the joiner's /dev/shm: the donor's, cloned from inside its mount namespace
    part = {"join_namespaces": [["ipc", "/proc/42/ns/ipc"]]}
    assert hostopts.shm_source(hc, part) == "/proc/42/ns/mnt"
    assert hostopts.shm_mount({"kind": "fs", "target": "/dev/shm"}, hc, "/proc/42/ns/mnt") == {
        "kind": "bind", "target": "/dev/shm", "source": "/dev/shm", "source_mntns": "/proc/42/ns/mnt",
        "recursive": False, "nosuid": True, "nodev": True, "noexec": True}
    assert hostopts.namespaces_shared(hostopts.host_config({"pid_mode": "container:x"}, "bridge")) == {"pid"}
    shm = hostopts.shm_mount({"kind": "fs", "target": "/dev/shm", "data": [["mode", "1777"],
                                                                          ["size", "65536k"]]},
                             {"ShmSize": 8 << 20}, "")
    assert shm["data"] == [["mode", "1777"], ["size", "8192k"]]


def test_env_and_label_files(tmp_path, monkeypatch):
    f = tmp_path / "f"
    f.write_bytes(b"\xef\xbb\xbfA=1\n\t# c\n  B = x\n")
    with pytest.raises(InvalidArgument, match="variable 'B ' contains whitespaces"):
        read_env_file(str(f))
    f.write_bytes(b"A=1\n =x\n")
    with pytest.raises(InvalidArgument, match="no variable name on line '=x'"):
        read_env_file(str(f))
    monkeypatch.setenv("FROM_HOST", "h")
    f.write_bytes(b"A= spaced \r\nFROM_HOST\nMISSING_ONE\n")
    assert read_env_file(str(f)) == ["A= spaced ", "FROM_HOST=h"]
    assert read_label_file(str(f)) == ["A= spaced "]
