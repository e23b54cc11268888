// File descriptors owned by RAII, and the *at() helpers everything else builds on.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <utility>

namespace lb {

// Owns one fd; closes it on destruction. Every fd we create is O_CLOEXEC, so an fd that is
// meant to cross an exec is dup2()'d into place explicitly by the code that needs it.
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    UniqueFd& operator=(UniqueFd&& o) noexcept {
        if (this != &o) reset(std::exchange(o.fd_, -1));
        return *this;
    }
    ~UniqueFd() { reset(); }

    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

// open()/openat() that throw SysError naming `path` on failure; O_CLOEXEC always added.
UniqueFd open_at(int dirfd, const std::string& path, int flags, mode_t mode = 0);
inline UniqueFd open_path(const std::string& path, int flags, mode_t mode = 0) {
    return open_at(AT_FDCWD, path, flags, mode);
}

// A pipe whose two ends are O_CLOEXEC.
std::pair<UniqueFd, UniqueFd> make_pipe(int extra_flags = 0);

// The most bytes one write()/pwrite() hands a file. Since Linux 6.16 ext4 caches a write in
// folios as large as the write (1 MiB -> order-8 folios). Such blocks come from the top of the
// buddy allocator, where on a VM with free page reporting (virtio-balloon, as here) the free
// memory has been handed back to the host, so each new 4 KiB page of them costs a host fault:
// 136 MB of new file in 1 MiB writes took 100-400 ms against 25-40 ms in 512 KiB ones (a
// small-order folio reuses memory the guest still holds). The in-kernel copies
// (copy_file_range, sendfile) move 64 KiB at a time and are not concerned.
constexpr size_t kMaxFileWrite = 512 << 10;

// Writes all of buf (retrying on EINTR and short writes, at most kMaxFileWrite a call);
// throws on error.
void write_all(int fd, const void* buf, size_t len, const std::string& what);
inline void write_all(int fd, const std::string& s, const std::string& what) {
    write_all(fd, s.data(), s.size(), what);
}
// write_all to a pipe whose reader may be gone, without SIGPIPE: EPIPE is thrown instead of
// the signal killing the process. SIGPIPE is blocked in the calling thread for the write and
// one it raised is taken back before the mask returns (the process's disposition is left as
// it is: a library must not change what its host does with the signal).
void write_all_no_sigpipe(int fd, const std::string& s, const std::string& what);
// Reads until EOF; throws on error.
std::string read_all(int fd, const std::string& what);
// Reads a whole (small) file.
std::string read_file(const std::string& path);
// Writes a whole file atomically: tmp file in the same dir, then rename. No fsync (see callers).
void write_file_atomic(const std::string& path, const std::string& data, mode_t mode = 0644);

// "/proc/self/fd/N": lets path-based syscalls act on an fd we hold.
std::string fd_path(int fd);

}  // namespace lb
