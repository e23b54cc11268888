// The layer extractor.
//
// Why libarchive, and why not archive_write_disk: tar is an old format with many dialects (v7,
// ustar, GNU long names and sparse maps, PAX records for long names, big ids and sizes, xattrs
// as SCHILY.xattr, hdrcharset, global headers), and libarchive is the well-kept parser of all of
// them, fuzzed for years; writing our own would mean rediscovering its bugs. But we use it only
// to PARSE: every byte reaches it through our read callback (so we decompress ourselves and
// hash both the raw and the uncompressed stream in the same pass), and every filesystem change
// is made here, not by archive_write_disk. archive_write_disk resolves names as strings under
// the process's view of the filesystem; its ARCHIVE_EXTRACT_SECURE_* flags check symlinks with
// lstat walks that race with concurrent changes and cannot express "resolve inside this root"
// (an absolute symlink in an image means the image's /etc, not the host's). Here each entry's
// parent is opened with openat2(RESOLVE_IN_ROOT) (core/rootpath.hpp), the entry is created
// relative to that fd with calls that never follow a final symlink (O_CREAT|O_EXCL|O_NOFOLLOW,
// mkdirat, symlinkat, mknodat, linkat on a resolved fd), and metadata is applied through the
// fd we created. Nothing an archive says can make us write outside the destination.
#include "layers/tar_read.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <unordered_set>
#include <vector>

#include "layers/compress.hpp"
#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/fsutil.hpp"
#include "core/rootpath.hpp"
#include "core/space.hpp"
#include "layers/tar_common.hpp"
#include "layers/whiteout.hpp"

namespace lb {

WhiteoutMode parse_whiteout_mode(const std::string& s) {
    if (s == "overlay") return WhiteoutMode::Overlay;
    if (s == "apply") return WhiteoutMode::Apply;
    if (s == "none") return WhiteoutMode::None;
    throw_invalid("whiteouts must be \"overlay\", \"apply\" or \"none\"", s.empty() ? "''" : s);
}

namespace {

// The process's umask, without changing it (umask(2) would, for every thread): from
// /proc/self/status; 0777 (assume every bit stripped) when it cannot be read.
mode_t current_umask() {
    int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0777;
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) return 0777;
    buf[n] = 0;
    const char* p = std::strstr(buf, "\nUmask:");
    if (!p) return 0777;
    return static_cast<mode_t>(std::strtoul(p + 7, nullptr, 8)) & 0777;
}

struct DirTime {
    std::string rel;
    dev_t dev;
    ino_t ino;
    struct timespec ts[2];
};

class Extractor {
public:
    Extractor(int rootfd, std::string base, std::string shown, int src_fd, const ExtractOptions& o)
        : rootfd_(rootfd), base_(std::move(base)), shown_(std::move(shown)), opts_(o),
          reserve_(rootfd, o.min_free, shown_),
          input_(StreamSource{src_fd, o.src_prefix, o.src_limit, o.src_timeout_ms, o.progress, o.tee_fd, o.tee_have},
                 o.blob_fd, shown_),
          euid_(::geteuid()), egid_(::getegid()), umask_(current_umask()) {
        input_.keep_free(&reserve_);
    }

    ExtractResult run();

private:
    // --- errors -------------------------------------------------------------------------------
    [[noreturn]] void bad_entry(const std::string& name, const std::string& problem, int err = EINVAL) {
        throw SysError(err, "", shown_,
                       shown_ + ": layer archive entry " + name + ": " + problem);
    }
    [[noreturn]] void sys_entry(const std::string& syscall, const std::string& rel, int err = errno) {
        std::string p = display(rel);
        throw SysError(err, syscall, p, syscall + " " + p + ": " + errno_text(err));
    }
    [[noreturn]] void archive_failed();
    std::string display(const std::string& rel) const {
        std::string f = full(rel);
        return shown_ + (f.empty() ? "" : "/" + f);
    }

