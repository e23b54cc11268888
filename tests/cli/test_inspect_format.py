"""inspect, ps, version, info, top, system df and build as scripts read them: docker's keys
(null where docker has null), Go templates on every --format, docker's columns and lines."""

from __future__ import annotations

import json
import re

import pytest

privileged = pytest.mark.privileged


@pytest.fixture
def web(cli, busybox_image):
    cid = cli("run", "-d", "--name", "insp-web", "-l", "com.example.role=db", "-l", "tier=back",
              "busybox", "sh", "-c", "sleep 60", check=True).out.strip()
    yield cid
    cli("rm", "-f", cid)


@privileged
def test_image_inspect_keeps_dockers_keys(cli, busybox_image):
    doc = json.loads(cli("image", "inspect", "busybox", check=True).out)[0]
    for key in ("Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "Container",
                "ContainerConfig", "DockerVersion", "Author", "Config", "Architecture", "Os",
                "Size", "VirtualSize", "GraphDriver", "RootFS", "Metadata"):
        assert key in doc, key
    cfg = doc["Config"]
    # an imported image: every key docker shows, null where docker's is
    for key in ("Cmd", "Env", "Entrypoint", "OnBuild", "Labels", "Volumes"):
        assert key in cfg and cfg[key] is None, key
    assert cfg["WorkingDir"] == "" and cfg["User"] == "" and cfg["Tty"] is False
    assert doc["VirtualSize"] == doc["Size"] > 0
    assert "LowerDir" not in doc["GraphDriver"]["Data"]  # one layer: no lower ones, as docker
    r = cli("image", "inspect", "-f", "{{.Config.Cmd}}|{{.Config.Env}}|{{json .Config.Cmd}}|"
            "{{.Config.Labels}}|{{.Config.Healthcheck}}|{{len .RootFS.Layers}}", "busybox", check=True)
    assert r.out == "[]|[]|null|map[]|<nil>|1\n"


@privileged
def test_container_inspect_host_config_and_templates(cli, web):
    doc = json.loads(cli("inspect", web, check=True).out)[0]
    host = doc["HostConfig"]
    for key, want in (("ShmSize", 67108864), ("Runtime", "runc"), ("ExtraHosts", None),
                      ("LogConfig", {"Type": "json-file", "Config": {}}), ("PortBindings", {}),
                      ("ConsoleSize", [0, 0]), ("OomScoreAdj", 0), ("Ulimits", None),
                      ("VolumesFrom", None), ("IpcMode", "private"), ("ContainerIDFile", "")):
        assert host[key] == want, key
    assert "MaskedPaths" in host and "ReadonlyPaths" in host
    assert doc["Config"]["OnBuild"] is None
    assert doc["Config"]["Labels"] == {"com.example.role": "db", "tier": "back"}
    r = cli("inspect", "-f", '{{.State.Status}} {{index .Config.Labels "tier"}} {{.Config.Labels.nope}} '
            '{{range $k, $v := .Config.Labels}}{{$k}}={{$v}},{{end}} {{.State.Health}} '
            '{{join .Config.Cmd " "}} {{upper .State.Status | printf "%.3s"}} {{.HostConfig.ShmSize}}', web,
            check=True)
    assert r.out == "running back <no value> com.example.role=db,tier=back, <nil> sh -c sleep 60 RUN 67108864\n"
    r = cli("inspect", "-s", "-f", "{{.SizeRw}} {{gt .SizeRootFs .SizeRw}}", web, check=True)
    assert re.fullmatch(r"\d+ true\n", r.out), r.out
    assert "SizeRw" not in cli("inspect", web, check=True).out
    r = cli("inspect", "-f", "{{.Nope}}", web)
    assert r.returncode == 1 and 'map has no entry for key "Nope"' in r.err and not r.out


@privileged
def test_ps_name_regex_command_quoting_json_and_size(cli, web):
    ex = cli("run", "--name", "insp-ex", "busybox", "sh", "-c", "exit 3")
    assert ex.returncode == 3
    try:
        out = cli("ps", "-a", "--filter", "name=^insp-", "--format", "{{.Names}}", check=True).out.split()
        assert sorted(out) == ["insp-ex", "insp-web"]
        assert cli("ps", "-a", "--filter", "name=^insp-web$", "-q", check=True).out.strip() == web[:12]
        assert cli("ps", "-a", "--filter", "name=^/insp-ex", "--format", "{{.Names}}", check=True).out == "insp-ex\n"
        assert cli("ps", "-a", "--filter", "name=^web$", "-q", check=True).out == ""
        r = cli("ps", "-a", "--filter", "name=insp-ex", check=True)
        assert "\"sh -c 'exit 3'\"" in r.out
        row = json.loads(cli("ps", "-a", "--filter", "name=insp-web", "--format", "json", check=True).out)
        assert row["Platform"] == {"architecture": "amd64", "os": "linux"} and row["Names"] == "insp-web"
        assert cli("ps", "--filter", "name=insp-web", "--format", "{{.Platform}}", check=True).out == "linux/amd64\n"
        assert row["Command"] == "\"sh -c 'sleep 60'\""
        r = cli("ps", "-a", "--filter", "name=insp-web", "--format",
                'table {{.Names}}\t{{.Label "com.example.role"}}\t{{.Label "nope"}}', check=True)
        assert r.out.splitlines() == ["NAMES      ROLE      NOPE", "insp-web   db        "]
        r = cli("ps", "-s", "--filter", "name=insp-web", check=True)
        head, line = r.out.splitlines()
        assert head.split()[-1] == "SIZE" and re.search(r"\d+B \(virtual [\d.]+[kM]B\)$", line), line
        r = cli("ps", "-a", "--format", "{{.Nope}}")
        assert r.returncode == 1 and ("can't evaluate field Nope in type *formatter.ContainerContext" in r.err)
    finally:
        cli("rm", "-f", "insp-ex")


