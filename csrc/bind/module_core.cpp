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
    lb::bind::bind_security(m);
    // The layer functions (extract_layer, write_layer, ...) live in layerbox._layers so that
    // importing _core does not load libarchive and OpenSSL; a module __getattr__ (PEP 562)
    // makes them reachable here all the same, loading _layers on first use.
    m.def("__getattr__", [](const py::str& name) -> py::object {
        return py::module_::import("layerbox._layers").attr(name);
    });
}
