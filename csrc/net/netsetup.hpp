// A bridge network in this network namespace: what the first container on it needs before its
// veth can join (netlink.cpp for the link, nftables.cpp for masquerade and isolation).
#pragma once

#include <string>

namespace lb::net {

struct BridgeSpec {
    std::string bridge;   // link name
    std::string subnet;   // "a.b.c.d/n"
    std::string gateway;  // "a.b.c.d/n": the bridge's address
    bool masquerade = true;
};

// Makes the bridge (address, up, forwarding, route_localnet, nftables elements) unless it
// exists; returns false when it did.
bool ensure_bridge(const BridgeSpec& b);

}  // namespace lb::net
