// layerbox._listing: docker ps's rows read from the store (csrc/listing). A module of its own
// because it links simdjson, which Debian ships as a shared library only: the commands that
// list nothing never load it. Binding only; see csrc/bind/bind_listing.cpp.
#include "bind/bind.hpp"

PYBIND11_MODULE(_listing, m) {
    m.doc() = "layerbox's listings: docker ps's rows of the store's containers";
    lb::bind::bind_errors(m);
    lb::bind::bind_listing(m);
}
