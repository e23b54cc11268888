#include "core/rootpath.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <vector>

#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/syscalls.hpp"

namespace lb {

namespace {

std::vector<std::string> components(std::string_view path) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < path.size()) {
        size_t j = path.find('/', i);
        if (j == std::string_view::npos) j = path.size();
        std::string_view c = path.substr(i, j - i);
        if (!c.empty() && c != ".") out.emplace_back(c);
        i = j + 1;
    }
    return out;
}

bool openat2_missing = false;  // set once the kernel says ENOSYS

// The fallback walk for kernels without openat2: one component at a time, O_NOFOLLOW, with
// symlinks resolved by us against the root. Returns -1 with errno set on failure.
int walk_in_root(int rootfd, std::string_view path, int flags, bool nofollow_last) {
    std::vector<std::string> todo = components(path);
    std::vector<UniqueFd> stack;  // directories below the root, innermost last
    int links = 0;
    size_t idx = 0;
    auto cur = [&]() { return stack.empty() ? rootfd : stack.back().get(); };
    while (idx < todo.size()) {
        const std::string comp = todo[idx];
        bool last = idx + 1 == todo.size();
        if (comp == "..") {
            if (!stack.empty()) stack.pop_back();
            ++idx;
            if (last) return ::openat(cur(), ".", flags | O_CLOEXEC);
            continue;
        }
        int fd = ::openat(cur(), comp.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) return -1;
        UniqueFd f(fd);
        struct stat st;
        if (::fstat(fd, &st) != 0) return -1;
        if (S_ISLNK(st.st_mode) && !(last && nofollow_last)) {
            if (++links > 40) {
                errno = ELOOP;
                return -1;
            }
            char buf[4096];
            ssize_t n = ::readlinkat(cur(), comp.c_str(), buf, sizeof buf - 1);
            if (n < 0) return -1;
            std::string_view target(buf, static_cast<size_t>(n));
            std::vector<std::string> rest = components(target);
            rest.insert(rest.end(), todo.begin() + static_cast<long>(idx) + 1, todo.end());
            if (!target.empty() && target[0] == '/') stack.clear();
            todo = std::move(rest);
            idx = 0;
            if (todo.empty()) return ::openat(cur(), ".", flags | O_CLOEXEC);
            continue;
        }
        if (last) {
            if (S_ISLNK(st.st_mode) || (flags & O_PATH)) {
                // Reopening through the O_PATH fd keeps us on the object we checked.
                return ::openat(cur(), comp.c_str(), flags | O_NOFOLLOW | O_CLOEXEC);
            }
            return ::openat(cur(), comp.c_str(), flags | O_NOFOLLOW | O_CLOEXEC);
        }
        if (!S_ISDIR(st.st_mode)) {
            errno = ENOTDIR;
            return -1;
        }
        stack.push_back(std::move(f));
        ++idx;
    }
    return ::openat(cur(), ".", flags | O_CLOEXEC);
}

int open_in_root_raw(int rootfd, std::string_view path, int flags, bool nofollow_last) {
    std::string rel = clean_relative(path).empty() ? std::string(".") : std::string(path);
    if (!openat2_missing) {
        uint64_t resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
        int oflags = flags | O_CLOEXEC | (nofollow_last ? O_NOFOLLOW : 0);
        for (int attempt = 0; attempt < 16; ++attempt) {
            int fd = sys::openat2(rootfd, rel.c_str(), static_cast<uint64_t>(oflags), 0, resolve);
            if (fd >= 0) return fd;
            if (errno == EAGAIN || errno == EINTR) continue;  // a concurrent rename; retry
            if (errno == ENOSYS) {
                openat2_missing = true;
                break;
            }
            return -1;
        }
        if (!openat2_missing) return -1;
    }
    return walk_in_root(rootfd, rel, flags, nofollow_last);
}

}  // namespace

