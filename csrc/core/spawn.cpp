#include "core/spawn.hpp"

#include <grp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <tuple>
#include <vector>

#include "core/caps.hpp"
#include "core/mount.hpp"
#include "core/procenv.hpp"
#include "core/procsetup.hpp"
#include "core/rootpath.hpp"
#include "core/seccomp.hpp"
#include "core/syscalls.hpp"
#include "core/unix.hpp"

namespace lb {

namespace {

// Fixed size and under PIPE_BUF, so one write() is atomic.
struct ChildError {
    int32_t err;
    int32_t exit_code;
    char syscall[64];
    char path[1024];
    char message[2048];
};
static_assert(sizeof(ChildError) <= 4096);

void copy_str(char* dst, size_t n, const std::string& s) {
    size_t k = std::min(n - 1, s.size());
    std::memcpy(dst, s.data(), k);
    dst[k] = '\0';
}


// A terminal from the container's own devpts instance, like runc: the master goes to the
// monitor over `sock`, the slave becomes the controlling terminal and stdio.
void setup_tty(int rootfd, const ProcessSpec& p, int sock) {
    attach_new_pty(open_in_root(rootfd, "dev/pts/ptmx", O_RDWR | O_NOCTTY), p.rows, p.cols, sock, true);
}

[[noreturn]] void init_loop(pid_t child) {
    // PID 1 for --init: forward every catchable signal to the command and reap every zombie;
    // exit with the command's status so the container's exit code is the command's.
    sigset_t all;
    sigfillset(&all);
    for (;;) {
        siginfo_t si;
        int sig = ::sigwaitinfo(&all, &si);
        if (sig < 0) continue;
        if (sig == SIGCHLD) {
            int status;
            pid_t w;
            while ((w = ::waitpid(-1, &status, WNOHANG)) > 0) {
                if (w == child) {
                    if (WIFEXITED(status)) ::_exit(WEXITSTATUS(status));
                    ::_exit(128 + WTERMSIG(status));
                }
            }
            continue;
        }
        ::kill(child, sig);
    }
}

// The child of a new user namespace, once the launcher wrote its maps: root of it (runc's
// order), so what it creates in the mounts it makes there (a tmpfs /dev) has an owner the
// namespace knows. Until here it was the host's root, unmapped in the namespace.
void become_user_namespace_root() {
    if (::setresgid(0, 0, 0) != 0) throw_errno("setresgid", "gid 0 of the user namespace (gidMappings must map it)");
    if (::setgroups(0, nullptr) != 0) throw_errno("setgroups", "user namespace");
    if (::setresuid(0, 0, 0) != 0) throw_errno("setresuid", "uid 0 of the user namespace (uidMappings must map it)");
}

// The second byte on the go pipe (see container_child), then the pipe is done with.
void wait_for_network(int gofd) {
    char net;
    ssize_t n;
    do {
        n = ::read(gofd, &net, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) ::_exit(125);  // the monitor gave up on us
}

[[noreturn]] void container_child(const LaunchPlan& p, const Cgroup& cg, int gofd, int errfd, int ptysock,
                                  int stopfd, StdioFds io) {
    try {
        // Only what the container needs stays open: no descriptor of the monitor's (its
        // clients' sockets, its log, its listener) is there while the root is set up. The
        // runtime's exec fifo (an O_PATH fd of a fifo, not a directory) stays until `start`.
        close_fds_except({gofd, errfd, ptysock, stopfd, io.in, io.out, io.err, p.start_wait_fd}, p.process.preserve_fds);
        // The monitor dies -> so does the container, and the next command reconciles it.
        if (!p.keep_on_parent_exit) ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        // Two bytes come on the go pipe: the first once the launcher wrote our id maps (we may
        // set our root up), the second once the monitor's part is done (the network: veths,
        // addresses, routes, ports), which it does while we set the root up and which must be
        // there before anything of the container runs (wait_for_network below).
        char go;
        if (::read(gofd, &go, 1) != 1) ::_exit(125);  // the monitor gave up on us
        // v1: join the cgroup ourselves (cheap for the current, single-threaded process; see
        // Cgroup::join_self). v2 put us there at clone time. Before becoming root of a user
        // namespace: the host's cgroup files are not that root's to write.
        if (cg.enabled() && cg.version() == 1) cg.join_self();

        int ns = namespace_flags(p.namespaces);
        if ((ns & CLONE_NEWUSER) || !joined_user_namespace(p).empty()) become_user_namespace_root();
        join_namespace_paths(p);
        // Joined the cgroup before this, so the new cgroup namespace is rooted at it.
        if ((ns & CLONE_NEWCGROUP) && ::unshare(CLONE_NEWCGROUP) != 0) throw_errno("unshare", "cgroup namespace");
        // Every kernel call of the root's set-up goes through one MountApi (the recording
        // double in csrc/tests sees the same sequence).
        auto api = p.rootfs.legacy_mount ? make_legacy_mount_api() : make_best_mount_api();
        // (a uts namespace joined by path is the container's too: an OCI config may name it)
        bool own_uts = (ns & CLONE_NEWUTS) || std::any_of(p.join_namespaces.begin(), p.join_namespaces.end(),
                                                          [](const auto& j) { return j.first == "uts"; });
        if (own_uts && !p.hostname.empty()) api->set_hostname(p.hostname);
        if ((ns & CLONE_NEWNET) && p.loopback_up) loopback_up();
        apply_process_limits(p);

        ::umask(0);
        ProcessSpec proc = p.process;
        proc.die_with_parent = !p.init && !p.keep_on_parent_exit;  // with --init, the init dies with the monitor instead
        UniqueFd rootfd = prepare_root(*api, p, proc);
        if (stopfd >= 0) {
            // The launcher's before_pivot runs now (it joins our mount namespace, mounts made,
            // the host's tree still our root); its byte on the go pipe lets us on.
            wait_for_network(gofd);
            if (::write(stopfd, "s", 1) != 1) ::_exit(125);
            ::close(stopfd);
            if (::read(gofd, &go, 1) != 1) ::_exit(125);
            ::close(gofd);
        }
        if (proc.tty) setup_tty(rootfd.get(), proc, ptysock);
        if (ptysock >= 0) ::close(ptysock);
        enter_root(*api, p, std::move(rootfd));
        if (p.rootfs_propagation && ::mount("", "/", nullptr, p.rootfs_propagation, nullptr) != 0)
            throw_errno("mount propagation", "/");

        if (!proc.tty) {
            place_fd(io.in, 0);
            place_fd(io.out, 1);
            place_fd(io.err, 2);
        }
        ::umask(proc.umask);
        if (stopfd < 0) {
            wait_for_network(gofd);
            ::close(gofd);
        }

        if (p.init) {
            // The command waits at this gate until the init has its filter and credentials too:
            // before that, it could read or ptrace an unfiltered pid 1 (under load a
            // `grep Seccomp /proc/1/status` in the command saw 0).
            int gate[2];
            if (::pipe2(gate, O_CLOEXEC) != 0) throw_errno("pipe2", "init gate");
            sigset_t all, old;
            sigfillset(&all);
            ::sigprocmask(SIG_BLOCK, &all, &old);
            pid_t child = ::fork();
            if (child < 0) throw_errno("fork", "init");
            if (child == 0) {
                ::close(gate[1]);
                char c;
                while (::read(gate[0], &c, 1) < 0 && errno == EINTR) {
                }
                ::close(gate[0]);  // end of file: the init is filtered (or gone, and we with it)
                ::sigprocmask(SIG_SETMASK, &old, nullptr);
                if (proc.tty) {
                    ::setpgid(0, 0);
                    ::tcsetpgrp(0, ::getpid());
                }
                exec_process(proc, errfd);
            }
            ::close(gate[0]);
            ::close(errfd);  // the command's exec closes its copy: EOF tells the monitor
            // The init is in the container too (ptrace-able by its root): same filter.
            if (!proc.no_new_privs) seccomp_install(proc.seccomp, proc.seccomp_flags);
            apply_credentials(proc);
            if (proc.no_new_privs) {
                ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                seccomp_install(proc.seccomp, proc.seccomp_flags);
            }
            ::close(gate[1]);  // the command may go on
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // cleared by a uid change; the init needs it
            init_loop(child);
        }
        errfd = wait_for_start(p, errfd);
        exec_process(proc, errfd);
    } catch (const SysError& e) {
        child_fail(errfd, e, 125);
    } catch (const std::exception& e) {
        child_fail(errfd, SysError(0, "", "", e.what()), 125);
    }
}

// The working directory, resolved inside our root (the container's, after pivot_root or setns)
// with no magic link (/proc/self/fd/N, /proc/N/cwd) followed, then entered by descriptor and
// checked to be under the root, as runc does since 1.1.12. A missing one is created earlier for
// `run` (docker's behaviour), an error for `exec`, with docker's exit code 126.
void enter_workdir(const ProcessSpec& p) {
    int code = p.create_cwd ? 125 : 126;
    UniqueFd root = open_path("/", O_PATH | O_DIRECTORY);
    UniqueFd dir = try_open_in_root(root.get(), p.cwd, O_PATH | O_DIRECTORY);
    if (!dir || ::fchdir(dir.get()) != 0) {
        int e = errno;
        throw StartError(e, "chdir", p.cwd,
                         "chdir to cwd (\"" + p.cwd + "\") set in config.json failed: " + errno_text(e), code);
    }
    char buf[4096];
    if (!::getcwd(buf, sizeof buf) || buf[0] != '/')
        throw StartError(errno ? errno : EPERM, "getcwd", p.cwd,
                         "current working directory is outside of container mount namespace root -- "
                         "possible container breakout detected", code);
}

// A before_go that failed may have failed because the child did (its namespace gone with it):
// the child's own error, when it reported one, says why.
void child_failed_meanwhile(int errfd) {
    struct pollfd p {errfd, POLLIN, 0};
    if (::poll(&p, 1, 0) == 1 && (p.revents & POLLIN)) read_child_result(errfd);
}

}  // namespace

void close_fds_except(std::initializer_list<int> keep, int preserve) {
    std::vector<int> k;
    for (int fd : keep)
        if (fd > 2) k.push_back(fd);
    for (int fd = 3; fd < 3 + preserve; ++fd) k.push_back(fd);
    std::sort(k.begin(), k.end());
    unsigned from = 3;
    for (int fd : k) {
        unsigned u = static_cast<unsigned>(fd);
        if (u > from && sys::close_range(from, u - 1, 0) != 0) throw_errno("close_range");
        from = std::max(from, u + 1);
    }
    if (sys::close_range(from, ~0U, 0) != 0) throw_errno("close_range");
}

// Puts `fd` at `target` with FD_CLOEXEC cleared (dup2 to itself would keep the flag).
void place_fd(int fd, int target) {
    if (fd == target) {
        int fl = ::fcntl(fd, F_GETFD);
        if (fl < 0 || ::fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) != 0) throw_errno("fcntl", "stdio");
        return;
    }
    if (::dup2(fd, target) < 0) throw_errno("dup2", "stdio");
}

void attach_new_pty(UniqueFd master, unsigned short rows, unsigned short cols, int sock, bool new_session) {
    int unlock = 0;
    if (::ioctl(master.get(), TIOCSPTLCK, &unlock) != 0) throw_errno("ioctl TIOCSPTLCK", "/dev/pts/ptmx");
    if (rows && cols) {
        struct winsize ws {};
        ws.ws_row = rows;
        ws.ws_col = cols;
        ::ioctl(master.get(), TIOCSWINSZ, &ws);
    }
    UniqueFd slave(::ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!slave) throw_errno("ioctl TIOCGPTPEER", "/dev/pts/ptmx");
    send_fds(sock, "pty", {master.get()});
    if (new_session && ::setsid() < 0) throw_errno("setsid");
    if (::ioctl(slave.get(), TIOCSCTTY, 0) != 0) throw_errno("ioctl TIOCSCTTY", "/dev/pts");
    for (int t = 0; t < 3; ++t) place_fd(slave.get(), t);
}

void child_fail(int errfd, const SysError& e, int exit_code) {
    ChildError ce {};
    ce.err = e.err;
    ce.exit_code = exit_code;
    copy_str(ce.syscall, sizeof ce.syscall, e.syscall);
    copy_str(ce.path, sizeof ce.path, e.path);
    copy_str(ce.message, sizeof ce.message, e.what());
    ssize_t n = ::write(errfd, &ce, sizeof ce);
    (void)n;
    ::_exit(exit_code);
}

void read_child_result(int fd) {
    ChildError ce {};
    size_t got = 0;
    while (got < sizeof ce) {
        ssize_t n = ::read(fd, reinterpret_cast<char*>(&ce) + got, sizeof ce - got);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno("read", "container start report");
        }
        if (n == 0) break;
        got += static_cast<size_t>(n);
    }
    if (got == 0) return;  // end of file: execve succeeded
    if (got != sizeof ce) throw StartError(EIO, "read", "", "container start report cut short", 125);
    throw StartError(ce.err, ce.syscall, ce.path, ce.message, ce.exit_code);
}

