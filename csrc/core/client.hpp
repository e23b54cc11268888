// The client's half of the monitor protocol: start a monitor, read its start report, wait for
// the exit report while forwarding signals, and talk to a running monitor over its socket.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <termios.h>

#include <string>

#include "core/fd.hpp"

namespace lb {

struct MonitorStart {
    pid_t pid = -1;          // the container's init, in our PID namespace
    pid_t monitor_pid = -1;
    UniqueFd pidfd;          // of the init, from the monitor (no pid reuse race)
    UniqueFd pty;            // master of the container's terminal, when it has one
    UniqueFd sock;           // to the monitor: the exit report arrives here
};

// Spawns `shim` with the plan and the given stdio (-1 = /dev/null) and returns once the
// container's command runs. Throws StartError (with docker's exit code) otherwise.
MonitorStart start_monitor(const std::string& shim, const std::string& container_dir,
                           const std::string& plan_json, int in, int out, int err);

struct ExitReport {
    bool exited = false;  // false: timed out, or the monitor vanished without a report
    int exit_code = -1;
    bool oom_killed = false;
    bool restarting = false;
};

// Waits for the next exit report on `sock`. `timeout_ms` < 0 waits forever. With
// `forward_signals`, SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2 received meanwhile are sent to
// `pidfd`, and SIGWINCH resizes `pty` to our terminal. With `raw_tty`, our stdin terminal is in
// raw mode for the duration.
ExitReport wait_exit(int sock, int pidfd, int pty, bool forward_signals, bool raw_tty, int timeout_ms);

// Blocks, in the calling thread, the signals wait_exit/wait_exec forward, so one that arrives
// while the container is still starting is kept pending and forwarded once waiting begins
// (instead of killing the CLI with the container left running).
void block_forwarded_signals();

// While it lives: the signals a foreground command forwards are blocked in this thread and
// readable from fd() (a signalfd); our terminal is in raw mode when asked. On destruction the
// terminal is restored and forwarded-but-unread signals are dropped (they were the container's).
class ForegroundScope {
public:
    ForegroundScope(bool forward_signals, bool raw_tty);
    ~ForegroundScope();
    ForegroundScope(const ForegroundScope&) = delete;
    ForegroundScope& operator=(const ForegroundScope&) = delete;
    int fd() const { return sigfd_.get(); }
    // Reads pending signals: SIGWINCH resizes `pty` to our terminal, the others go to `pidfd`.
    void forward(int pidfd, int pty);

private:
    bool forwarding_;
    bool restore_tty_ = false;
    sigset_t mask_, old_;
    UniqueFd sigfd_;
    struct termios saved_;
};

// Sends one message on a monitor connection and returns the reply ("" on EOF or timeout).
std::string monitor_request(int sock, const std::string& msg, int timeout_ms);

// Copies our terminal's size to `pty`.
void copy_winsize(int from_fd, int pty);

}  // namespace lb
