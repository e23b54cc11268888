// A container's state directory under --root: state.json (what `state` reports plus what the
// other commands need: the cgroup, the namespaces, the hooks) and exec.fifo while `created`.
#pragma once

#include <sys/types.h>

#include <string>

#include <nlohmann/json.hpp>

#include "core/plan.hpp"

namespace lb::oci {

struct ContainerState {
    std::string id, bundle, rootfs, created, owner = "root";
    pid_t pid = 0;
    uint64_t start_time = 0;  // of the init: a recycled pid is not our container
    CgroupPlan cgroup;
    std::vector<std::string> namespaces;  // new ones the init made (exec joins them)
    nlohmann::json annotations = nlohmann::json::object();
    nlohmann::json hooks = nlohmann::json::object();  // the config's poststart and poststop
    // linux.seccomp compiled at create, kept as seccomp.bpf beside the state: `exec` installs
    // the same program in the processes it starts, as runc does.
    bool seccomp = false;
    unsigned seccomp_flags = 0;
    // Without a mount namespace of its own, the container's mounts are stacked on its rootfs in
    // ours: the mount id that was on top before them (0: it has a namespace; nothing to undo).
    uint64_t rootfs_base_mount = 0;
    // linux.personality (-1: none given): `exec` gives its processes the init's.
    long personality = -1;
};

class StateDir {
public:
    explicit StateDir(std::string root) : root_(std::move(root)) {}
    std::string dir(const std::string& id) const { return root_ + "/" + id; }
    std::string fifo(const std::string& id) const { return dir(id) + "/exec.fifo"; }
    std::string seccomp(const std::string& id) const { return dir(id) + "/seccomp.bpf"; }
    // mkdir of the container's directory: fails with "container with id exists" when taken.
    void claim(const std::string& id) const;
    void save(const ContainerState& s) const;
    // Throws NotFound when there is no such container.
    ContainerState load(const std::string& id) const;
    bool exists(const std::string& id) const;
    void remove(const std::string& id) const;
    std::vector<std::string> ids() const;
    const std::string& root() const { return root_; }

private:
    std::string root_;
};

struct NotFound : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// created | running | paused | stopped, from the init's liveness, the fifo and the freezer.
std::string status_of(const StateDir& dir, const ContainerState& s);
// The state as `state` prints it and hooks read it on stdin.
nlohmann::ordered_json state_json(const ContainerState& s, const std::string& status);
// Checks an id as runc does: letters, digits, _ + - . only, not "." or "..".
void check_id(const std::string& id);
// RFC 3339 in UTC as Go prints time.Time: with nanoseconds (state's "created"), or to the
// second (log lines, as runc's logrus writes them).
std::string now_rfc3339(bool nanos = true);

}  // namespace lb::oci
