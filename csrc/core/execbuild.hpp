// What an `exec` runs, built from a running container's own files: its config.json (user,
// environment, working directory, --group-add), state.json (the init's pid and the monitor's)
// and process.json (what its init was started with: namespaces, cgroup, capabilities,
// seccomp; see python/layerbox/container/process.py). The user is resolved against the
// container's /etc/passwd and /etc/group read inside its root.
//
// One builder for both ways in: the Python engine (exec through the CLI's fallback path, the
// Python API and the Engine API) and the compiled exec path of the `layerbox` command.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lb {

struct ExecRequest {
    std::vector<std::string> args;
    std::vector<std::string> env;     // "K=V", on top of the container's
    std::optional<std::string> user;  // unset: the container's Config.User
    std::string workdir;              // empty: the container's WorkingDir, else "/"
    bool tty = false;
    bool detach = false;
    unsigned short rows = 0, cols = 0;
    std::string helper;  // the shim binary whose sealed copy joins the container
};

struct ContainerFiles {
    std::string dir;
    nlohmann::json config, state, base;  // config.json, state.json, process.json
};

// Reads the three files (SysError when one is missing or not JSON).
ContainerFiles read_container_files(const std::string& dir);

// True when the state says running, its monitor is the live process it names (same boot, same
// start time) and the cgroup is not frozen: the only case the compiled exec path handles (every
// other one goes to the Python engine, which reconciles and reports as docker does).
bool plainly_running(const ContainerFiles& c);

// The spec exec_spec_from_json reads (as text). Throws UserNotFound, or SysError/
// nlohmann::json::exception on malformed files.
std::string exec_spec_json(const ContainerFiles& c, const ExecRequest& r);

}  // namespace lb