void exec_command(const std::vector<std::string>& args, const std::vector<std::string>& env,
                  int& exit_code, std::string& message, std::string& path) {
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    // Only a fallback for a plan without PATH in its env: layerbox's own plans always carry one
    // (process_env, core/procenv.cpp); an OCI config may not.
    std::string search = kDefaultPath + std::strlen("PATH=");
    for (auto& e : env) {
        envp.push_back(const_cast<char*>(e.c_str()));
        if (e.compare(0, 5, "PATH=") == 0) search = e.substr(5);
    }
    envp.push_back(nullptr);
    const std::string& file = args[0];
    path = file;
    if (file.find('/') != std::string::npos) {
        ::execve(file.c_str(), argv.data(), envp.data());
        int e = errno;
        exit_code = e == ENOENT ? 127 : 126;
        message = "exec " + file + ": " + errno_text(e);
        errno = e;
        return;
    }
    bool denied = false;
    int other = 0;
    size_t pos = 0;
    while (pos <= search.size()) {
        size_t colon = search.find(':', pos);
        if (colon == std::string::npos) colon = search.size();
        std::string dir = search.substr(pos, colon - pos);
        pos = colon + 1;
        std::string cand = (dir.empty() ? "." : dir) + "/" + file;
        ::execve(cand.c_str(), argv.data(), envp.data());
        if (errno == EACCES) {
            denied = true;
            path = cand;
        } else if (errno != ENOENT && errno != ENOTDIR) {
            other = errno;
            path = cand;
            break;
        }
    }
    if (other) {
        exit_code = 126;
        message = "exec " + path + ": " + errno_text(other);
        errno = other;
    } else if (denied) {
        exit_code = 126;
        message = "exec " + path + ": permission denied";
        errno = EACCES;
    } else {
        exit_code = 127;
        message = "exec " + file + ": executable file not found in $PATH";
        errno = ENOENT;
    }
}

