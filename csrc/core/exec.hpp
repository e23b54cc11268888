// `exec`: a new process inside a running container. It joins every namespace of the container's
// init (one setns() through a pidfd) and its cgroups, gets the same credentials, capabilities
// and no_new_privs as the container's own process, and is our child (CLONE_PARENT from the
// helper that joined), so we wait for it directly: no monitor involved.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/cgroup.hpp"
#include "core/fd.hpp"
#include "core/plan.hpp"
#include "core/spawn.hpp"

namespace lb {

struct ExecSpec {
    pid_t target = -1;             // the container's init
    uint64_t target_start = 0;     // its start time: refuse if the pid now names someone else
    CgroupSpec cgroup;                      // the container's cgroup, to join
    std::vector<std::string> namespaces;    // "mount", "pid", ... to join
    ProcessSpec process;
    bool detach = false;  // reparented away from us, stdio /dev/null
};

struct ExecStarted {
    pid_t pid = -1;  // 0 when detached (not ours to wait for)
    UniqueFd pidfd;
    UniqueFd pty;
};

// Starts the process; returns once it runs the command. Throws StartError otherwise.
ExecStarted exec_in_container(const ExecSpec& spec, StdioFds io);

// Waits for an exec'd process, forwarding signals and, with a pty, relaying our stdin to it and
// its output to our stdout. Returns docker's exit code (128+signal when killed).
int wait_exec(ExecStarted& e, bool forward_signals, bool relay_stdin, bool raw_tty);

}  // namespace lb
