// layerbox._net: links and nftables for the commands that change networks or clean up after a
// crash (network rm, the reconciliation of a container whose monitor died). A module of its
// own because it links libmnl and libnftables (and through them libjansson, libgmp, ...): the
// hot commands, and every `--network none` run, never load it. Binding only; see
// csrc/bind/bind_net.cpp.
#include "bind/bind.hpp"

PYBIND11_MODULE(_net, m) {
    m.doc() = "layerbox's network core: links over rtnetlink (libmnl), the nftables table (libnftables)";
    lb::bind::bind_errors(m);
    lb::bind::bind_net(m);
}