void exec_process(const ProcessSpec& p, int errfd) {
    try {
        // Really closed, not just close-on-exec: until execve no path below may reach a
        // descriptor of whoever started us (the CVE-2024-21626 class). The sync pipe is
        // O_CLOEXEC and goes at execve.
        close_fds_except({errfd}, p.preserve_fds);
        for (int fd = 3; fd < 3 + p.preserve_fds; ++fd) {
            int fl = ::fcntl(fd, F_GETFD);
            if (fl >= 0 && ::fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) != 0) throw_errno("fcntl", "preserved fd " + std::to_string(fd));
        }
        // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: do it before the
        // capabilities go (runc's order; the filter must then allow what follows).
        if (!p.no_new_privs) seccomp_install(p.seccomp, p.seccomp_flags);
        apply_credentials(p);
        // Changing uid clears the parent-death signal; set it again.
        if (p.die_with_parent) ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (p.no_new_privs && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
            throw_errno("prctl PR_SET_NO_NEW_PRIVS");
        enter_workdir(p);
        // Dispositions survive execve only when ignored: the monitor ignores SIGHUP and SIGPIPE,
        // Python ignores SIGPIPE, and a shell cannot even trap a signal ignored at entry. The
        // command starts with every signal at its default, as it would under docker.
        for (int sig = 1; sig < NSIG; ++sig)
            if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        // Last before execve, so the filter has to allow only execve itself.
        if (p.no_new_privs) seccomp_install(p.seccomp, p.seccomp_flags);
        int code;
        std::string msg, path;
        exec_command(p.args, p.env, code, msg, path);
        child_fail(errfd, SysError(errno, "exec", path, msg), code);
    } catch (const StartError& e) {
        child_fail(errfd, e, e.exit_code);
    } catch (const SysError& e) {
        child_fail(errfd, e, 125);
    }
}

