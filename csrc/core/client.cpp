#include "core/client.hpp"

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/spawn.hpp"
#include "core/syscalls.hpp"
#include "core/unix.hpp"

extern char** environ;

namespace lb {

namespace {

long long mono_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

// A copy of `fd` at 10 or above, so the dup2 plan below never overwrites a source.
UniqueFd high_dup(int fd) {
    int d = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
    if (d < 0) throw_errno("fcntl F_DUPFD", "monitor stdio");
    return UniqueFd(d);
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

}  // namespace

MonitorStart start_monitor(const std::string& shim, const std::string& container_dir,
                           const std::string& plan_json, int in, int outfd, int err) {
    UniqueFd devnull;
    if (in < 0 || outfd < 0 || err < 0) devnull = open_path("/dev/null", O_RDWR);
    UniqueFd fin = high_dup(in < 0 ? devnull.get() : in);
    UniqueFd fout = high_dup(outfd < 0 ? devnull.get() : outfd);
    UniqueFd ferr = high_dup(err < 0 ? devnull.get() : err);
    auto [plan_r0, plan_w] = make_pipe();
    UniqueFd plan_r = high_dup(plan_r0.get());
    plan_r0.reset();
    auto [sock, sock_child0] = make_socketpair();
    UniqueFd sock_child = high_dup(sock_child0.get());
    sock_child0.reset();

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fin.get(), 0);
    posix_spawn_file_actions_adddup2(&fa, fout.get(), 1);
    posix_spawn_file_actions_adddup2(&fa, ferr.get(), 2);
    posix_spawn_file_actions_adddup2(&fa, plan_r.get(), 3);
    posix_spawn_file_actions_adddup2(&fa, sock_child.get(), 4);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    // The container this monitor is for, in its argv: `ps` shows it, and it tells monitors of
    // different stores apart.
    std::string argv0 = "layerbox-shim";
    std::string argv1 = container_dir;
    char* argv[] = {argv0.data(), argv1.data(), nullptr};
    pid_t child;
    int rc = posix_spawn(&child, shim.c_str(), &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) throw StartError(rc, "spawn", shim, format_error(rc, "spawn monitor", shim), 125);
    fin.reset();
    fout.reset();
    ferr.reset();
    plan_r.reset();
    sock_child.reset();

    ::signal(SIGPIPE, SIG_IGN);  // a monitor that died early must not kill us on write
    try {
        write_all(plan_w.get(), plan_json, "launch plan");
    } catch (const SysError&) {
        // Reported below: the monitor says why it stopped reading, or the EOF says it died.
    }
    plan_w.reset();
    int st;
    while (::waitpid(child, &st, 0) < 0 && errno == EINTR) {
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
