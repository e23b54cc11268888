#include "core/sealed.hpp"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <mutex>

#include "core/error.hpp"
#include "core/proc.hpp"
#include "core/syscalls.hpp"

extern char** environ;

namespace lb {

namespace {

struct Copy {
    dev_t dev;  // the file copied, as it was
    ino_t ino;
    off_t size;
    struct timespec mtime;
    UniqueFd fd;
    dev_t copy_dev = 0;  // the copy's own identity: a caller that closed every descriptor may
    ino_t copy_ino = 0;  // have its number reused by a file of its own, which must never be run
};

bool still_the_copy(const Copy& c) {
    struct stat st;
    return c.fd && ::fstat(c.fd.get(), &st) == 0 && st.st_dev == c.copy_dev && st.st_ino == c.copy_ino;
}

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010  // Linux 5.1
#endif

constexpr int kAllSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
constexpr int kAllSealsNoWait = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE;

// The memfd's name: the binary's name and which file it was copied from (a hash of device,
// inode, size and mtime), so a copy a running process holds can be told to be of the file
// there now (see running_sealed_copy).
std::string copy_name(const std::string& path, const struct stat& st) {
    uint64_t h = 1469598103934665603ULL;  // FNV-1a
    for (uint64_t v : {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                       static_cast<uint64_t>(st.st_size), static_cast<uint64_t>(st.st_mtim.tv_sec),
                       static_cast<uint64_t>(st.st_mtim.tv_nsec)}) {
        for (int i = 0; i < 8; ++i) {
            h ^= (v >> (8 * i)) & 0xff;
            h *= 1099511628211ULL;
        }
    }
    char tag[24];
    std::snprintf(tag, sizeof tag, ".%016llx", static_cast<unsigned long long>(h));
    return path.substr(path.rfind('/') + 1) + tag;
}

UniqueFd make_sealed_copy(int src, const struct stat& st, const std::string& path) {
    off_t size = st.st_size;
    UniqueFd m(::memfd_create(copy_name(path, st).c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!m) throw_errno("memfd_create", path);
    // The kernel copies page cache to page cache: no pass through our buffers (~0.3 ms for
    // the 1.2 MB shim here).
    off_t off = 0;
    while (off < size) {
        ssize_t n = ::sendfile(m.get(), src, &off, static_cast<size_t>(size - off));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_errno("sendfile", path);
        if (n == 0) throw_err(EIO, "sendfile", path);  // the file shrank under us
    }
    if (::fcntl(m.get(), F_ADD_SEALS, kAllSeals) == 0) return m;
    // F_SEAL_WRITE first waits for every extra reference on the memfd's pages to go and gives
    // EBUSY when one stays (seen under dockerd's concurrent starts: a page still counted by
    // another CPU's LRU batch, say). Nobody ever mapped this memfd, so F_SEAL_FUTURE_WRITE
    // (no write(), no new writable mapping) seals the same bytes without that wait.
    if (errno != EBUSY || ::fcntl(m.get(), F_ADD_SEALS, kAllSealsNoWait) != 0)
        throw_errno("fcntl F_ADD_SEALS", path);
    return m;
}

struct SpawnArgs {
    int exefd;
    const int* fds;
    int nfds;
    int* tmp;  // nfds ints of scratch, the caller's (the vfork child allocates nothing)
    char* const* argv;
    volatile int err;
};

// The vfork child: shares our memory until it execs, so it only makes system calls and
// touches nothing but `a`.
[[noreturn]] void spawn_child(SpawnArgs* a) {
    int n = a->nfds;
    int* tmp = a->tmp;
    // Lift every source above the targets first, so placing one never clobbers another.
    for (int i = 0; i < n; ++i) {
        tmp[i] = ::fcntl(a->fds[i], F_DUPFD_CLOEXEC, n + 1);
        if (tmp[i] < 0) goto fail;
    }
    {
        int exe = ::fcntl(a->exefd, F_DUPFD_CLOEXEC, n + 1);
        if (exe < 0) goto fail;
        for (int i = 0; i < n; ++i)
            if (::dup2(tmp[i], i) < 0) goto fail;  // dup2 clears close-on-exec on the copy
        if (::dup3(exe, n, O_CLOEXEC) < 0) goto fail;
        // Really closed, not just close-on-exec: nothing of the caller's crosses.
        if (sys::close_range(static_cast<unsigned>(n) + 1, ~0U, 0) != 0) goto fail;
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        for (int sig = 1; sig < NSIG; ++sig)
            if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::syscall(SYS_execveat, n, "", a->argv, environ, AT_EMPTY_PATH);
    }
fail:
    a->err = errno;
    ::_exit(127);
}

}  // namespace

namespace {
// Taken around a fork (pthread_atfork): a thread making a copy while another forks (the CLI's
// run makes it on a thread; an API client may fork workers) would leave it held in the child.
std::mutex copies_mu;
std::once_flag copies_atfork;
}  // namespace

int sealed_executable(const std::string& path) {
    static std::map<std::string, Copy> cache;
    std::call_once(copies_atfork, [] {
        ::pthread_atfork([] { copies_mu.lock(); }, [] { copies_mu.unlock(); }, [] { copies_mu.unlock(); });
    });
    UniqueFd src = open_path(path, O_RDONLY);
    struct stat st;
    if (::fstat(src.get(), &st) != 0) throw_errno("stat", path);
    std::lock_guard<std::mutex> lock(copies_mu);
    auto it = cache.find(path);
    if (it != cache.end()) {
        Copy& c = it->second;
        if (!still_the_copy(c)) {
            c.fd.release();  // the number is someone else's now: forgotten, not closed
            cache.erase(it);
        } else if (c.dev == st.st_dev && c.ino == st.st_ino && c.size == st.st_size &&
                   c.mtime.tv_sec == st.st_mtim.tv_sec && c.mtime.tv_nsec == st.st_mtim.tv_nsec) {
            return c.fd.get();
        }
    }
    Copy c{st.st_dev, st.st_ino, st.st_size, st.st_mtim, make_sealed_copy(src.get(), st, path)};
    struct stat cst;
    if (::fstat(c.fd.get(), &cst) != 0) throw_errno("stat", "sealed copy of " + path);
    c.copy_dev = cst.st_dev;
    c.copy_ino = cst.st_ino;
    int fd = c.fd.get();
    cache[path] = std::move(c);
    return fd;
}

UniqueFd running_sealed_copy(pid_t pid, uint64_t start_time, const std::string& path) {
    struct stat st;
    if (pid <= 0 || ::stat(path.c_str(), &st) != 0) return UniqueFd();
    UniqueFd pidfd(sys::pidfd_open(pid));
    if (!pidfd || process_start_time(pid) != start_time) return UniqueFd();
    std::string exe = "/proc/" + std::to_string(pid) + "/exe";
    char link[512];
    ssize_t n = ::readlink(exe.c_str(), link, sizeof link - 1);
    if (n <= 0) return UniqueFd();
    link[n] = '\0';
    if (std::string(link) != "/memfd:" + copy_name(path, st) + " (deleted)") return UniqueFd();
    UniqueFd fd(::open(exe.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return UniqueFd();
    int seals = ::fcntl(fd.get(), F_GET_SEALS);
    if (seals != kAllSeals && seals != kAllSealsNoWait) return UniqueFd();
    // Still the same process (a pid reused between the checks would have ended it).
    struct pollfd p {pidfd.get(), POLLIN, 0};
    if (::poll(&p, 1, 0) != 0) return UniqueFd();
    return fd;
}

pid_t spawn_sealed(int exefd, const std::vector<std::string>& argv, const std::vector<int>& fds) {
    std::vector<char*> av;
    for (auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
    av.push_back(nullptr);
    std::vector<int> tmp(fds.size());
    SpawnArgs a{exefd, fds.data(), static_cast<int>(fds.size()), tmp.data(), av.data(), 0};
    // No handler of ours may run in the child while it shares our memory: block everything
    // until it has exec'd (it resets dispositions and unblocks just before).
    sigset_t all, old;
    sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, &old);
    pid_t pid = ::vfork();
    if (pid == 0) spawn_child(&a);
    int e = errno;
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (pid < 0) throw_err(e, "vfork", argv.empty() ? "" : argv[0]);
    if (a.err) {
        int st;
        while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        throw_err(a.err, "execveat", argv.empty() ? "" : argv[0]);
    }
    return pid;
}

void feed_and_reap(pid_t helper, UniqueFd pipe_w, const std::string& doc, const std::string& what) {
    try {  // a helper that died early must not kill us on write
        write_all_no_sigpipe(pipe_w.get(), doc, what);
    } catch (const SysError&) {
        // Reported by the caller: the helper says why it stopped reading, or its exit says it died.
    }
    pipe_w.reset();
    int st;
    while (::waitpid(helper, &st, 0) < 0 && errno == EINTR) {
    }
}

}  // namespace lb
