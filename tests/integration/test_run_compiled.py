"""The compiled `run` (csrc/launcher/run_fast.cpp): a command line the Python path ran runs again
from the template it left (container/runtemplate.py), without the interpreter, and gives what
the Python path gives; whatever changed since, or is not a plain case, goes to Python."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

pytestmark = pytest.mark.privileged

# The launcher cannot start Python with this (nor python3 from PATH, its fallback): a command
# that still works never needed it.
NO_PYTHON = {"LAYERBOX_PYTHON": "/nonexistent/python3", "PATH": "/nonexistent"}


def templates(cli) -> list:
    d = os.path.join(cli.root, "run-templates")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def test_a_second_run_needs_no_interpreter_and_gives_the_same(cli, busybox_image):
    args = ["run", "--rm", "--network", "none", "-e", "A=1", "-w", "/etc", "busybox",
            "sh", "-c", "echo out $A $(pwd) $(hostname | wc -c); echo err >&2; exit 7"]
    slow = cli(*args)
    fast = cli(*args, env=NO_PYTHON)
    assert slow.returncode == fast.returncode == 7, (slow.err, fast.err)
    assert slow.out == fast.out == "out 1 /etc 13\n"
    assert slow.err == fast.err == "err\n"


def test_stdin_with_i(cli, busybox_image):
    args = ["run", "-i", "--rm", "--network", "none", "busybox", "cat"]
    assert cli(*args, input=b"one\n").out == "one\n"
    r = cli(*args, input=b"two\n", env=NO_PYTHON)
    assert (r.returncode, r.out) == (0, "two\n"), r.err


def test_the_container_is_the_one_python_makes(cli, busybox_image):
    args = ["run", "-d", "--network", "none", "-l", "k=v", "--stop-signal", "USR1", "busybox",
            "sleep", "30"]
    first = cli(*args, check=True).out.strip()
    t0 = time.time()
    second = cli(*args, env=NO_PYTHON, check=True).out.strip()
    try:
        assert len(second) == 64 and second != first
        a, b = (json.loads(cli("inspect", c, check=True).out)[0] for c in (first, second))
        assert b["Name"] != a["Name"] and b["Name"].count("_") >= 1
        assert b["Config"]["Hostname"] == second[:12]

        def same(d, cid):
            text = json.dumps(d).replace(cid, "ID").replace(cid[:12], "SHORT")
            d = json.loads(text)
            for k in ("Created", "Name"):
                d.pop(k)
            for k in ("Pid", "StartedAt"):
                d["State"].pop(k)
            d["NetworkSettings"].pop("SandboxKey", None)
            return d

        assert same(a, first) == same(b, second)
        assert cli("exec", second, "cat", "/etc/hostname", check=True).out == second[:12] + "\n"
        names = cli("ps", "--format", "{{.ID}} {{.Names}}", check=True).out
        assert f"{second[:12]} {b['Name'][1:]}" in names
        ev = cli("events", "--since", str(int(t0) - 1), "--until", str(int(time.time()) + 1),
                 "--filter", f"container={second}", "--format", "{{.Action}} {{.Actor.Attributes.name}}")
        assert ev.out.splitlines()[:2] == [f"create {b['Name'][1:]}", f"start {b['Name'][1:]}"]
    finally:
        cli("rm", "-f", first, second)


def test_a_retagged_image_is_the_one_run(cli, busybox_image):
    made = []
    for word in ("first", "second"):
        cid = cli("create", "--network", "none", "busybox", "sh", "-c", f"echo {word} > /marker",
                  check=True).out.strip()
        cli("start", "-a", cid, check=True)
        made.append(cli("commit", cid, f"compiled-run-{word}", check=True).out.strip())
        cli("rm", cid, check=True)
    try:
        cli("tag", "compiled-run-first", "compiled-run:latest", check=True)
        args = ["run", "--rm", "--network", "none", "compiled-run", "cat", "/marker"]
        assert cli(*args, check=True).out == "first\n"
        assert cli(*args, env=NO_PYTHON, check=True).out == "first\n"
        cli("tag", "compiled-run-second", "compiled-run:latest", check=True)
        # The template's image is not the tag's any more: Python runs (and cannot here).
        assert cli(*args, env=NO_PYTHON).returncode != 0
        assert cli(*args, check=True).out == "second\n"
        assert cli(*args, env=NO_PYTHON, check=True).out == "second\n"
    finally:
        cli("rmi", "-f", "compiled-run:latest", "compiled-run-first", "compiled-run-second")


def test_a_name_in_use_is_pythons_conflict_and_leaves_nothing(cli, busybox_image):
    args = ["run", "-d", "--name", "compiled-run-named", "--network", "none", "busybox", "sleep", "30"]
    cid = cli(*args, check=True).out.strip()
    try:
        before = sorted(os.listdir(os.path.join(cli.root, "containers")))
        r = cli(*args)
        assert r.returncode == 125
        assert 'The container name "/compiled-run-named" is already in use' in r.err
        assert sorted(os.listdir(os.path.join(cli.root, "containers"))) == before
        assert not [n for n in os.listdir(os.path.join(cli.root, "tmp")) if n.startswith("create-")]
        assert os.readlink(os.path.join(cli.root, "names", "compiled-run-named")) == cid
    finally:
        cli("rm", "-f", cid)
    # Free again: the template runs it, without Python.
    cid = cli(*args, env=NO_PYTHON, check=True).out.strip()
    cli("rm", "-f", cid, check=True)


@pytest.mark.parametrize("extra", [
    ["-t"],                        # the terminal's size is the caller's
    ["-e", "FROM_CALLER"],         # the caller's environment
    ["--network", "host"],         # only --network none and the default bridge have templates
    ["--network", "bridge", "-p", "80"],  # a host port the engine chooses, anew at each run
    ["--env-file", "/dev/null"],   # a file read at each run
    ["--add-host", "h:10.9.8.7"],  # an option outside runtemplate.PURE
])
def test_what_depends_on_more_than_the_command_line_leaves_no_template(cli, busybox_image, extra):
    before = templates(cli)
    args = ["run", "--rm", *extra, "busybox", "true"]
    if "--network" not in extra:
        args[2:2] = ["--network", "none"]
    assert cli(*args, env={"FROM_CALLER": "x"}).returncode == 0
    assert templates(cli) == before
    assert cli(*args, env={**NO_PYTHON, "FROM_CALLER": "x"}).returncode != 0


def test_fault_injection_and_opt_out_take_the_python_path(cli, busybox_image):
    args = ["run", "--rm", "--network", "none", "busybox", "true"]
    cli(*args, check=True)
    assert cli(*args, env=NO_PYTHON).returncode == 0
    for var in ("LAYERBOX_NO_RUN_TEMPLATE", "LAYERBOX_FAULT"):
        r = cli(*args, env={**NO_PYTHON, var: "1" if var != "LAYERBOX_FAULT" else "none-such-point"})
        assert r.returncode != 0 and "cannot run the Python interpreter" in r.err


def _claims(cli) -> dict:
    """The default bridge's address claims: address -> claim target."""
    nets = os.path.join(cli.root, "networks")
    out = {}
    for nid in os.listdir(nets) if os.path.isdir(nets) else ():
        d = os.path.join(nets, nid, "ips")
        for ip in os.listdir(d) if os.path.isdir(d) else ():
            out[ip] = os.readlink(os.path.join(d, ip))
    return out


