// Container trees as tars and back (see tar_export.hpp): the private-mount helper, path
// resolution that remembers where it went (to name what it found), and the cp extractor.
#include "layers/tar_export.hpp"

#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <cerrno>
#include <deque>
#include <exception>
#include <thread>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/fd.hpp"
#include "layers/digest.hpp"
#include "core/fsutil.hpp"
#include "core/mount.hpp"
#include "core/rootpath.hpp"
#include "core/syscalls.hpp"
#include "layers/tar_common.hpp"

namespace lb {

namespace {

using json = nlohmann::json;

// Names from a container need not be UTF-8: such bytes become U+FFFD rather than an exception.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::vector<std::string> split_components(const std::string& p) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i <= p.size()) {
        size_t j = p.find('/', i);
        if (j == std::string::npos) j = p.size();
        std::string c = p.substr(i, j - i);
        if (!c.empty() && c != ".") out.push_back(c);
        i = j + 1;
    }
    return out;
}

std::string join_components(const std::vector<std::string>& v, size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s += (i ? "/" : "") + v[i];
    return s;
}

std::string read_link_at(int dirfd, const std::string& name, const std::string& shown) {
    std::string t(256, '\0');
    for (;;) {
        ssize_t n = ::readlinkat(dirfd, name.c_str(), t.data(), t.size());
        if (n < 0) throw_errno("readlink", shown);
        if (static_cast<size_t>(n) < t.size()) {
            t.resize(static_cast<size_t>(n));
            return t;
        }
        t.resize(t.size() * 2);
    }
}

// Resolves `path` inside the root one component at a time, as the kernel does with
// RESOLVE_IN_ROOT ("/" and ".." stop at the root, symlinks are read and resolved inside it),
// and returns the components of where it led: every one a real directory but the last, which
// may be missing. Keeping the components is what lets `cp -L` name the file it reached and
// lets the caller archive it from its real parent.
std::vector<std::string> resolve_components(int rootfd, const std::string& path, bool follow_last) {
    std::vector<std::string> done;
    std::deque<std::string> todo;
    for (auto& c : split_components(path)) todo.push_back(c);
    int hops = 0;
    while (!todo.empty()) {
        std::string c = todo.front();
        todo.pop_front();
        if (c == "..") {
            if (!done.empty()) done.pop_back();
            continue;
        }
        UniqueFd dir = open_in_root(rootfd, join_components(done, done.size()), O_PATH | O_DIRECTORY);
        struct stat st;
        if (::fstatat(dir.get(), c.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT && todo.empty()) {
                done.push_back(c);
                return done;
            }
            throw_errno("stat", path);
        }
        if (S_ISLNK(st.st_mode) && (!todo.empty() || follow_last)) {
            if (++hops > 40) throw_err(ELOOP, "resolve", path);
            std::string target = read_link_at(dir.get(), c, path);
            auto parts = split_components(target);
            todo.insert(todo.begin(), parts.begin(), parts.end());
            if (!target.empty() && target[0] == '/') done.clear();
            continue;
        }
        if (!todo.empty() && !S_ISDIR(st.st_mode)) throw_err(ENOTDIR, "stat", path);
        done.push_back(c);
    }
    return done;
}

const char* type_name(mode_t m) {
    if (S_ISREG(m)) return "file";
    if (S_ISDIR(m)) return "dir";
    if (S_ISLNK(m)) return "symlink";
    return "other";
}

std::string random_hex() {
    unsigned char b[8];
    UniqueFd f = open_path("/dev/urandom", O_RDONLY);
    if (::read(f.get(), b, sizeof b) != static_cast<ssize_t>(sizeof b)) throw_errno("read", "/dev/urandom");
    static const char* hex = "0123456789abcdef";
    std::string s;
    for (unsigned char c : b) {
        s += hex[c >> 4];
        s += hex[c & 15];
    }
    return s;
}

