// Shared by the binding files: they only bind (argument conversion, GIL release, docstrings);
// the work happens in csrc/core.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace py = pybind11;

namespace lb::bind {

void bind_errors(py::module_& m);
void bind_container(py::module_& m);  // launch, monitor, exec, signals, freezer (bind_container.cpp)
void bind_security(py::module_& m);   // seccomp programs (bind_security.cpp)
void bind_layers(py::module_& m);     // tar read/write, digests, changes (bind_layers.cpp)
void bind_layers_registry(py::module_& m);  // gzip_fd for push (bind_layers_registry.cpp)
void bind_net(py::module_& m);        // links and nftables, for network commands (bind_net.cpp)
void bind_listing(py::module_& m);    // docker ps's rows (bind_listing.cpp)

}  // namespace lb::bind