void loopback_up() {
    UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!s) throw_errno("socket", "lo");
    struct ifreq ifr {};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) throw_errno("ioctl SIOCGIFFLAGS", "lo");
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0) throw_errno("ioctl SIOCSIFFLAGS", "lo");
}

// A user namespace joined by path (an OCI config's): the container's new namespaces must be
// that namespace's, not ours (mounting the new pid namespace's /proc needs CAP_SYS_ADMIN over
// its owner), so the clone is made from inside it: a helper forked here joins it and clones
// the init as our child (CLONE_PARENT), sends its pid and exits. Returns the init's pid; its
// pidfd is opened here (our child: its pid is not reused before we reap it).
long clone_in_user_namespace(const std::string& path, sys::CloneArgs args, int* pidfd) {
    UniqueFd ns = open_path(path, O_RDONLY);
    auto [r, w] = make_pipe();
    pid_t helper = ::fork();
    if (helper < 0) return -1;
    if (helper == 0) {
        int32_t msg[2] = {-1, 0};
        if (::setns(ns.get(), CLONE_NEWUSER) != 0) {
            msg[1] = errno;
        } else {
            args.flags = (args.flags & ~sys::kClonePidfd) | CLONE_PARENT;
            args.pidfd = 0;
            args.exit_signal = 0;  // with CLONE_PARENT: ours (SIGCHLD, from the fork) goes to the launcher
            long pid = sys::clone3(&args);
            if (pid == 0) return 0;  // the init: back in launch_container, as after a plain clone
            msg[0] = static_cast<int32_t>(pid);
            msg[1] = pid < 0 ? errno : 0;
        }
        ssize_t n = ::write(w.get(), msg, sizeof msg);
        ::_exit(n == sizeof msg ? 0 : 1);
    }
    w.reset();
    int32_t msg[2] = {-1, EIO};
    ssize_t n;
    do {
        n = ::read(r.get(), msg, sizeof msg);
    } while (n < 0 && errno == EINTR);
    int st;
    while (::waitpid(helper, &st, 0) < 0 && errno == EINTR) {
    }
    if (n != sizeof msg || msg[0] < 0) {
        errno = n == sizeof msg && msg[1] ? msg[1] : EIO;
        return -1;
    }
    *pidfd = sys::pidfd_open(msg[0]);
    return msg[0];
}

