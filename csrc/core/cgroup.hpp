// One container's cgroup, v1 (a directory per controller, as on this machine) or v2 (one
// unified directory). It is given its directories, so tests point it at a temp dir; which
// files get which values (the limits) is decided in Python.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "core/fd.hpp"
#include "core/plan.hpp"

namespace lb {

class Cgroup {
public:
    Cgroup() = default;
    explicit Cgroup(const CgroupPlan& plan) : plan_(plan) {}

    bool enabled() const { return plan_.version != 0 && !plan_.dirs.empty(); }
    int version() const { return plan_.version; }

    // mkdir -p every directory (v1 cpuset levels get their cpus/mems from the parent), then
    // writes the settings. Throws naming the file on failure.
    void create();
    // Moves `pid` into every directory.
    void add_pid(pid_t pid) const;
    // Moves the calling, single-threaded process into every directory, the cheap way: on v1 by
    // writing "0" to each `tasks` file, which the kernel does without taking the global
    // threadgroup rwsem (whose write side otherwise waits for an RCU grace period: 5-16 ms
    // here when no migration happened recently). Not for v2: use clone_into() there.
    void join_self() const;
    // v2: an fd of the directory for clone3(CLONE_INTO_CGROUP), which puts a new process in its
    // cgroup without any migration at all. Invalid on v1.
    UniqueFd clone_into() const;
    // Freezes (v1 freezer.state FROZEN / v2 cgroup.freeze 1) and waits until it holds.
    void freeze() const;
    void thaw() const;
    bool frozen() const;
    // The pids in the cgroup.
    std::vector<pid_t> procs() const;
    // Sends `sig` to every process, frozen or not; with SIGKILL the processes are also thawed so
    // they can die.
    void signal_all(int sig) const;
    // Whether the memory controller recorded an OOM kill.
    bool oom_killed() const;
    // Removes the directories (retrying while the kernel still counts dying tasks). Missing
    // directories are fine.
    void destroy() const;
    // A `docker update` of a live container: the directories of controllers it was not in yet
    // (v1: a limit it starts without, such as cpu or cpuset) are made and given its processes,
    // which are frozen meanwhile so that no fork escapes; then `next`'s settings are written in
    // their order. The new directories become ours (destroy() removes them). Throws naming the
    // file on failure.
    void update(const CgroupPlan& next);

    const std::string& dir_for(const std::string& controller) const;

private:
    std::string file_of(const std::string& controller, const std::string& file) const;
    CgroupPlan plan_;
};

}  // namespace lb