@privileged
def test_version_and_info(cli, busybox_image):
    r = cli("version", check=True)
    assert r.out.startswith("Client:\n Version:") and "\nServer: " in r.out and " Engine:\n" in r.out
    v = cli("version", "--format", "{{.Server.Version}}", check=True).out.strip()
    assert v and v == cli("version", "--format", "{{.Client.Version}}", check=True).out.strip()
    server = json.loads(cli("version", "--format", "json", check=True).out)["Server"]
    # the versions `system service` answers (docker 25+ says minimum 1.24 too)
    assert (server["ApiVersion"], server["MinAPIVersion"]) == ("1.44", "1.24")
    r = cli("version", "--format", "{{.Nope}}")
    assert r.returncode == 1 and "can't evaluate field Nope in type system.versionInfo" in r.err
    info = json.loads(cli("info", "--format", "{{json .}}", check=True).out)
    for key in ("MemTotal", "NCPU", "CgroupDriver", "CgroupVersion", "Driver", "DockerRootDir",
                "KernelVersion", "OperatingSystem", "OSType", "Architecture", "ServerVersion",
                "Containers", "ContainersRunning", "Images", "LoggingDriver", "Name", "ID"):
        assert key in info, key
    assert info["MemTotal"] > 0 and info["NCPU"] >= 1 and info["CgroupDriver"] == "cgroupfs"
    assert info["CgroupVersion"] in ("1", "2") and info["DockerRootDir"] == cli.root
    assert cli("info", "--format", "{{.NCPU}}", check=True).out.strip() == str(info["NCPU"])
    text = cli("info", check=True).out
    assert "\nServer:\n Containers: " in text and "\n Total Memory: " in text and "\n Cgroup Driver: cgroupfs" in text


@privileged
def test_top_passes_ps_options(cli, web):
    r = cli("top", web, check=True)
    assert r.out.split()[:3] == ["UID", "PID", "PPID"] and "sleep 60" in r.out
    r = cli("top", web, "-o", "pid,comm", check=True)
    lines = r.out.splitlines()
    assert lines[0].split() == ["PID", "COMMAND"]
    assert sorted(line.split()[1] for line in lines[1:]) == ["sh", "sleep"] or \
        [line.split()[1] for line in lines[1:]] == ["sleep"]  # sh may exec sleep
    r = cli("top", web, "aux", check=True)
    assert r.out.split()[:2] == ["USER", "PID"] and "%CPU" in r.out.splitlines()[0]
    r = cli("top", web, "-o", "user=PID")
    assert r.returncode == 1 and 'specifying "user=PID" is not allowed' in r.err


@privileged
def test_system_df_build_cache_row_and_build_context_line(cli, busybox_image, tmp_path):
    r = cli("system", "df", check=True)
    rows = [line.split()[0:2] for line in r.out.splitlines()]
    assert rows[0] == ["TYPE", "TOTAL"] and ["Build", "Cache"] in rows
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY a /a\n")
    (tmp_path / "a").write_bytes(b"x" * 3000)
    (tmp_path / ".dockerignore").write_text("ignored\n")
    (tmp_path / "ignored").write_bytes(b"y" * 100000)
    r = cli("build", "-t", "insp-ctx", str(tmp_path), check=True)
    try:
        # the tar of Dockerfile, a and .dockerignore: 3 headers, 512 + 3072 + 512 bytes, 1024 end
        assert r.out.startswith("Sending build context to Docker daemon  6.656kB\nStep 1/2 : FROM busybox\n")
        assert "Sending build context" not in cli("build", "-q", str(tmp_path), check=True).out
    finally:
        cli("rmi", "insp-ctx")


@privileged
def test_load_draws_layer_lines_on_a_terminal_only(cli, busybox_image, tmp_path, store2):
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import termios

    tar = tmp_path / "bb.tar"
    cli("save", "-o", tar, "busybox", check=True)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    p = store2.popen("load", "-i", tar, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    chunks = []
    while True:
        try:
            b = os.read(master, 65536)
        except OSError:
            break
        if not b:
            break
        chunks.append(b)
    os.close(master)
    assert p.wait(timeout=120) == 0, p.stderr.read()
    p.stderr.close()
    out = b"".join(chunks).decode()
    assert re.search(r"[0-9a-f]{12}: Loading layer \[=+>\] +[\d.]+[kM]B/[\d.]+[kM]B", out), out
    assert out.rstrip().endswith("Loaded image: busybox:latest")
    # not a terminal: only what was loaded
    assert store2("load", "-i", tar, check=True).out == "Loaded image: busybox:latest\n"
