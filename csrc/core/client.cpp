#include "core/client.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <pthread.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/sealed.hpp"
#include "core/spawn.hpp"
#include "core/syscalls.hpp"
#include "core/unix.hpp"

namespace lb {

namespace {

long long mono_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

ExitReport parse_exit(const std::string& msg) {
    ExitReport r;
    if (msg.empty()) return r;
    auto j = nlohmann::json::parse(msg, nullptr, false);
    if (j.is_discarded() || !j.value("exit", false)) return r;
    r.exited = true;
    r.exit_code = j.value("exit_code", -1);
    r.oom_killed = j.value("oom_killed", false);
    r.restarting = j.value("restarting", false);
    return r;
}

// Monitor factories (shim/main.cpp): one per process and shim path, started from the sealed
// copy at a process's second start (a process that starts one container, the CLI's run,
// spawns its monitor directly as before), then asked for a monitor by one message a start.
// A forked client makes its own (a copy of its parent's socket is its parent's); the lock is
// taken around fork (pthread_atfork), so a fork never inherits it held.
struct Factory {
    pid_t owner = 0;  // the process that started it
    int starts = 0;   // this process's starts through this path
    UniqueFd sock;
    dev_t dev = 0;    // the socket's identity: a caller that closed every descriptor may
    ino_t ino = 0;    // have its number reused by a file of its own
};

bool ours(const Factory& f) {
    struct stat st;
    return f.sock && ::fstat(f.sock.get(), &st) == 0 && st.st_dev == f.dev && st.st_ino == f.ino;
}

// Drops the socket: closed when it is still ours, only forgotten when the number is another's.
void forget(Factory& f) {
    if (ours(f))
        f.sock.reset();
    else
        f.sock.release();
}
std::mutex factory_mu;
std::map<std::string, Factory>& factories() {
    static std::map<std::string, Factory> m;
    return m;
}
std::once_flag factory_atfork;

// The factory's socket for `shim` (started when missing), or -1: go without one. Under
// factory_mu.
int factory_socket(const std::string& shim, int exe, bool restart) {
    Factory& f = factories()[shim];
    pid_t me = ::getpid();
    if (f.owner != me) {
        forget(f);
        f.owner = me;
        f.starts = 0;
    }
    if (f.sock && (restart || !ours(f))) forget(f);
    if (f.sock) return f.sock.get();
    if (++f.starts < 2) return -1;
    auto [mine, theirs] = make_socketpair();
    UniqueFd null = open_path("/dev/null", O_RDWR);  // none of the client's stdio is held
    // Room for each monitor's command line (see shim/main.cpp): PATH_MAX and its name.
    std::vector<std::string> argv{"layerbox-shim", "factory"};
    argv.resize(argv.size() + 4200);
    pid_t pid = spawn_sealed(exe, argv, {null.get(), null.get(), null.get(), theirs.get()});
    theirs.reset();
    int st;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return -1;  // it did not start
    struct stat sst;
    if (::fstat(mine.get(), &sst) != 0) return -1;
    f.dev = sst.st_dev;
    f.ino = sst.st_ino;
    f.sock = std::move(mine);
    return f.sock.get();
}

}  // namespace

MonitorStart start_monitor(const std::string& shim, const std::string& container_dir,
                           const std::string& plan_json, int in, int outfd, int err) {
    UniqueFd devnull;
    if (in < 0 || outfd < 0 || err < 0) devnull = open_path("/dev/null", O_RDWR);
    auto [plan_r, plan_w] = make_pipe();
    auto [sock, sock_child] = make_socketpair();
    // The monitor runs from a sealed copy of the shim: its clone is the container's init
    // until that execs (and, with --init, stays PID 1), so /proc/1/exe must not be the file
    // on our disk (see sealed.hpp).
    std::vector<int> handed{in < 0 ? devnull.get() : in, outfd < 0 ? devnull.get() : outfd,
                         err < 0 ? devnull.get() : err, plan_r.get(), sock_child.get()};
    pid_t child = -1;
    try {
        int exe = sealed_executable(shim);
        bool asked = false;
        {
            std::call_once(factory_atfork, [] {
                ::pthread_atfork([] { factory_mu.lock(); }, [] { factory_mu.unlock(); },
                                 [] { factory_mu.unlock(); });
            });
            std::lock_guard<std::mutex> lock(factory_mu);
            // One more try with a new factory when the one we had has gone (killed, say).
            for (int attempt = 0; attempt < 2 && !asked; ++attempt) {
                int fsock = factory_socket(shim, exe, attempt > 0);
                if (fsock < 0) break;
                asked = try_send_fds(fsock, container_dir, handed);
            }
        }
        // The container this monitor is for, in its argv: `ps` shows it, and it tells monitors
        // of different stores apart (a factory's child takes the same).
        if (!asked) child = spawn_sealed(exe, {"layerbox-shim", container_dir}, handed);
    } catch (const SysError& e) {
        throw StartError(e.err, "spawn", shim, format_error(e.err, "spawn monitor", shim), 125);
    }
    devnull.reset();
    plan_r.reset();
    sock_child.reset();

    // Reported below: the monitor says why it stopped reading, or the EOF says it died.
    if (child > 0) {
        feed_and_reap(child, std::move(plan_w), plan_json, "launch plan");
    } else {
        try {  // a monitor that died early must not kill us on write
            write_all_no_sigpipe(plan_w.get(), plan_json, "launch plan");
        } catch (const SysError&) {
        }
        plan_w.reset();
    }

    std::string msg;
    std::vector<UniqueFd> fds = recv_fds(sock.get(), 2, &msg);
    if (msg.empty())
        throw StartError(EPIPE, "monitor", shim, "container monitor exited before starting the container", 125);
    auto j = nlohmann::json::parse(msg, nullptr, false);
    if (j.is_discarded()) throw StartError(EPROTO, "monitor", shim, "garbled report from the monitor: " + msg, 125);
    if (!j.value("ok", false)) {
        throw StartError(j.value("errno", 0), j.value("syscall", ""), j.value("path", ""),
                         j.value("message", "container failed to start"), j.value("exit_code", 125));
    }
    MonitorStart out;
    out.pid = j.value("pid", -1);
    out.monitor_pid = j.value("monitor_pid", -1);
    if (!fds.empty()) out.pidfd = std::move(fds[0]);
    if (fds.size() > 1) out.pty = std::move(fds[1]);
    out.sock = std::move(sock);
    return out;
}

void block_forwarded_signals() {
    sigset_t mask;
    sigemptyset(&mask);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH}) sigaddset(&mask, s);
    ::pthread_sigmask(SIG_BLOCK, &mask, nullptr);
}