def _no_claims_left(cli) -> None:
    """The monitors give their claims up after they report the exit: wait (bounded) for it."""
    deadline = time.time() + 10
    while _claims(cli) and time.time() < deadline:
        time.sleep(0.05)
    assert _claims(cli) == {}


def _own_address(out: str) -> tuple[str, str, str]:
    """(the address in /etc/hosts for the hostname, eth0's MAC, the hostname) from PROBE."""
    host, hosts_line, mac = out.split("\n")[:3]
    ip, name = hosts_line.split("\t")
    assert name == host
    return ip, mac, host


PROBE = 'hostname; grep "$(hostname)" /etc/hosts; cat /sys/class/net/eth0/address'


def test_a_bridge_run_gets_an_address_of_its_own_without_the_interpreter(cli, busybox_image):
    args = ["run", "--rm", "busybox", "sh", "-c", PROBE]
    slow = cli(*args, check=True)
    fast = cli(*args, env=NO_PYTHON)
    assert fast.returncode == 0, fast.err
    ips = []
    for r in (slow, fast):
        ip, mac, host = _own_address(r.out)
        assert mac == "02:42:" + ":".join("%02x" % int(b) for b in ip.split("."))
        assert len(host) == 12
        ips.append(ip)
    # the next address after the last one given, as the Python path's cursor
    a, b = (int.from_bytes(bytes(map(int, ip.split("."))), "big") for ip in ips)
    assert b == a + 1, ips
    _no_claims_left(cli)


