// Starting a container's first process: clone into new namespaces, set up the root, exec.
//
// The parent learns the outcome through a sync pipe: end-of-file means execve succeeded (the
// pipe is O_CLOEXEC), a ChildError record means something failed, with errno, syscall and path.
// After clone the child runs only this code: no Python, no allocation-hungry libraries.
#pragma once

#include <sys/types.h>

#include <functional>
#include <initializer_list>
#include <string>

#include "core/cgroup.hpp"
#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/plan.hpp"

namespace lb {

// A start failure, with the exit code docker gives it: 127 command not found, 126 cannot be
// invoked, 125 anything else (the engine's own failure).
class StartError : public SysError {
public:
    StartError(int err, std::string syscall, std::string path, std::string what, int exit_code)
        : SysError(err, std::move(syscall), std::move(path), std::move(what)), exit_code(exit_code) {}
    int exit_code;
};

struct StdioFds {
    int in = -1, out = -1, err = -1;  // in the caller's fd table; must be valid fds
};

struct Launched {
    pid_t pid = -1;
    UniqueFd pidfd;       // of the container's init
    UniqueFd pty_master;  // when the plan asked for a terminal
    UniqueFd mount_ns;    // the container's mount namespace (see Monitor::finish)
};

// Clones, joins `cg` (already created), sets up the root and execs. Returns once the process
// runs the user's command; throws StartError otherwise (the child is reaped). `before_go`, when
// set, runs in the parent after the clone (and the id maps), while the child sets its root up;
// nothing of the container runs before it returns (the child's network namespace exists and
// has no interface but lo: the monitor puts the container's in it).
// With plan.stop_before_pivot, `before_pivot` runs once the child made its mounts and waits
// before pivot_root (an OCI createContainer hook); the child goes on when it returns.
Launched launch_container(const LaunchPlan& plan, const Cgroup& cg, StdioFds io,
                          const std::function<void(pid_t)>& before_go = {},
                          const std::function<void(pid_t)>& before_pivot = {});

// The set-up steps after the namespaces exist (mounts, pivot_root, credentials, exec), used by
// launch_container's child; exposed so `exec` shares the exec/credential half.
[[noreturn]] void exec_process(const ProcessSpec& p, int errfd);

// Runs `file` with `argv` and `env` the way docker does: a name without '/' is looked up in
// the PATH of `env`. Returns only on failure, with errno set and `exit_code`/`message` filled.
void exec_command(const std::vector<std::string>& args, const std::vector<std::string>& env,
                  int& exit_code, std::string& message, std::string& path);

// Reports `e` on the sync pipe and exits the child.
[[noreturn]] void child_fail(int errfd, const SysError& e, int exit_code);
// Reads the sync pipe: returns normally on EOF (exec happened), throws StartError otherwise.
void read_child_result(int fd);

// Closes (really, not close-on-exec) every descriptor above 2 but those in `keep` (-1s ignored)
// and 3 .. 3+preserve-1.
void close_fds_except(std::initializer_list<int> keep, int preserve = 0);

// Puts `fd` at `target` (0, 1 or 2) with close-on-exec cleared.
void place_fd(int fd, int target);

// Makes the slave of a new pty master (from the container's devpts) our controlling terminal
// and stdio, sized rows x cols, after sending the master over `sock`.
void attach_new_pty(UniqueFd master, unsigned short rows, unsigned short cols, int sock, bool new_session);

// Brings the loopback interface up (a new network namespace starts with lo down).
void loopback_up();

}  // namespace lb
