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
#include <sys/prctl.h>
#include <unistd.h>

#include <string_view>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/exec.hpp"
#include "core/fd.hpp"
#include "core/syscalls.hpp"
#include "core/unix.hpp"
#include "shim/monitor.hpp"

int main(int argc, char** argv) {
    // Started by execveat() of a memfd, the kernel names us after the descriptor ("3");
    // `ps`, `top` and pgrep show this name instead.
    ::prctl(PR_SET_NAME, "layerbox-shim", 0, 0, 0);
    if (argc > 1 && std::string_view(argv[1]) == "exec") return lb::exec_helper_main(argc, argv);
    constexpr int kPlanFd = 3, kReportFd = 4;
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
        pid_t pid = ::fork();
        if (pid < 0) lb::throw_errno("fork", "monitor");
        if (pid > 0) ::_exit(0);
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
