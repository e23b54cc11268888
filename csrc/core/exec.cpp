#include "core/exec.hpp"

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>

#include <nlohmann/json.hpp>

#include "core/client.hpp"
#include "core/error.hpp"
#include "core/proc.hpp"
#include "core/rootpath.hpp"
#include "core/sealed.hpp"
#include "core/syscalls.hpp"
#include "core/unix.hpp"

namespace lb {

namespace {

[[noreturn]] void grandchild(const ExecSpec& s, int errfd, int ptysock) {
    try {
        // Only stdio, the fds the caller passed on, the report pipe and the pty socket:
        // nothing else of the helper's is open while we touch the container's paths.
        close_fds_except({errfd, ptysock}, s.process.preserve_fds);
        if (s.detach) ::setsid();
        if (s.process.tty) {
            // setns() into the mount namespace made the container's root our root, so this is
            // the container's own devpts instance (resolved inside that root, no magic links).
            UniqueFd root = open_path("/", O_PATH | O_DIRECTORY);
            attach_new_pty(open_in_root(root.get(), "dev/pts/ptmx", O_RDWR | O_NOCTTY), s.process.rows,
                           s.process.cols, ptysock, !s.detach);
        }
        // As the init's (apply_process_limits): kept across execve.
        if (s.personality >= 0 && ::personality(static_cast<unsigned long>(s.personality)) < 0)
            throw_errno("personality", std::to_string(s.personality));
        exec_process(s.process, errfd);
    } catch (const SysError& e) {
        child_fail(errfd, e, 126);
    }
}

int exit_code_of(const SysError& e, int otherwise) {
    auto* se = dynamic_cast<const StartError*>(&e);
    return se ? se->exit_code : otherwise;
}

}  // namespace

ExecSpec exec_spec_from_json(const std::string& text) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) throw_invalid("bad exec spec: not JSON");
    try {
        ExecSpec s;
        s.target = j.at("pid").get<pid_t>();
        s.target_start = j.value("pid_start_time", uint64_t{0});
        if (j.contains("cgroup")) {
            const auto& c = j["cgroup"];
            s.cgroup.version = c.value("version", 0);
            const nlohmann::json dirs = c.value("dirs", nlohmann::json::object());
            for (auto& [k, v] : dirs.items()) s.cgroup.dirs.emplace_back(k, v.get<std::string>());
        }
        s.namespaces = j.value("namespaces", std::vector<std::string>{});
        s.detach = j.value("detach", false);
        s.helper = j.value("helper", "");
        s.monitor = j.value("monitor_pid", 0);
        s.monitor_start = j.value("monitor_start_time", uint64_t{0});
        s.personality = j.value("personality", -1L);
        s.process = process_from_json(j.at("process"));
        return s;
    } catch (const nlohmann::json::exception& e) {
        throw_invalid(std::string("bad exec spec: ") + e.what());
    }
}

std::string exec_spec_to_json(const ExecSpec& s) {
    if (!s.process.seccomp.empty()) throw_invalid("exec spec: a seccomp program cannot be passed as text");
    nlohmann::json dirs = nlohmann::json::object();
    for (auto& [k, v] : s.cgroup.dirs) dirs[k] = v;
    const ProcessSpec& p = s.process;
    nlohmann::json j = {
        {"pid", s.target}, {"pid_start_time", s.target_start},
        {"cgroup", {{"version", s.cgroup.version}, {"dirs", dirs}}},
        {"namespaces", s.namespaces}, {"detach", s.detach}, {"helper", s.helper},
        {"monitor_pid", s.monitor}, {"monitor_start_time", s.monitor_start}, {"personality", s.personality},
        {"process", {{"args", p.args}, {"env", p.env}, {"cwd", p.cwd}, {"uid", p.uid},
                     {"gid", p.gid}, {"groups", p.groups}, {"caps", p.caps},
                     {"no_new_privs", p.no_new_privs}, {"tty", p.tty}, {"rows", p.rows},
                     {"cols", p.cols}, {"create_cwd", p.create_cwd}, {"umask", p.umask},
                     {"preserve_fds", p.preserve_fds}}},
    };
    if (p.cap_sets_given)
        j["process"]["cap_sets"] = {{"bounding", p.cap_sets.bounding}, {"effective", p.cap_sets.effective},
                                    {"permitted", p.cap_sets.permitted}, {"inheritable", p.cap_sets.inheritable},
                                    {"ambient", p.cap_sets.ambient}};
    return j.dump();
}

