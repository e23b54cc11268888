"""Bridge networking as docker users know it: the default bridge, published ports, user networks.

Every test runs in the test run's own network namespace (tests/conftest.py), where only lo was
up before layerbox made its bridges: traffic goes only to 127.0.0.1 and to the addresses of the
containers the test started, every client is bounded in attempts and time, and after each test
no veth, user bridge or published-port rule of a removed container or network is left.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import network_leftovers, tool

pytestmark = pytest.mark.privileged


@pytest.fixture(autouse=True)
def _nothing_left(cli, busybox_image):
    tool("nft")
    tool("ip")
    yield
    deadline = time.time() + 5
    while True:
        left = {k: v for k, v in network_leftovers().items() if v}
        # Every test removes its user networks: their resolver goes with the last one.
        r = subprocess.run(["pgrep", "-f", f"aardvark-dns --config {cli.root}/"],
                           capture_output=True, text=True)
        if r.stdout.split():
            left["aardvark-dns"] = r.stdout.split()
        if not left or time.time() > deadline:
            break
        time.sleep(0.1)
    assert not left, f"left behind: {left}"


def _inspect(cli, name) -> dict:
    r = cli("inspect", name, check=True)
    return json.loads(r.out)[0]


def _gateway(cli) -> str:
    r = cli("network", "inspect", "bridge", check=True)
    return json.loads(r.out)[0]["IPAM"]["Config"][0]["Gateway"]


def _read_from(addr: tuple, request: bytes = b"", attempts: int = 50) -> bytes:
    """Connects to `addr` (a few tries while the container's server starts), sends `request`,
    reads to the end; at most `attempts` tries of at most 2 s each."""
    last = None
    for _ in range(attempts):
        try:
            with socket.create_connection(addr, timeout=2) as s:
                s.settimeout(2)
                if request:
                    s.sendall(request)
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if data:
                    return data
        except OSError as e:
            last = e
        time.sleep(0.1)
    raise AssertionError(f"no answer from {addr}: {last}")


def _httpd(cli, *args, name="web", text="hello from the container\n"):
    """A detached busybox httpd on port 80 serving `text` at /index.html."""
    script = f"mkdir -p /www && printf '{text}' > /www/index.html && exec httpd -f -p 80 -h /www"
    r = cli("run", "-d", "--name", name, *args, "busybox", "sh", "-c", script, check=True)
    return r.out.strip()


def _get(addr) -> str:
    return _read_from(addr, b"GET /index.html HTTP/1.0\r\n\r\n").decode()


def _get_from_container(cli, addr: str, port: int, *args, wait: int = 5):
    """An HTTP GET from a new container on the network `args` select (busybox nc: its wget
    crashes in static glibc's resolver); `wait` bounds the connection in seconds."""
    script = f"printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w {wait} {addr} {port}"
    return cli("run", "--rm", *args, "busybox", "sh", "-c", script, timeout=30)


def test_default_bridge_address_route_hosts_and_resolv(cli):
    r = cli("run", "--rm", "--name", "addr", "busybox", "sh", "-c",
            "ip -o -4 addr show eth0; ip route; cat /etc/hosts /etc/resolv.conf; hostname",
            check=True)
    gw = _gateway(cli)
    lines = r.out.splitlines()
    assert any("eth0" in l and "inet 172." in l or "inet 192.168." in l for l in lines), r.out
    assert f"default via {gw} dev eth0" in r.out
    ip = next(l.split()[3].split("/")[0] for l in lines if " inet " in l)
    hostname = lines[-1]
    assert f"{ip}\t{hostname}" in r.out  # /etc/hosts names the container
    assert "nameserver 127." not in r.out  # loopback resolvers are not reachable from there
    assert "nameserver" in r.out


def test_container_reaches_a_server_on_the_gateway(cli):
    gw = _gateway(cli)  # made on first use; the bridge itself comes with the first container
    cli("run", "--rm", "busybox", "true", check=True)
    srv = socket.socket()
    srv.bind((gw, 0))
    srv.listen(1)
    srv.settimeout(20)
    port = srv.getsockname()[1]

    def serve():
        try:
            conn, _ = srv.accept()
            with conn:
                conn.sendall(b"hello from the host\n")
        except OSError:
            pass

    t = threading.Thread(target=serve)
    t.start()
    try:
        r = cli("run", "--rm", "busybox", "nc", "-w", "5", gw, str(port), timeout=30)
    finally:
        t.join(25)
        srv.close()
    assert r.out == "hello from the host\n", r.err


def test_published_tcp_port_on_127_0_0_1_and_the_host_address(cli):
    cid = _httpd(cli, "-p", "127.0.0.1:18080:80", "-p", "18081:80", name="pub-tcp")
    try:
        assert "hello from the container" in _get(("127.0.0.1", 18080))
        assert "hello from the container" in _get(("127.0.0.1", 18081))
        gw = _gateway(cli)  # a host address other than loopback
        assert "hello from the container" in _get((gw, 18081))
        ps = cli("ps", "--format", "{{.Ports}}", "-f", "name=pub-tcp", check=True).out
        assert "127.0.0.1:18080->80/tcp" in ps and "0.0.0.0:18081->80/tcp" in ps
        assert cli("port", "pub-tcp", "80", check=True).out.splitlines() == [
            "127.0.0.1:18080", "0.0.0.0:18081"]
        doc = _inspect(cli, cid)
        ns = doc["NetworkSettings"]
        assert ns["Ports"]["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": "18080"},
                                        {"HostIp": "0.0.0.0", "HostPort": "18081"}]
        assert ns["IPAddress"] and ns["Gateway"] == gw
        assert ns["Networks"]["bridge"]["IPAddress"] == ns["IPAddress"]
        assert ns["MacAddress"].startswith("02:42:")
        # Another container reaches it through the host's address too.
        r = _get_from_container(cli, gw, 18081)
        assert "hello from the container" in r.out, r.err
        # The port is taken: a clear error, nothing started.
        r = cli("run", "--rm", "-p", "18081:80", "busybox", "true")
        assert r.returncode == 125 and "port is already allocated" in r.err, r.err
    finally:
        cli("rm", "-f", cid)
    rules = subprocess.run(["nft", "list", "table", "inet", "layerbox"], capture_output=True,
                           text=True).stdout
    assert "18080" not in rules and "18081" not in rules


def test_host_port_taken_by_a_host_program(cli):
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        r = cli("run", "--rm", "-p", f"{port}:80", "busybox", "true")
    finally:
        s.close()
    assert r.returncode == 125 and f"0.0.0.0:{port}" in r.err and "already allocated" in r.err


def test_published_port_is_free_when_run_returns(cli):
    # As docker: once `run --rm -p` has returned, the host port is free for the next run or
    # for a host program (the monitor's teardown after the exit's report must not hold it).
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    port = s.getsockname()[1]
    s.close()
    for _ in range(5):
        cli("run", "--rm", "-p", f"{port}:80", "busybox", "true", check=True)
        t = socket.socket()
        try:
            t.bind(("0.0.0.0", port))
        finally:
            t.close()


UDP_ECHO = r"""
#include <netinet/in.h>
#include <sys/socket.h>
int main(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(5353);
    if (bind(s, (struct sockaddr*)&a, sizeof a)) return 1;
    for (int i = 0; i < 100; i++) {
        char buf[512];
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        long n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr*)&from, &fl);
        if (n < 0) return 1;
        sendto(s, buf, n, 0, (struct sockaddr*)&from, fl);
    }
    return 0;
}
"""


def test_published_udp_port(cli, tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        tool("gcc")
    (tmp_path / "udpecho.c").write_text(UDP_ECHO)
    subprocess.run([cc, "-static", "-O1", "-o", str(tmp_path / "udpecho"), str(tmp_path / "udpecho.c")],
                   check=True)
    r = cli("run", "-d", "-p", "127.0.0.1::5353/udp", "-v", f"{tmp_path}:/t:ro", "busybox",
            "/t/udpecho", check=True)
    cid = r.out.strip()
    try:
        host = cli("port", cid, "5353/udp", check=True).out.strip()
        ip, port = host.rsplit(":", 1)
        assert ip == "127.0.0.1" and int(port) > 1024  # a random port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.5)
            got = b""
            for _ in range(20):  # the server may not be up yet
                s.sendto(b"ping", (ip, int(port)))
                try:
                    got = s.recv(512)
                    break
                except socket.timeout:
                    continue
        assert got == b"ping"
    finally:
        cli("rm", "-f", cid)


def test_publish_all_with_expose(cli, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nEXPOSE 80\n")
    image = cli("build", "-q", str(ctx), check=True).out.strip()
    try:
        r = cli("run", "-d", "-P", "--expose", "8125/udp", image, "sh", "-c",
                "mkdir /www && echo exposed > /www/index.html && exec httpd -f -p 80 -h /www",
                check=True)
        cid = r.out.strip()
        try:
            ports = _inspect(cli, cid)["NetworkSettings"]["Ports"]
            assert set(ports) == {"80/tcp", "8125/udp"}
            hp = int(ports["80/tcp"][0]["HostPort"])
            assert "exposed" in _get(("127.0.0.1", hp))
            lines = cli("port", cid, check=True).out.splitlines()
            assert f"80/tcp -> 0.0.0.0:{hp}" in lines
        finally:
            cli("rm", "-f", cid)
    finally:
        cli("rmi", "-f", image)


def test_add_host_and_dns_options_in_the_files(cli):
    r = cli("run", "--rm", "--add-host", "db.local:10.1.2.3", "--dns", "192.0.2.53",
            "--dns-search", "example.test", "--dns-option", "ndots:2", "busybox", "sh", "-c",
            "cat /etc/hosts /etc/resolv.conf", check=True)
    assert "10.1.2.3\tdb.local" in r.out
    assert "nameserver 192.0.2.53" in r.out and "search example.test" in r.out
    assert "options ndots:2" in r.out
    r = cli("run", "--rm", "--add-host", "bad", "busybox", "true")
    assert r.returncode == 125 and "bad format for add-host" in r.err


def test_user_networks_reach_each_other_not_across(cli):
    a = cli("network", "create", "--subnet", "10.99.1.0/24", "neta", check=True).out.strip()
    cli("network", "create", "netb", check=True)
    ids = []
    try:
        ids.append(_httpd(cli, "--network", "neta", "--ip", "10.99.1.50", "--network-alias", "db",
                          name="srv-a"))
        ids.append(_httpd(cli, "--network", "netb", name="srv-b"))
        doc = json.loads(cli("network", "inspect", "neta", check=True).out)[0]
        assert doc["Id"] == a and doc["Driver"] == "bridge"
        assert doc["IPAM"]["Config"] == [{"Subnet": "10.99.1.0/24", "Gateway": "10.99.1.1"}]
        assert doc["Containers"][ids[0]]["IPv4Address"] == "10.99.1.50/24"
        ip_b = _inspect(cli, "srv-b")["NetworkSettings"]["Networks"]["netb"]["IPAddress"]
        # Same network: reachable.
        r = _get_from_container(cli, "10.99.1.50", 80, "--network", "neta")
        assert "hello from the container" in r.out, r.err
        # Another network: not reachable (bounded: nc gives up after 2 s).
        r = _get_from_container(cli, ip_b, 80, "--network", "neta", wait=2)
        # Names on a user network: the container's name, its aliases, its short id (busybox's
        # nslookup asks the network's resolver on the gateway; nothing is forwarded anywhere
        # for these names).
        for name in ("srv-a", "db", ids[0][:12]):
            r = cli("run", "--rm", "--network", "neta", "busybox", "nslookup", name, timeout=30)
            assert "10.99.1.50" in r.out, (name, r.out, r.err)
        r = cli("run", "--rm", "--network", "neta", "busybox", "cat", "/etc/resolv.conf", check=True)
        assert r.out.startswith("nameserver 10.99.1.1\n")
        # The default bridge has no name resolution, as docker's.
        r = cli("run", "--rm", "busybox", "cat", "/etc/resolv.conf", check=True)
        assert "nameserver 172." not in r.out
        # In use: refused.
        r = cli("network", "rm", "neta")
        assert r.returncode != 0 and "has active endpoints" in r.err
        names = cli("network", "ls", "--format", "{{.Name}}", check=True).out.split()
        assert {"bridge", "host", "none", "neta", "netb"} <= set(names)
    finally:
        for c in ids:
            cli("rm", "-f", c)
    cli("network", "rm", "neta", "netb", check=True)
    r = cli("network", "inspect", "neta")
    assert r.returncode != 0 and "not found" in r.err
    # The resolver went with the last user network.
    assert subprocess.run(["pgrep", "-f", f"aardvark-dns --config {cli.root}/"],
                          capture_output=True).returncode == 1


def test_killed_monitor_is_cleaned_by_the_next_command(cli):
    cid = cli("run", "-d", "-p", "18090:80", "busybox", "sleep", "60", check=True).out.strip()
    with open(os.path.join(cli.root, "containers", cid, "state.json")) as f:
        st = json.load(f)
    veth = "lbv" + cid[:12]
    assert veth in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    os.kill(st["MonitorPid"], 9)
    os.kill(st["Pid"], 9)
    time.sleep(0.2)
    r = cli("ps", "-a", "--format", "{{.Status}}", "-f", f"id={cid}", check=True)
    assert r.out.startswith("Exited (255)")
    assert veth not in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert "18090" not in subprocess.run(["nft", "list", "ruleset"], capture_output=True,
                                         text=True).stdout
    # The port and the address are free again.
    cid2 = cli("run", "-d", "-p", "18090:80", "busybox", "sleep", "60", check=True).out.strip()
    cli("rm", "-f", cid, cid2, check=True)


def test_a_leftover_veth_of_the_container_does_not_stop_its_start(cli):
    # As a crash between the container's end and its monitor's teardown leaves it: a link of
    # the name this container's host end takes. The start replaces it, and the container's
    # interface is up on the bridge with its address and route.
    cid = cli("create", "busybox", "sh", "-c", "ip -o -4 addr show eth0; ip route; "
              "cat /sys/class/net/eth0/operstate", check=True).out.strip()
    veth = "lbv" + cid[:12]
    subprocess.run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "lbvleftover0"],
                   check=True)
    try:
        r = cli("start", "-a", cid, check=True)
        gw = _gateway(cli)
        assert f"inet {'.'.join(gw.split('.')[:2])}." in r.out and f"default via {gw} " in r.out
        assert r.out.endswith("up\n")
        assert "lbvleftover0" not in _links()  # the leftover went (with its peer)
    finally:
        cli("rm", "-f", cid)
        subprocess.run(["ip", "link", "del", "lbvleftover0"], capture_output=True)


def test_network_none_and_host_stay(cli):
    r = cli("run", "--rm", "--network", "none", "-p", "80", "busybox", "cat", "/proc/net/dev",
            check=True)
    assert [l.split(":")[0].strip() for l in r.out.splitlines()[2:]] == ["lo"]
    r = cli("run", "--rm", "--network", "container:x", "busybox", "true")
    assert r.returncode == 125 and "No such container: x" in r.err


def test_python_api_networks_and_ports(client, busybox_image):
    net = client.networks.create("apinet", ipam={"Config": [{"Subnet": "10.98.0.0/24"}]},
                                 labels={"team": "a"})
    try:
        assert net.name == "apinet" and net.attrs["Labels"] == {"team": "a"}
        assert "apinet" in [n.name for n in client.networks.list()]
        c = client.containers.run("busybox", ["sh", "-c", "mkdir /www && echo api > /www/index.html"
                                              " && exec httpd -f -p 80 -h /www"],
                                  network="apinet", ports={"80/tcp": ("127.0.0.1", 18099)},
                                  detach=True)
        try:
            c.reload()
            assert c.ports == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18099"}]}
            assert "api" in _get(("127.0.0.1", 18099))
            net.reload()
            assert [x.id for x in net.containers] == [c.id]
            ip = c.attrs["NetworkSettings"]["Networks"]["apinet"]["IPAddress"]
            assert ip.startswith("10.98.0.")
        finally:
            c.remove(force=True)
    finally:
        net.remove()
    assert "apinet" not in [n.name for n in client.networks.list()]


def test_network_prune_ls_and_errors(cli):
    cli("network", "create", "--label", "k=v", "--internal", "pruneme", check=True)
    doc = json.loads(cli("network", "inspect", "pruneme", check=True).out)[0]
    assert doc["Internal"] is True and doc["Labels"] == {"k": "v"}
    assert doc["Options"]["com.docker.network.bridge.name"] == "br-" + doc["Id"][:12]
    r = cli("network", "create", "pruneme")
    assert r.returncode != 0 and "already exists" in r.err
    r = cli("network", "create", "--subnet", "10.97.0.1/24", "badnet")
    assert r.returncode != 0 and "host bits set" in r.err
    r = cli("network", "rm", "bridge")
    assert r.returncode != 0 and "pre-defined" in r.err
    assert doc["Id"][:12] in cli("network", "ls", "-q", check=True).out.split()
    r = cli("network", "prune", "-f", check=True)
    assert "pruneme" in r.out
    assert "pruneme" not in cli("network", "ls", check=True).out


def _links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout


def _lookup(cli, name: str, *net) -> str:
    """busybox nslookup from a new container (asks the network's resolver on its gateway)."""
    r = cli("run", "--rm", *net, "busybox", "nslookup", name, timeout=30)
    return r.out


def test_connect_and_disconnect_a_running_container(cli):
    nid = cli("network", "create", "--subnet", "10.96.1.0/24", "netc", check=True).out.strip()
    ids = []
    try:
        ids.append(_httpd(cli, "-p", "127.0.0.1:18100:80", name="app", text="app here\n"))
        app = ids[0]
        ids.append(cli("run", "-d", "--name", "peer", "--network", "netc", "busybox", "sleep", "60",
                       check=True).out.strip())
        r = cli("network", "connect", "--alias", "appalias", "--ip", "10.96.1.77", "netc", "app")
        assert r.returncode == 0 and r.out == "", r.err
        doc = _inspect(cli, "app")["NetworkSettings"]
        assert set(doc["Networks"]) == {"bridge", "netc"}
        assert doc["Networks"]["netc"]["IPAddress"] == "10.96.1.77"
        assert doc["Networks"]["netc"]["NetworkID"] == nid
        assert doc["Networks"]["netc"]["Aliases"] == ["appalias", app[:12]]
        assert doc["IPAddress"] == doc["Networks"]["bridge"]["IPAddress"]  # still the first
        assert ("lbv" + app[:6] + nid[:6]) in _links()
        # Inside: a second interface with the address, the default route unchanged.
        r = cli("exec", "app", "sh", "-c", "ip -o -4 addr show eth1; ip route", check=True)
        assert "10.96.1.77/24" in r.out and "default via" in r.out and "dev eth0" in r.out
        # Reachable on the new network, by address and by its names; the published port stays.
        r = _get_from_container(cli, "10.96.1.77", 80, "--network", "netc")
        assert "app here" in r.out, r.err
        for name in ("app", "appalias"):
            assert "10.96.1.77" in _lookup(cli, name, "--network", "netc"), name
        assert "app here" in _get(("127.0.0.1", 18100))
        doc = json.loads(cli("network", "inspect", "netc", check=True).out)[0]
        assert doc["Containers"][app]["IPv4Address"] == "10.96.1.77/24"
        assert doc["Containers"][app]["Name"] == "app"
        # Twice: docker's error.
        r = cli("network", "connect", "netc", "app")
        assert r.returncode == 1 and "endpoint with name app already exists in network netc" in r.err
        # Disconnect: the link, the address, the name and the inspect entries go.
        cli("network", "disconnect", "netc", "app", check=True)
        assert ("lbv" + app[:6] + nid[:6]) not in _links()
        r = cli("exec", "app", "cat", "/proc/net/dev", check=True)
        assert "eth1" not in r.out and "eth0" in r.out
        assert "10.96.1.77" not in _lookup(cli, "app", "--network", "netc")
        assert set(_inspect(cli, "app")["NetworkSettings"]["Networks"]) == {"bridge"}
        doc = json.loads(cli("network", "inspect", "netc", check=True).out)[0]
        assert app not in doc["Containers"]
        assert "app here" in _get(("127.0.0.1", 18100))
        r = cli("network", "disconnect", "netc", "app")
        assert r.returncode == 1 and "is not connected to network netc" in r.err
        # Disconnected from its first network too: only lo is left, the container runs on.
        cli("network", "disconnect", "bridge", "app", check=True)
        r = cli("exec", "app", "cat", "/proc/net/dev", check=True)
        assert [l.split(":")[0].strip() for l in r.out.splitlines()[2:]] == ["lo"]
        assert _inspect(cli, "app")["NetworkSettings"]["IPAddress"] == ""
    finally:
        cli("rm", "-f", *ids)
    cli("network", "rm", "netc", check=True)


def test_connect_a_stopped_container_applies_at_its_start(cli):
    cli("network", "create", "--subnet", "10.96.2.0/24", "netd", check=True)
    cid = ""
    try:
        cid = cli("create", "--name", "later", "busybox", "sh", "-c",
                  "ip -o -4 addr; cat /etc/hosts /etc/resolv.conf", check=True).out.strip()
        cli("network", "connect", "--alias", "lat", "netd", "later", check=True)
        nets = _inspect(cli, "later")["NetworkSettings"]["Networks"]
        assert set(nets) == {"bridge", "netd"} and nets["netd"]["IPAddress"] == ""
        assert nets["netd"]["Aliases"] == ["lat"]
        r = cli("start", "-a", "later", check=True)
        assert "eth1" in r.out and "10.96.2." in r.out and "eth0" in r.out
        assert "nameserver 10.96.2.1" in r.out  # the user network's resolver
        # Recorded: the next start joins both again; a disconnect while stopped applies too.
        cli("network", "disconnect", "bridge", "later", check=True)
        r = cli("start", "-a", "later", check=True)
        assert "eth0" in r.out and "10.96.2." in r.out and "172." not in r.out
        # docker's refusals for the other network modes.
        r = cli("create", "--network", "host", "busybox", "true", check=True)
        hid = r.out.strip()
        r = cli("network", "connect", "netd", hid)
        assert r.returncode == 1 and "connected to host network" in r.err
        cli("rm", hid)
        nid = cli("create", "--network", "none", "busybox", "true", check=True).out.strip()
        r = cli("network", "connect", "netd", nid)
        assert r.returncode == 1 and "private (none) mode" in r.err
        cli("rm", nid)
        r = cli("network", "connect", "--ip", "10.1.0.5", "netd", "later")
        assert r.returncode == 1 and "does not belong to any of network netd's subnets" in r.err
        r = cli("network", "connect", "nosuchnet", "later")
        assert r.returncode == 1 and "network nosuchnet not found" in r.err
    finally:
        if cid:
            cli("rm", "-f", cid)
    cli("network", "rm", "netd", check=True)


def test_python_api_network_connect_disconnect(client, busybox_image):
    net = client.networks.create("apiconn", ipam={"Config": [{"Subnet": "10.96.3.0/24"}]})
    c = None
    try:
        c = client.containers.run("busybox", ["sleep", "60"], detach=True)
        net.connect(c, aliases=["x1"])
        net.reload()
        assert [x.id for x in net.containers] == [c.id]
        c.reload()
        assert c.attrs["NetworkSettings"]["Networks"]["apiconn"]["IPAddress"].startswith("10.96.3.")
        net.disconnect(c)
        net.reload()
        assert net.containers == []
    finally:
        if c is not None:
            c.remove(force=True)
        net.remove()


def test_network_container_mode_shares_the_namespace(cli):
    owner = _httpd(cli, "-h", "owner-h", "--add-host", "extra.local:10.1.2.3", name="owner",
                   text="owner here\n")
    ids = [owner]
    try:
        ip = _inspect(cli, "owner")["NetworkSettings"]["IPAddress"]
        script = ("hostname; cat /etc/hosts /etc/resolv.conf; ip -o -4 addr show eth0; "
                  "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 5 127.0.0.1 80")
        r = cli("run", "--rm", "--network", "container:owner", "busybox", "sh", "-c", script,
                timeout=30, check=True)
        lines = r.out.splitlines()
        assert lines[0] == "owner-h"
        assert f"{ip}\towner-h" in r.out and "10.1.2.3\textra.local" in r.out
        assert f"inet {ip}/" in r.out  # the owner's interface
        assert "owner here" in r.out  # its loopback too
        # exec joins the shared namespace as well; inspect shows no network of its own.
        sid = cli("run", "-d", "--network", "container:owner", "busybox", "sleep", "60",
                  check=True).out.strip()
        ids.append(sid)
        assert f"inet {ip}/" in cli("exec", sid, "ip", "-o", "-4", "addr", check=True).out
        doc = _inspect(cli, sid)
        assert doc["HostConfig"]["NetworkMode"] == "container:" + owner
        assert doc["NetworkSettings"]["Networks"] == {}
        r = cli("network", "connect", "bridge", sid)
        assert r.returncode == 1 and "sharing network namespace" in r.err
        # docker's refusals
        for args, err in ((["-p", "80"], "port publishing and the container type network mode"),
                          (["--expose", "80"], "port exposing and the container type network mode"),
                          (["-h", "x"], "hostname and the network mode"),
                          (["--dns", "192.0.2.1"], "dns and the network mode"),
                          (["--add-host", "a:10.0.0.1"], "custom host-to-IP mapping and the network mode"),
                          (["--mac-address", "92:d0:c6:0a:29:33"], "mac-address and the network mode"),
                          (["--ip", "10.0.0.5"], "user specified IP address is supported on user "
                                                 "defined networks only"),
                          (["--network-alias", "a"], "network-scoped alias is supported only")):
            r = cli("run", "--rm", "--network", "container:owner", *args, "busybox", "true")
            assert r.returncode == 125 and err in r.err, (args, r.err)
        r = cli("run", "--rm", "--network", "container:nosuch", "busybox", "true")
        assert r.returncode == 125 and "No such container: nosuch" in r.err
        stopped = cli("create", "busybox", "true", check=True).out.strip()
        ids.append(stopped)
        r = cli("run", "--rm", "--network", f"container:{stopped}", "busybox", "true")
        assert r.returncode == 125 and "cannot join network of a non running container" in r.err
    finally:
        cli("rm", "-f", *ids)


def test_network_container_mode_shares_the_files_themselves(cli):
    """As docker (the joiner's HostsPath, ResolvConfPath and HostnamePath are the owner's
    files, bound): a change to the owner's /etc/hosts or /etc/resolv.conf, by a `network
    connect` or by hand, is seen in the joiner at once, and the joiner's in the owner."""
    owner = cli("run", "-d", "--name", "files-owner", "-h", "files-h", "busybox", "sleep", "60",
                check=True).out.strip()
    ids = [owner]
    try:
        sid = cli("run", "-d", "--network", "container:files-owner", "busybox", "sleep", "60",
                  check=True).out.strip()
        ids.append(sid)
        same = "cat /etc/hostname /etc/hosts /etc/resolv.conf"
        assert cli("exec", sid, "sh", "-c", same, check=True).out == \
            cli("exec", owner, "sh", "-c", same, check=True).out
        cli("exec", owner, "sh", "-c", "echo '10.9.8.7\towner-added' >> /etc/hosts; "
            "echo 'options ndots:3' >> /etc/resolv.conf", check=True)
        r = cli("exec", sid, "cat", "/etc/hosts", "/etc/resolv.conf", check=True)
        assert "10.9.8.7\towner-added" in r.out and "options ndots:3" in r.out
        cli("exec", sid, "sh", "-c", "echo '10.9.8.6\tjoiner-added' >> /etc/hosts", check=True)
        assert "joiner-added" in cli("exec", owner, "cat", "/etc/hosts", check=True).out
        cli("network", "create", "files-net", check=True)
        try:
            cli("network", "connect", "files-net", "files-owner", check=True)
            ip = _inspect(cli, "files-owner")["NetworkSettings"]["Networks"]["files-net"]["IPAddress"]
            assert f"{ip}\tfiles-h" in cli("exec", sid, "cat", "/etc/hosts", check=True).out
            cli("network", "disconnect", "files-net", "files-owner", check=True)
            assert f"{ip}\t" not in cli("exec", sid, "cat", "/etc/hosts", check=True).out
        finally:
            cli("network", "rm", "files-net")
    finally:
        cli("rm", "-f", *ids)


def _gone(what: str, seconds: float = 5) -> bool:
    """Whether link `what` is gone within `seconds` (a dying network namespace takes its
    links along in the kernel's own time)."""
    deadline = time.time() + seconds
    while what in _links():
        if time.time() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_veths_go_with_the_container_and_not_with_a_joined_namespace(cli):
    """A container's veth goes with its network namespace when it ends; when another
    container still holds that namespace (--network container:), the veth is deleted all the
    same, and the address it had is free."""
    cid = cli("run", "-d", "busybox", "sleep", "60", check=True).out.strip()
    ip = _inspect(cli, cid)["NetworkSettings"]["IPAddress"]
    veth = "lbv" + cid[:12]
    assert veth in _links()
    cli("rm", "-f", cid, check=True)
    assert _gone(veth)
    owner = cli("run", "-d", "--name", "ns-owner", "busybox", "sleep", "60", check=True).out.strip()
    ids = [owner]
    try:
        ids.append(cli("run", "-d", "--network", "container:ns-owner", "busybox", "sleep", "60",
                       check=True).out.strip())
        ip = _inspect(cli, owner)["NetworkSettings"]["IPAddress"]
        cli("stop", "-t", "0", "ns-owner", check=True)
        assert _gone("lbv" + owner[:12])  # the joiner keeps the namespace, not the veth
        r = cli("exec", ids[1], "ip", "-o", "-4", "addr", check=True)
        assert f"inet {ip}/" not in r.out and "eth0" not in r.out
    finally:
        cli("rm", "-f", *ids)


def test_mac_address_host_gateway_and_ip_range(cli):
    mac = "92:d0:c6:0a:29:33"
    cid = cli("run", "-d", "--mac-address", mac, "--add-host", "hostgw:host-gateway", "busybox",
              "sleep", "60", check=True).out.strip()
    try:
        r = cli("exec", cid, "sh", "-c", "cat /sys/class/net/eth0/address /etc/hosts", check=True)
        assert r.out.startswith(mac + "\n")
        assert f"{_gateway(cli)}\thostgw" in r.out
        ns = _inspect(cli, cid)["NetworkSettings"]
        assert ns["MacAddress"] == mac and ns["Networks"]["bridge"]["MacAddress"] == mac
    finally:
        cli("rm", "-f", cid)
    r = cli("run", "--rm", "--network", "none", "--add-host", "hostgw:host-gateway", "busybox",
            "cat", "/etc/hosts", check=True)
    assert f"{_gateway(cli)}\thostgw" in r.out  # --add-host applies on none too, as docker's
    for bad, err in (("92:d0:c6", "is not a valid mac address"),
                     ("01:00:5e:00:00:01", "multicast")):
        r = cli("run", "--rm", "--mac-address", bad, "busybox", "true")
        assert r.returncode == 125 and err in r.err, r.err
    r = cli("run", "--rm", "--network", "host", "--mac-address", mac, "busybox", "true")
    assert r.returncode == 125 and "mac-address and the network mode" in r.err
    # --ip-range: addresses from the sub-range only; --ip may be elsewhere in the subnet.
    cli("network", "create", "--subnet", "10.95.0.0/24", "--ip-range", "10.95.0.128/25", "netr",
        check=True)
    try:
        doc = json.loads(cli("network", "inspect", "netr", check=True).out)[0]
        assert doc["IPAM"]["Config"] == [{"Subnet": "10.95.0.0/24", "IPRange": "10.95.0.128/25",
                                          "Gateway": "10.95.0.1"}]
        r = cli("run", "--rm", "--network", "netr", "busybox", "ip", "-o", "-4", "addr", "show",
                "eth0", check=True)
        addr = r.out.split("inet ")[1].split("/")[0]
        assert int(addr.split(".")[3]) >= 128, addr
        r = cli("run", "--rm", "--network", "netr", "--ip", "10.95.0.9", "busybox", "ip", "-o",
                "-4", "addr", check=True)
        assert "10.95.0.9/24" in r.out
    finally:
        cli("network", "rm", "netr", check=True)
    # The resolver went with the network (it once outlived a quick reload and removal).
    assert subprocess.run(["pgrep", "-f", f"aardvark-dns --config {cli.root}/"],
                          capture_output=True).returncode == 1
    r = cli("network", "create", "--subnet", "10.95.0.0/24", "--ip-range", "10.95.1.0/25", "netr2")
    assert r.returncode != 0 and "no matching subnet for range 10.95.1.0/25" in r.err
    r = cli("network", "create", "--ip-range", "10.95.1.0/25", "netr3")
    assert r.returncode != 0 and "without --subnet" in r.err


def test_build_run_steps_on_the_default_bridge(cli, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN ip -o -4 addr > /addr; ip route > /route\n")
    images = []
    try:
        images.append(cli("build", "-q", str(ctx), check=True).out.strip())
        r = cli("run", "--rm", "--network", "none", images[-1], "cat", "/addr", "/route", check=True)
        assert "eth0" in r.out and f"default via {_gateway(cli)}" in r.out
        images.append(cli("build", "-q", "--network", "none", str(ctx), check=True).out.strip())
        r = cli("run", "--rm", "--network", "none", images[-1], "cat", "/addr", "/route", check=True)
        assert "eth0" not in r.out and "default" not in r.out
        r = cli("build", "-q", "--network", "somenet", str(ctx))
        assert r.returncode == 1 and 'network mode "somenet" is not supported for a build' in r.err
    finally:
        cli("rmi", "-f", *images)


def test_system_check_reports_and_repairs_network_leftovers(cli):
    keep = cli("run", "-d", "-p", "18112:80", "busybox", "sleep", "60", check=True).out.strip()
    try:
        # A container whose monitor was killed with it: the check's reconcile cleans it.
        dead = cli("run", "-d", "-p", "18113:80", "busybox", "sleep", "60", check=True).out.strip()
        with open(os.path.join(cli.root, "containers", dead, "state.json")) as f:
            st = json.load(f)
        os.kill(st["MonitorPid"], 9)
        os.kill(st["Pid"], 9)
        # What else a crash can leave (made here with ip/nft, as a killed process would have
        # left them): a veth of no container, a published port to no container, a bridge and
        # the table's elements of a network that is gone.
        subprocess.run(["ip", "link", "add", "lbv00000000dead", "type", "veth", "peer", "name",
                        "lbv00000000dea2"], check=True)
        subprocess.run(["ip", "link", "add", "br-00000000dead", "type", "bridge"], check=True)
        subprocess.run(["nft", "add element inet layerbox puball4 { tcp . 18114 : 10.254.0.9 . 80 }; "
                        "add element inet layerbox bridges { \"br-00000000dead\" }; "
                        "add element inet layerbox masq4 { 10.254.0.0/24 }"], check=True)
        r = cli("system", "check")
        assert r.returncode == 1, r.out
        for what in ("link lbv00000000dead", "link lbv00000000dea2", "link br-00000000dead",
                     "puball4 { tcp . 18114 }", "bridges { br-00000000dead }",
                     "masq4 { 10.254.0.0/24 }"):
            assert what in r.out, (what, r.out)
        assert keep[:12] not in r.out and "18112" not in r.out
        r = cli("system", "check", "--repair")
        assert r.returncode == 0, r.out
        assert cli("system", "check").out == "no problems found\n"
        links = _links()
        assert "dead" not in links and "dea2" not in links
        rules = subprocess.run(["nft", "list", "table", "inet", "layerbox"], capture_output=True,
                               text=True).stdout
        assert "18114" not in rules and "10.254.0" not in rules and "18113" not in rules
        assert "18112" in rules  # the running container's port stays
        cli("rm", "-f", dead)
    finally:
        cli("rm", "-f", keep)


def test_connected_network_comes_back_after_a_restart_policy_restart(cli):
    cli("network", "create", "--subnet", "10.96.4.0/24", "nete", check=True)
    cid = cli("run", "-d", "--restart", "always", "busybox", "sh", "-c", "sleep 2; exit 3",
              check=True).out.strip()
    try:
        cli("network", "connect", "--ip", "10.96.4.40", "nete", cid, check=True)
        deadline = time.time() + 30
        while time.time() < deadline:  # bounded: the restart comes after 2 s and 100 ms
            doc = _inspect(cli, cid)
            if doc["RestartCount"] >= 1 and doc["State"]["Running"]:
                break
            time.sleep(0.2)
        assert doc["RestartCount"] >= 1, doc["State"]
        r = cli("exec", cid, "ip", "-o", "-4", "addr", check=True)
        assert "10.96.4.40/24" in r.out and "eth0" in r.out
        # The monitor's run writes the files as the connect left them.
        r = cli("exec", cid, "cat", "/etc/hosts", "/etc/resolv.conf", check=True)
        assert f"10.96.4.40\t{cid[:12]}\n" in r.out and "nameserver 10.96.4.1\n" in r.out
        assert _inspect(cli, cid)["NetworkSettings"]["Networks"]["nete"]["IPAddress"] == "10.96.4.40"
    finally:
        cli("rm", "-f", cid)
    cli("network", "rm", "nete", check=True)


def _etc(cli, ref) -> tuple[str, str]:
    r = cli("exec", ref, "cat", "/etc/hosts", check=True)
    hosts = r.out
    return hosts, cli("exec", ref, "cat", "/etc/resolv.conf", check=True).out


def test_connect_and_disconnect_rewrite_hosts_and_resolv_conf(cli):
    """As docker: a running container connected to a user network gets a line for its new
    address in /etc/hosts and, with its first user network, that network's resolver in
    /etc/resolv.conf (names of the network resolve from inside it at once); a disconnect takes
    them out again. --read-only containers too (read-only for them, not for the engine); a
    resolv.conf the container wrote itself is left alone."""
    cli("network", "create", "--subnet", "10.96.5.0/24", "netf", check=True)
    ids = []
    try:
        ids.append(cli("run", "-d", "--name", "onnet", "--network", "netf", "--ip", "10.96.5.20",
                       "busybox", "sleep", "60", check=True).out.strip())
        ids.append(cli("run", "-d", "--name", "joiner", "--hostname", "jo", "busybox", "sleep", "60",
                       check=True).out.strip())
        ids.append(cli("run", "-d", "--name", "rojoiner", "--read-only", "--hostname", "ro",
                       "busybox", "sleep", "60", check=True).out.strip())
        ids.append(cli("run", "-d", "--name", "ownresolv", "busybox", "sh", "-c",
                       "echo 'nameserver 192.0.2.7' > /etc/resolv.conf; exec sleep 60",
                       check=True).out.strip())
        hosts0, resolv0 = _etc(cli, "joiner")
        bridge_ip = _inspect(cli, "joiner")["NetworkSettings"]["IPAddress"]
        assert f"{bridge_ip}\tjo\n" in hosts0 and "10.96.5.1" not in resolv0
        for name, host, ip in (("joiner", "jo", "10.96.5.30"), ("rojoiner", "ro", "10.96.5.31")):
            cli("network", "connect", "--ip", ip, "netf", name, check=True)
            hosts, resolv = _etc(cli, name)
            assert hosts.endswith(f"{ip}\t{host}\n"), hosts
            assert resolv.startswith("nameserver 10.96.5.1\n"), resolv
            # The network's names resolve from inside, through the new resolver.
            r = cli("exec", name, "nslookup", "onnet", timeout=30)
            assert "10.96.5.20" in r.out, (r.out, r.err)
        hosts, _ = _etc(cli, "joiner")
        assert hosts.startswith(hosts0)  # appended: what was there stays
        cli("network", "connect", "netf", "ownresolv", check=True)
        assert _etc(cli, "ownresolv")[1] == "nameserver 192.0.2.7\n"
        # Disconnect: the line goes, resolv.conf is the host's again (no user network left).
        cli("network", "disconnect", "netf", "joiner", check=True)
        hosts, resolv = _etc(cli, "joiner")
        assert hosts == hosts0 and resolv == resolv0
        # A restart makes them from the networks it has then.
        cli("network", "connect", "--ip", "10.96.5.32", "netf", "joiner", check=True)
        cli("restart", "-t", "0", "joiner", check=True)
        hosts, resolv = _etc(cli, "joiner")
        assert "10.96.5.32\tjo\n" in hosts and resolv.startswith("nameserver 10.96.5.1\n")
        # What the previous run's monitor removes after its exit's report (veths, claims) is
        # that run's, not the new run's of the same names.
        time.sleep(1)
        joiner = ids[1]
        assert "lbv" + joiner[:12] in _links()
        nid = json.loads(cli("network", "inspect", "netf", check=True).out)[0]["Id"]
        from layerbox.network import claim_holder

        assert claim_holder(os.readlink(os.path.join(cli.root, "networks", nid, "ips",
                                                     "10.96.5.32"))) == joiner
        r = cli("exec", "joiner", "ping", "-c", "1", "-W", "2", "10.96.5.20", timeout=30)
        assert r.returncode == 0, r.out + r.err
    finally:
        cli("rm", "-f", *ids)
    cli("network", "rm", "netf", check=True)


def _resolver_records(cli, net: str) -> str:
    with open(os.path.join(cli.root, "networks", "aardvark", net)) as f:
        return f.read()


def test_names_of_ended_containers_stop_resolving_at_once(cli):
    """A container's names leave its network's resolver when it ends (its monitor's
    teardown), not at the next start on the network; a restart brings them back, and a
    container killed with its monitor loses them at the next command."""
    cli("network", "create", "--subnet", "10.96.6.0/24", "netg", check=True)
    ids = []
    try:
        ids.append(cli("run", "-d", "--name", "asker", "--network", "netg", "busybox", "sleep", "60",
                       check=True).out.strip())
        gone = cli("run", "-d", "--name", "goner", "--network", "netg", "--network-alias", "gal",
                   "--ip", "10.96.6.40", "busybox", "sleep", "60", check=True).out.strip()
        ids.append(gone)

        def lookup(name):
            return cli("exec", "asker", "nslookup", name, timeout=30).out

        assert "10.96.6.40" in lookup("goner") and "10.96.6.40" in lookup("gal")
        cli("stop", "-t", "0", "goner", check=True)
        assert gone not in _resolver_records(cli, "netg")
        assert "10.96.6.40" not in lookup("goner") and "10.96.6.40" not in lookup("gal")
        cli("start", "goner", check=True)
        assert "10.96.6.40" in lookup("goner")
        cli("rm", "-f", "goner", check=True)
        assert gone not in _resolver_records(cli, "netg")
        assert "10.96.6.40" not in lookup("goner")
        # Killed with its monitor: the next command that looks at it takes its names out.
        gone = cli("run", "-d", "--name", "goner2", "--network", "netg", "--ip", "10.96.6.41",
                   "busybox", "sleep", "60", check=True).out.strip()
        ids.append(gone)
        assert gone in _resolver_records(cli, "netg")
        with open(os.path.join(cli.root, "containers", gone, "state.json")) as f:
            st = json.load(f)
        os.kill(st["MonitorPid"], 9)
        os.kill(st["Pid"], 9)
        time.sleep(0.2)
        cli("ps", "-a", check=True)
        assert gone not in _resolver_records(cli, "netg")
        assert "10.96.6.41" not in lookup("goner2")
    finally:
        cli("rm", "-f", *ids)
    cli("network", "rm", "netg", check=True)