bool is_mount_root(int dirfd, const std::string& name, const std::string& shown) {
    struct statx sx;
    if (::statx(dirfd, name.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) != 0) throw_errno("stat", shown);
    return (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

// A one-entry tar of the regular file `name`: for a file that is itself a mount point (a
// running container's /etc/hosts, a file volume), which write_layer, walking the parent,
// rightly skips as another filesystem.
WriteResult archive_one_file(int dirfd, const std::string& name, int out_fd, const std::string& shown) {
    ScopedUtf8Locale loc;
    int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) throw_errno("open", shown);
    UniqueFd f(fd);
    struct stat st;
    if (::fstat(fd, &st) != 0) throw_errno("stat", shown);
    if (!S_ISREG(st.st_mode)) throw_err(ENOTSUP, "archive", shown);
    struct Out {
        int fd;
        Sha256 hash;
        uint64_t n = 0;
        std::string shown;
    } out{out_fd, {}, 0, shown};
    auto cb = [](archive*, void* ctx, const void* buf, size_t n) -> la_ssize_t {
        auto* o = static_cast<Out*>(ctx);
        o->hash.update(buf, n);
        o->n += n;
        try {
            if (o->fd >= 0) write_all(o->fd, buf, n, o->shown);
        } catch (...) {
            return -1;
        }
        return static_cast<la_ssize_t>(n);
    };
    ArchiveWritePtr aw(archive_write_new());
    ArchiveEntryPtr e(archive_entry_new());
    if (!aw || !e) throw_err(ENOMEM, "archive_write_new");
    auto check = [&](int r) {
        if (r < ARCHIVE_WARN) {
            const char* m = archive_error_string(aw.get());
            throw SysError(EIO, "", shown, "tar of " + shown + ": " + (m ? m : "write failed"));
        }
    };
    check(archive_write_set_format_pax_restricted(aw.get()));
    check(archive_write_set_bytes_per_block(aw.get(), 0));
    check(archive_write_open(aw.get(), &out, nullptr, cb, nullptr));
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), st.st_mode & 07777);
    archive_entry_set_uid(e.get(), st.st_uid);
    archive_entry_set_gid(e.get(), st.st_gid);
    archive_entry_set_mtime(e.get(), st.st_mtim.tv_sec, 0);
    archive_entry_set_size(e.get(), st.st_size);
    check(archive_write_header(aw.get(), e.get()));
    std::unique_ptr<char[]> buf(new char[kIoChunk]);
    for (;;) {
        ssize_t n = ::read(fd, buf.get(), kIoChunk);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno("read", shown);
        }
        if (n == 0) break;
        if (archive_write_data(aw.get(), buf.get(), static_cast<size_t>(n)) < 0) check(ARCHIVE_FATAL);
    }
    check(archive_write_close(aw.get()));
    WriteResult r;
    r.diff_id = r.digest = out.hash.finish();
    r.size = r.compressed_size = out.n;
    r.files = 1;
    return r;
}

}  // namespace

std::string run_in_private_overlay(const PrivateOverlay& o,
                                   const std::function<std::string(const std::string&)>& fn) {
    if (o.lower.empty()) throw_invalid("an overlay needs at least one lower directory", o.target);
    std::string result;
    std::exception_ptr error;
    // A thread of its own, not a fork: the caller is often multithreaded (the other end of a
    // pipe runs in another thread), and a forked child that needs a lock another thread held
    // at fork time (locale, OpenSSL, libarchive) waits forever. unshare(CLONE_NEWNS) here gives
    // only this thread a new mount namespace; it, and the overlay in it, end with the thread.
    std::thread t([&] {
        try {
            if (::unshare(CLONE_NEWNS) != 0) throw_errno("unshare mount namespace", o.target);
            auto api = make_best_mount_api();
            api->make_private_root();  // nothing below propagates to the host's mount table
            RootfsSpec r;
            r.lower = o.lower;
            r.upper = o.upper;
            r.work = o.work;
            r.target = o.target;
            r.readonly = o.upper.empty();
            UniqueFd target = open_path(o.target, O_PATH | O_DIRECTORY);
            if (!r.upper.empty() && !r.work.empty()) clear_volatile_mark(r.work);
            api->mount_overlay(r, target.get(), o.target);
            if (!o.mounts.empty()) {
                UniqueFd root = open_path(o.target, O_PATH | O_DIRECTORY);  // the overlay now
                for (const MountOp& op : o.mounts) {
                    if (r.readonly && !try_open_in_root(root.get(), op.target, O_PATH)) {
                        if (errno == ENOENT || errno == ENOTDIR) continue;
                        throw_errno("open", "/" + clean_relative(op.target));
                    }
                    run_mount_ops(*api, root.get(), {op});
                }
            }
            result = fn(o.target);
        } catch (...) {
            error = std::current_exception();
        }
    });
    t.join();
    if (error) std::rethrow_exception(error);
    return result;
}

PathInfo stat_in_root(const std::string& root, const std::string& path, bool follow) {
    UniqueFd rootfd = open_path(root, O_PATH | O_DIRECTORY);
    PathInfo info;
    std::vector<std::string> comps;
    try {
        comps = resolve_components(rootfd.get(), path, follow);
    } catch (const SysError& e) {
        if (e.err == ENOENT || e.err == ENOTDIR) return info;
        throw;
    }
    info.resolved = "/" + join_components(comps, comps.size());
    struct stat st;
    if (comps.empty()) {
        if (::fstat(rootfd.get(), &st) != 0) throw_errno("stat", root);
    } else {
        UniqueFd dir = open_in_root(rootfd.get(), join_components(comps, comps.size() - 1), O_PATH | O_DIRECTORY);
        if (::fstatat(dir.get(), comps.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) return info;
            throw_errno("stat", path);
        }
        if (S_ISLNK(st.st_mode)) info.link_target = read_link_at(dir.get(), comps.back(), path);
        info.name = comps.back();
        info.mount_root = is_mount_root(dir.get(), comps.back(), path);
    }
    info.exists = true;
    info.type = type_name(st.st_mode);
    info.mode = st.st_mode;
    info.size = static_cast<uint64_t>(st.st_size);
    info.mtime = st.st_mtim.tv_sec;
    return info;
}

