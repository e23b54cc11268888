#include "core/exec.hpp"

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "core/client.hpp"
#include "core/error.hpp"
#include "core/proc.hpp"
#include "core/syscalls.hpp"
#include "core/unix.hpp"

namespace lb {

namespace {


[[noreturn]] void grandchild(const ExecSpec& s, StdioFds io, int errfd, int ptysock) {
    try {
        if (s.detach) ::setsid();
        if (s.process.tty) {
            // setns() into the mount namespace made the container's root our root, so this is
            // the container's own devpts instance.
            attach_new_pty(open_path("/dev/pts/ptmx", O_RDWR | O_NOCTTY), s.process.rows, s.process.cols,
                           ptysock, !s.detach);
        } else {
            place_fd(io.in, 0);
            place_fd(io.out, 1);
            place_fd(io.err, 2);
        }
        exec_process(s.process, errfd);
    } catch (const SysError& e) {
        child_fail(errfd, e, 126);
    }
}

}  // namespace

ExecStarted exec_in_container(const ExecSpec& s, StdioFds io) {
    int pfd = sys::pidfd_open(s.target);
    if (pfd < 0) throw StartError(errno, "pidfd_open", std::to_string(s.target),
                                  "container is not running", 125);
    UniqueFd target(pfd);
    if (s.target_start && process_start_time(s.target) != s.target_start)
        throw StartError(ESRCH, "pidfd_open", std::to_string(s.target), "container is not running", 125);
    int nsflags = namespace_flags(s.namespaces);

    UniqueFd devnull;
    if (s.detach || io.in < 0 || io.out < 0 || io.err < 0) devnull = open_path("/dev/null", O_RDWR);
    if (s.detach || io.in < 0) io.in = devnull.get();
    if (s.detach || io.out < 0) io.out = devnull.get();
    if (s.detach || io.err < 0) io.err = devnull.get();

    auto [err_r, err_w] = make_pipe();
    auto [pid_r, pid_w] = make_pipe();
    UniqueFd pty_parent, pty_child;
    if (s.process.tty) {
        auto pair = make_socketpair();
        pty_parent = std::move(pair.first);
        pty_child = std::move(pair.second);
    }
    pid_t helper = ::fork();
    if (helper < 0) throw_errno("fork", "exec");
    if (helper == 0) {
        // The helper: join the cgroups (by path, while we still see the host's /sys), then
        // every namespace at once, then fork the process itself into them.
        try {
            // v1: we (single-threaded, just forked) join the cgroup ourselves, the cheap way;
            // v2: the process is cloned straight into it below.
            Cgroup cg(s.cgroup);
            UniqueFd cgfd;
            if (cg.enabled() && cg.version() == 1) cg.join_self();
            if (cg.enabled() && cg.version() == 2) cgfd = cg.clone_into();
            if (::setns(target.get(), nsflags) != 0) throw_errno("setns", "container of pid " + std::to_string(s.target));
            sys::CloneArgs a {};
            if (cgfd) {
                a.flags |= sys::kCloneIntoCgroup;
                a.cgroup = static_cast<uint64_t>(cgfd.get());
            }
            a.flags |= s.detach ? 0 : CLONE_PARENT;
            // With CLONE_PARENT the kernel wants exit_signal 0: the child inherits ours
            // (SIGCHLD, from fork), which then goes to our parent, the caller.
            a.exit_signal = s.detach ? SIGCHLD : 0;
            long pid = sys::clone3(&a);
            if (pid < 0) throw_errno("clone3", "exec");
            if (pid == 0) grandchild(s, io, err_w.get(), pty_child ? pty_child.get() : -1);
            int32_t v = static_cast<int32_t>(pid);
            if (::write(pid_w.get(), &v, sizeof v) != sizeof v) ::_exit(125);
            ::_exit(0);
        } catch (const SysError& e) {
            child_fail(err_w.get(), e, 125);
        }
    }
    err_w.reset();
    pid_w.reset();
    pty_child.reset();
    int st;
    while (::waitpid(helper, &st, 0) < 0 && errno == EINTR) {
    }
    int32_t gpid = -1;
    ssize_t n = ::read(pid_r.get(), &gpid, sizeof gpid);
    ExecStarted out;
    try {
        if (s.process.tty && n == sizeof gpid) {
            std::vector<UniqueFd> fds = recv_fds(pty_parent.get(), 1);
            if (!fds.empty()) out.pty = std::move(fds[0]);
        }
        read_child_result(err_r.get());
    } catch (...) {
        if (n == sizeof gpid && !s.detach) {
            while (::waitpid(gpid, &st, 0) < 0 && errno == EINTR) {
            }
        }
        throw;
    }
    if (n != sizeof gpid) throw StartError(EIO, "exec", "", "exec helper failed", 125);
    if (!s.detach) {
        out.pid = gpid;
        out.pidfd = UniqueFd(sys::pidfd_open(gpid));
    } else {
        out.pid = 0;
    }
    return out;
}

int wait_exec(ExecStarted& e, bool forward_signals, bool relay_stdin, bool raw_tty) {
    if (e.pid <= 0) return 0;
    ForegroundScope fg(forward_signals, raw_tty);
    if (e.pty && ::isatty(0)) copy_winsize(0, e.pty.get());
    bool in_open = relay_stdin && e.pty;
    bool exited = false;
    char buf[65536];
    while (!exited || e.pty) {
        struct pollfd p[4];
        int k = 0;
        int ip = -1, ii = -1, is = -1, ipid = -1;
        if (e.pty) { p[k] = {e.pty.get(), POLLIN, 0}; ip = k++; }
        if (in_open && !exited) { p[k] = {0, POLLIN, 0}; ii = k++; }
        if (fg.fd() >= 0) { p[k] = {fg.fd(), POLLIN, 0}; is = k++; }
        if (!exited && e.pidfd) { p[k] = {e.pidfd.get(), POLLIN, 0}; ipid = k++; }
        int r = ::poll(p, k, exited ? 100 : -1);
        if (r < 0 && errno == EINTR) continue;
        if (r == 0 && exited) break;  // output drained
        if (ip >= 0 && p[ip].revents) {
            ssize_t n = ::read(e.pty.get(), buf, sizeof buf);
            if (n <= 0) {
                e.pty.reset();
            } else {
                for (ssize_t off = 0; off < n;) {
                    ssize_t w = ::write(1, buf + off, static_cast<size_t>(n - off));
                    if (w <= 0) break;
                    off += w;
                }
            }
        }
        if (ii >= 0 && p[ii].revents) {
            ssize_t n = ::read(0, buf, sizeof buf);
            if (n <= 0) {
                in_open = false;
                if (e.pty) {
                    char eot = 4;  // end of input on a terminal: ^D
                    (void)!::write(e.pty.get(), &eot, 1);
                }
            } else if (e.pty) {
                (void)!::write(e.pty.get(), buf, static_cast<size_t>(n));
            }
        }
        if (is >= 0 && p[is].revents) fg.forward(e.pidfd ? e.pidfd.get() : -1, e.pty ? e.pty.get() : -1);
        if (ipid >= 0 && p[ipid].revents) exited = true;
        if (!e.pidfd) exited = true;
    }
    int st = 0;
    while (::waitpid(e.pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

}  // namespace lb