// The new user namespace's maps, written from outside it (the child cannot map the host's ids
// itself). As the host's root we may write gid_map without denying setgroups first.
void write_id_maps(pid_t pid, const LaunchPlan& plan) {
    std::string proc = "/proc/" + std::to_string(pid);
    for (auto [file, text] : {std::pair{"/uid_map", &plan.uid_map}, std::pair{"/gid_map", &plan.gid_map}}) {
        if (text->empty()) continue;
        UniqueFd f = open_path(proc + file, O_WRONLY);
        // One write(): the kernel takes a map only whole, and only once.
        ssize_t n = ::write(f.get(), text->data(), text->size());
        if (n != static_cast<ssize_t>(text->size())) throw_errno("write", proc + file);
    }
}

Launched launch_container(const LaunchPlan& plan, const Cgroup& cg, StdioFds io,
                          const std::function<void(pid_t)>& before_go,
                          const std::function<void(pid_t)>& before_pivot) {
    auto [go_r, go_w] = make_pipe();
    auto [err_r, err_w] = make_pipe();
    UniqueFd stop_r, stop_w;
    if (plan.stop_before_pivot) std::tie(stop_r, stop_w) = make_pipe();
    UniqueFd pty_parent, pty_child;
    if (plan.process.tty) {
        auto pair = make_socketpair();
        pty_parent = std::move(pair.first);
        pty_child = std::move(pair.second);
    }
    int pidfd = -1;
    sys::CloneArgs args {};
    args.flags = static_cast<uint64_t>(namespace_flags(plan.namespaces) & ~CLONE_NEWCGROUP) |
                 sys::kClonePidfd;
    args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
    args.exit_signal = SIGCHLD;
    UniqueFd cgfd = cg.enabled() ? cg.clone_into() : UniqueFd();
    if (cgfd) {
        args.flags |= sys::kCloneIntoCgroup;
        args.cgroup = static_cast<uint64_t>(cgfd.get());
    }
    const std::string& userns = joined_user_namespace(plan);
    long pid = userns.empty() ? sys::clone3(&args) : clone_in_user_namespace(userns, args, &pidfd);
    if (pid < 0) throw StartError(errno, "clone3", plan.rootfs.target,
                                  format_error(errno, "clone3 new namespaces for", plan.id), 125);
    if (pid == 0) {
        go_w.reset();
        err_r.reset();
        stop_r.reset();
        pty_parent.reset();
        container_child(plan, cg, go_r.get(), err_w.get(), pty_child ? pty_child.get() : -1,
                        stop_w ? stop_w.get() : -1, io);
    }
    Launched out;
    out.pid = static_cast<pid_t>(pid);
    out.pidfd = UniqueFd(pidfd);
    go_r.reset();
    err_w.reset();
    stop_w.reset();
    pty_child.reset();
    try {
        if (namespace_flags(plan.namespaces) & CLONE_NEWUSER) write_id_maps(out.pid, plan);
        if (namespace_flags(plan.namespaces) & CLONE_NEWNS)
            out.mount_ns = open_path("/proc/" + std::to_string(out.pid) + "/ns/mnt", O_RDONLY);
        // The child sets its root up while before_go (the monitor's network) runs: the first
        // byte lets it start, the second lets it run the container (see container_child).
        // Without a before_go both go at once.
        write_all(go_w.get(), before_go ? "g" : "gn", before_go ? 1 : 2, "container start");
        if (before_go) {
            try {
                before_go(out.pid);
            } catch (const SysError&) {
                child_failed_meanwhile(err_r.get());
                throw;
            }
            try {
                write_all(go_w.get(), "n", 1, "container start");
            } catch (const SysError&) {
                read_child_result(err_r.get());  // it failed setting its root up: its error
                throw;
            }
        }
        if (stop_r) {
            // One byte: the child stopped before pivot_root. End of file: it failed (or
            // exec'd) before, and the report below says which.
            char c;
            ssize_t n;
            do {
                n = ::read(stop_r.get(), &c, 1);
            } while (n < 0 && errno == EINTR);
            if (n == 1) {
                if (before_pivot) before_pivot(out.pid);
                write_all(go_w.get(), "c", 1, "container start");
            }
        }
        go_w.reset();
        if (plan.process.tty) {
            std::vector<UniqueFd> fds = recv_fds(pty_parent.get(), 1);
            if (fds.empty()) read_child_result(err_r.get());  // the child failed before the tty
            else out.pty_master = std::move(fds[0]);
        }
        read_child_result(err_r.get());
    } catch (...) {
        ::kill(out.pid, SIGKILL);
        int st;
        while (::waitpid(out.pid, &st, 0) < 0 && errno == EINTR) {
        }
        throw;
    }
    return out;
}

}  // namespace lb
