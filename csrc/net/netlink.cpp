// rtnetlink through libmnl: one request, one acknowledgement (NLM_F_ACK), errors as SysError
// with the kernel's errno and the link's name. Why libmnl: it is netfilter's own small library
// (message building, attribute nesting, the ack loop), packaged everywhere, with no state of its
// own; libnl-route-3 would bring a cache layer we do not need.
#include "net/netlink.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "core/error.hpp"
#include "core/fd.hpp"

namespace lb::net {

Inet4 parse_inet4(const std::string& text) {
    Inet4 a;
    std::string host = text;
    auto slash = text.find('/');
    if (slash != std::string::npos) {
        host = text.substr(0, slash);
        std::string p = text.substr(slash + 1);
        if (p.empty() || p.size() > 2 || p.find_first_not_of("0123456789") != std::string::npos)
            throw_invalid("invalid prefix length", text);
        a.prefix = std::stoi(p);
        if (a.prefix > 32) throw_invalid("invalid prefix length", text);
    }
    struct in_addr in {};
    if (::inet_pton(AF_INET, host.c_str(), &in) != 1) throw_invalid("invalid IPv4 address", text);
    a.addr = in.s_addr;
    return a;
}

std::string format_inet4(uint32_t addr) {
    char buf[INET_ADDRSTRLEN];
    struct in_addr in {};
    in.s_addr = addr;
    ::inet_ntop(AF_INET, &in, buf, sizeof buf);
    return buf;
}

Rtnl::Rtnl() {
    sock_ = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!sock_) throw_errno("socket", "netlink route");
    if (mnl_socket_bind(sock_, 0, MNL_SOCKET_AUTOPID) < 0) {
        int e = errno;
        mnl_socket_close(sock_);
        throw_err(e, "bind", "netlink route");
    }
    portid_ = mnl_socket_get_portid(sock_);
    seq_ = static_cast<unsigned>(::getpid());
}

Rtnl::~Rtnl() {
    if (sock_) mnl_socket_close(sock_);
}

void Rtnl::talk(::nlmsghdr* nlh, const std::string& what, const std::string& name) {
    nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    nlh->nlmsg_seq = ++seq_;
    if (mnl_socket_sendto(sock_, nlh, nlh->nlmsg_len) < 0) throw_errno("netlink " + what, name);
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(sock_, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno("netlink " + what, name);
        }
        int r = mnl_cb_run(buf.data(), static_cast<size_t>(n), seq_, portid_, nullptr, nullptr);
        if (r < 0) throw_errno("netlink " + what, name);  // the kernel's errno from the ack
        if (r == MNL_CB_STOP) return;
    }
}

int Rtnl::index(const std::string& name) {
    // if_nametoindex asks through an ioctl socket of the calling thread's namespace, which is
    // the namespace of this socket for every use here (see in_netns_of).
    return static_cast<int>(::if_nametoindex(name.c_str()));
}

namespace {

void check_name(const std::string& name) {
    if (name.empty() || name.size() >= IFNAMSIZ) throw_invalid("invalid interface name", name);
}

struct nlmsghdr* link_msg(char* buf, uint16_t type, uint16_t flags, int index) {
    struct nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = flags;
    auto* ifm = static_cast<struct ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifinfomsg)));
    ifm->ifi_family = AF_UNSPEC;
    ifm->ifi_index = index;
    return nlh;
}

}  // namespace

bool Rtnl::create_bridge(const std::string& name) {
    check_name(name);
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    auto* nlh = link_msg(buf.data(), RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
    // A MAC address of its own, as docker gives its bridges: without one the bridge takes the
    // lowest of its ports' and changes it when that port goes, and the other containers'
    // neighbour entries for the gateway point at a MAC nobody has until they expire (~20 s
    // without the gateway: their name resolver, their way out).
    unsigned char mac[6];
    if (::getrandom(mac, sizeof mac, 0) != static_cast<ssize_t>(sizeof mac)) throw_errno("getrandom", name);
    mac[0] = static_cast<unsigned char>((mac[0] & 0xfe) | 0x02);  // unicast, locally administered
    mnl_attr_put(nlh, IFLA_ADDRESS, sizeof mac, mac);
    struct nlattr* info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
    mnl_attr_nest_end(nlh, info);
    try {
        talk(nlh, "create bridge", name);
    } catch (const SysError& e) {
        if (e.err == EEXIST) return false;
        throw;
    }
    return true;
}

void Rtnl::create_veth(const std::string& host, const std::string& peer, pid_t peer_pid,
                       const std::string& peer_mac, const std::string& master) {
    check_name(host);
    check_name(peer);
    int mi = 0;
    if (!master.empty() && !(mi = index(master))) throw_err(ENODEV, "netlink set master", master);
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    auto* nlh = link_msg(buf.data(), RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
    // The host end on the bridge at once (one request, one rtnl_lock); up only after the peer
    // (see the header).
    mnl_attr_put_strz(nlh, IFLA_IFNAME, host.c_str());
    // One queue each way, asked for, on both ends. Left to the kernel, a veth gets a queue per
    // possible CPU and veth_newlink then cuts each end down to one: every cut waits for an
    // expedited RCU grace period (netif_set_real_num_tx_queues -> synchronize_net) with
    // rtnl_lock held, two per container, 7-14 ms measured here under load (perf sched), while
    // every other link change on the machine (the container's own `lo` up) waits for the lock.
    mnl_attr_put_u32(nlh, IFLA_NUM_TX_QUEUES, 1);
    mnl_attr_put_u32(nlh, IFLA_NUM_RX_QUEUES, 1);
    if (mi) mnl_attr_put_u32(nlh, IFLA_MASTER, static_cast<uint32_t>(mi));
    struct nlattr* info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
    struct nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
    struct nlattr* pinfo = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
    auto* pifm = static_cast<struct ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifinfomsg)));
    pifm->ifi_family = AF_UNSPEC;  // not up here: veth_open fails (ENOTCONN) before the pairing
    mnl_attr_put_strz(nlh, IFLA_IFNAME, peer.c_str());
    mnl_attr_put_u32(nlh, IFLA_NET_NS_PID, static_cast<uint32_t>(peer_pid));
    mnl_attr_put_u32(nlh, IFLA_NUM_TX_QUEUES, 1);
    mnl_attr_put_u32(nlh, IFLA_NUM_RX_QUEUES, 1);
    if (peer_mac.size() == 6) mnl_attr_put(nlh, IFLA_ADDRESS, 6, peer_mac.data());
    mnl_attr_nest_end(nlh, pinfo);
    mnl_attr_nest_end(nlh, data);
    mnl_attr_nest_end(nlh, info);
    talk(nlh, "create veth", host);
}

