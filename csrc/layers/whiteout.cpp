#include "layers/whiteout.hpp"

namespace lb {

WhiteoutKind classify_whiteout(std::string_view name, std::string* target) {
    if (name.substr(0, kWhiteoutPrefix.size()) != kWhiteoutPrefix) return WhiteoutKind::None;
    if (name == kWhiteoutOpaque) return WhiteoutKind::Opaque;
    if (name.substr(0, kWhiteoutMetaPrefix.size()) == kWhiteoutMetaPrefix) return WhiteoutKind::Meta;
    std::string_view t = name.substr(kWhiteoutPrefix.size());
    if (t.empty() || t == "." || t == ".." || t.find('/') != std::string_view::npos)
        return WhiteoutKind::Invalid;
    if (target) *target = std::string(t);
    return WhiteoutKind::Delete;
}

std::string whiteout_name(std::string_view name) {
    std::string s(kWhiteoutPrefix);
    s += name;
    return s;
}

bool is_overlay_xattr(std::string_view name) {
    return name.substr(0, 16) == "trusted.overlay." || name.substr(0, 13) == "user.overlay.";
}

bool xattr_allowed_on_extract(std::string_view name) {
    if (is_overlay_xattr(name)) return false;
    if (name.substr(0, 8) == "trusted.") return false;
    return true;
}

bool xattr_allowed_on_write(std::string_view name) {
    if (is_overlay_xattr(name)) return false;
    if (name.substr(0, 8) == "trusted.") return false;
    if (name == "security.selinux") return false;
    return true;
}

}  // namespace lb
