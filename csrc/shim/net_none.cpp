// The static monitor has no network code (see net.hpp).
#include "core/error.hpp"
#include "shim/net.hpp"

namespace lb::shim {

std::unique_ptr<NetHook> make_net_hook(const nlohmann::json& j) {
    if (!j.is_null()) throw_invalid("this monitor has no bridge networking (use layerbox-shim-net)");
    return nullptr;
}

}  // namespace lb::shim
