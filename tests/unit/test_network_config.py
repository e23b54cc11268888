"""Network logic without the kernel: --ip-range allocation, the endpoint list a start joins,
docker's option checks of container: mode and --mac-address."""

from __future__ import annotations

import pytest

from layerbox.container.config import _check_mac
from layerbox.errors import InvalidArgument
from layerbox.network import Networks, endpoints_config
from layerbox.store import Store


def test_ip_range_bounds_the_allocation(tmp_path):
    nets = Networks(Store(str(tmp_path)))
    net = nets.create("r", subnet="10.0.0.0/24", ip_range="10.0.0.128/25")
    assert net["IPAM"]["Config"][0]["IPRange"] == "10.0.0.128/25"
    got = [nets.allocate(net, f"{i:064x}") for i in range(5)]
    assert all(int(ip.split(".")[3]) >= 128 for ip in got)
    assert len(set(got)) == 5
    assert nets.allocate(net, "f" * 64, want="10.0.0.5") == "10.0.0.5"  # --ip: anywhere in the subnet
    with pytest.raises(InvalidArgument, match="no matching subnet for range"):
        nets.create("s", subnet="10.1.0.0/24", ip_range="10.2.0.0/25")
    with pytest.raises(InvalidArgument, match="without --subnet"):
        nets.create("t", ip_range="10.3.0.0/25")


def test_ip_range_at_the_end_of_the_subnet_skips_broadcast(tmp_path):
    nets = Networks(Store(str(tmp_path)))
    net = nets.create("r", subnet="10.0.0.0/24", ip_range="10.0.0.252/30")
    got = {nets.allocate(net, f"{i:064x}") for i in range(3)}
    assert got == {"10.0.0.252", "10.0.0.253", "10.0.0.254"}


def _cfg(mode, nc=None):
    c = {"HostConfig": {"NetworkMode": mode}}
    if nc is not None:
        c["NetworkingConfig"] = nc
    return c


def test_endpoints_config():
    assert endpoints_config(_cfg("none")) == {}
    assert endpoints_config(_cfg("container:" + "a" * 64)) == {}
    eps = endpoints_config(_cfg("mynet", {"IPAMConfig": {"IPv4Address": "10.0.0.9"},
                                          "Aliases": ["db"]}))
    assert eps == {"mynet": {"NetworkID": "", "IPAMConfig": {"IPv4Address": "10.0.0.9"},
                             "Aliases": ["db"]}}
    # Once connect/disconnect recorded the list, it is the list (empty too).
    assert endpoints_config(_cfg("bridge", {"EndpointsConfig": {}})) == {}


def test_mac_address_checks():
    _check_mac("92:d0:c6:0a:29:33")
    for bad in ("92:d0:c6", "zz:d0:c6:0a:29:33", "01:00:5e:00:00:01"):
        with pytest.raises(InvalidArgument):
            _check_mac(bad)
