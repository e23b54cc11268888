#include "core/fd.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>

#include "core/error.hpp"

namespace lb {

UniqueFd open_at(int dirfd, const std::string& path, int flags, mode_t mode) {
    int fd;
    do {
        fd = ::openat(dirfd, path.c_str(), flags | O_CLOEXEC, mode);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) throw_errno("open", path);
    return UniqueFd(fd);
}

std::pair<UniqueFd, UniqueFd> make_pipe(int extra_flags) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC | extra_flags) != 0) throw_errno("pipe2");
    return {UniqueFd(p[0]), UniqueFd(p[1])};
}

void write_all(int fd, const void* buf, size_t len, const std::string& what) {
    const char* p = static_cast<const char*>(buf);
    while (len > 0) {
        ssize_t n = ::write(fd, p, len < kMaxFileWrite ? len : kMaxFileWrite);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno("write", what);
        }
        p += n;
        len -= static_cast<size_t>(n);
    }
}

void write_all_no_sigpipe(int fd, const std::string& s, const std::string& what) {
    sigset_t pipe_only, old;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    // One already pending for this thread stays pending: only one this write raises is taken.
    sigset_t pending;
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE) == 1;
    ::pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    try {
        write_all(fd, s, what);
    } catch (const SysError& e) {
        if (e.err == EPIPE && !was_pending) {
            struct timespec zero {};
            while (::sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
            }
        }
        ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
        throw;
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

std::string read_all(int fd, const std::string& what) {
    std::string out;
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno("read", what);
        }
        if (n == 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

std::string read_file(const std::string& path) {
    UniqueFd fd = open_path(path, O_RDONLY);
    return read_all(fd.get(), path);
}

void write_file_atomic(const std::string& path, const std::string& data, mode_t mode) {
    std::string tmp = path + ".tmp." + std::to_string(::getpid());
    {
        UniqueFd fd = open_path(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
        write_all(fd.get(), data, tmp);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        throw_err(e, "rename", path);
    }
}

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

}  // namespace lb