def test_bridge_containers_from_the_template_are_what_python_makes(cli, busybox_image):
    args = ["run", "-d", "busybox", "sleep", "30"]
    made = [cli(*args, check=True).out.strip()]
    try:
        for _ in range(2):
            r = cli(*args, env=NO_PYTHON)
            assert r.returncode == 0, r.err
            made.append(r.out.strip())
        docs = [json.loads(cli("inspect", c, check=True).out)[0] for c in made]
        ips = [d["NetworkSettings"]["IPAddress"] for d in docs]
        assert len(set(ips)) == 3, ips
        claims = _claims(cli)
        for cid, d in zip(made, docs):
            ns = d["NetworkSettings"]
            ep = ns["Networks"]["bridge"]
            ip = ns["IPAddress"]
            assert ep["IPAddress"] == ip and ep["MacAddress"] == ns["MacAddress"]
            assert ns["MacAddress"] == "02:42:" + ":".join("%02x" % int(b) for b in ip.split("."))
            assert ep["EndpointID"].startswith(cid[:32]) and ep["EndpointID"] == ns["EndpointID"]
            assert ep["Gateway"] == docs[0]["NetworkSettings"]["Gateway"]
            assert ip in claims
            # the container has that address on its eth0, and its name on it in /etc/hosts
            out = cli("exec", cid, "sh", "-c", PROBE, check=True).out
            assert _own_address(out) == (ip, ns["MacAddress"], cid[:12])
            route = cli("exec", cid, "ip", "route", check=True).out
            assert f"default via {ep['Gateway']}" in route
    finally:
        cli("rm", "-f", *made)
    _no_claims_left(cli)


def test_a_claim_left_by_a_removed_container_is_taken_over(cli, busybox_image):
    args = ["run", "--rm", "busybox", "sh", "-c", PROBE]
    first, _, _ = _own_address(cli(*args, check=True).out)
    nets = os.path.join(cli.root, "networks")
    nid = next(n for n in os.listdir(nets) if os.path.isdir(os.path.join(nets, n, "ips")))
    ips = os.path.join(nets, nid, "ips")
    # Claims of the next two addresses: a container that no longer exists (a crash's leftover)
    # and one that exists (the Python path's finer check decides; the launcher passes it by).
    a = list(map(int, first.split(".")))
    nxt = [".".join(map(str, a[:3] + [a[3] + k])) for k in (1, 2)]
    gone = "0" * 63 + "1"
    keep = cli("create", "--network", "none", "busybox", "true", check=True).out.strip()
    try:
        os.symlink(gone, os.path.join(ips, nxt[0]))
        os.symlink(keep, os.path.join(ips, nxt[1]))
        ip, _, _ = _own_address(cli(*args, env=NO_PYTHON, check=True).out)
        assert ip == nxt[0]
        assert os.readlink(os.path.join(ips, nxt[1])) == keep
    finally:
        for n in nxt:
            try:
                os.unlink(os.path.join(ips, n))
            except FileNotFoundError:
                pass
        cli("rm", "-f", keep)


def _answer(port: int) -> bytes:
    """What a published port on 127.0.0.1 answers (bounded: 50 tries of 2 s at most)."""
    last = None
    for _ in range(50):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.settimeout(2)
                data = s.recv(100)
                if data:
                    return data
        except OSError as e:
            last = e
        time.sleep(0.1)
    raise AssertionError(f"no answer from 127.0.0.1:{port}: {last}")


def test_a_published_port_from_the_template(cli, busybox_image):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    args = ["run", "-d", "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c",
            "hostname | nc -l -p 80"]
    taken = ["run", "--rm", "-p", f"127.0.0.1:{port}:80", "busybox", "true"]
    made = [cli(*args, check=True).out.strip()]
    try:
        assert _answer(port).decode().strip() == made[0][:12]
        cli("rm", "-f", made[0], check=True)
        cli(*taken, check=True)  # (its template, for below)
        r = cli(*args, env=NO_PYTHON)
        assert r.returncode == 0, r.err
        made.append(r.out.strip())
        doc = json.loads(cli("inspect", made[1], check=True).out)[0]
        assert doc["NetworkSettings"]["Ports"]["80/tcp"] == [
            {"HostIp": "127.0.0.1", "HostPort": str(port)}]
        # The port is taken: the monitor's error, as the Python path words it; --rm leaves
        # nothing.
        before = sorted(os.listdir(os.path.join(cli.root, "containers")))
        r = cli(*taken, env=NO_PYTHON)
        assert r.returncode == 125 and "port is already allocated" in r.err, r.err
        assert sorted(os.listdir(os.path.join(cli.root, "containers"))) == before
        assert _answer(port).decode().strip() == made[1][:12]
    finally:
        cli("rm", "-f", *made)
    _no_claims_left(cli)


def test_what_a_killed_process_left_is_pythons_to_reclaim(cli, busybox_image):
    # A staging dir whose owner is gone (pid 999999 never had that start time): the launcher
    # does not reclaim (store/heal.py is the one place that knows how); it hands the command
    # line to Python, which reclaims at its first lock, and runs from the template after.
    args = ["run", "--rm", "--network", "none", "busybox", "true"]
    cli(*args, check=True)
    left = os.path.join(cli.root, "tmp", "create-999999-1-" + "ab" * 32)
    os.makedirs(os.path.join(left, "upper"))
    r = cli(*args, env=NO_PYTHON)
    assert r.returncode != 0 and "cannot run the Python interpreter" in r.err
    assert os.path.isdir(left)
    cli(*args, check=True)
    assert not os.path.exists(left)
    assert cli(*args, env=NO_PYTHON).returncode == 0
