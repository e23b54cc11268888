// Links, addresses and routes over rtnetlink, through libmnl (netfilter's minimal netlink
// library: message building and the socket, nothing else). Every call acts on the network
// namespace the socket was opened in. Failures are SysError{errno, "netlink <what>", name}.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

struct mnl_socket;
struct nlmsghdr;

namespace lb::net {

// An IPv4 address with its prefix length ("172.17.0.2/16").
struct Inet4 {
    uint32_t addr = 0;  // network byte order
    int prefix = 32;
};
Inet4 parse_inet4(const std::string& text);  // "a.b.c.d" or "a.b.c.d/n"; throws EINVAL
std::string format_inet4(uint32_t addr);

class Rtnl {
public:
    Rtnl();  // a socket in the calling thread's network namespace
    ~Rtnl();
    Rtnl(const Rtnl&) = delete;
    Rtnl& operator=(const Rtnl&) = delete;

    // 0 when there is no such link.
    int index(const std::string& name);
    // A bridge; false when one of that name existed already.
    bool create_bridge(const std::string& name);
    // A veth pair: `host` here, down, on bridge `master` unless empty; `peer` created
    // directly in the network namespace of process `peer_pid` (so it never appears here), with
    // MAC address `peer_mac` (6 bytes or empty). Bring `host` up after `peer` (set_up): an end
    // that is up while its peer is down has no carrier, and the kernel's link watcher then
    // deactivates its queues (dev_deactivate: an expedited RCU grace period with rtnl_lock
    // held, 1-5 ms here, that every link change on the machine waits behind).
    void create_veth(const std::string& host, const std::string& peer, pid_t peer_pid,
                     const std::string& peer_mac, const std::string& master = "");
    void set_up(const std::string& name);
    // Adds an address; false when the link had it already.
    bool add_address(const std::string& name, const Inet4& a);
    // Default route through `gateway`.
    void add_default_route(uint32_t gateway);
    // Deletes a link (a veth takes its peer along); false when there was none.
    bool delete_link(const std::string& name);
    // The link of that index (an index is not given again soon, a name is at once); `name` is
    // for the error message.
    bool delete_link(int index, const std::string& name);

private:
    bool delete_link_by(int index, const std::string& name);
    void talk(::nlmsghdr* msg, const std::string& what, const std::string& name);
    mnl_socket* sock_ = nullptr;
    unsigned portid_ = 0;
    unsigned seq_ = 0;
};

// Runs `fn` with the calling thread inside the network namespace of process `pid`, and
// returns to its own namespace after (also when `fn` throws).
template <class F>
void in_netns_of(pid_t pid, F&& fn);

// Implementation detail of in_netns_of.
class NetnsGuard {
public:
    explicit NetnsGuard(pid_t pid);
    ~NetnsGuard();

private:
    int own_ = -1;
};

template <class F>
void in_netns_of(pid_t pid, F&& fn) {
    NetnsGuard g(pid);
    fn();
}

// Writes a /proc/sys/net value of the calling thread's network namespace when it differs.
void sysctl_net(const std::string& key, const std::string& value);

}  // namespace lb::net
