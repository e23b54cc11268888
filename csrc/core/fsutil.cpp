#include "core/fsutil.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/error.hpp"
#include "core/fd.hpp"

namespace lb {

namespace {

void empty_dir(int dfd, const std::string& shown) {
    int dup = ::fcntl(dfd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) throw_errno("dup", shown);
    DIR* d = ::fdopendir(dup);
    if (!d) {
        ::close(dup);
        throw_errno("opendir", shown);
    }
    std::vector<std::pair<std::string, bool>> entries;
    while (struct dirent* e = ::readdir(d)) {
        if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
        entries.emplace_back(e->d_name, e->d_type == DT_DIR);
    }
    ::closedir(d);
    for (auto& [name, is_dir] : entries) {
        if (!is_dir && ::unlinkat(dfd, name.c_str(), 0) == 0) continue;
        if (!is_dir && errno == ENOENT) continue;
        if (!is_dir && errno != EISDIR) throw_errno("unlink", shown + "/" + name);
        remove_tree_at(dfd, name);
    }
}

}  // namespace

void remove_tree_at(int dirfd, const std::string& name) {
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) == 0 || errno == ENOENT) return;
    if (errno == ENOTDIR) {
        if (::unlinkat(dirfd, name.c_str(), 0) == 0 || errno == ENOENT) return;
        throw_errno("unlink", name);
    }
    if (errno != ENOTEMPTY && errno != EEXIST) throw_errno("rmdir", name);
    int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return;
        throw_errno("open", name);
    }
    UniqueFd d(fd);
    // The overlay work dir leaves a mode-000 "work" inside; root passes it via
    // CAP_DAC_OVERRIDE, and this code only ever runs as root.
    empty_dir(d.get(), name);
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) throw_errno("rmdir", name);
}

void remove_tree(const std::string& path) {
    if (path.empty() || path == "/") throw_invalid("refusing to remove", path.empty() ? "''" : path);
    size_t slash = path.rfind('/');
    std::string parent = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    std::string leaf = slash == std::string::npos ? path : path.substr(slash + 1);
    int fd = ::open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return;
        throw_errno("open", parent);
    }
    UniqueFd p(fd);
    try {
        remove_tree_at(p.get(), leaf);
    } catch (const SysError& e) {
        throw SysError(e.err, e.syscall, path, format_error(e.err, "remove", path));
    }
}

}  // namespace lb

namespace lb {
void sync_filesystem(const std::string& path) {
    UniqueFd fd = open_path(path, O_RDONLY | O_DIRECTORY);
    if (::syncfs(fd.get()) != 0) throw_errno("syncfs", path);
}
}  // namespace lb