std::string clean_relative(std::string_view path) {
    std::vector<std::string> out;
    for (auto& c : components(path)) {
        if (c == "..") {
            if (!out.empty()) out.pop_back();
        } else {
            out.push_back(c);
        }
    }
    std::string s;
    for (auto& c : out) {
        if (!s.empty()) s += '/';
        s += c;
    }
    return s;
}

std::pair<std::string, std::string> split_parent(std::string_view path) {
    std::string clean = clean_relative(path);
    size_t slash = clean.rfind('/');
    if (slash == std::string::npos) return {"", clean};
    return {clean.substr(0, slash), clean.substr(slash + 1)};
}

UniqueFd try_open_in_root(int rootfd, std::string_view path, int flags, bool nofollow_last) {
    return UniqueFd(open_in_root_raw(rootfd, path, flags, nofollow_last));
}

UniqueFd open_in_root(int rootfd, std::string_view path, int flags, bool nofollow_last) {
    int fd = open_in_root_raw(rootfd, path, flags, nofollow_last);
    if (fd < 0) throw_errno("open", "/" + clean_relative(path));
    return UniqueFd(fd);
}

UniqueFd mkdir_p_in_root(int rootfd, std::string_view path, mode_t mode, uid_t uid, gid_t gid) {
    // Resolve as far as the path exists, inside the root; then create what is missing one
    // component at a time below that directory. A component we just created cannot be a
    // symlink unless someone raced us, and we reopen it with O_NOFOLLOW to catch that.
    std::vector<std::string> comps = components(path);
    size_t have = comps.size();
    UniqueFd dir;
    for (;;) {
        std::string prefix;
        for (size_t i = 0; i < have; ++i) prefix += (i ? "/" : "") + comps[i];
        dir = try_open_in_root(rootfd, prefix, O_PATH | O_DIRECTORY);
        if (dir) break;
        if (errno != ENOENT || have == 0) throw_errno("open", "/" + prefix);
        --have;
    }
    for (size_t i = have; i < comps.size(); ++i) {
        const std::string& c = comps[i];
        if (c == "..") throw_invalid("'..' below a missing directory", "/" + std::string(path));
        if (::mkdirat(dir.get(), c.c_str(), mode) != 0 && errno != EEXIST)
            throw_errno("mkdir", "/" + clean_relative(path));
        int fd = ::openat(dir.get(), c.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) throw_errno("open", "/" + clean_relative(path));
        UniqueFd next(fd);
        if (uid != static_cast<uid_t>(-1) || gid != static_cast<gid_t>(-1)) {
            if (::fchownat(next.get(), "", uid, gid, AT_EMPTY_PATH) != 0)
                throw_errno("chown", "/" + clean_relative(path));
        }
        dir = std::move(next);
    }
    return dir;
}

UniqueFd ensure_mountpoint(int rootfd, std::string_view path, bool want_dir) {
    UniqueFd fd = try_open_in_root(rootfd, path, O_PATH);
    if (fd) return fd;
    if (errno != ENOENT) throw_errno("open", "/" + clean_relative(path));
    if (want_dir) return mkdir_p_in_root(rootfd, path);
    auto [parent, name] = split_parent(path);
    UniqueFd pdir = mkdir_p_in_root(rootfd, parent);
    int f = ::openat(pdir.get(), name.c_str(), O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (f < 0 && errno != EEXIST) throw_errno("create", "/" + clean_relative(path));
    if (f >= 0) ::close(f);
    int p = ::openat(pdir.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (p < 0) throw_errno("open", "/" + clean_relative(path));
    return UniqueFd(p);
}

std::optional<std::string> read_regular_in_root(int rootfd, std::string_view path, uint64_t max_bytes) {
    UniqueFd f = try_open_in_root(rootfd, path, O_RDONLY | O_NONBLOCK);
    struct stat st;
    if (!f || ::fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    std::string shown(path);
    if (static_cast<uint64_t>(st.st_size) > max_bytes) throw_invalid("file too large", shown);
    return read_all(f.get(), shown);
}

}  // namespace lb
