#include "runtime/state.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "core/cgroup.hpp"
#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/logfile.hpp"
#include "core/proc.hpp"

namespace lb::oci {

using nlohmann::json;

void check_id(const std::string& id) {
    bool ok = !id.empty() && id != "." && id != ".." && id.size() <= 1024 &&
              std::all_of(id.begin(), id.end(), [](char c) {
                  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '+' || c == '-' || c == '.';
              });
    if (!ok) throw std::runtime_error("invalid container id format: " + id);
}

std::string now_rfc3339(bool nanos) {
    struct timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    std::string s = rfc3339(ts.tv_sec, ts.tv_nsec);  // core/logfile.hpp: UTC without /etc/localtime
    if (!nanos) s = s.substr(0, s.rfind('.')) + "Z";
    return s;
}

void StateDir::claim(const std::string& id) const {
    // mkdir -p: containerd's shim passes a --root whose parents may not exist yet.
    for (size_t pos = 1; pos <= root_.size(); ++pos) {
        if (pos != root_.size() && root_[pos] != '/') continue;
        std::string d = root_.substr(0, pos);
        if (::mkdir(d.c_str(), 0711) != 0 && errno != EEXIST) throw_errno("mkdir", d);
    }
    std::string d = dir(id);
    if (::mkdir(d.c_str(), 0711) != 0) {
        if (errno == EEXIST) throw std::runtime_error("container with id exists: " + id);
        throw_errno("mkdir", d);
    }
}

void StateDir::save(const ContainerState& s) const {
    json cg = {{"version", s.cgroup.version}, {"dirs", json::array()}};
    for (auto& [c, d] : s.cgroup.dirs) cg["dirs"].push_back({c, d});
    json j = {{"id", s.id},           {"pid", s.pid},         {"start_time", s.start_time},
              {"bundle", s.bundle},   {"rootfs", s.rootfs},   {"created", s.created},
              {"owner", s.owner},     {"cgroup", cg},         {"namespaces", s.namespaces},
              {"annotations", s.annotations}, {"hooks", s.hooks},
              {"seccomp", s.seccomp},   {"seccomp_flags", s.seccomp_flags},
              {"rootfs_base_mount", s.rootfs_base_mount}, {"personality", s.personality}};
    write_file_atomic(dir(s.id) + "/state.json", j.dump(), 0600);
}

bool StateDir::exists(const std::string& id) const {
    return ::access((dir(id) + "/state.json").c_str(), F_OK) == 0;
}

ContainerState StateDir::load(const std::string& id) const {
    check_id(id);
    std::string text;
    try {
        text = read_file(dir(id) + "/state.json");
    } catch (const SysError& e) {
        if (e.err == ENOENT) throw NotFound("container does not exist");
        throw;
    }
    json j = json::parse(text);
    ContainerState s;
    s.id = j.at("id");
    s.pid = j.at("pid");
    s.start_time = j.at("start_time");
    s.bundle = j.at("bundle");
    s.rootfs = j.at("rootfs");
    s.created = j.at("created");
    s.owner = j.value("owner", "root");
    s.cgroup.version = j.at("cgroup").at("version");
    for (auto& d : j["cgroup"]["dirs"]) s.cgroup.dirs.emplace_back(d.at(0), d.at(1));
    s.namespaces = j.at("namespaces").get<std::vector<std::string>>();
    s.annotations = j.value("annotations", json::object());
    s.hooks = j.value("hooks", json::object());
    s.seccomp = j.value("seccomp", false);
    s.seccomp_flags = j.value("seccomp_flags", 0u);
    s.rootfs_base_mount = j.value("rootfs_base_mount", uint64_t{0});
    s.personality = j.value("personality", -1L);
    return s;
}

void StateDir::remove(const std::string& id) const {
    std::string d = dir(id);
    // Every file of ours in it: state.json, exec.fifo, seccomp.bpf, and a write_file_atomic
    // temporary (NAME.tmp.PID) that a killed runtime left behind.
    if (DIR* dd = ::opendir(d.c_str())) {
        std::vector<std::string> names;
        while (struct dirent* e = ::readdir(dd)) {
            std::string n = e->d_name;
            if (n == "state.json" || n == "exec.fifo" || n == "seccomp.bpf" || n.rfind("state.json.tmp.", 0) == 0 ||
                n.rfind("seccomp.bpf.tmp.", 0) == 0)
                names.push_back(n);
        }
        for (auto& n : names) ::unlinkat(::dirfd(dd), n.c_str(), 0);
        ::closedir(dd);
    }
    if (::rmdir(d.c_str()) != 0 && errno != ENOENT) throw_errno("rmdir", d);
}

std::vector<std::string> StateDir::ids() const {
    std::vector<std::string> out;
    DIR* d = ::opendir(root_.c_str());
    if (!d) return out;
    while (struct dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != ".." && exists(n)) out.push_back(n);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

std::string status_of(const StateDir& dir, const ContainerState& s) {
    if (s.pid <= 0 || process_start_time(s.pid) != s.start_time) return "stopped";
    if (::access(dir.fifo(s.id).c_str(), F_OK) == 0) return "created";
    Cgroup cg(s.cgroup);
    try {
        if (cg.enabled() && cg.frozen()) return "paused";
    } catch (const std::exception&) {
    }
    return "running";
}

nlohmann::ordered_json state_json(const ContainerState& s, const std::string& status) {
    nlohmann::ordered_json j = {{"ociVersion", "1.1.0"}, {"id", s.id}, {"pid", status == "stopped" ? 0 : s.pid}, {"status", status},
              {"bundle", s.bundle},    {"rootfs", s.rootfs}, {"created", s.created}, {"owner", s.owner}};
    if (!s.annotations.empty()) j["annotations"] = s.annotations;
    return j;
}

}  // namespace lb::oci
