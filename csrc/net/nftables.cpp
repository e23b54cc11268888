// The `layerbox` nftables table through libnftables (see nftables.hpp for what it holds).
#include "net/nftables.hpp"

#include <dlfcn.h>
#include <nftables/libnftables.h>

#include <cerrno>

#include "core/error.hpp"

namespace lb::net {

namespace {

// The base table, made once per network namespace. Published ports are map lookups, so a
// container adds and removes map elements and never a rule: the rule set is the same size
// with 1 or 1000 containers, and a port taken twice is the kernel's EEXIST on `create element`.
// `output` DNATs what the host itself sends to a published port (127.0.0.1 included: the
// bridges get route_localnet); `postrouting` masquerades the networks' outbound traffic and
// what was DNATed from a host address into a bridge (so the container's reply comes back
// through us); `forward` drops traffic between two different layerbox bridges.
const char* kBaseTable = R"(create table inet layerbox
add set inet layerbox masq4 { type ipv4_addr; flags interval; }
add set inet layerbox bridges { type ifname; }
add set inet layerbox samenet { type ifname . ifname; }
add map inet layerbox pub4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
add map inet layerbox puball4 { type inet_proto . inet_service : ipv4_addr . inet_service; }
add chain inet layerbox prerouting { type nat hook prerouting priority dstnat; policy accept; }
add chain inet layerbox output { type nat hook output priority -100; policy accept; }
add chain inet layerbox publish
add chain inet layerbox postrouting { type nat hook postrouting priority srcnat; policy accept; }
add chain inet layerbox forward { type filter hook forward priority filter; policy accept; }
add rule inet layerbox prerouting fib daddr type local jump publish
add rule inet layerbox output fib daddr type local jump publish
add rule inet layerbox publish dnat ip to ip daddr . meta l4proto . th dport map @pub4
add rule inet layerbox publish dnat ip to meta l4proto . th dport map @puball4
add rule inet layerbox postrouting ip saddr @masq4 ip daddr != @masq4 masquerade
add rule inet layerbox postrouting oifname @bridges ct status dnat fib saddr type local masquerade
add rule inet layerbox postrouting oifname @bridges ct status dnat ip saddr @masq4 masquerade
add rule inet layerbox forward iifname @bridges oifname @bridges iifname . oifname != @samenet drop
)";

int errno_of(const std::string& text) {
    // libnftables words the kernel's errno, or (for sets and maps) says it in its own words
    if (text.find("File exists") != std::string::npos || text.find("already exists") != std::string::npos)
        return EEXIST;
    if (text.find("No such file or directory") != std::string::npos ||
        text.find("does not exist") != std::string::npos)
        return ENOENT;
    if (text.find("Operation not permitted") != std::string::npos) return EPERM;
    if (text.find("Protocol not supported") != std::string::npos ||
        text.find("Operation not supported") != std::string::npos)
        return EOPNOTSUPP;
    return EINVAL;
}

std::string first_line(const std::string& s) {
    auto nl = s.find('\n');
    return nl == std::string::npos ? s : s.substr(0, nl);
}

std::string element(const PortRule& p, bool with_value) {
    std::string key = p.proto + " . " + std::to_string(p.host_port);
    if (!p.host_ip.empty()) key = p.host_ip + " . " + key;
    std::string m = p.host_ip.empty() ? "puball4" : "pub4";
    std::string s = std::string(kNftTable) + " " + m + " { " + key;
    if (with_value) s += " : " + p.ctr_ip + " . " + std::to_string(p.ctr_port);
    return s + " }";
}

// libnftables, loaded when a table is first touched, not when the monitor starts: it brings
// libnftnl, libxtables, libjansson and libgmp along, whose loading and relocation cost the
// network monitor 0.76 ms of CPU on every start (perf stat, 300 runs), while a start on an
// existing bridge without published ports never needs them.
struct NftLib {
    decltype(&nft_ctx_new) ctx_new;
    decltype(&nft_ctx_free) ctx_free;
    decltype(&nft_ctx_buffer_output) buffer_output;
    decltype(&nft_ctx_buffer_error) buffer_error;
    decltype(&nft_run_cmd_from_buffer) run_cmd_from_buffer;
    decltype(&nft_ctx_get_error_buffer) get_error_buffer;
    decltype(&nft_ctx_get_output_buffer) get_output_buffer;
    decltype(&nft_ctx_output_get_flags) output_get_flags;
    decltype(&nft_ctx_output_set_flags) output_set_flags;
};

template <class T>
void load(void* h, T& fn, const char* name) {
    fn = reinterpret_cast<T>(::dlsym(h, name));
    if (!fn) throw SysError(ENOSYS, "dlsym", name, std::string("nftables: libnftables.so.1 has no ") + name);
}

const NftLib& nft() {
    static const NftLib lib = [] {
        void* h = ::dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
        if (!h) throw SysError(ENOENT, "dlopen", "libnftables.so.1", std::string("nftables: ") + ::dlerror());
        NftLib l {};
        load(h, l.ctx_new, "nft_ctx_new");
        load(h, l.ctx_free, "nft_ctx_free");
        load(h, l.buffer_output, "nft_ctx_buffer_output");
        load(h, l.buffer_error, "nft_ctx_buffer_error");
        load(h, l.run_cmd_from_buffer, "nft_run_cmd_from_buffer");
        load(h, l.get_error_buffer, "nft_ctx_get_error_buffer");
        load(h, l.get_output_buffer, "nft_ctx_get_output_buffer");
        load(h, l.output_get_flags, "nft_ctx_output_get_flags");
        load(h, l.output_set_flags, "nft_ctx_output_set_flags");
        return l;
    }();
    return lib;
}

}  // namespace

