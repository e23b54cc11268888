#include "core/execbuild.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cgroup.hpp"
#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/proc.hpp"
#include "core/procenv.hpp"
#include "core/rootpath.hpp"
#include "core/users.hpp"

namespace lb {

namespace {

nlohmann::json read_json(const std::string& path) {
    auto j = nlohmann::json::parse(read_file(path), nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw_invalid("not a JSON object", path);
    return j;
}

// A file of the container's (/etc/passwd, /etc/group), resolved inside its root: absent, or
// anything but a regular file (a FIFO would block us; a device is no passwd), reads as empty.
std::string read_in_root_or_empty(int rootfd, const char* rel) {
    return read_regular_in_root(rootfd, rel, 64 << 20).value_or(std::string());
}

// A field of a JSON object as T; `otherwise` when it is missing or null (state.json's writers
// leave fields null before the monitor fills them).
template <class T>
T field(const nlohmann::json& j, const char* key, T otherwise) {
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? otherwise : it->get<T>();
}

// Whether the container's cgroup is frozen (paused), as the Cgroup class reads it; a cgroup
// that is gone reads as not frozen: the state check decides then.
bool frozen(const nlohmann::json& cgroup) {
    return Cgroup(cgroup_plan_from_json(cgroup)).frozen();
}

}  // namespace

ContainerFiles read_container_files(const std::string& dir) {
    ContainerFiles c;
    c.dir = dir;
    c.config = read_json(dir + "/config.json");
    c.state = read_json(dir + "/state.json");
    c.base = read_json(dir + "/process.json");
    return c;
}

bool plainly_running(const ContainerFiles& c) {
    const auto& s = c.state;
    if (field<std::string>(s, "Status", "") != "running" || field(s, "Paused", false) || field(s, "Pid", 0) <= 0)
        return false;
    pid_t monitor = field(s, "MonitorPid", 0);
    if (monitor <= 0) return false;
    std::string boot = field<std::string>(s, "BootId", "");
    if (!boot.empty() && boot != boot_id()) return false;
    if (process_start_time(monitor) != field(s, "MonitorStartTime", uint64_t{0})) return false;
    // the init too: its root is where the user's files are read
    if (process_start_time(field(s, "Pid", 0)) != field(s, "PidStartTime", uint64_t{0})) return false;
    return !frozen(c.base.value("cgroup", nlohmann::json::object()));
}

std::string exec_spec_json(const ContainerFiles& c, const ExecRequest& r) {
    const auto& cfg = c.config.at("Config");
    const auto& host = c.config.at("HostConfig");
    pid_t pid = c.state.at("Pid").get<pid_t>();

    UniqueFd root = open_path("/proc/" + std::to_string(pid) + "/root", O_PATH | O_DIRECTORY | O_CLOEXEC);
    std::string group = read_in_root_or_empty(root.get(), "etc/group");
    // docker: an empty --user is no --user (the container's own user)
    std::string spec = r.user && !r.user->empty() ? *r.user : field<std::string>(cfg, "User", "");
    ResolvedUser u = resolve_user(spec, read_in_root_or_empty(root.get(), "etc/passwd"), group);
    // docker's exec gets the container's --group-add too
    if (host.contains("GroupAdd") && host["GroupAdd"].is_array() && !host["GroupAdd"].empty()) {
        std::vector<std::string> names;
        for (const auto& g : host["GroupAdd"]) names.push_back(g.is_string() ? g.get<std::string>() : g.dump());
        u = with_groups(std::move(u), names, group);
    }

    std::vector<std::string> config_env;
    config_env = field(cfg, "Env", std::vector<std::string>{});
    std::vector<std::string> env =
        process_env(config_env, field<std::string>(cfg, "Hostname", ""), u.home, r.tty, r.env);

    std::string cwd = r.workdir;
    if (cwd.empty()) cwd = field<std::string>(cfg, "WorkingDir", "");
    if (cwd.empty()) cwd = "/";

    // The cgroup directories the init joined that still exist (a controller's may be gone).
    nlohmann::json cgroup = c.base.at("cgroup");
    nlohmann::json dirs = nlohmann::json::object();
    const nlohmann::json had = cgroup.value("dirs", nlohmann::json::object());
    for (auto& [k, v] : had.items()) {
        struct stat st;
        if (::stat(v.get<std::string>().c_str(), &st) == 0 && S_ISDIR(st.st_mode)) dirs[k] = v;
    }
    cgroup["dirs"] = dirs;

    std::vector<gid_t> groups{u.gid};
    for (gid_t g : u.groups)
        if (g != u.gid) groups.push_back(g);

    nlohmann::json process = {
        {"args", r.args}, {"env", env}, {"cwd", cwd}, {"uid", u.uid}, {"gid", u.gid},
        {"groups", groups}, {"tty", r.tty}, {"rows", r.rows}, {"cols", r.cols}, {"create_cwd", false},
    };
    for (const char* k : {"caps", "no_new_privs", "seccomp"})
        if (c.base.contains(k)) process[k] = c.base[k];
    nlohmann::json j = {
        {"pid", pid},
        {"pid_start_time", field(c.state, "PidStartTime", uint64_t{0})},
        {"cgroup", cgroup},
        {"namespaces", c.base.at("namespaces")},
        {"detach", r.detach},
        // A sealed copy of the shim joins the container, never the caller ...
        {"helper", r.helper},
        // ... started from the monitor's own copy when that is of the same file.
        {"monitor_pid", field(c.state, "MonitorPid", 0)},
        {"monitor_start_time", field(c.state, "MonitorStartTime", uint64_t{0})},
        {"process", process},
    };
    return j.dump();
}

}  // namespace lb
