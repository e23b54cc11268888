// Sealed copies of our own executables, and starting them.
//
// No host executable may be reachable from a container (the CVE-2019-5736 class): a process
// that enters a container, or whose fork becomes a container's process (the monitor, whose
// clone is the container's init until it execs and, with --init, stays PID 1), runs from a
// memfd copy sealed against every change (F_SEAL_WRITE|SHRINK|GROW|SEAL), as runc does. What a
// container process finds through /proc/N/exe is then that copy: it can read it, never write
// it, and it is not the file on the host's disk that the next command would run.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/fd.hpp"

namespace lb {

// A sealed memfd copy of the executable at `path`. Kept per process and path (the copy cannot
// change, so an API client starting many containers pays the copy once); the returned fd is
// the cached one, O_CLOEXEC, owned by the cache.
int sealed_executable(const std::string& path);

// The sealed copy of `path` that the live process `pid` (started at `start_time`, in clock
// ticks) runs, opened through /proc/pid/exe: a container's monitor runs one, so `exec` starts
// its helper from it instead of copying again. Invalid when that process is gone or runs
// anything else (another version of the binary, an unsealed file).
UniqueFd running_sealed_copy(pid_t pid, uint64_t start_time, const std::string& path);

// Starts the executable `exefd` (execveat AT_EMPTY_PATH) with `argv` and `environ` in a new
// process (vfork: no copy of the caller's memory) whose fds are exactly `fds` placed at 0, 1,
// 2, ... (each must be valid); everything else is closed before the exec, every signal is at
// its default and none is blocked. Returns the pid; throws SysError when it could not start.
pid_t spawn_sealed(int exefd, const std::vector<std::string>& argv, const std::vector<int>& fds);

// The hand-over both spawned helpers share (the monitor's short-lived parent half, the exec
// helper): writes `doc` (its plan) into the pipe it reads on fd 3, closes the pipe, and reaps
// the helper, which exits once it has handed over. A failed write is not thrown: the helper's
// own report (or its early exit) says why it stopped reading (no SIGPIPE: write_all_no_sigpipe).
void feed_and_reap(pid_t helper, UniqueFd pipe_w, const std::string& doc, const std::string& what);

}  // namespace lb