WriteResult archive_in_root(const std::string& root, const std::string& path, bool follow,
                            bool contents_only, int out_fd) {
    UniqueFd rootfd = open_path(root, O_PATH | O_DIRECTORY);
    std::vector<std::string> comps = resolve_components(rootfd.get(), path, follow);
    WriteOptions opts;
    opts.source = LayerSource::Dir;
    if (comps.empty() || contents_only) {
        UniqueFd dir = open_in_root(rootfd.get(), join_components(comps, comps.size()), O_PATH | O_DIRECTORY);
        return write_layer(fd_path(dir.get()), out_fd, opts);
    }
    // One entry (and what is below it) of its real parent: the writer walks the parent and
    // skips every sibling, so names in the tar start with the entry's own name.
    UniqueFd parent = open_in_root(rootfd.get(), join_components(comps, comps.size() - 1), O_RDONLY | O_DIRECTORY);
    struct stat st;
    if (::fstatat(parent.get(), comps.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) throw_errno("stat", path);
    if (is_mount_root(parent.get(), comps.back(), path)) {
        if (S_ISREG(st.st_mode)) return archive_one_file(parent.get(), comps.back(), out_fd, path);
        // A mounted directory (a volume): walked from itself, under its own name, as docker
        // sends it ("vol/", "vol/a").
        UniqueFd dir = open_in_root(rootfd.get(), join_components(comps, comps.size()), O_PATH | O_DIRECTORY);
        opts.top_name = comps.back();
        return write_layer(fd_path(dir.get()), out_fd, opts);
    }
    for (auto& [name, _t] : list_dir(parent.get(), path))
        if (name != comps.back()) opts.exclude.push_back(name);
    return write_layer(fd_path(parent.get()), out_fd, opts);
}

ExtractResult extract_in_root(int src_fd, const std::string& root, const std::string& dir,
                              const std::string& rename_to, const ExtractOptions& o) {
    if (rename_to.empty()) return extract_tree(src_fd, root, dir, o);
    if (rename_to.find('/') != std::string::npos || rename_to == "." || rename_to == "..")
        throw_invalid("not a plain name to copy to", rename_to);
    UniqueFd rootfd = open_path(root, O_PATH | O_DIRECTORY);
    UniqueFd dirfd = mkdir_p_in_root(rootfd.get(), dir);
    std::string tmp = ".layerbox-cp-" + random_hex();
    if (::mkdirat(dirfd.get(), tmp.c_str(), 0700) != 0) throw_errno("mkdir", dir + "/" + tmp);
    ExtractResult r;
    try {
        // O_NOFOLLOW: a process in a running container cannot swap our directory for a link.
        int t = ::openat(dirfd.get(), tmp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (t < 0) throw_errno("open", dir + "/" + tmp);
        UniqueFd tfd(t);
        r = extract_tree(src_fd, fd_path(tfd.get()), "", o);
        auto names = list_dir(tfd.get(), dir + "/" + tmp);
        if (names.size() != 1)
            throw_invalid("the archive must hold exactly one top-level entry to copy it to a new name", rename_to);
        if (::renameat(tfd.get(), names[0].first.c_str(), dirfd.get(), rename_to.c_str()) != 0)
            throw_errno("rename", dir + "/" + rename_to);
    } catch (...) {
        try {
            remove_tree_at(dirfd.get(), tmp);
        } catch (...) {
        }
        throw;
    }
    remove_tree_at(dirfd.get(), tmp);
    return r;
}

std::string to_json(const WriteResult& r) {
    return dump(json{{"diff_id", r.diff_id}, {"digest", r.digest}, {"size", r.size},
                     {"compressed_size", r.compressed_size}, {"files", r.files}});
}

std::string to_json(const ExtractResult& r) {
    return dump(json{{"diff_id", r.diff_id}, {"digest", r.digest}, {"size", r.size},
                     {"compressed_size", r.compressed_size}, {"unpacked_size", r.unpacked_size},
                     {"entries", r.entries}, {"compression", r.compression}});
}

std::string to_json(const PathInfo& r) {
    return dump(json{{"exists", r.exists}, {"type", r.type}, {"mode", r.mode}, {"size", r.size},
                     {"mtime", r.mtime}, {"link_target", r.link_target}, {"name", r.name},
                     {"resolved", r.resolved}, {"mount_root", r.mount_root}});
}

}  // namespace lb