    // --- paths --------------------------------------------------------------------------------
    std::string full(const std::string& rel) const {
        if (base_.empty()) return rel;
        if (rel.empty()) return base_;
        return base_ + "/" + rel;
    }
    int parent_fd(const std::string& parent, bool create);
    void invalidate() {
        cache_valid_ = false;
        cache_fd_.reset();
    }
    // Clears the way for a new entry at pfd/name. Returns true when an existing directory is to
    // be kept (want_dir and a directory is there).
    bool make_room(int pfd, const std::string& name, const std::string& rel, bool want_dir);

    // --- entries ------------------------------------------------------------------------------
    void entry(archive_entry* e);
    void whiteout_delete(const std::string& parent, const std::string& target, archive_entry* e);
    void whiteout_opaque(const std::string& parent);
    void apply_opaque(int dirfd, const std::string& rel);
    void regular(int pfd, const std::string& name, const std::string& rel, archive_entry* e);
    void directory(int pfd, const std::string& name, const std::string& rel, archive_entry* e);
    void symlink(int pfd, const std::string& name, const std::string& rel, archive_entry* e);
    void hardlink(int pfd, const std::string& name, const std::string& rel, archive_entry* e);
    void special(int pfd, const std::string& name, const std::string& rel, archive_entry* e,
                 mode_t type, dev_t rdev);
    void root_dir(archive_entry* e);

    // --- metadata -----------------------------------------------------------------------------
    uid_t uid_of(archive_entry* e) const {
        return opts_.chown ? opts_.uid : static_cast<uid_t>(archive_entry_uid(e));
    }
    gid_t gid_of(archive_entry* e) const {
        return opts_.chown ? opts_.gid : static_cast<gid_t>(archive_entry_gid(e));
    }
    static void times_of(archive_entry* e, struct timespec ts[2]) {
        ts[1].tv_sec = archive_entry_mtime(e);
        ts[1].tv_nsec = archive_entry_mtime_nsec(e);
        if (archive_entry_atime_is_set(e)) {
            ts[0].tv_sec = archive_entry_atime(e);
            ts[0].tv_nsec = archive_entry_atime_nsec(e);
        } else {
            ts[0] = ts[1];
        }
    }
    // Sets the entry's xattrs with `set(name, value, size)` (returns 0 or -1 with errno).
    template <class F>
    void xattrs(archive_entry* e, const std::string& rel, F set);
    void meta_fd(int fd, const std::string& rel, archive_entry* e, bool set_times);
    void record_dir(int fd, const std::string& rel, archive_entry* e);
    void fix_dir_times();

    static la_ssize_t read_cb(archive* a, void* ctx, const void** buf);

    int rootfd_;
    std::string base_;   // extraction directory, relative to the root ("" = the root itself)
    std::string shown_;  // how errors name the destination
    ExtractOptions opts_;
    SpaceReserve reserve_;
    LayerInput input_;
    ArchiveReadPtr ar_;
    std::exception_ptr pending_;
    ExtractResult res_;

