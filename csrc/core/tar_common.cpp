#include "core/tar_common.hpp"

#include <vector>

namespace lb {

ScopedUtf8Locale::ScopedUtf8Locale() {
    static locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
    if (utf8) old_ = uselocale(utf8);
}

ScopedUtf8Locale::~ScopedUtf8Locale() {
    if (old_) uselocale(old_);
}

bool clean_archive_path(std::string_view in, std::string* out) {
    std::vector<std::string_view> parts;
    size_t i = 0;
    while (i <= in.size()) {
        size_t j = in.find('/', i);
        if (j == std::string_view::npos) j = in.size();
        std::string_view c = in.substr(i, j - i);
        if (c == "..") {
            if (parts.empty()) return false;
            parts.pop_back();
        } else if (!c.empty() && c != ".") {
            parts.push_back(c);
        }
        i = j + 1;
    }
    out->clear();
    for (auto c : parts) {
        if (!out->empty()) *out += '/';
        *out += c;
    }
    return true;
}

}  // namespace lb
