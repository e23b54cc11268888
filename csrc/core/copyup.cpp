#include "core/copyup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/fd.hpp"

namespace lb {

namespace {

// Hard links of the tree: (dev, ino) of the source -> an O_PATH fd of its first copy. Bounded,
// so a tree of millions of linked files cannot exhaust the descriptor table: past the bound a
// further link is copied as a file of its own (what `cp -r` without -a does).
constexpr size_t kMaxLinkFds = 512;
using LinkMap = std::map<std::pair<dev_t, ino_t>, UniqueFd>;

struct Walk {
    LinkMap links;
};

std::string join(const std::string& a, const char* b) { return a == "/" ? a + b : a + "/" + b; }

// The names in directory `fd` (read through a fresh descriptor, so `fd` keeps its offset).
std::vector<std::string> list_dir(int fd, const std::string& name) {
    int rfd = ::openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0) throw_errno("open", name);
    DIR* d = ::fdopendir(rfd);
    if (!d) {
        int e = errno;
        ::close(rfd);
        throw_err(e, "fdopendir", name);
    }
    std::vector<std::string> out;
    errno = 0;
    while (struct dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") out.push_back(std::move(n));
        errno = 0;
    }
    int e = errno;
    ::closedir(d);
    if (e) throw_err(e, "readdir", name);
    return out;
}

// Every xattr of `src` onto `dst` (both fds of the entries themselves, O_PATH allowed: they
// are reached through /proc/self/fd, which names the inode, never a path to re-resolve). One
// the destination filesystem refuses (ENOTSUP, or a security.* it will not take) is skipped,
// as `cp -a` does; anything else is an error.
void copy_xattrs(int src, int dst, const std::string& name) {
    std::string sp = fd_path(src), dp = fd_path(dst);
    ssize_t n = ::listxattr(sp.c_str(), nullptr, 0);
    if (n < 0) {
        if (errno == ENOTSUP || errno == ENODATA) return;
        throw_errno("listxattr", name);
    }
    if (n == 0) return;
    std::string names(static_cast<size_t>(n), '\0');
    n = ::listxattr(sp.c_str(), names.data(), names.size());
    if (n < 0) throw_errno("listxattr", name);
    names.resize(static_cast<size_t>(n));
    for (size_t i = 0; i < names.size();) {
        std::string key = names.c_str() + i;
        i += key.size() + 1;
        if (key.empty()) continue;
        ssize_t vn = ::getxattr(sp.c_str(), key.c_str(), nullptr, 0);
        if (vn < 0) {
            if (errno == ENODATA) continue;  // removed meanwhile
            throw_errno("getxattr " + key, name);
        }
        std::string val(static_cast<size_t>(vn), '\0');
        vn = ::getxattr(sp.c_str(), key.c_str(), val.data(), val.size());
        if (vn < 0) throw_errno("getxattr " + key, name);
        val.resize(static_cast<size_t>(vn));
        if (::setxattr(dp.c_str(), key.c_str(), val.data(), val.size(), 0) != 0) {
            if (errno == ENOTSUP || errno == EPERM) continue;
            throw_errno("setxattr " + key, name);
        }
    }
}

// Owner, mode, xattrs and times of `st` (the source entry `src`) onto the copy `dst`, an fd of
// the copy itself. Owner first: chown clears setuid/setgid, the chmod after puts them back.
void copy_meta(int src, int dst, const struct stat& st, const std::string& name) {
    if (::fchownat(dst, "", st.st_uid, st.st_gid, AT_EMPTY_PATH) != 0) throw_errno("chown", name);
    if (!S_ISLNK(st.st_mode)) {
        // chmod through /proc/self/fd: works on an O_PATH fd and names the inode itself.
        if (::chmod(fd_path(dst).c_str(), st.st_mode & 07777) != 0) throw_errno("chmod", name);
        copy_xattrs(src, dst, name);
    }
    if (S_ISLNK(st.st_mode)) return;  // its times: by the caller, from its parent (no fd can)
    // futimens on an open file or directory; an O_PATH fd (a device node, a fifo) through
    // /proc/self/fd, which leads to the inode itself (it is not a symlink).
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (::futimens(dst, times) != 0 &&
        (errno != EBADF || ::utimensat(AT_FDCWD, fd_path(dst).c_str(), times, 0) != 0))
        throw_errno("utimensat", name);
}

void copy_data(int in, int out, const std::string& name) {
    bool fallback = false;
    for (;;) {
        ssize_t n = fallback ? -1 : ::copy_file_range(in, nullptr, out, nullptr, 1 << 30, 0);
        if (n == 0) return;
        if (n > 0) continue;
        if (!fallback && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
            fallback = true;  // across filesystems on older kernels, or one without the call
        } else if (!fallback) {
            if (errno == EINTR) continue;
            throw_errno("copy_file_range", name);
        }
        char buf[1 << 16];
        for (;;) {
            ssize_t r = ::read(in, buf, sizeof buf);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) throw_errno("read", name);
            if (r == 0) return;
            write_all(out, buf, static_cast<size_t>(r), name);
        }
    }
}