    bool cache_valid_ = false;
    std::string cache_path_;
    UniqueFd cache_fd_;
    bool cache_setgid_ = false;  // the cached parent has the setgid bit (new entries take its group)
    uid_t euid_;
    gid_t egid_;
    mode_t umask_;
    std::vector<DirTime> dirs_;
    std::unordered_set<std::string> unpacked_;  // WhiteoutMode::Apply: paths this archive wrote
    std::string current_;                       // the entry being extracted, for messages
};

la_ssize_t Extractor::read_cb(archive* a, void* ctx, const void** buf) {
    auto* x = static_cast<Extractor*>(ctx);
    try {
        auto [p, n] = x->input_.next();
        *buf = p;
        return static_cast<la_ssize_t>(n);
    } catch (...) {
        // No C++ exception may cross libarchive's C frames: park it and fail the read.
        x->pending_ = std::current_exception();
        archive_set_error(a, EIO, "read failed");
        return -1;
    }
}

void Extractor::archive_failed() {
    if (pending_) std::rethrow_exception(pending_);
    const char* msg = archive_error_string(ar_.get());
    std::string m = msg ? msg : "unknown error";
    for (auto& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    while (!m.empty() && (m.back() == '.' || m.back() == '\n')) m.pop_back();
    if (m.find("truncated") != std::string::npos || m.find("premature end") != std::string::npos)
        throw SysError(EIO, "", shown_, shown_ + ": layer archive: unexpected end of data (" + m + ")");
    if (m.find("unrecognized archive format") != std::string::npos)
        throw SysError(EINVAL, "", shown_, shown_ + ": layer archive: not a tar archive");
    throw SysError(EINVAL, "", shown_, shown_ + ": layer archive: corrupt (" + m + ")");
}

int Extractor::parent_fd(const std::string& parent, bool create) {
    if (cache_valid_ && cache_path_ == parent) return cache_fd_.get();
    std::string f = full(parent);
    UniqueFd fd = try_open_in_root(rootfd_, f, O_PATH | O_DIRECTORY);
    if (!fd) {
        int e = errno;
        if (e == ENOENT && create) {
            try {
                fd = mkdir_p_in_root(rootfd_, f, 0755);
            } catch (const SysError& err) {
                e = err.err;
            }
        }
        // A symlink on the way that leads to nothing (or loops), or a file where a directory
        // should be: refused, never resolved outside.
        if (!fd) bad_entry(current_, "parent directory " + (parent.empty() ? "." : parent) + ": " + errno_text(e), e);
    }
    struct stat st;
    cache_setgid_ = ::fstat(fd.get(), &st) != 0 || (st.st_mode & S_ISGID);
    cache_fd_ = std::move(fd);
    cache_path_ = parent;
    cache_valid_ = true;
    return cache_fd_.get();
}

bool Extractor::make_room(int pfd, const std::string& name, const std::string& rel, bool want_dir) {
    struct stat st;
    if (::fstatat(pfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return false;
        sys_entry("stat", rel);
    }
    bool is_dir = S_ISDIR(st.st_mode);
    if (is_dir && want_dir) return true;
    if (opts_.no_overwrite_dir_non_dir && (is_dir || want_dir)) {
        bad_entry(rel, is_dir ? "cannot overwrite directory with non-directory"
                              : "cannot overwrite non-directory with directory",
                  EEXIST);
    }
    // The cached parent may be this very directory (or lie below it): forget it.
    int keep = ::fcntl(pfd, F_DUPFD_CLOEXEC, 0);
    if (keep < 0) sys_entry("dup", rel);
    UniqueFd p(keep);
    invalidate();
    if (is_dir) {
        try {
            remove_tree_at(p.get(), name);
        } catch (const SysError& err) {
            sys_entry("remove", rel, err.err);
        }
    } else if (::unlinkat(p.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
        sys_entry("unlink", rel);
    }
    return false;
}

template <class F>
void Extractor::xattrs(archive_entry* e, const std::string& rel, F set) {
    if (archive_entry_xattr_reset(e) == 0) return;
    const char* name;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
        if (!name || !xattr_allowed_on_extract(name)) continue;
        if (set(name, value, size) != 0) {
            // The filesystem or the kernel may not allow a namespace (user.* on a symlink,
            // security.* without the capability): skipped, as docker does.
            if (errno == ENOTSUP || errno == EOPNOTSUPP || errno == EPERM) continue;
            sys_entry(std::string("setxattr ") + name, rel);
        }
    }
}

void Extractor::meta_fd(int fd, const std::string& rel, archive_entry* e, bool set_times) {
    // Order matters: chown clears setuid/setgid (so chmod after it), and chown or a write
    // clears security.capability (so xattrs after both).
    if (::fchown(fd, uid_of(e), gid_of(e)) != 0) sys_entry("chown", rel);
    if (::fchmod(fd, archive_entry_perm(e) & 07777) != 0) sys_entry("chmod", rel);
    xattrs(e, rel, [fd](const char* n, const void* v, size_t s) { return ::fsetxattr(fd, n, v, s, 0); });
    if (set_times) {
        struct timespec ts[2];
        times_of(e, ts);
        if (::futimens(fd, ts) != 0) sys_entry("utimensat", rel);
    }
}

void Extractor::record_dir(int fd, const std::string& rel, archive_entry* e) {
    struct stat st;
    if (::fstat(fd, &st) != 0) sys_entry("stat", rel);
    DirTime d{rel, st.st_dev, st.st_ino, {}};
    times_of(e, d.ts);
    dirs_.push_back(std::move(d));
}

void Extractor::fix_dir_times() {
    // Directory times last, once nothing more is created inside them. Each directory is found
    // again inside the root and must still be the inode we made (a later entry may have
    // replaced it). In archive order, so a later entry for the same directory wins.
    for (auto it = dirs_.begin(); it != dirs_.end(); ++it) {
        UniqueFd fd = try_open_in_root(rootfd_, full(it->rel), O_RDONLY | O_DIRECTORY, true);
        if (!fd) continue;
        struct stat st;
        if (::fstat(fd.get(), &st) != 0 || st.st_dev != it->dev || st.st_ino != it->ino) continue;
        if (::futimens(fd.get(), it->ts) != 0) sys_entry("utimensat", it->rel);
    }
}

void Extractor::regular(int pfd, const std::string& name, const std::string& rel, archive_entry* e) {
    // Created with its permission bits (the umask takes what it takes; a fchmod below puts
    // them back), so that most files need neither fchmod nor fchown: a file is three calls
    // (create, write, set times) and a close.
    mode_t perm = archive_entry_perm(e) & 07777;
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = ::openat(pfd, name.c_str(), flags, perm & 0777);
    if (fd < 0 && errno == EEXIST) {
        make_room(pfd, name, rel, false);
        pfd = parent_fd(split_parent(rel).first, true);
        fd = ::openat(pfd, name.c_str(), flags, perm & 0777);
    }
    if (fd < 0) sys_entry("create", rel);
    UniqueFd f(fd);
    const void* buf;
    size_t size;
    la_int64_t offset;
    int64_t end = 0;
    for (;;) {
        int r = archive_read_data_block(ar_.get(), &buf, &size, &offset);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) archive_failed();
        const char* p = static_cast<const char*>(buf);
        // Offsets jump over holes of sparse entries; pwrite leaves them unallocated.
        while (size > 0) {
            ssize_t n = ::pwrite(fd, p, std::min(size, kMaxFileWrite), offset);
            if (n < 0) {
                if (errno == EINTR) continue;
                sys_entry("write", rel);
            }
            p += n;
            size -= static_cast<size_t>(n);
            offset += n;
        }
        if (offset > end) end = offset;
    }
    int64_t want = archive_entry_size(e);
    if (want > end && ::ftruncate(fd, want) != 0) sys_entry("truncate", rel);  // trailing hole
    res_.unpacked_size += static_cast<uint64_t>(want > 0 ? want : 0);
    // A new file is ours already (euid, egid), unless its directory is setgid.
    if (uid_of(e) != euid_ || gid_of(e) != egid_ || cache_setgid_) {
        if (::fchown(fd, uid_of(e), gid_of(e)) != 0) sys_entry("chown", rel);
    }
    if (((perm & 07000) || (perm & umask_)) && ::fchmod(fd, perm) != 0) sys_entry("chmod", rel);
    xattrs(e, rel, [fd](const char* n, const void* v, size_t s) { return ::fsetxattr(fd, n, v, s, 0); });
    struct timespec ts[2];
    times_of(e, ts);
    if (::futimens(fd, ts) != 0) sys_entry("utimensat", rel);
}

void Extractor::directory(int pfd, const std::string& name, const std::string& rel, archive_entry* e) {
    if (::mkdirat(pfd, name.c_str(), 0700) != 0) {
        if (errno != EEXIST) sys_entry("mkdir", rel);
        if (!make_room(pfd, name, rel, true)) {
            pfd = parent_fd(split_parent(rel).first, true);
            if (::mkdirat(pfd, name.c_str(), 0700) != 0) sys_entry("mkdir", rel);
        }
    }
    int fd = ::openat(pfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) sys_entry("open", rel);
    UniqueFd d(fd);
    meta_fd(fd, rel, e, false);
    record_dir(fd, rel, e);
}

void Extractor::root_dir(archive_entry* e) {
    // "./" in an archive: the extraction directory's own metadata (docker applies it too).
    UniqueFd d = open_in_root(rootfd_, full(""), O_RDONLY | O_DIRECTORY);
    meta_fd(d.get(), "", e, false);
    record_dir(d.get(), "", e);
}

void Extractor::symlink(int pfd, const std::string& name, const std::string& rel, archive_entry* e) {
    const char* target = archive_entry_symlink(e);
    if (!target || !*target) bad_entry(rel, "symlink without a target");
    // The target is stored as it is: a symlink is only data. Whatever it says, later entries
    // and every later lookup resolve it inside the root.
    if (::symlinkat(target, pfd, name.c_str()) != 0) {
        if (errno != EEXIST) sys_entry("symlink", rel);
        make_room(pfd, name, rel, false);
        pfd = parent_fd(split_parent(rel).first, true);
        if (::symlinkat(target, pfd, name.c_str()) != 0) sys_entry("symlink", rel);
    }
    if (::fchownat(pfd, name.c_str(), uid_of(e), gid_of(e), AT_SYMLINK_NOFOLLOW) != 0) sys_entry("lchown", rel);
    // The parent through its fd, the link itself not followed.
    std::string lpath = fd_path(pfd) + "/" + name;
    xattrs(e, rel, [&](const char* n, const void* v, size_t s) { return ::lsetxattr(lpath.c_str(), n, v, s, 0); });
    struct timespec ts[2];
    times_of(e, ts);
    if (::utimensat(pfd, name.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) sys_entry("utimensat", rel);
}

void Extractor::hardlink(int pfd, const std::string& name, const std::string& rel, archive_entry* e) {
    const char* raw = archive_entry_hardlink(e);
    std::string target;
    if (!clean_archive_path(raw, &target)) bad_entry(rel, std::string("hard link target ") + raw + " escapes the destination");
    if (target.empty()) bad_entry(rel, "hard link to the destination directory itself");
    // The target is resolved inside the root, its last component not followed: a link to a
    // symlink links the symlink.
    UniqueFd t = try_open_in_root(rootfd_, full(target), O_PATH, true);
    if (!t) {
        int err = errno;
        bad_entry(rel, "hard link target " + target + ": " + errno_text(err), err);
    }
    struct stat ts;
    if (::fstat(t.get(), &ts) != 0) sys_entry("stat", target);
    if (S_ISDIR(ts.st_mode)) bad_entry(rel, "hard link target " + target + " is a directory", EPERM);
    if (S_ISLNK(ts.st_mode)) {
        char buf[4096];
        ssize_t n = ::readlinkat(t.get(), "", buf, sizeof buf);
        if (n < 0) sys_entry("readlink", target);
        std::string link(buf, static_cast<size_t>(n));
        std::string dir = split_parent(target).first, resolved;
        if (link.empty() || link[0] == '/' || !clean_archive_path(dir + "/" + link, &resolved))
            bad_entry(rel, "hard link to symlink " + target + " that leads outside the destination", EPERM);
    }
    struct stat cur;
    if (::fstatat(pfd, name.c_str(), &cur, AT_SYMLINK_NOFOLLOW) == 0) {
        if (cur.st_dev == ts.st_dev && cur.st_ino == ts.st_ino) return;  // already that file
        make_room(pfd, name, rel, false);
        pfd = parent_fd(split_parent(rel).first, true);
    }
    if (::linkat(t.get(), "", pfd, name.c_str(), AT_EMPTY_PATH) != 0) {
        // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the /proc link of the fd does not.
        if (errno != ENOENT && errno != EPERM) sys_entry("link", rel);
        if (::linkat(AT_FDCWD, fd_path(t.get()).c_str(), pfd, name.c_str(), AT_SYMLINK_FOLLOW) != 0)
            sys_entry("link", rel);
    }
}

void Extractor::special(int pfd, const std::string& name, const std::string& rel, archive_entry* e,
                        mode_t type, dev_t rdev) {
    if (::mknodat(pfd, name.c_str(), type | 0600, rdev) != 0) {
        if (errno != EEXIST) sys_entry("mknod", rel);
        make_room(pfd, name, rel, false);
        pfd = parent_fd(split_parent(rel).first, true);
        if (::mknodat(pfd, name.c_str(), type | 0600, rdev) != 0) sys_entry("mknod", rel);
    }
    // Through an O_PATH fd of the node we made (opening a FIFO or a device for real could block
    // or have effects); /proc/self/fd/N reaches exactly that inode.
    int fd = ::openat(pfd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) sys_entry("open", rel);
    UniqueFd n(fd);
    std::string p = fd_path(fd);
    if (::fchownat(fd, "", uid_of(e), gid_of(e), AT_EMPTY_PATH) != 0) sys_entry("chown", rel);
    if (::chmod(p.c_str(), archive_entry_perm(e) & 07777) != 0) sys_entry("chmod", rel);
    xattrs(e, rel, [&](const char* k, const void* v, size_t s) { return ::setxattr(p.c_str(), k, v, s, 0); });
    struct timespec ts[2];
    times_of(e, ts);
    if (::utimensat(AT_FDCWD, p.c_str(), ts, 0) != 0) sys_entry("utimensat", rel);
}

void Extractor::whiteout_delete(const std::string& parent, const std::string& target, archive_entry* e) {
    std::string rel = parent.empty() ? target : parent + "/" + target;
    if (opts_.whiteouts == WhiteoutMode::Apply) {
        // Delete what the layers below had; a missing parent means nothing to delete.
        int pfd;
        if (cache_valid_ && cache_path_ == parent) {
            pfd = cache_fd_.get();
        } else {
            UniqueFd fd = try_open_in_root(rootfd_, full(parent), O_PATH | O_DIRECTORY);
            if (!fd) {
                if (errno == ENOENT || errno == ENOTDIR) return;
                int e = errno;
                bad_entry(current_, "parent directory " + (parent.empty() ? "." : parent) + ": " + errno_text(e), e);
            }
            cache_fd_ = std::move(fd);
            cache_path_ = parent;
            cache_valid_ = true;
            cache_setgid_ = true;  // not looked at: assume the worst
            pfd = cache_fd_.get();
        }
        int keep = ::fcntl(pfd, F_DUPFD_CLOEXEC, 0);
        if (keep < 0) sys_entry("dup", rel);
        UniqueFd p(keep);
        invalidate();
        try {
            remove_tree_at(p.get(), target);
        } catch (const SysError& err) {
            sys_entry("remove", rel, err.err);
        }
        unpacked_.erase(rel);
        return;
    }
    // Overlay: a character device 0/0 named like the deleted entry.
    int pfd = parent_fd(parent, true);
    if (::mknodat(pfd, target.c_str(), S_IFCHR, makedev(0, 0)) != 0) {
        if (errno != EEXIST) sys_entry("mknod", rel);
        make_room(pfd, target, rel, false);
        pfd = parent_fd(parent, true);
        if (::mknodat(pfd, target.c_str(), S_IFCHR, makedev(0, 0)) != 0) sys_entry("mknod", rel);
    }
    if (::fchownat(pfd, target.c_str(), uid_of(e), gid_of(e), AT_SYMLINK_NOFOLLOW) != 0)
        sys_entry("chown", rel);
    // The entry's mtime too, so that the unpacked layer written back out hashes the same.
    struct timespec ts[2];
    times_of(e, ts);
    if (::utimensat(pfd, target.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) sys_entry("utimensat", rel);
}

void Extractor::apply_opaque(int dirfd, const std::string& rel) {
    for (const auto& [name, dtype] : list_dir(dirfd, display(rel))) {
        std::string child = rel.empty() ? name : rel + "/" + name;
        if (unpacked_.count(child)) {
            // Written by this archive: kept, but what the layers below left inside it goes.
            if (dtype != DT_DIR && dtype != DT_UNKNOWN) continue;
            int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) continue;  // not a directory after all
            UniqueFd c(fd);
            apply_opaque(c.get(), child);
            continue;
        }
        try {
            remove_tree_at(dirfd, name);
        } catch (const SysError& err) {
            sys_entry("remove", child, err.err);
        }
    }
}

void Extractor::whiteout_opaque(const std::string& parent) {
    if (opts_.whiteouts == WhiteoutMode::Apply) {
        UniqueFd fd = try_open_in_root(rootfd_, full(parent), O_RDONLY | O_DIRECTORY);
        if (!fd) {
            if (errno == ENOENT || errno == ENOTDIR) return;
            int e = errno;
            bad_entry(current_, "directory " + (parent.empty() ? "." : parent) + ": " + errno_text(e), e);
        }
        invalidate();
        apply_opaque(fd.get(), parent);
        return;
    }
    int pfd = parent_fd(parent, true);
    if (::setxattr(fd_path(pfd).c_str(), kOverlayOpaqueXattr, "y", 1, 0) != 0)
        sys_entry(std::string("setxattr ") + kOverlayOpaqueXattr, parent);
}

void Extractor::entry(archive_entry* e) {
    const char* raw = archive_entry_pathname(e);
    if (!raw) bad_entry("(unnamed)", "entry without a name");
    std::string rel;
    current_ = raw;
    if (!clean_archive_path(raw, &rel)) bad_entry(raw, "path escapes the destination");
    ++res_.entries;
    const char* hl = archive_entry_hardlink(e);
    mode_t type = archive_entry_filetype(e);
    if (rel.empty()) {
        if (type == AE_IFDIR && !hl) return root_dir(e);
        bad_entry(raw, "a non-directory entry for the destination directory itself");
    }
    auto [parent, name] = split_parent(rel);

    if (opts_.whiteouts != WhiteoutMode::None) {
        std::string target;
        switch (classify_whiteout(name, &target)) {
            case WhiteoutKind::Delete: return whiteout_delete(parent, target, e);
            case WhiteoutKind::Opaque: return whiteout_opaque(parent);
            case WhiteoutKind::Meta: return;
            case WhiteoutKind::Invalid: bad_entry(raw, "whiteout names nothing");
            case WhiteoutKind::None: break;
        }
        dev_t rdev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
        if (!hl && opts_.whiteouts == WhiteoutMode::Apply && is_overlay_whiteout(type, rdev))
            return whiteout_delete(parent, name, e);
    }

    int pfd = parent_fd(parent, true);
    if (opts_.whiteouts == WhiteoutMode::Apply) unpacked_.insert(rel);
    if (hl) return hardlink(pfd, name, rel, e);
    switch (type) {
        case AE_IFREG: return regular(pfd, name, rel, e);
        case AE_IFDIR: return directory(pfd, name, rel, e);
        case AE_IFLNK: return symlink(pfd, name, rel, e);
        case AE_IFIFO: return special(pfd, name, rel, e, S_IFIFO, 0);
        case AE_IFCHR:
        case AE_IFBLK: {
            dev_t rdev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
            bool whiteout = is_overlay_whiteout(type, rdev);
            if (!whiteout && !opts_.allow_devices) {
                bad_entry(rel, std::string(type == AE_IFBLK ? "block" : "character") + " device " +
                                   std::to_string(major(rdev)) + ":" + std::to_string(minor(rdev)) +
                                   " refused (device nodes are not allowed in this extraction)",
                          EPERM);
            }
            return special(pfd, name, rel, e, type == AE_IFBLK ? S_IFBLK : S_IFCHR, rdev);
        }
        case AE_IFSOCK: return;  // tar cannot carry a socket's meaning; docker skips them too
        default: bad_entry(rel, "unknown entry type " + std::to_string(type));
    }
}

ExtractResult Extractor::run() {
    ScopedUtf8Locale loc;
    ar_.reset(archive_read_new());
    if (!ar_) throw_err(ENOMEM, "archive_read_new");
    archive_read_support_format_tar(ar_.get());
    archive_read_support_format_empty(ar_.get());
    if (archive_read_open(ar_.get(), this, nullptr, read_cb, nullptr) != ARCHIVE_OK) archive_failed();
    ArchiveEntryPtr holder(archive_entry_new());
    for (;;) {
        archive_entry* e = holder.get();
        int r = archive_read_next_header2(ar_.get(), e);
        if (r == ARCHIVE_EOF) break;
        // ARCHIVE_WARN: e.g. a PAX name that is not valid UTF-8; the raw bytes are kept.
        if (r < ARCHIVE_WARN || r == ARCHIVE_RETRY) archive_failed();
        entry(e);
    }
    input_.drain();  // whatever follows the end-of-archive blocks is part of the digests
    fix_dir_times();
    res_.diff_id = input_.tar_digest();
    res_.digest = input_.raw_digest();
    res_.size = input_.tar_bytes();
    res_.compressed_size = input_.raw_bytes();
    res_.compression = compression_name(input_.compression());
    return res_;
}

}  // namespace

ExtractResult extract_layer(int src_fd, const std::string& dest_dir, const ExtractOptions& opts) {
    UniqueFd root = open_path(dest_dir, O_RDONLY | O_DIRECTORY);
    Extractor x(root.get(), "", dest_dir, src_fd, opts);
    return x.run();
}

namespace {

std::string read_fd_link(int fd) {
    char buf[PATH_MAX];
    ssize_t n = ::readlink(fd_path(fd).c_str(), buf, sizeof buf - 1);
    if (n < 0) throw_errno("readlink", fd_path(fd));
    return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

ExtractResult extract_tree(int src_fd, const std::string& root_dir, const std::string& dest_path,
                           const ExtractOptions& opts) {
    UniqueFd root = open_path(root_dir, O_RDONLY | O_DIRECTORY);
    UniqueFd dest = mkdir_p_in_root(root.get(), dest_path, 0755);
    // Where dest_path led (it may go through symlinks inside the root): its path below the
    // root, from the kernel's name of the two fds, then checked to be that very directory
    // again when resolved inside the root. Containment never depends on this string: every
    // entry is still opened with RESOLVE_IN_ROOT on the root fd.
    std::string r = read_fd_link(root.get()), d = read_fd_link(dest.get()), base;
    if (d != r) {
        std::string prefix = r == "/" ? "/" : r + "/";
        if (d.compare(0, prefix.size(), prefix) != 0)
            throw_invalid("destination is not below the root " + root_dir, dest_path);
        base = d.substr(prefix.size());
    }
    UniqueFd check = try_open_in_root(root.get(), base, O_PATH | O_DIRECTORY);
    struct stat a, b;
    if (!check || ::fstat(check.get(), &a) != 0 || ::fstat(dest.get(), &b) != 0 || a.st_dev != b.st_dev ||
        a.st_ino != b.st_ino)
        throw_invalid("destination moved while it was being resolved", dest_path);
    std::string shown = root_dir + (base.empty() ? "" : "/" + base);
    Extractor x(root.get(), base, shown, src_fd, opts);
    return x.run();
}

}  // namespace lb
