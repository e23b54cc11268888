// layerbox._layers: the layer engine (tar read/write, digests, changes). Binding only; see
// csrc/bind/bind_layers.cpp. Reached through layerbox._core, which forwards to it on first use.
#include "bind/bind.hpp"

PYBIND11_MODULE(_layers, m) {
    m.doc() = "layerbox's layer engine: layer tars, digests, changes";
    lb::bind::bind_errors(m);
    lb::bind::bind_layers(m);
    lb::bind::bind_layers_registry(m);
}
