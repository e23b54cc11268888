// `exec`: a new process inside a running container. It joins every namespace of the container's
// init (one setns() through a pidfd) and its cgroups, gets the same credentials, capabilities
// and no_new_privs as the container's own process, and is our child (CLONE_PARENT from the
// helper that joined), so we wait for it directly: no monitor involved.
//
// The helper that joins is never the caller (a Python process): it is the shim binary in its
// `exec` mode, run from a sealed memfd copy (see sealed.hpp), non-dumpable before it joins, with
// only the descriptors below. So nothing a container process can reach through /proc/N/exe or
// /proc/N/fd during an exec is a host file or a descriptor of the caller.
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
    CgroupPlan cgroup;                      // the container's cgroup, to join
    std::vector<std::string> namespaces;    // "mount", "pid", ... to join
    ProcessSpec process;
    bool detach = false;  // reparented away from us, stdio /dev/null
    std::string helper;   // the shim binary, whose sealed copy joins the container
    int helper_fd = -1;   // or that sealed copy itself, already open (the monitor's own exe)
    pid_t monitor = 0;    // the container's monitor, which runs such a copy (0: none known)
    uint64_t monitor_start = 0;
    long personality = -1;  // personality(2) as the init's (LaunchPlan::personality); -1: ours
};

// The spec as exec_start gets it (JSON text); throws SysError(EINVAL) when malformed.
ExecSpec exec_spec_from_json(const std::string& text);
// The same as text, for a C++ caller (layerbox-runtime): what exec_spec_from_json reads back.
// A process with a seccomp program cannot travel this way (the JSON names a cached file).
std::string exec_spec_to_json(const ExecSpec& spec);

struct ExecStarted {
    pid_t pid = -1;  // 0 when detached (not ours to wait for)
    UniqueFd pidfd;
    UniqueFd pty;
};

// Starts the process; returns once it runs the command. Throws StartError otherwise.
// `spec_json` is `spec` as text: the helper reads it.
ExecStarted exec_in_container(const ExecSpec& spec, const std::string& spec_json, StdioFds io);

// The helper's side (`layerbox-shim exec PID [N]`), with stdio, the caller's fds 3 .. 3+N-1
// when the process keeps them (an OCI runtime's `exec --preserve-fds N`; N is argv[3]), then
// these descriptors, at 3+N+offset, and no others:
constexpr int kExecSpecFd = 0;  // the spec, JSON, read to end of file
constexpr int kExecErrFd = 1;   // the start report pipe (see spawn.hpp)
constexpr int kExecPidFd = 2;   // the started process's pid (int32) goes here
constexpr int kExecPtyFd = 3;   // with a tty: the socket the pty master goes over
// Joins the container and starts the process; returns the helper's exit code.
int exec_helper_main(int argc, char** argv);

// Waits for an exec'd process, forwarding signals and, with a pty, relaying our stdin to it and
// its output to our stdout. Returns docker's exit code (128+signal when killed).
int wait_exec(ExecStarted& e, bool forward_signals, bool relay_stdin, bool raw_tty);

}  // namespace lb
