// A container on a bridge network (linked into layerbox-shim-net only, see net.hpp):
//   up:   the bridge if missing (address = gateway, up, forwarding, route_localnet, the
//         network's nftables elements), a veth pair whose peer is created as eth0 directly
//         in the container's namespace, the host end on the bridge; inside, the address, the
//         link up and the default route; then the published ports (host ports reserved by a
//         bound socket, as docker-proxy does, and nftables map elements).
//   down: the ports' elements and the veth (deleting the host end takes the peer along), so
//         nothing of the container is left when its exit is reported.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/fd.hpp"
#include "net/netlink.hpp"
#include "net/netsetup.hpp"
#include "net/nftables.hpp"
#include "shim/net.hpp"

namespace lb::shim {

namespace {

class BridgeNet : public NetHook {
public:
    explicit BridgeNet(const nlohmann::json& j) {
        bridge_ = j.at("bridge").get<std::string>();
        subnet_ = j.at("subnet").get<std::string>();
        gateway_ = net::parse_inet4(j.at("gateway").get<std::string>());
        address_ = net::parse_inet4(j.at("address").get<std::string>());
        host_if_ = j.at("host_if").get<std::string>();
        masquerade_ = j.value("masquerade", true);
        std::string mac = j.value("mac", "");
        for (size_t i = 0; i + 1 < mac.size() && mac_.size() < 6; i += 3)
            mac_.push_back(static_cast<char>(std::stoi(mac.substr(i, 2), nullptr, 16)));
        for (auto& p : j.value("ports", nlohmann::json::array())) {
            net::PortRule r;
            r.proto = p.at("proto").get<std::string>();
            r.host_ip = p.value("host_ip", "");
            r.host_port = p.at("host_port").get<int>();
            r.ctr_ip = net::format_inet4(address_.addr);
            r.ctr_port = p.at("port").get<int>();
            ports_.push_back(r);
        }
    }

    void up(pid_t pid) override {
        net::Inet4 gw = gateway_;
        gw.prefix = address_.prefix;
        net::ensure_bridge({bridge_, subnet_, net::format_inet4(gw.addr) + "/" + std::to_string(gw.prefix),
                            masquerade_});
        net::Rtnl host;
        host.delete_link(host_if_);  // a leftover of a crash (names are per container)
        host.create_veth(host_if_, "eth0", pid, mac_);
        veth_made_ = true;
        host.set_master(host_if_, bridge_);
        host.set_up(host_if_);
        net::in_netns_of(pid, [&] {
            net::Rtnl c;
            c.add_address("eth0", address_);
            c.set_up("eth0");
            c.add_default_route(gateway_.addr);
        });
        if (!ports_.empty()) {
            if (reserved_.empty()) reserve_ports();
            net::Nft nft;
            nft.ensure_table();
            nft.add_ports(ports_);
            ports_added_ = true;
        }
    }

    void down() noexcept override {
        if (ports_added_) {
            try {
                net::Nft nft;
                nft.remove_ports(ports_);
            } catch (const std::exception&) {
            }
            ports_added_ = false;
        }
        if (veth_made_) {
            try {
                net::Rtnl host;
                host.delete_link(host_if_);
            } catch (const std::exception&) {
            }
            veth_made_ = false;
        }
    }

    ~BridgeNet() override { down(); }

private:
    // A bound socket per host port keeps host programs off a port the container publishes
    // (and says so now, not when a client gets the container instead of the program).
    void reserve_ports() {
        for (auto& p : ports_) {
            bool udp = p.proto == "udp";
            UniqueFd s(::socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0));
            if (!s) throw_errno("socket", "published port");
            struct sockaddr_in sa {};
            sa.sin_family = AF_INET;
            sa.sin_port = htons(static_cast<uint16_t>(p.host_port));
            sa.sin_addr.s_addr = p.host_ip.empty() ? INADDR_ANY : net::parse_inet4(p.host_ip).addr;
            if (::bind(s.get(), reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) != 0) {
                int e = errno;
                std::string where = (p.host_ip.empty() ? "0.0.0.0" : p.host_ip) + ":" + std::to_string(p.host_port);
                throw SysError(e, "bind", where, "Bind for " + where + " failed: " +
                               (e == EADDRINUSE ? std::string("port is already allocated") : errno_text(e)));
            }
            reserved_.push_back(std::move(s));
        }
    }

    std::string bridge_, subnet_, host_if_;
    net::Inet4 gateway_, address_;
    std::string mac_;
    bool masquerade_ = true;
    std::vector<net::PortRule> ports_;
    std::vector<UniqueFd> reserved_;
    bool veth_made_ = false, ports_added_ = false;
};

}  // namespace

std::unique_ptr<NetHook> make_net_hook(const nlohmann::json& j) {
    if (j.is_null()) return nullptr;
    return std::make_unique<BridgeNet>(j);
}

}  // namespace lb::shim