void Rtnl::set_up(const std::string& name) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    auto* nlh = link_msg(buf.data(), RTM_NEWLINK, 0, 0);
    auto* ifm = static_cast<struct ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
    ifm->ifi_change = IFF_UP;
    ifm->ifi_flags = IFF_UP;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
    talk(nlh, "set up", name);
}

bool Rtnl::add_address(const std::string& name, const Inet4& a) {
    int idx = index(name);
    if (!idx) throw_err(ENODEV, "netlink add address", name);
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    struct nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = RTM_NEWADDR;
    nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    auto* ifa = static_cast<struct ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifaddrmsg)));
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = static_cast<unsigned char>(a.prefix);
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = static_cast<unsigned>(idx);
    mnl_attr_put_u32(nlh, IFA_LOCAL, a.addr);
    mnl_attr_put_u32(nlh, IFA_ADDRESS, a.addr);
    if (a.prefix < 31) {
        uint32_t mask = a.prefix ? htonl(~0U << (32 - a.prefix)) : 0;
        mnl_attr_put_u32(nlh, IFA_BROADCAST, a.addr | ~mask);
    }
    try {
        talk(nlh, "add address " + format_inet4(a.addr) + "/" + std::to_string(a.prefix) + " to", name);
    } catch (const SysError& e) {
        if (e.err == EEXIST) return false;
        throw;
    }
    return true;
}

void Rtnl::add_default_route(uint32_t gateway) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    struct nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = RTM_NEWROUTE;
    nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    auto* rtm = static_cast<struct rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(struct rtmsg)));
    rtm->rtm_family = AF_INET;
    rtm->rtm_dst_len = 0;
    rtm->rtm_table = RT_TABLE_MAIN;
    rtm->rtm_protocol = RTPROT_BOOT;
    rtm->rtm_scope = RT_SCOPE_UNIVERSE;
    rtm->rtm_type = RTN_UNICAST;
    mnl_attr_put_u32(nlh, RTA_GATEWAY, gateway);
    talk(nlh, "add default route via", format_inet4(gateway));
}

bool Rtnl::delete_link(const std::string& name) {
    check_name(name);
    return delete_link_by(0, name);
}

bool Rtnl::delete_link(int index, const std::string& name) { return delete_link_by(index, name); }

// By index when one is given (the kernel then ignores the name), else by name.
bool Rtnl::delete_link_by(int index, const std::string& name) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    auto* nlh = link_msg(buf.data(), RTM_DELLINK, 0, index);
    if (!index) mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
    try {
        talk(nlh, "delete link", name);
    } catch (const SysError& e) {
        if (e.err == ENODEV) return false;
        throw;
    }
    return true;
}

NetnsGuard::NetnsGuard(pid_t pid) {
    UniqueFd own = open_path("/proc/thread-self/ns/net", O_RDONLY);
    UniqueFd target = open_path("/proc/" + std::to_string(pid) + "/ns/net", O_RDONLY);
    if (::setns(target.get(), CLONE_NEWNET) != 0) throw_errno("setns", "/proc/" + std::to_string(pid) + "/ns/net");
    own_ = own.release();
}

NetnsGuard::~NetnsGuard() {
    if (own_ >= 0) {
        // Cannot fail for a namespace we were in a moment ago; if it did, staying in the
        // container's namespace would be worse than dying.
        if (::setns(own_, CLONE_NEWNET) != 0) ::abort();
        ::close(own_);
    }
}

void sysctl_net(const std::string& key, const std::string& value) {
    std::string path = "/proc/sys/net/" + key;
    UniqueFd fd = open_path(path, O_RDWR);
    char cur[64];
    ssize_t n = ::read(fd.get(), cur, sizeof cur - 1);
    if (n > 0) {
        std::string s(cur, static_cast<size_t>(n));
        while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
        if (s == value) return;
    }
    if (::pwrite(fd.get(), value.data(), value.size(), 0) != static_cast<ssize_t>(value.size()))
        throw_errno("write", path);
}

}  // namespace lb::net
