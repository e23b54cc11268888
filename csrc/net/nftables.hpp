// The one `layerbox` nftables table (family inet): outbound masquerade for the networks'
// subnets, the published ports' DNAT (maps keyed by protocol and port, so a container's ports
// are map elements, not rules), and isolation between networks. Through libnftables, the
// library the `nft` tool is built on: the rules are written in nft's own language and applied
// as one atomic transaction per call. Failures are SysError{errno, "nftables", what}.
#pragma once

#include <string>
#include <vector>

struct nft_ctx;

namespace lb::net {

constexpr const char* kNftTable = "layerbox";

struct PortRule {
    std::string proto;      // "tcp" or "udp"
    std::string host_ip;    // "" for every address of the host
    int host_port = 0;
    std::string ctr_ip;     // the container's address
    int ctr_port = 0;
};

class Nft {
public:
    Nft();
    ~Nft();
    Nft(const Nft&) = delete;
    Nft& operator=(const Nft&) = delete;

    // Runs nft commands as one transaction.
    void run(const std::string& commands, const std::string& what);
    // Creates the table, its sets, maps and chains unless it exists.
    void ensure_table();
    // A network: its bridge and subnet join the masquerade and isolation sets.
    void add_network(const std::string& bridge, const std::string& subnet, bool masquerade);
    void remove_network(const std::string& bridge, const std::string& subnet);
    // A container's published ports; EADDRINUSE (naming the port) when another container
    // has published one of them.
    void add_ports(const std::vector<PortRule>& ports);
    // Removes what add_ports added; elements already gone are no error.
    void remove_ports(const std::vector<PortRule>& ports);
    // nft's JSON listing of `what` ("map inet layerbox pub4", ...): for `system check`, which
    // compares what the kernel holds with what the store says should be there.
    std::string list_json(const std::string& what);
    // Deletes the whole table (nothing of layerbox is left in the ruleset).
    void delete_table();

private:
    nft_ctx* ctx_ = nullptr;
};

}  // namespace lb::net
