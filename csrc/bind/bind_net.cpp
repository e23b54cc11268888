#include <string>
#include <vector>

#include "bind/bind.hpp"
#include "net/netlink.hpp"
#include "net/netsetup.hpp"
#include "net/nftables.hpp"

namespace lb::bind {

namespace {

std::vector<net::PortRule> port_rules(const std::vector<py::dict>& ports, const std::string& ctr_ip) {
    std::vector<net::PortRule> out;
    for (auto& p : ports) {
        net::PortRule r;
        r.proto = p["proto"].cast<std::string>();
        r.host_ip = p.contains("host_ip") ? p["host_ip"].cast<std::string>() : "";
        r.host_port = p["host_port"].cast<int>();
        r.ctr_ip = ctr_ip;
        r.ctr_port = p["port"].cast<int>();
        out.push_back(r);
    }
    return out;
}

}  // namespace

void bind_net(py::module_& m) {
    m.def("delete_link", [](const std::string& name) {
        py::gil_scoped_release nogil;
        net::Rtnl r;
        return r.delete_link(name);
    }, py::arg("name"), "Deletes a link (a veth with its peer, a bridge); False when there was none.");
    m.def("ensure_bridge", [](const std::string& bridge, const std::string& subnet,
                              const std::string& gateway, bool masquerade) {
        py::gil_scoped_release nogil;
        return net::ensure_bridge({bridge, subnet, gateway, masquerade});
    }, py::arg("bridge"), py::arg("subnet"), py::arg("gateway"), py::arg("masquerade") = true,
       "Makes a network's bridge (gateway \"a.b.c.d/n\") unless it exists; False when it did.");
    m.def("link_exists", [](const std::string& name) {
        net::Rtnl r;
        return r.index(name) != 0;
    }, py::arg("name"));
    m.def("remove_ports", [](const std::vector<py::dict>& ports, const std::string& ctr_ip) {
        auto rules = port_rules(ports, ctr_ip);
        py::gil_scoped_release nogil;
        net::Nft nft;
        nft.remove_ports(rules);
    }, py::arg("ports"), py::arg("ctr_ip"), "Removes published ports' nftables elements.");
    m.def("remove_network", [](const std::string& bridge, const std::string& subnet) {
        py::gil_scoped_release nogil;
        net::Nft nft;
        nft.remove_network(bridge, subnet);
        net::Rtnl r;
        r.delete_link(bridge);
    }, py::arg("bridge"), py::arg("subnet"), "Deletes a network's bridge and its nftables elements.");
    m.def("delete_table", [] {
        py::gil_scoped_release nogil;
        net::Nft nft;
        nft.delete_table();
    }, "Deletes layerbox's nftables table.");
    m.def("nft_list_json", [](const std::string& what) {
        std::string out;
        {
            py::gil_scoped_release nogil;
            net::Nft nft;
            out = nft.list_json(what);
        }
        return out;
    }, py::arg("what"), "nft's JSON listing of `what` (\"map inet layerbox pub4\"); ENOENT when absent.");
    m.def("nft", [](const std::string& commands) {
        py::gil_scoped_release nogil;
        net::Nft nft;
        nft.run(commands, "commands");
    }, py::arg("commands"), "Runs nft commands as one transaction.");
}

}  // namespace lb::bind
