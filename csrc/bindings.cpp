// layerbox._core: the Python face of the C++ core. Binding only; see csrc/bind/*.cpp.
#include "bind/bind.hpp"

#ifndef LAYERBOX_VERSION
#define LAYERBOX_VERSION "dev"
#endif

PYBIND11_MODULE(_core, m) {
    m.doc() = "layerbox's native core: namespaces, mounts, cgroups, the monitor, layer tars";
    m.attr("__version__") = LAYERBOX_VERSION;
    lb::bind::bind_errors(m);
    lb::bind::bind_container(m);
    lb::bind::bind_layers(m);
}
