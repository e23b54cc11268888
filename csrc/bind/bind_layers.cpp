#include "bind/bind.hpp"

namespace lb::bind {

// Layer tars: extraction, writing, digests and changes (filled in with csrc/core/tar_*.cpp).
void bind_layers(py::module_& m) { (void)m; }

}  // namespace lb::bind