void copy_entries(int src, int dst, const std::string& dir_name, Walk& w);

void copy_entry(int src, int dst, const std::string& leaf, const std::string& name, Walk& w) {
    struct stat st;
    if (::fstatat(src, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return;  // gone meanwhile
        throw_errno("stat", name);
    }
    const char* l = leaf.c_str();
    if (S_ISDIR(st.st_mode)) {
        if (::mkdirat(dst, l, 0700) != 0) throw_errno("mkdir", name);
        UniqueFd s(::openat(src, l, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!s) throw_errno("open", name);
        UniqueFd d(::openat(dst, l, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!d) throw_errno("open", name);
        copy_entries(s.get(), d.get(), name, w);
        copy_meta(s.get(), d.get(), st, name);
        return;
    }
    if (!S_ISLNK(st.st_mode) && st.st_nlink > 1) {
        auto it = w.links.find({st.st_dev, st.st_ino});
        if (it != w.links.end()) {
            // AT_EMPTY_PATH from our own fd of the first copy: no path is resolved again.
            if (::linkat(it->second.get(), "", dst, l, AT_EMPTY_PATH) != 0) throw_errno("link", name);
            return;
        }
    }
    UniqueFd made;  // an fd of the copy: O_PATH for what is not a regular file
    if (S_ISREG(st.st_mode)) {
        UniqueFd in(::openat(src, l, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
        if (!in) throw_errno("open", name);
        UniqueFd out(::openat(dst, l, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!out) throw_errno("create", name);
        copy_data(in.get(), out.get(), name);
        copy_meta(in.get(), out.get(), st, name);
        made = std::move(out);
    } else if (S_ISLNK(st.st_mode)) {
        std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
        ssize_t n = ::readlinkat(src, l, target.data(), target.size());
        if (n < 0) throw_errno("readlink", name);
        target.resize(static_cast<size_t>(n));
        if (::symlinkat(target.c_str(), dst, l) != 0) throw_errno("symlink", name);
        UniqueFd d(::openat(dst, l, O_PATH | O_NOFOLLOW | O_CLOEXEC));
        if (!d) throw_errno("open", name);
        copy_meta(-1, d.get(), st, name);
        struct timespec times[2] = {st.st_atim, st.st_mtim};
        if (::utimensat(dst, l, times, AT_SYMLINK_NOFOLLOW) != 0) throw_errno("utimensat", name);
        return;  // a link to a symlink would need the first copy's fd too: rare, copied alone
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
        if (::mknodat(dst, l, (st.st_mode & S_IFMT) | 0600, st.st_rdev) != 0) throw_errno("mknod", name);
        UniqueFd s(::openat(src, l, O_PATH | O_NOFOLLOW | O_CLOEXEC));
        if (!s) throw_errno("open", name);
        UniqueFd d(::openat(dst, l, O_PATH | O_NOFOLLOW | O_CLOEXEC));
        if (!d) throw_errno("open", name);
        struct stat now;
        if (::fstat(d.get(), &now) != 0) throw_errno("stat", name);
        if ((now.st_mode & S_IFMT) != (st.st_mode & S_IFMT)) throw_err(EEXIST, "mknod", name);
        copy_meta(s.get(), d.get(), st, name);
        made = std::move(d);
    } else {
        return;  // a socket: bound by a process that no longer exists; docker skips it too
    }
    if (st.st_nlink > 1 && w.links.size() < kMaxLinkFds)
        w.links.emplace(std::make_pair(st.st_dev, st.st_ino), std::move(made));
}

void copy_entries(int src, int dst, const std::string& dir_name, Walk& w) {
    for (const std::string& leaf : list_dir(src, dir_name)) copy_entry(src, dst, leaf, join(dir_name, leaf.c_str()), w);
}

}  // namespace

bool dir_is_empty(int dirfd) {
    return list_dir(dirfd, fd_path(dirfd)).empty();
}

void copy_tree(int src, int dst, const std::string& name) {
    Walk w;
    copy_entries(src, dst, name, w);
    struct stat st;
    if (::fstat(src, &st) != 0) throw_errno("stat", name);
    copy_meta(src, dst, st, name);
}

}  // namespace lb