Nft::Nft() {
    ctx_ = nft().ctx_new(NFT_CTX_DEFAULT);
    if (!ctx_) throw_err(ENOMEM, "nftables", "context");
    nft().buffer_output(ctx_);
    nft().buffer_error(ctx_);
}

Nft::~Nft() {
    if (ctx_) nft().ctx_free(ctx_);
}

void Nft::run(const std::string& commands, const std::string& what) {
    if (nft().run_cmd_from_buffer(ctx_, commands.c_str()) == 0) return;
    std::string err = nft().get_error_buffer(ctx_);
    int e = errno_of(err);
    throw SysError(e, "nftables", what, "nftables " + what + ": " + first_line(err));
}

void Nft::ensure_table() {
    try {
        run(kBaseTable, "table inet layerbox");
    } catch (const SysError& e) {
        if (e.err != EEXIST) throw;  // made already (by us earlier, or a concurrent start)
    }
}

void Nft::add_network(const std::string& bridge, const std::string& subnet, bool masquerade) {
    ensure_table();
    std::string t = std::string("add element inet ") + kNftTable;
    std::string cmds = t + " bridges { \"" + bridge + "\" }\n" + t + " samenet { \"" + bridge +
                       "\" . \"" + bridge + "\" }\n";
    if (masquerade) cmds += t + " masq4 { " + subnet + " }\n";
    run(cmds, "network " + bridge);
}

void Nft::remove_network(const std::string& bridge, const std::string& subnet) {
    std::string t = std::string("delete element inet ") + kNftTable;
    for (const std::string& c : {t + " bridges { \"" + bridge + "\" }",
                                 t + " samenet { \"" + bridge + "\" . \"" + bridge + "\" }",
                                 t + " masq4 { " + subnet + " }"}) {
        try {
            run(c, "network " + bridge);
        } catch (const SysError& e) {
            if (e.err != ENOENT) throw;
        }
    }
}

void Nft::add_ports(const std::vector<PortRule>& ports) {
    if (ports.empty()) return;
    std::string cmds;
    for (auto& p : ports) cmds += "create element inet " + element(p, true) + "\n";
    try {
        run(cmds, "published ports");
    } catch (const SysError& e) {
        if (e.err != EEXIST) throw;
        // Which one: the transaction stops at the first element that exists.
        for (auto& p : ports) {
            try {
                run("get element inet " + element(p, false), "published ports");
            } catch (const SysError&) {
                continue;
            }
            std::string where = (p.host_ip.empty() ? "0.0.0.0" : p.host_ip) + ":" + std::to_string(p.host_port);
            throw SysError(EADDRINUSE, "nftables", where,
                           "Bind for " + where + " failed: port is already allocated");
        }
        throw;
    }
}

void Nft::remove_ports(const std::vector<PortRule>& ports) {
    if (ports.empty()) return;
    std::string cmds;
    for (auto& p : ports) cmds += "delete element inet " + element(p, false) + "\n";
    try {
        run(cmds, "published ports");
    } catch (const SysError& e) {
        if (e.err != ENOENT) throw;
        for (auto& p : ports) {  // one by one: some are gone already
            try {
                run("delete element inet " + element(p, false), "published ports");
            } catch (const SysError& e2) {
                if (e2.err != ENOENT) throw;
            }
        }
    }
}

std::string Nft::list_json(const std::string& what) {
    unsigned flags = nft().output_get_flags(ctx_);
    nft().output_set_flags(ctx_, flags | NFT_CTX_OUTPUT_JSON);
    try {
        run("list " + what, what);
    } catch (...) {
        nft().output_set_flags(ctx_, flags);
        throw;
    }
    nft().output_set_flags(ctx_, flags);
    return nft().get_output_buffer(ctx_);
}

void Nft::delete_table() {
    try {
        run(std::string("delete table inet ") + kNftTable, "table inet layerbox");
    } catch (const SysError& e) {
        if (e.err != ENOENT) throw;
    }
}

}  // namespace lb::net
