// layerbox-shim: always run from a sealed memfd copy (core/sealed.hpp), never from its file.
//
// `layerbox-shim exec PID`: the helper that joins a running container for `exec` (see
// core/exec.hpp for its descriptors).
//
// `layerbox-shim CONTAINER_DIR`: started by `layerbox start`/`run` with
//   fd 0-2  the client's stdio when attached, /dev/null otherwise
//   fd 3    the launch plan (JSON), read to end of file
//   fd 4    a SOCK_SEQPACKET socket to the client: the start report (and pidfd) goes there
// It detaches (new session, then a fork whose parent exits at once so the starting client can
// reap it) and becomes the container's monitor. See monitor.hpp.
//
// `layerbox-shim factory`: a client's monitor factory (see core/client.cpp), with its control
// socket on fd 3. It detaches as a monitor does, then forks one monitor per request: a request
// is the container's directory with the five descriptors above (stdio, plan, report socket),
// which the child places at 0-4 before it runs as `layerbox-shim CONTAINER_DIR` would, without
// an exec (the exec of this 1.7 MB static binary and libc's start-up, its cpuid probes trapping
// to the hypervisor here, cost ~0.5 ms of every container's start). The factory holds nothing
// of any container; it ends when its client closes the socket.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include <string_view>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/exec.hpp"
#include "core/fd.hpp"
#include "core/syscalls.hpp"
#include "core/unix.hpp"
#include "shim/monitor.hpp"

namespace {

constexpr int kPlanFd = 3, kReportFd = 4;

// The monitor, with its descriptors in place (see above). `detach`: a new session and a fork
// whose parent exits, so the monitor is nobody's child but the subreaper's; a factory's child
// only needs the session (the factory ignores SIGCHLD: its children are reaped by the kernel).
int monitor_main(bool detach) {
    try {
        std::string text = lb::read_all(kPlanFd, "launch plan");
        ::close(kPlanFd);
        nlohmann::json j = nlohmann::json::parse(text);
        lb::LaunchPlan plan = lb::plan_from_json(j);
        lb::shim::MonitorConfig cfg = lb::shim::config_from_json(j.at("monitor"));
        // Nothing but stdio and the report socket crosses into the monitor.
        lb::sys::close_range(kReportFd + 1, ~0U, 0);
        ::fcntl(kReportFd, F_SETFD, FD_CLOEXEC);
        if (::setsid() < 0) lb::throw_errno("setsid", "monitor");
        if (::chdir("/") != 0) lb::throw_errno("chdir", "/");  // pin no directory of the client
        if (detach) {
            pid_t pid = ::fork();
            if (pid < 0) lb::throw_errno("fork", "monitor");
            if (pid > 0) ::_exit(0);
        }
        lb::shim::Monitor m(std::move(plan), std::move(cfg), kReportFd);
        return m.run();
    } catch (const std::exception& e) {
        nlohmann::json msg = {{"ok", false}, {"errno", 0}, {"syscall", ""}, {"path", ""},
                              {"message", std::string("monitor: ") + e.what()}, {"exit_code", 125}};
        if (auto* se = dynamic_cast<const lb::SysError*>(&e)) {
            msg["errno"] = se->err;
            msg["syscall"] = se->syscall;
            msg["path"] = se->path;
        }
        try {
            lb::send_fds(kReportFd, msg.dump(), {});
        } catch (...) {
        }
        return 125;
    }
}

// /proc/self/cmdline as an exec'd monitor's ("layerbox-shim CONTAINER_DIR": `ps` shows it,
// and monitors of different stores are told apart by it). The factory is started with room for
// it: its arguments end in kTitleRoom empty strings. The title is written over them, as
// setproctitle(3) does, and the area's last byte made non-zero, which tells the kernel to
// read the title up to its own end (PR_SET_MM would need CAP_SYS_RESOURCE, which a container
// engine may run without). False when it does not fit.
bool set_cmdline(int argc, char** argv, const std::string& dir) {
    char* start = argv[0];
    char* end = argv[argc - 1] + std::strlen(argv[argc - 1]) + 1;  // the arguments' area
    std::string t = "layerbox-shim " + dir;
    if (static_cast<size_t>(end - start) < t.size() + 2) return false;
    std::memset(start, 0, static_cast<size_t>(end - start));
    std::memcpy(start, t.data(), t.size());
    end[-1] = ' ';
    return true;
}

int factory_main(int argc, char** argv) {
    constexpr int kControlFd = 3;
    ::fcntl(kControlFd, F_SETFD, FD_CLOEXEC);
    lb::sys::close_range(kControlFd + 1, ~0U, 0);
    // Our sealed copy, for a child that cannot take its monitor's name without an exec.
    int self = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (::setsid() < 0 || ::chdir("/") != 0) return 1;
    pid_t pid = ::fork();
    if (pid < 0) return 1;
    if (pid > 0) ::_exit(0);  // reaped by the client, as a monitor's first half is
    ::signal(SIGCHLD, SIG_IGN);  // the monitors are reaped by the kernel
    ::signal(SIGPIPE, SIG_IGN);
    for (;;) {
        std::string dir;
        std::vector<lb::UniqueFd> fds;
        try {
            fds = lb::recv_fds(kControlFd, 5, &dir);
        } catch (const lb::SysError&) {
            return 1;
        }
        if (dir.empty()) return 0;  // the client has gone
        if (fds.size() != 5) continue;  // not a request of ours: its descriptors close here
        pid_t child = ::fork();
        if (child != 0) continue;  // the parent's copies close with `fds`; a failed fork: the
                                   // client reads the report socket's end (no monitor)
        ::signal(SIGCHLD, SIG_DFL);
        ::signal(SIGPIPE, SIG_DFL);
        // Lift every descriptor above 0-5 first, so placing one never clobbers another.
        int high[6];
        for (int i = 0; i < 5; ++i) high[i] = ::fcntl(fds[i].get(), F_DUPFD_CLOEXEC, 6);
        high[5] = self >= 0 ? ::fcntl(self, F_DUPFD_CLOEXEC, 6) : -1;
        for (int i = 0; i < 5; ++i)
            if (high[i] < 0 || ::dup2(high[i], i) < 0) ::_exit(125);
        if (high[5] >= 0) ::dup3(high[5], 5, O_CLOEXEC);
        // Really closed, the control socket included: nothing of the factory's crosses.
        lb::sys::close_range(high[5] >= 0 ? 6 : 5, ~0U, 0);
        if (set_cmdline(argc, argv, dir)) {
            ::close(5);
            ::_exit(monitor_main(false));
        }
        // Without PR_SET_MM: the exec'd monitor of old, from the same sealed copy.
        if (high[5] >= 0) {
            ::fcntl(5, F_SETFD, FD_CLOEXEC);
            char* av[] = {argv[0], dir.data(), nullptr};
            ::syscall(SYS_execveat, 5, "", av, environ, AT_EMPTY_PATH);
        }
        ::_exit(125);
    }
}

}  // namespace

int main(int argc, char** argv) {
    // Started by execveat() of a memfd, the kernel names us after the descriptor ("3");
    // `ps`, `top` and pgrep show this name instead.
    ::prctl(PR_SET_NAME, "layerbox-shim", 0, 0, 0);
    if (argc > 1 && std::string_view(argv[1]) == "exec") return lb::exec_helper_main(argc, argv);
    if (argc > 1 && std::string_view(argv[1]) == "factory") return factory_main(argc, argv);
    return monitor_main(true);
}