void copy_winsize(int from_fd, int pty) {
    struct winsize ws;
    if (::ioctl(from_fd, TIOCGWINSZ, &ws) == 0) ::ioctl(pty, TIOCSWINSZ, &ws);
}

ForegroundScope::ForegroundScope(bool forward_signals, bool raw_tty) : forwarding_(forward_signals) {
    sigemptyset(&mask_);
    if (forwarding_) {
        for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH}) sigaddset(&mask_, s);
        ::pthread_sigmask(SIG_BLOCK, &mask_, &old_);
        sigfd_ = UniqueFd(::signalfd(-1, &mask_, SFD_CLOEXEC | SFD_NONBLOCK));
    }
    if (raw_tty && ::isatty(0) && ::tcgetattr(0, &saved_) == 0) {
        struct termios raw = saved_;
        ::cfmakeraw(&raw);
        ::tcsetattr(0, TCSANOW, &raw);
        restore_tty_ = true;
    }
}

ForegroundScope::~ForegroundScope() {
    if (restore_tty_) ::tcsetattr(0, TCSANOW, &saved_);
    if (forwarding_) {
        // Signals that arrived after the last read stay pending; drop them so they do not hit
        // us once unblocked (they were meant for the container).
        struct timespec zero {};
        while (::sigtimedwait(&mask_, nullptr, &zero) > 0) {
        }
        ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
}

void ForegroundScope::forward(int pidfd, int pty) {
    struct signalfd_siginfo si;
    while (sigfd_ && ::read(sigfd_.get(), &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGWINCH) {
            if (pty >= 0) copy_winsize(0, pty);
        } else if (pidfd >= 0) {
            sys::pidfd_send_signal(pidfd, static_cast<int>(si.ssi_signo));
        }
    }
}

ExitReport wait_exit(int sock, int pidfd, int pty, bool forward_signals, bool raw_tty, int timeout_ms) {
    ForegroundScope fg(forward_signals, raw_tty);
    if (pty >= 0 && ::isatty(0)) copy_winsize(0, pty);
    ExitReport r;
    long long deadline = timeout_ms < 0 ? -1 : mono_ms() + timeout_ms;
    for (;;) {
        struct pollfd p[2] = {{sock, POLLIN, 0}, {fg.fd(), POLLIN, 0}};
        int wait_ms = deadline < 0 ? -1 : static_cast<int>(std::max(0LL, deadline - mono_ms()));
        int n = ::poll(p, 2, wait_ms);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) break;  // timed out
        if (p[1].revents & POLLIN) fg.forward(pidfd, pty);
        if (p[0].revents) {
            std::string msg;
            try {
                recv_fds(sock, 0, &msg);
            } catch (const SysError&) {
                msg.clear();
            }
            r = parse_exit(msg);
            if (r.exited || msg.empty()) break;
        }
    }
    return r;
}

std::string monitor_request(int sock, const std::string& msg, int timeout_ms) {
    send_fds(sock, msg, {});
    struct pollfd p {
        sock, POLLIN, 0
    };
    int n;
    do {
        n = ::poll(&p, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return "";
    std::string reply;
    try {
        recv_fds(sock, 0, &reply);
    } catch (const SysError&) {
        return "";
    }
    return reply;
}

}  // namespace lb
