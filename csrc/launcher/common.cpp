#include "launcher/common.hpp"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdexcept>
#include <string_view>

namespace lb::launcher {

bool is_dir(const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_file(const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string store_root(const std::string& given) {
    std::string root = given;
    if (root.empty()) {
        const char* env = ::getenv("LAYERBOX_ROOT");
        root = env && *env ? env : "/var/lib/layerbox";
    }
    if (root[0] != '/') {
        char cwd[PATH_MAX];
        if (!::getcwd(cwd, sizeof cwd)) return {};
        root = std::string(cwd) + "/" + root;
    }
    return root;
}

int global_options(int argc, char** argv, std::string& root) {
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        std::string_view a = argv[i];
        if (a == "--root" && i + 1 < argc) {
            root = argv[i + 1];
            i += 2;
        } else if (a.substr(0, 7) == "--root=") {
            root = std::string(a.substr(7));
            i += 1;
        } else {
            return -1;
        }
    }
    return i;
}

std::string random_id() {
    unsigned char b[32];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = ::getrandom(b + got, sizeof b - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error("getrandom failed");
        }
        got += size_t(n);
    }
    static const char hex[] = "0123456789abcdef";
    std::string id;
    for (unsigned char c : b) {
        id += hex[c >> 4];
        id += hex[c & 15];
    }
    return id;
}

}  // namespace lb::launcher
