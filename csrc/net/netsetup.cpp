#include "net/netsetup.hpp"

#include "net/netlink.hpp"
#include "net/nftables.hpp"

namespace lb::net {

bool ensure_bridge(const BridgeSpec& b) {
    Rtnl host;
    if (host.index(b.bridge)) return false;
    host.create_bridge(b.bridge);  // false when a concurrent start made it: carry on, idempotent
    host.add_address(b.bridge, parse_inet4(b.gateway));
    host.set_up(b.bridge);
    sysctl_net("ipv4/ip_forward", "1");
    // A published port answers on 127.0.0.1: the DNATed packet leaves through the bridge with
    // its loopback source (masqueraded after), which the kernel drops as a martian unless the
    // bridge allows it.
    sysctl_net("ipv4/conf/" + b.bridge + "/route_localnet", "1");
    Nft nft;
    nft.add_network(b.bridge, b.subnet, b.masquerade);
    return true;
}

}  // namespace lb::net