int exec_helper_main(int argc, char** argv) {
    // Before anything else: no process of the container may open us through /proc/N/exe,
    // /proc/N/mem or /proc/N/fd (we are its root, with more capabilities), and nothing but our
    // own descriptors is open (the caller's were never passed; this is the second lock).
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    int preserve = argc > 3 ? std::atoi(argv[3]) : 0;
    if (preserve < 0 || preserve > 65536) return 125;
    const int base = 3 + preserve, spec_fd = base + kExecSpecFd, err_fd = base + kExecErrFd,
              pid_fd = base + kExecPidFd, pty_fd = base + kExecPtyFd;
    sys::close_range(pty_fd + 1, ~0U, 0);
    for (int fd = spec_fd; fd <= pty_fd; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    int ptysock = ::fcntl(pty_fd, F_GETFD) >= 0 ? pty_fd : -1;
    try {
        std::string text = read_all(spec_fd, "exec spec");
        ::close(spec_fd);
        ExecSpec s = exec_spec_from_json(text);
        if (s.process.preserve_fds != preserve) throw_invalid("exec spec: preserve_fds differs from the helper's argv");
        int pfd = sys::pidfd_open(s.target);
        if (pfd < 0) throw StartError(errno, "pidfd_open", std::to_string(s.target), "container is not running", 125);
        UniqueFd target(pfd);
        if (s.target_start && process_start_time(s.target) != s.target_start)
            throw StartError(ESRCH, "pidfd_open", std::to_string(s.target), "container is not running", 125);
        int nsflags = namespace_flags(s.namespaces);
        // Join the cgroups (by path, while we still see the host's /sys), then every
        // namespace at once, then clone the process itself into them.
        // v1: we (single-threaded, just started) join the cgroup ourselves, the cheap way;
        // v2: the process is cloned straight into it below.
        Cgroup cg(s.cgroup);
        UniqueFd cgfd;
        if (cg.enabled() && cg.version() == 1) cg.join_self();
        if (cg.enabled() && cg.version() == 2) cgfd = cg.clone_into();
        // A container without a mount namespace of its own (an OCI config may ask for that)
        // lives in a chroot: the process enters the same root, as the init's /proc/N/root
        // shows it, opened before any namespace changes what that path means.
        UniqueFd target_root;
        if (!(nsflags & CLONE_NEWNS)) target_root = open_path("/proc/" + std::to_string(s.target) + "/root", O_PATH | O_DIRECTORY);
        if (::setns(target.get(), nsflags) != 0) throw_errno("setns", "container of pid " + std::to_string(s.target));
        target.reset();
        if (target_root) {
            if (::fchdir(target_root.get()) != 0 || ::chroot(".") != 0 || ::chdir("/") != 0)
                throw_errno("chroot", "root of pid " + std::to_string(s.target));
            target_root.reset();
        }
        sys::CloneArgs a {};
        if (cgfd) {
            a.flags |= sys::kCloneIntoCgroup;
            a.cgroup = static_cast<uint64_t>(cgfd.get());
        }
        a.flags |= s.detach ? 0 : CLONE_PARENT;
        // With CLONE_PARENT the kernel wants exit_signal 0: the child inherits ours
        // (SIGCHLD, from the spawn), which then goes to our parent, the caller.
        a.exit_signal = s.detach ? SIGCHLD : 0;
        long pid = sys::clone3(&a);
        if (pid < 0) throw_errno("clone3", "exec");
        if (pid == 0) grandchild(s, err_fd, ptysock);
        int32_t v = static_cast<int32_t>(pid);
        if (::write(pid_fd, &v, sizeof v) != sizeof v) return 125;
        return 0;
    } catch (const SysError& e) {
        child_fail(err_fd, e, exit_code_of(e, 125));
    } catch (const std::exception& e) {
        child_fail(err_fd, SysError(0, "", "", e.what()), 125);
    }
}

ExecStarted exec_in_container(const ExecSpec& s, const std::string& spec_json, StdioFds io) {
    if (s.helper.empty() && s.helper_fd < 0) throw_invalid("bad exec spec: no helper");
    // The monitor's own sealed copy when it is of the shim installed now: no copy to make.
    UniqueFd monitor_copy;
    if (s.helper_fd < 0) monitor_copy = running_sealed_copy(s.monitor, s.monitor_start, s.helper);
    int exe = s.helper_fd >= 0 ? s.helper_fd
              : monitor_copy   ? monitor_copy.get()
                               : sealed_executable(s.helper);

    UniqueFd devnull;
    if (s.detach || io.in < 0 || io.out < 0 || io.err < 0) devnull = open_path("/dev/null", O_RDWR);
    if (s.detach || io.in < 0) io.in = devnull.get();
    if (s.detach || io.out < 0) io.out = devnull.get();
    if (s.detach || io.err < 0) io.err = devnull.get();

    auto [spec_r, spec_w] = make_pipe();
    auto [err_r, err_w] = make_pipe();
    auto [pid_r, pid_w] = make_pipe();
    UniqueFd pty_parent, pty_child;
    // The caller's fds 3 .. 3+N-1 the process keeps, at the same numbers, then the helper's own.
    std::vector<int> fds{io.in, io.out, io.err};
    for (int fd = 3; fd < 3 + s.process.preserve_fds; ++fd) fds.push_back(fd);
    fds.insert(fds.end(), {spec_r.get(), err_w.get(), pid_w.get()});
    if (s.process.tty) {
        auto pair = make_socketpair();
        pty_parent = std::move(pair.first);
        pty_child = std::move(pair.second);
        fds.push_back(pty_child.get());
    }
    // The container's pid in argv: `ps` on the host tells what the helper is for.
    std::vector<std::string> argv{"layerbox-shim", "exec", std::to_string(s.target)};
    if (s.process.preserve_fds) argv.push_back(std::to_string(s.process.preserve_fds));
    pid_t helper = spawn_sealed(exe, argv, fds);
    spec_r.reset();
    err_w.reset();
    pid_w.reset();
    pty_child.reset();
    devnull.reset();
    // Reported below: the helper says why it stopped reading, or its exit says it died.
    feed_and_reap(helper, std::move(spec_w), spec_json, "exec spec");
    int st;
    int32_t gpid = -1;
    ssize_t n = ::read(pid_r.get(), &gpid, sizeof gpid);
    ExecStarted out;
    std::exception_ptr pty_lost;
    if (s.process.tty && n == sizeof gpid) {
        try {
            std::vector<UniqueFd> got = recv_fds(pty_parent.get(), 1);
            if (!got.empty()) out.pty = std::move(got[0]);
        } catch (...) {
            pty_lost = std::current_exception();
        }
    }
    try {
        read_child_result(err_r.get());
    } catch (...) {
        if (n == sizeof gpid && !s.detach) {
            while (::waitpid(gpid, &st, 0) < 0 && errno == EINTR) {
            }
        }
        throw;
    }
    if (pty_lost) {
        // The command runs, but its terminal did not reach us. A failure from here means to
        // the caller that nothing ran (the compiled `exec` then hands the request to the
        // Python path, which would start it a second time): so it stops running first.
        UniqueFd pidfd(sys::pidfd_open(gpid));
        if (pidfd) sys::pidfd_send_signal(pidfd.get(), SIGKILL);
        std::rethrow_exception(pty_lost);
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
