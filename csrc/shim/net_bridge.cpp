// A container on bridge networks (linked into layerbox-shim-net only, see net.hpp): one
// endpoint per network, the first made at the start, more by `network connect`.
//   up:   per endpoint, the bridge if missing (address = gateway, up, forwarding,
//         route_localnet, the network's nftables elements), a veth pair whose peer is created
//         as ethN directly in the container's namespace, the host end on the bridge; inside,
//         the address, the link up and (first network only) the default route; the host end
//         up (after its peer: see netlink.hpp create_veth); then the published ports (host ports reserved by a bound socket, as docker-proxy does, and
//         nftables map elements).
//   down: the container's names in the network's resolver (dnsrecords.hpp) and the ports'
//         elements, so its name no longer resolves and its ports are free when its exit is
//         reported; then (after the report: deleting a link waits for RCU) the veths go with
//         the container's network namespace, or are deleted where it outlives the run
//         (remove_links: a restart, a disconnect, a namespace another container joined;
//         deleting the host end takes the peer along). The endpoints stay known: a restart
//         policy's next run gets them again.
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/fd.hpp"
#include "net/dnsrecords.hpp"
#include "net/netlink.hpp"
#include "net/netsetup.hpp"
#include "net/nftables.hpp"
#include "shim/net.hpp"

namespace lb::shim {

namespace {

class Endpoint {
public:
    explicit Endpoint(const nlohmann::json& j) {
        name_ = j.value("name", "");
        bridge_ = j.at("bridge").get<std::string>();
        subnet_ = j.at("subnet").get<std::string>();
        gateway_ = net::parse_inet4(j.at("gateway").get<std::string>());
        address_ = net::parse_inet4(j.at("address").get<std::string>());
        host_if_ = j.at("host_if").get<std::string>();
        ifname_ = j.value("ifname", "eth0");
        default_route_ = j.value("default_route", true);
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
        if (j.contains("claim")) {
            claim_ = j.at("claim").at("path").get<std::string>();
            claim_id_ = j.at("claim").at("id").get<std::string>();
        }
        if (j.contains("dns")) {
            auto& d = j.at("dns");
            dns_ = net::DnsRecord{d.at("dir").get<std::string>(), d.at("file").get<std::string>(),
                                  d.at("id").get<std::string>(), d.at("record").get<std::string>()};
        }
    }

    const std::string& name() const { return name_; }
    const std::string& ifname() const { return ifname_; }
    void set_ifname(const std::string& n) { ifname_ = n; }

    void up(pid_t pid) {
        // Which claim is this run's: a new start of the same container (after our exit's
        // report) makes a new one, which unclaim must leave alone. First, so a start that
        // fails below gives its address up too (fail_start's end()).
        if (!claim_.empty() && !claim_known_) claim_known_ = ::lstat(claim_.c_str(), &claim_st_) == 0;
        net::Inet4 gw = gateway_;
        gw.prefix = address_.prefix;
        net::ensure_bridge({bridge_, subnet_, net::format_inet4(gw.addr) + "/" + std::to_string(gw.prefix),
                            masquerade_});
        net::Rtnl host;
        try {
            host.create_veth(host_if_, ifname_, pid, mac_, bridge_);
        } catch (const SysError& e) {
            // A leftover of a crash (names are per container and network): asked for only
            // when the name is taken, not with a request of its own on every start.
            if (e.err != EEXIST || !host.delete_link(host_if_)) throw;
            host.create_veth(host_if_, ifname_, pid, mac_, bridge_);
        }
        veth_made_ = true;
        host_index_ = host.index(host_if_);
        net::in_netns_of(pid, [&] {
            net::Rtnl c;
            c.add_address(ifname_, address_);
            c.set_up(ifname_);
            if (default_route_) c.add_default_route(gateway_.addr);
        });
        host.set_up(host_if_);  // after the peer: both ends get their carrier at once
        // The engine wrote the records for the first run; a restart's run gets them back.
        if (!dns_.id.empty()) net::dns_add(dns_);
        if (!ports_.empty()) {
            if (reserved_.empty()) reserve_ports();
            if (!nft_) nft_ = std::make_unique<net::Nft>();
            // The table is made once per namespace: only when the elements have nowhere to
            // go. Asking for it each time cost a failing `create table` transaction (~15 ms
            // blocked in the kernel here) on every start with -p.
            try {
                nft_->add_ports(ports_);
            } catch (const SysError& e) {
                if (e.err != ENOENT) throw;
                nft_->ensure_table();
                nft_->add_ports(ports_);
            }
            ports_added_ = true;
        }
    }

    void down() noexcept {
        if (!dns_.id.empty()) {
            try {
                net::dns_remove(dns_);
            } catch (const std::exception&) {
            }
        }
        if (ports_added_) {
            // Through the context kept since up: closing an nftables socket after a
            // transaction that deleted something waits for the kernel to free it (an RCU
            // grace period, ~13 ms here), so the socket is closed when the monitor exits,
            // after the container's exit has been reported.
            try {
                if (!nft_) nft_ = std::make_unique<net::Nft>();
                nft_->remove_ports(ports_);
            } catch (const std::exception&) {
            }
            ports_added_ = false;
        }
    }

    void remove_links() noexcept {
        if (veth_made_) {
            // By index: it runs after the exit's report, when a new start of the same
            // container may have made a veth of the same name already.
            try {
                net::Rtnl host;
                if (host_index_ > 0) host.delete_link(host_index_, host_if_);
                else host.delete_link(host_if_);
            } catch (const std::exception&) {
            }
            veth_made_ = false;
            host_index_ = 0;
        }
    }

