#include "layers/tar_common.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.hpp"

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

std::vector<std::pair<std::string, unsigned char>> list_dir(int dirfd, const std::string& shown) {
    int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) throw_errno("dup", shown);
    DIR* d = ::fdopendir(dup);
    if (!d) {
        ::close(dup);
        throw_errno("opendir", shown);
    }
    ::rewinddir(d);
    std::vector<std::pair<std::string, unsigned char>> out;
    errno = 0;
    while (struct dirent* e = ::readdir(d)) {
        if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
        out.emplace_back(e->d_name, e->d_type);
    }
    int err = errno;
    ::closedir(d);
    if (err) throw_err(err, "readdir", shown);
    // std::string compares through char_traits<char>, which compares as unsigned char: byte order.
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace lb
