#include "core/cgroup.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/devices_bpf.hpp"
#include "core/error.hpp"
#include "core/fd.hpp"

namespace lb {

namespace {

void write_value(const std::string& path, const std::string& value) {
    UniqueFd fd = open_path(path, O_WRONLY | O_TRUNC);
    if (::write(fd.get(), value.data(), value.size()) < 0) throw_errno("write", path);
}

std::string read_value(const std::string& path) {
    try {
        std::string s = read_file(path);
        while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
        return s;
    } catch (const SysError&) {
        return "";
    }
}

void sleep_ms(int ms) {
    struct timespec ts {
        0, ms * 1000000L
    };
    ::nanosleep(&ts, nullptr);
}

// The value of "key N" in a flat-keyed file such as memory.events or memory.oom_control.
long long keyed_value(const std::string& text, const std::string& key) {
    size_t pos = 0;
    while (pos < text.size()) {
        size_t eol = text.find('\n', pos);
        if (eol == std::string::npos) eol = text.size();
        std::string line = text.substr(pos, eol - pos);
        if (line.compare(0, key.size() + 1, key + " ") == 0) return std::atoll(line.c_str() + key.size() + 1);
        pos = eol + 1;
    }
    return 0;
}

// A new v1 cpuset accepts no task until cpus and mems are set; it inherits the parent's.
void init_cpuset(const std::string& path) {
    std::string parent = path.substr(0, path.rfind('/'));
    for (const char* f : {"cpuset.cpus", "cpuset.mems"})
        if (read_value(path + "/" + f).empty()) write_value(path + "/" + f, read_value(parent + "/" + f));
}

void mkdir_p(const std::string& path, bool cpuset) {
    if (::mkdir(path.c_str(), 0755) != 0) {
        if (errno == EEXIST) return;
        size_t slash = path.rfind('/');
        if (errno != ENOENT || slash == std::string::npos || slash == 0) throw_errno("mkdir", path);
        mkdir_p(path.substr(0, slash), cpuset);
        if (::mkdir(path.c_str(), 0755) != 0) {
            if (errno == EEXIST) return;
            throw_errno("mkdir", path);
        }
    }
    if (cpuset) init_cpuset(path);
}

}  // namespace

const std::string& Cgroup::dir_for(const std::string& controller) const {
    for (auto& [c, d] : plan_.dirs)
        if (c == controller) return d;
    if (plan_.version == 2 && !plan_.dirs.empty()) return plan_.dirs.front().second;
    static const std::string none;
    return none;
}

std::string Cgroup::file_of(const std::string& controller, const std::string& file) const {
    const std::string& d = dir_for(controller);
    if (d.empty()) return "";
    return d + "/" + file;
}

void Cgroup::create() {
    for (auto& [controller, dir] : plan_.dirs) mkdir_p(dir, plan_.version == 1 && controller == "cpuset");
    for (auto& s : plan_.settings) {
        std::string path = file_of(s.controller, s.file);
        if (path.empty()) throw_invalid("no cgroup directory for controller " + s.controller);
        write_value(path, s.value);
    }
    if (plan_.version == 2 && plan_.device_filter) attach_device_filter(dir_for("unified"), plan_.device_rules);
}

void Cgroup::add_pid(pid_t pid) const {
    std::string p = std::to_string(pid);
    for (auto& [controller, dir] : plan_.dirs) write_value(dir + "/cgroup.procs", p);
}

void Cgroup::join_self() const {
    for (auto& [controller, dir] : plan_.dirs)
        write_value(dir + (plan_.version == 1 ? "/tasks" : "/cgroup.procs"), "0");
}

UniqueFd Cgroup::clone_into() const {
    if (plan_.version != 2 || plan_.dirs.empty()) return UniqueFd();
    return open_path(plan_.dirs.front().second, O_RDONLY | O_DIRECTORY);
}

void Cgroup::freeze() const {
    std::string state = plan_.version == 2 ? file_of("unified", "cgroup.freeze")
                                           : file_of("freezer", "freezer.state");
    if (state.empty()) throw_invalid("the container has no freezer cgroup");
    write_value(state, plan_.version == 2 ? "1" : "FROZEN");
    for (int i = 0; i < 2000; ++i) {
        if (frozen()) return;
        if (plan_.version == 1) write_value(state, "FROZEN");  // v1 may need a nudge
        sleep_ms(1);
    }
    throw SysError(EBUSY, "freeze", state, "freeze " + state + ": processes did not freeze in time");
}

void Cgroup::thaw() const {
    std::string state = plan_.version == 2 ? file_of("unified", "cgroup.freeze")
                                           : file_of("freezer", "freezer.state");
    if (state.empty()) return;
    write_value(state, plan_.version == 2 ? "0" : "THAWED");
}

bool Cgroup::frozen() const {
    if (plan_.version == 2) return keyed_value(read_value(file_of("unified", "cgroup.events")), "frozen") == 1;
    std::string f = file_of("freezer", "freezer.state");
    return !f.empty() && read_value(f) == "FROZEN";
}

std::vector<pid_t> Cgroup::procs() const {
    std::vector<pid_t> out;
    if (plan_.dirs.empty()) return out;
    // Any v1 controller lists the same tasks; prefer pids or freezer, which every plan has.
    std::string dir = dir_for("pids");
    if (dir.empty()) dir = dir_for("freezer");
    if (dir.empty()) dir = plan_.dirs.front().second;
    std::string text = read_value(dir + "/cgroup.procs");
    size_t pos = 0;
    while (pos < text.size()) {
        size_t eol = text.find('\n', pos);
        if (eol == std::string::npos) eol = text.size();
        if (eol > pos) out.push_back(static_cast<pid_t>(std::atol(text.c_str() + pos)));
        pos = eol + 1;
    }
    return out;
}

void Cgroup::signal_all(int sig) const {
    if (plan_.version == 2 && sig == SIGKILL) {
        std::string kill_file = file_of("unified", "cgroup.kill");
        if (::access(kill_file.c_str(), W_OK) == 0) {
            write_value(kill_file, "1");
            return;
        }
    }
    // Freeze so nothing forks between listing and signalling, then thaw so the signal lands.
    bool can_freeze = !(plan_.version == 1 ? file_of("freezer", "freezer.state") : file_of("unified", "cgroup.freeze")).empty();
    bool was_frozen = can_freeze && frozen();
    if (can_freeze && !was_frozen) {
        try {
            freeze();
        } catch (const SysError&) {
        }
    }
    for (pid_t p : procs()) ::kill(p, sig);
    if (can_freeze && (!was_frozen || sig == SIGKILL)) thaw();
}

bool Cgroup::oom_killed() const {
    if (plan_.version == 2) return keyed_value(read_value(file_of("unified", "memory.events")), "oom_kill") > 0;
    std::string f = file_of("memory", "memory.oom_control");
    if (f.empty()) return false;
    return keyed_value(read_value(f), "oom_kill") > 0;
}

void Cgroup::update(const CgroupPlan& next) {
    if (next.version != plan_.version) throw_invalid("cgroup update: another cgroup version");
    std::vector<std::pair<std::string, std::string>> added;
    for (auto& [controller, dir] : next.dirs) {
        bool have = false;
        for (auto& [c, d] : plan_.dirs) have = have || c == controller;
        if (!have) added.emplace_back(controller, dir);
    }
    if (!added.empty()) {
        bool was_frozen = frozen();
        if (!was_frozen) freeze();
        try {
            for (auto& [controller, dir] : added) {
                mkdir_p(dir, plan_.version == 1 && controller == "cpuset");
                plan_.dirs.emplace_back(controller, dir);  // ours from here: destroy() removes it
                for (pid_t p : procs()) {
                    try {
                        write_value(dir + "/cgroup.procs", std::to_string(p));
                    } catch (const SysError& e) {
                        if (e.err != ESRCH) throw;  // a process that ended meanwhile has no place to go
                    }
                }
            }
        } catch (...) {
            if (!was_frozen) thaw();
            throw;
        }
        if (!was_frozen) thaw();
    }
    for (auto& s : next.settings) {
        std::string path = file_of(s.controller, s.file);
        if (path.empty()) throw_invalid("no cgroup directory for controller " + s.controller);
        write_value(path, s.value);
    }
}

void Cgroup::destroy() const {
    for (auto it = plan_.dirs.rbegin(); it != plan_.dirs.rend(); ++it) {
        const std::string& dir = it->second;
        for (int attempt = 0;; ++attempt) {
            if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) break;
            if (errno != EBUSY || attempt > 500) throw_errno("rmdir", dir);
            sleep_ms(2);  // exiting tasks still counted; they leave within milliseconds
        }
    }
}

}  // namespace lb