    // The veths are left to the container's network namespace, which takes them along when
    // it goes (see NetHook::end): nothing to delete here, and nothing for the destructor.
    void leave_links() noexcept {
        veth_made_ = false;
        host_index_ = 0;
    }

    void free_ports() noexcept { reserved_.clear(); }

    // What it holds goes: the reserved host ports too (a disconnect, not a restart).
    void release() noexcept {
        down();
        remove_links();
        free_ports();
    }

    // The address claim (network/__init__.py: `ips/<address>` -> container id), under the
    // network directory's lock, the one allocation takes; a claim another container, or a
    // new start of this one, took over meanwhile stays theirs.
    void unclaim() noexcept {
        if (claim_.empty()) return;
        std::string ips = claim_.substr(0, claim_.rfind('/'));
        UniqueFd lock(::open(ips.substr(0, ips.rfind('/')).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!lock) return;
        while (::flock(lock.get(), LOCK_EX) != 0)
            if (errno != EINTR) return;
        struct stat st;
        if (!claim_known_ || ::lstat(claim_.c_str(), &st) != 0 || st.st_ino != claim_st_.st_ino ||
            st.st_ctim.tv_sec != claim_st_.st_ctim.tv_sec || st.st_ctim.tv_nsec != claim_st_.st_ctim.tv_nsec)
            return;
        char buf[256];
        ssize_t n = ::readlink(claim_.c_str(), buf, sizeof buf);
        if (n > 0 && std::string(buf, static_cast<size_t>(n)) == claim_id_) ::unlink(claim_.c_str());
    }

    ~Endpoint() {
        down();
        remove_links();
    }

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

    std::string name_, bridge_, subnet_, host_if_, ifname_;
    net::Inet4 gateway_, address_;
    std::string mac_;
    bool default_route_ = true, masquerade_ = true;
    std::vector<net::PortRule> ports_;
    std::vector<UniqueFd> reserved_;
    std::unique_ptr<net::Nft> nft_;  // kept open until the monitor exits (see down)
    std::string claim_, claim_id_;  // the address claim's path, and its target (whose it is)
    struct stat claim_st_ {};       // the claim as this run found it (inode, ctime)
    bool claim_known_ = false;
    net::DnsRecord dns_;  // user networks: the container's names in the network's resolver
    bool veth_made_ = false, ports_added_ = false;
    int host_index_ = 0;  // the host end's ifindex
};

class BridgeNet : public NetHook {
public:
    explicit BridgeNet(const nlohmann::json& j) {
        for (auto& e : j.at("endpoints")) eps_.push_back(std::make_unique<Endpoint>(e));
    }

    void up(pid_t pid) override {
        for (auto& e : eps_) e->up(pid);
    }

    void down() noexcept override {
        for (auto& e : eps_) e->down();
    }

    void remove_links() noexcept override {
        for (auto& e : eps_) e->remove_links();
    }

    void free_ports() noexcept override {
        for (auto& e : eps_) e->free_ports();
    }

    void end() noexcept override {
        for (auto& e : eps_) {
            if (joined_) e->remove_links();
            else e->leave_links();
            e->unclaim();
        }
    }

    nlohmann::json control(const nlohmann::json& req, pid_t pid, nlohmann::json& state) override {
        try {
            std::string op = req.at("op").get<std::string>();
            if (op == "joined") {
                joined_ = true;
                return {{"ok", true}, {"unchanged", true}};
            }
            if (op == "connect") {
                auto e = std::make_unique<Endpoint>(req.at("endpoint"));
                if (find(e->name()) != eps_.end())
                    return fail(EEXIST, "endpoint with name already exists in network " + e->name());
                e->set_ifname(free_ifname());
                if (pid > 0) e->up(pid);  // between two runs: the next run's up makes it
                eps_.push_back(std::move(e));
            } else if (op == "disconnect") {
                auto it = find(req.at("name").get<std::string>());
                if (it == eps_.end()) return fail(ENOENT, "not connected to network " + req.at("name").get<std::string>());
                (*it)->release();
                eps_.erase(it);
            } else {
                return fail(EINVAL, "unknown network request " + op);
            }
        } catch (const SysError& e) {
            return fail(e.err, e.what());
        } catch (const std::exception& e) {
            return fail(EINVAL, e.what());
        }
        state["NetworkSettings"] = req.value("settings", nlohmann::json::object());
        return {{"ok", true}};
    }

private:
    static nlohmann::json fail(int err, const std::string& msg) {
        return {{"ok", false}, {"errno", err}, {"message", msg}};
    }

    std::vector<std::unique_ptr<Endpoint>>::iterator find(const std::string& name) {
        return std::find_if(eps_.begin(), eps_.end(), [&](auto& e) { return e->name() == name; });
    }

    // docker's naming: eth0 for the first network, then the lowest free ethN.
    std::string free_ifname() const {
        std::set<std::string> used;
        for (auto& e : eps_) used.insert(e->ifname());
        for (int i = 0;; ++i)
            if (!used.count("eth" + std::to_string(i))) return "eth" + std::to_string(i);
    }

    std::vector<std::unique_ptr<Endpoint>> eps_;
    bool joined_ = false;  // another container joined the network namespace (see end)
};

}  // namespace

std::unique_ptr<NetHook> make_net_hook(const nlohmann::json& j) {
    if (j.is_null()) return nullptr;
    return std::make_unique<BridgeNet>(j);
}

}  // namespace lb::shim
