#include "runtime/config.hpp"

#include <linux/mount.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/procenv.hpp"
#include "core/seccomp.hpp"

namespace lb::oci {

using nlohmann::json;

namespace {

const char* const kCapNames[] = {
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"};

struct Named {
    const char* name;
    int value;
};

const Named kRlimits[] = {
    {"RLIMIT_AS", RLIMIT_AS},           {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU},         {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},     {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_NPROC", RLIMIT_NPROC},     {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},   {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING}, {"RLIMIT_STACK", RLIMIT_STACK}};

const Named kSignals[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},     {"QUIT", SIGQUIT},   {"ILL", SIGILL},
    {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},   {"IOT", SIGIOT},     {"BUS", SIGBUS},
    {"FPE", SIGFPE},   {"KILL", SIGKILL},   {"USR1", SIGUSR1},   {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2}, {"PIPE", SIGPIPE},   {"ALRM", SIGALRM},   {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},   {"TTOU", SIGTTOU},   {"URG", SIGURG},
    {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},   {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
    {"WINCH", SIGWINCH}, {"IO", SIGIO},     {"POLL", SIGPOLL},   {"PWR", SIGPWR},
    {"SYS", SIGSYS}};

[[noreturn]] void refuse(const std::string& field, const std::string& why) { throw ConfigError(field, why); }

bool present(const json& j, const char* key) {
    if (!j.is_object() || !j.contains(key)) return false;
    const json& v = j[key];
    if (v.is_null()) return false;
    if ((v.is_array() || v.is_object() || v.is_string()) && v.empty()) return false;
    return true;
}

// Only the keys this translation reads may appear: an unknown or unsupported one is named.
void only(const json& j, const std::string& field, std::initializer_list<const char*> known,
          const char* why = "not supported by layerbox-runtime") {
    if (!j.is_object()) refuse(field, "must be an object");
    for (auto& [k, v] : j.items()) {
        if (v.is_null()) continue;
        if (std::none_of(known.begin(), known.end(), [&](const char* n) { return k == n; }))
            refuse(field.empty() ? k : field + "." + k, why);
    }
}

template <class T>
T get(const json& j, const char* key, const std::string& field, T def) {
    if (!j.contains(key) || j[key].is_null()) return def;
    try {
        return j[key].get<T>();
    } catch (const json::exception&) {
        refuse(field + "." + key, "wrong type");
    }
}

std::string join_path(const std::string& base, const std::string& p) {
    if (!p.empty() && p[0] == '/') return p;
    return base + "/" + p;
}

uint64_t capability_set(const json& list, const std::string& field) {
    uint64_t mask = 0;
    if (!list.is_array()) refuse(field, "must be a list of capability names");
    for (size_t i = 0; i < list.size(); ++i) {
        int n = list[i].is_string() ? capability_number(list[i].get<std::string>()) : -1;
        if (n < 0) refuse(field + "[" + std::to_string(i) + "]", "unknown capability " + list[i].dump());
        mask |= 1ULL << n;
    }
    return mask;
}

std::string device_number(const json& d, const char* key) {
    if (!d.contains(key) || d[key].is_null() || d[key].get<long long>() < 0) return "*";
    return std::to_string(d[key].get<long long>());
}

// linux.namespaces, "pid" -> plan name.
std::string ns_name(const std::string& type) {
    if (type == "network") return "net";
    return type;
}

void add_mount(LaunchPlan& plan, const json& m, const std::string& field, const HostInfo& host,
               std::vector<MountOp>& cgroup_ro) {
    only(m, field, {"destination", "type", "source", "options"});
    std::string dest = get<std::string>(m, "destination", field, "");
    if (dest.empty() || dest[0] != '/') refuse(field + ".destination", "must be an absolute path");
    std::string type = get<std::string>(m, "type", field, "");
    std::string source = get<std::string>(m, "source", field, "");
    MountOp op;
    op.target = dest;
    bool bind = type == "bind";
    for (auto& o : get<std::vector<std::string>>(m, "options", field, {})) {
        if (o == "bind") bind = true;
        else if (o == "rbind") bind = op.recursive = true;
        else if (o == "ro") op.ro = true;
        else if (o == "rw" || o == "suid" || o == "dev" || o == "exec" || o == "relatime" || o == "async") {
        }  // the defaults
        else if (o == "nosuid") op.nosuid = true;
        else if (o == "nodev") op.nodev = true;
        else if (o == "noexec") op.noexec = true;
        else if (o == "noatime") op.attrs |= MOUNT_ATTR_NOATIME;
        else if (o == "strictatime") op.attrs |= MOUNT_ATTR_STRICTATIME;
        else if (o == "nodiratime") op.attrs |= MOUNT_ATTR_NODIRATIME;
        else if (o == "nosymfollow") op.attrs |= MOUNT_ATTR_NOSYMFOLLOW;
        else if (o == "private") op.propagation = MS_PRIVATE;
        else if (o == "rprivate") op.propagation = MS_PRIVATE | MS_REC;
        else if (o == "slave") op.propagation = MS_SLAVE;
        else if (o == "rslave") op.propagation = MS_SLAVE | MS_REC;
        else if (o == "shared") op.propagation = MS_SHARED;
        else if (o == "rshared") op.propagation = MS_SHARED | MS_REC;
        else if (o == "unbindable") op.propagation = MS_UNBINDABLE;
        else if (o == "runbindable") op.propagation = MS_UNBINDABLE | MS_REC;
        else if (o == "sync" || o == "dirsync" || o == "mand" || o == "remount" || o == "tmpcopyup" ||
                 o == "norelatime" || o == "loud" || o == "silent" || o == "atime" || o == "diratime" ||
                 o == "idmap" || o == "ridmap" || o == "rro" || o == "rrw" || o == "rnosuid" ||
                 o == "rnodev" || o == "rnoexec" || o == "rnoatime")
            refuse(field + ".options", "option '" + o + "' is not supported by layerbox-runtime");
        else {
            size_t eq = o.find('=');
            if (eq == std::string::npos) op.data.emplace_back(o, "");
            else op.data.emplace_back(o.substr(0, eq), o.substr(eq + 1));
        }
    }
    if (bind) {
        // Filesystem data ("mode=755", "size=1k") has no meaning for a bind mount: mount(2)
        // ignores it with MS_BIND, and runc passes such configs (the validation suite's
        // `mounts` has them), so it is dropped here rather than refused.
        op.data.clear();
        if (source.empty()) refuse(field + ".source", "a bind mount needs a source");
        op.kind = MountOp::Kind::Bind;
        op.source = join_path(host.bundle, source);
        plan.mounts.push_back(std::move(op));
        return;
    }
    if (type.empty()) refuse(field + ".type", "needed for a mount that is not a bind mount");
    if (type == "cgroup" || type == "cgroup2") {
        // The container's view of the cgroup hierarchies, as runc gives it: on v1 a tmpfs with
        // each controller's hierarchy mounted under it (rooted at the container's cgroup when
        // it has a cgroup namespace); on v2 the unified hierarchy.
        std::vector<std::pair<std::string, std::string>> data = op.data;
        if (host.cgroup_version == 2) {
            op.kind = MountOp::Kind::Fs;
            op.fstype = "cgroup2";
            op.source = "cgroup";
            plan.mounts.push_back(std::move(op));
            return;
        }
        MountOp tmp;
        tmp.kind = MountOp::Kind::Fs;
        tmp.fstype = "tmpfs";
        tmp.source = "tmpfs";
        tmp.target = dest;
        tmp.nosuid = tmp.nodev = tmp.noexec = true;
        tmp.data = {{"mode", "755"}};
        plan.mounts.push_back(tmp);
        for (auto& c : host.v1_controllers) {
            MountOp h = op;
            h.kind = MountOp::Kind::Fs;
            h.fstype = "cgroup";
            h.source = "cgroup";
            h.target = dest + "/" + c;
            h.data = data;
            if (c == "systemd") h.data.emplace_back("none", ""), h.data.emplace_back("name", "systemd");
            else {
                // "cpu,cpuacct"-style directories name several controllers
                size_t pos = 0;
                while (pos <= c.size()) {
                    size_t comma = c.find(',', pos);
                    if (comma == std::string::npos) comma = c.size();
                    h.data.emplace_back(c.substr(pos, comma - pos), "");
                    pos = comma + 1;
                }
            }
            plan.mounts.push_back(std::move(h));
        }
        if (op.ro) {
            MountOp ro;
            ro.kind = MountOp::Kind::ReadOnly;
            ro.target = dest;
            cgroup_ro.push_back(ro);  // after everything is mounted under it
        }
        return;
    }
    op.kind = MountOp::Kind::Fs;
    op.fstype = type;
    op.source = source;
    plan.mounts.push_back(std::move(op));
}

bool has_mount_at(const LaunchPlan& plan, const std::string& dest) {
    for (auto& m : plan.mounts)
        if (m.target == dest) return true;
    return false;
}

// The devices every container has (the OCI spec's "default devices"), when /dev is ours.
void add_default_devices(LaunchPlan& plan) {
    struct {
        const char* name;
        unsigned major, minor;
    } devs[] = {{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
    for (auto& d : devs) {
        MountOp op;
        op.kind = MountOp::Kind::Mknod;
        op.target = std::string("/dev/") + d.name;
        op.mode = 0666;
        op.major = d.major;
        op.minor = d.minor;
        plan.mounts.push_back(op);
    }
    const char* links[][2] = {{"/dev/fd", "/proc/self/fd"},     {"/dev/stdin", "/proc/self/fd/0"},
                              {"/dev/stdout", "/proc/self/fd/1"}, {"/dev/stderr", "/proc/self/fd/2"},
                              {"/dev/core", "/proc/kcore"}};
    for (auto& l : links) {
        MountOp op;
        op.kind = MountOp::Kind::Symlink;
        op.target = l[0];
        op.source = l[1];
        plan.mounts.push_back(op);
    }
    if (has_mount_at(plan, "/dev/pts")) {
        MountOp op;
        op.kind = MountOp::Kind::Symlink;
        op.target = "/dev/ptmx";
        op.source = "pts/ptmx";
        plan.mounts.push_back(op);
    }
}

void add_devices(LaunchPlan& plan, const json& devices) {
    for (size_t i = 0; i < devices.size(); ++i) {
        const json& d = devices[i];
        std::string field = "linux.devices[" + std::to_string(i) + "]";
        only(d, field, {"type", "path", "major", "minor", "fileMode", "uid", "gid"});
        MountOp op;
        op.kind = MountOp::Kind::Mknod;
        op.target = get<std::string>(d, "path", field, "");
        if (op.target.empty() || op.target[0] != '/') refuse(field + ".path", "must be an absolute path");
        std::string type = get<std::string>(d, "type", field, "");
        mode_t t = type == "c" || type == "u" ? S_IFCHR : type == "b" ? S_IFBLK : type == "p" ? S_IFIFO : 0;
        if (!t) refuse(field + ".type", "must be c, u, b or p");
        op.mode = t | (get<unsigned>(d, "fileMode", field, 0666) & 07777);
        op.major = get<unsigned>(d, "major", field, 0);
        op.minor = get<unsigned>(d, "minor", field, 0);
        op.uid = get<int>(d, "uid", field, -1);
        op.gid = get<int>(d, "gid", field, -1);
        plan.mounts.push_back(op);
    }
}

// runc's allowed devices: what every container may use whatever the config says.
const char* const kAllowedDevices[] = {"c *:* m",  "b *:* m",  "c 1:3 rwm", "c 1:8 rwm",  "c 1:7 rwm",
                                       "c 5:0 rwm", "c 1:5 rwm", "c 1:9 rwm", "c 136:* rwm", "c 5:2 rwm",
                                       "c 10:200 rwm"};

void allowed_sysctl(const std::string& key, const std::string& field, const LaunchPlan& plan) {
    auto has_ns = [&](const char* n) {
        if (std::find(plan.namespaces.begin(), plan.namespaces.end(), n) != plan.namespaces.end()) return true;
        for (auto& [t, p] : plan.join_namespaces)
            if (t == n) return true;
        return false;
    };
    static const char* const ipc[] = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                                      "kernel.shmall", "kernel.shmmax", "kernel.shmmni",
                                      "kernel.shm_rmid_forced"};
    for (auto* k : ipc)
        if (key == k) {
            if (!has_ns("ipc")) refuse(field, "sysctl " + key + " needs an ipc namespace");
            return;
        }
    if (key.rfind("fs.mqueue.", 0) == 0) {
        if (!has_ns("ipc")) refuse(field, "sysctl " + key + " needs an ipc namespace");
        return;
    }
    if (key.rfind("net.", 0) == 0) {
        if (!has_ns("net")) refuse(field, "sysctl " + key + " needs a network namespace");
        return;
    }
    if (key == "kernel.domainname" || key == "kernel.hostname") {
        if (!has_ns("uts")) refuse(field, "sysctl " + key + " needs a uts namespace");
        return;
    }
    refuse(field, "sysctl " + key + " is not namespaced: it would change the host");
}

// "linux.uidMappings" -> the text of /proc/PID/uid_map ("inside outside count" lines).
std::string id_map(const json& l, const char* key) {
    std::string field = std::string("linux.") + key, text;
    if (!l[key].is_array()) refuse(field, "must be a list of mappings");
    for (size_t i = 0; i < l[key].size(); ++i) {
        const json& m = l[key][i];
        std::string f = field + "[" + std::to_string(i) + "]";
        only(m, f, {"containerID", "hostID", "size"});
        for (const char* k : {"containerID", "hostID", "size"})
            if (!m.contains(k) || !m[k].is_number_integer() || m[k].get<long long>() < 0 || m[k].get<long long>() > UINT32_MAX)
                refuse(f + "." + k, "needed, a number from 0 to 4294967295");
        if (m["size"].get<uint64_t>() == 0) refuse(f + ".size", "must not be 0");
        text += std::to_string(m["containerID"].get<uint32_t>()) + " " + std::to_string(m["hostID"].get<uint32_t>()) +
                " " + std::to_string(m["size"].get<uint32_t>()) + "\n";
    }
    return text;
}

// A new user namespace and its maps (the launcher writes them before the init goes on).
void user_namespace(LaunchPlan& plan, const json& l, bool new_user, bool joined_user, bool joins) {
    bool maps = present(l, "uidMappings") || present(l, "gidMappings");
    // A user namespace joined by path has its maps already: the config's (containerd gives a
    // pod's containers the sandbox's namespace and its mappings) are not written again.
    if (joined_user) return;
    if (!new_user) {
        if (maps) refuse(present(l, "uidMappings") ? "linux.uidMappings" : "linux.gidMappings",
                         "id mappings need a new user namespace (linux.namespaces type user)");
        return;
    }
    if (!present(l, "uidMappings")) refuse("linux.uidMappings", "needed with a new user namespace");
    if (!present(l, "gidMappings")) refuse("linux.gidMappings", "needed with a new user namespace");
    // A namespace joined by path is owned by the host's user namespace: the init, root only of
    // its new one by then, could not enter it (runc joins them first, in a stage of its own).
    if (joins) refuse("linux.namespaces", "a new user namespace together with namespaces joined by path is not supported by layerbox-runtime");
    plan.uid_map = id_map(l, "uidMappings");
    plan.gid_map = id_map(l, "gidMappings");
}

// In a new user namespace the init cannot mknod (CAP_MKNOD counts only in the host's) and
// mounts sysfs or mqueue only for a network or ipc namespace of its own: as runc does, device
// nodes become binds of the host's nodes at the same paths, and those filesystems binds of
// the host's.
void adapt_to_user_namespace(LaunchPlan& plan) {
    auto is_new = [&](const char* n) {
        return std::find(plan.namespaces.begin(), plan.namespaces.end(), n) != plan.namespaces.end();
    };
    for (auto& op : plan.mounts) {
        if (op.kind == MountOp::Kind::Mknod) {
            if ((op.mode & S_IFMT) == S_IFIFO) continue;  // a fifo needs no capability
            MountOp b;
            b.kind = MountOp::Kind::Bind;
            b.source = op.target;
            b.target = op.target;
            b.file = true;
            op = b;
        } else if (op.kind == MountOp::Kind::Fs && op.fstype == "sysfs" && !is_new("net")) {
            op.kind = MountOp::Kind::Bind;
            op.source = "/sys";
            op.recursive = true;
            op.data.clear();
        } else if (op.kind == MountOp::Kind::Fs && op.fstype == "mqueue" && !is_new("ipc")) {
            op.kind = MountOp::Kind::Bind;
            op.source = "/dev/mqueue";
            op.data.clear();
        } else if (op.kind == MountOp::Kind::Fs && op.fstype == "cgroup" && !is_new("cgroup")) {
            refuse("mounts", "a cgroup mount in a new user namespace needs a new cgroup namespace too");
        }
    }
}

}  // namespace

int capability_number(const std::string& name) {
    std::string n = name.rfind("CAP_", 0) == 0 ? name.substr(4) : "";
    for (size_t i = 0; i < sizeof kCapNames / sizeof *kCapNames; ++i)
        if (n == kCapNames[i]) return static_cast<int>(i);
    return -1;
}

int signal_number(const std::string& name) {
    if (name.empty()) return -1;
    if (std::all_of(name.begin(), name.end(), ::isdigit)) {
        int n = std::atoi(name.c_str());
        return n > 0 && n < NSIG ? n : -1;
    }
    std::string n = name;
    for (auto& c : n) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (n.rfind("SIG", 0) == 0) n = n.substr(3);
    for (auto& s : kSignals)
        if (n == s.name) return s.value;
    return -1;
}

ProcessSpec process_from_oci(const json& pr, const std::string& field) {
    only(pr, field, {"terminal", "consoleSize", "user", "args", "env", "cwd", "capabilities", "rlimits",
                     "noNewPrivileges", "oomScoreAdj", "apparmorProfile", "selinuxLabel"});
    if (present(pr, "apparmorProfile")) refuse(field + ".apparmorProfile", "no AppArmor on this host");
    if (present(pr, "selinuxLabel")) refuse(field + ".selinuxLabel", "no SELinux on this host");
    ProcessSpec p;
    p.args = get<std::vector<std::string>>(pr, "args", field, {});
    if (p.args.empty()) refuse(field + ".args", "no command given");
    p.env = get<std::vector<std::string>>(pr, "env", field, {});
    p.cwd = get<std::string>(pr, "cwd", field, "/");
    if (p.cwd.empty() || p.cwd[0] != '/') refuse(field + ".cwd", "must be an absolute path");
    p.tty = get<bool>(pr, "terminal", field, false);
    if (present(pr, "consoleSize")) {
        p.rows = static_cast<unsigned short>(get<unsigned>(pr["consoleSize"], "height", field + ".consoleSize", 0));
        p.cols = static_cast<unsigned short>(get<unsigned>(pr["consoleSize"], "width", field + ".consoleSize", 0));
    }
    if (pr.contains("user") && !pr["user"].is_null()) {
        const json& u = pr["user"];
        std::string uf = field + ".user";
        only(u, uf, {"uid", "gid", "umask", "additionalGids"});
        p.uid = get<uid_t>(u, "uid", uf, 0);
        p.gid = get<gid_t>(u, "gid", uf, 0);
        p.umask = get<mode_t>(u, "umask", uf, 022);
        p.groups = get<std::vector<gid_t>>(u, "additionalGids", uf, {});
    }
    p.no_new_privs = get<bool>(pr, "noNewPrivileges", field, false);
    p.caps = 0;
    if (pr.contains("capabilities") && !pr["capabilities"].is_null()) {
        const json& c = pr["capabilities"];
        std::string cf = field + ".capabilities";
        only(c, cf, {"bounding", "effective", "permitted", "inheritable", "ambient"});
        // Each set as given (runc's way), kept across a change of user.
        auto set = [&](const char* k) { return present(c, k) ? capability_set(c[k], cf + "." + k) : 0; };
        p.cap_sets_given = true;
        p.cap_sets = {set("bounding"), set("effective"), set("permitted"), set("inheritable"), set("ambient")};
        p.caps = p.cap_sets.bounding;
    }
    return p;
}

std::string seccomp_profile(const json& sc, unsigned& flags, const std::string& field) {
    // The OCI format is Docker's profile format less its conditions (includes/excludes, which
    // the engine resolves before a profile gets here): the same compiler reads both.
    only(sc, field, {"defaultAction", "defaultErrnoRet", "architectures", "flags", "syscalls", "listenerPath",
                     "listenerMetadata"});
    if (present(sc, "listenerPath") || present(sc, "listenerMetadata"))
        refuse(field + ".listenerPath", "seccomp notify listeners are not supported by layerbox-runtime");
    static const char* const kActions[] = {"SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP",
                                           "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG"};
    auto action = [&](const json& j, const std::string& f) {
        std::string a = get<std::string>(j, "action", f, "");
        if (a == "SCMP_ACT_NOTIFY") refuse(f + ".action", "SCMP_ACT_NOTIFY needs a listener, which layerbox-runtime does not support");
        if (std::none_of(std::begin(kActions), std::end(kActions), [&](const char* n) { return a == n; }))
            refuse(f + ".action", "unknown seccomp action '" + a + "'");
        return a;
    };
    json out = json::object();
    std::string def = get<std::string>(sc, "defaultAction", field, "");
    if (def.empty()) refuse(field + ".defaultAction", "needed");
    out["defaultAction"] = action(json{{"action", def}}, field + ".default");
    if (present(sc, "defaultErrnoRet")) out["defaultErrnoRet"] = get<unsigned>(sc, "defaultErrnoRet", field, 0);
    out["architectures"] = get<std::vector<std::string>>(sc, "architectures", field, {});
    flags = 0;
    for (auto& f : get<std::vector<std::string>>(sc, "flags", field, {})) {
        try {
            flags |= seccomp_flags_from_names(f);
        } catch (const std::exception&) {
            refuse(field + ".flags", "unknown or unsupported seccomp flag '" + f + "'");
        }
    }
    out["syscalls"] = json::array();
    for (size_t i = 0; present(sc, "syscalls") && i < sc["syscalls"].size(); ++i) {
        const json& r = sc["syscalls"][i];
        std::string f = field + ".syscalls[" + std::to_string(i) + "]";
        only(r, f, {"names", "action", "errnoRet", "args"});
        json rule = {{"names", get<std::vector<std::string>>(r, "names", f, {})}, {"action", action(r, f)}};
        if (rule["names"].empty()) refuse(f + ".names", "needed");
        if (present(r, "errnoRet")) rule["errnoRet"] = get<unsigned>(r, "errnoRet", f, 0);
        rule["args"] = json::array();
        for (size_t k = 0; present(r, "args") && k < r["args"].size(); ++k) {
            const json& a = r["args"][k];
            std::string af = f + ".args[" + std::to_string(k) + "]";
            only(a, af, {"index", "value", "valueTwo", "op"});
            unsigned idx = get<unsigned>(a, "index", af, 0);
            if (idx > 5) refuse(af + ".index", "must be 0-5");
            std::string op = get<std::string>(a, "op", af, "");
            if (op.rfind("SCMP_CMP_", 0) != 0) refuse(af + ".op", "unknown operator '" + op + "'");
            rule["args"].push_back({{"index", idx}, {"value", get<uint64_t>(a, "value", af, 0)},
                                    {"valueTwo", get<uint64_t>(a, "valueTwo", af, 0)}, {"op", op}});
        }
        out["syscalls"].push_back(std::move(rule));
    }
    // A profile older than a syscall does not name it, and its default (an errno, a kill)
    // would hit programs that would fall back from ENOSYS: glibc's clone3 and close_range,
    // openat2 (our own working-directory check), faccessat2. runc makes such syscalls return
    // ENOSYS (its patched filter); the same here for the syscalls of kernels 5.3 and later
    // that the profile does not name.
    if (out["defaultAction"] != "SCMP_ACT_ALLOW") {
        static const char* const kNewer[] = {
            "clone3", "pidfd_open", "pidfd_send_signal", "pidfd_getfd", "close_range", "openat2", "faccessat2",
            "process_madvise", "epoll_pwait2", "mount_setattr", "quotactl_fd", "landlock_create_ruleset",
            "landlock_add_rule", "landlock_restrict_self", "memfd_secret", "process_mrelease", "futex_waitv",
            "set_mempolicy_home_node", "cachestat", "fchmodat2", "map_shadow_stack"};
        std::vector<std::string> missing;
        for (const char* n : kNewer) {
            bool named = false;
            for (auto& r : out["syscalls"])
                for (auto& x : r["names"]) named |= x == n;
            if (!named) missing.push_back(n);
        }
        if (!missing.empty())
            out["syscalls"].push_back({{"names", missing}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", ENOSYS}, {"args", json::array()}});
    }
    return out.dump();
}

CgroupPlan cgroup_dirs(const std::string& cgroups_path, const HostInfo& host) {
    std::string path = cgroups_path.empty() ? "/" + host.id : cgroups_path;
    if (path.find(':') != std::string::npos)
        refuse("linux.cgroupsPath", "systemd cgroup paths (slice:prefix:name) are not supported");
    if (path[0] != '/') path = "/" + path;
    for (size_t pos = 0; pos < path.size();) {
        size_t next = path.find('/', pos + 1);
        std::string comp = path.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
        if (comp == ".." || comp == ".") refuse("linux.cgroupsPath", "must not contain . or ..");
        if (next == std::string::npos) break;
        pos = next;
    }
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    CgroupPlan cg;
    cg.version = host.cgroup_version;
    if (host.cgroup_version == 2) {
        cg.dirs.emplace_back("unified", host.cgroup_base + path);
        return cg;
    }
    for (const char* c : {"freezer", "pids", "memory", "devices", "cpu", "cpuacct", "cpuset", "blkio", "hugetlb",
                          "net_cls", "net_prio", "perf_event", "rdma", "misc"})
        if (std::find(host.v1_controllers.begin(), host.v1_controllers.end(), c) != host.v1_controllers.end())
            cg.dirs.emplace_back(c, host.cgroup_base + "/" + c + path);
    return cg;
}

std::vector<CgroupPlan::Setting> resource_settings(const json& r, const HostInfo& host, const std::string& field) {
    std::vector<CgroupPlan::Setting> out;
    if (r.is_null()) return out;
    only(r, field, {"devices", "memory", "cpu", "pids", "blockIO", "hugepageLimits", "network", "rdma", "unified"});
    bool v2 = host.cgroup_version == 2;
    auto has = [&](const char* c) {
        return v2 || std::find(host.v1_controllers.begin(), host.v1_controllers.end(), c) != host.v1_controllers.end();
    };
    auto set = [&](const char* ctl, const std::string& file, const std::string& value, const std::string& f) {
        if (!has(ctl)) refuse(f, std::string("no ") + ctl + " cgroup controller on this host");
        out.push_back({v2 ? "unified" : ctl, file, value});
    };
    auto num = [&](const json& j, const char* k, const std::string& f) -> std::optional<long long> {
        if (!j.contains(k) || j[k].is_null()) return std::nullopt;
        if (!j[k].is_number_integer()) refuse(f + "." + k, "must be an integer");
        return j[k].get<long long>();
    };
    if (present(r, "devices")) {
        std::string f = field + ".devices";
        if (v2) refuse(f, "device rules need a BPF device filter on cgroup v2, which layerbox-runtime lacks");
        for (size_t i = 0; i < r["devices"].size(); ++i) {
            const json& d = r["devices"][i];
            std::string df = f + "[" + std::to_string(i) + "]";
            only(d, df, {"allow", "type", "major", "minor", "access"});
            std::string type = get<std::string>(d, "type", df, "a");
            std::string access = get<std::string>(d, "access", df, "rwm");
            std::string rule = type == "a" ? "a" : type + " " + device_number(d, "major") + ":" + device_number(d, "minor") + " " + access;
            if (type == "a" && access != "rwm") rule = "a *:* " + access;
            set("devices", get<bool>(d, "allow", df, false) ? "devices.allow" : "devices.deny", rule, df);
        }
        for (auto* rule : kAllowedDevices) set("devices", "devices.allow", rule, f);
    }
    if (present(r, "memory")) {
        const json& m = r["memory"];
        std::string f = field + ".memory";
        only(m, f, {"limit", "reservation", "swap", "swappiness", "disableOOMKiller", "useHierarchy", "checkBeforeUpdate"});
        if (present(m, "checkBeforeUpdate")) refuse(f + ".checkBeforeUpdate", "not supported by layerbox-runtime");
        auto limit = num(m, "limit", f), res = num(m, "reservation", f), swap = num(m, "swap", f);
        auto str = [](long long v) { return v < 0 ? std::string(v == -1 ? "max" : "") : std::to_string(v); };
        if (v2) {
            if (limit) set("memory", "memory.max", str(*limit), f + ".limit");
            if (res) set("memory", "memory.low", str(*res), f + ".reservation");
            if (swap) {
                if (!limit || *limit < 0 || *swap < 0) set("memory", "memory.swap.max", "max", f + ".swap");
                else set("memory", "memory.swap.max", std::to_string(std::max(0LL, *swap - *limit)), f + ".swap");
            }
            // dockerd sends both always (swappiness -1 as an unsigned, disableOOMKiller false):
            // only a value that asks for something is refused.
            if (auto s = num(m, "swappiness", f); s && *s >= 0) refuse(f + ".swappiness", "not available on cgroup v2");
            if (get<bool>(m, "disableOOMKiller", f, false)) refuse(f + ".disableOOMKiller", "not available on cgroup v2");
        } else {
            auto v1 = [](long long v) { return std::to_string(v < 0 ? -1 : v); };
            if (limit) set("memory", "memory.limit_in_bytes", v1(*limit), f + ".limit");
            if (swap) set("memory", "memory.memsw.limit_in_bytes", v1(*swap), f + ".swap");
            if (res) set("memory", "memory.soft_limit_in_bytes", v1(*res), f + ".reservation");
            if (auto s = num(m, "swappiness", f); s && *s >= 0) {
                if (*s > 100) refuse(f + ".swappiness", "must be 0-100");
                set("memory", "memory.swappiness", std::to_string(*s), f + ".swappiness");
            }
            if (get<bool>(m, "disableOOMKiller", f, false)) set("memory", "memory.oom_control", "1", f + ".disableOOMKiller");
            if (m.contains("useHierarchy") && !m["useHierarchy"].is_null())
                set("memory", "memory.use_hierarchy", get<bool>(m, "useHierarchy", f, false) ? "1" : "0", f + ".useHierarchy");
        }
    }
    if (present(r, "cpu")) {
        const json& c = r["cpu"];
        std::string f = field + ".cpu";
        only(c, f, {"shares", "quota", "burst", "period", "realtimeRuntime", "realtimePeriod", "cpus", "mems", "idle"});
        auto shares = num(c, "shares", f), quota = num(c, "quota", f), period = num(c, "period", f);
        if (v2) {
            if (shares && *shares) set("cpu", "cpu.weight", std::to_string(1 + ((*shares - 2) * 9999) / 262142), f + ".shares");
            if (quota || period)
                set("cpu", "cpu.max", (quota && *quota > 0 ? std::to_string(*quota) : std::string("max")) + " " +
                                          std::to_string(period && *period ? *period : 100000), f + ".quota");
            if (auto b = num(c, "burst", f)) set("cpu", "cpu.max.burst", std::to_string(*b), f + ".burst");
            if (auto i = num(c, "idle", f)) set("cpu", "cpu.idle", std::to_string(*i), f + ".idle");
            if (present(c, "realtimeRuntime") || present(c, "realtimePeriod"))
                refuse(f + ".realtimeRuntime", "not available on cgroup v2");
        } else {
            if (shares && *shares) set("cpu", "cpu.shares", std::to_string(*shares), f + ".shares");
            if (period && *period) set("cpu", "cpu.cfs_period_us", std::to_string(*period), f + ".period");
            if (quota && *quota) set("cpu", "cpu.cfs_quota_us", std::to_string(*quota), f + ".quota");
            if (auto b = num(c, "burst", f)) set("cpu", "cpu.cfs_burst_us", std::to_string(*b), f + ".burst");
            if (auto p = num(c, "realtimePeriod", f); p && *p) set("cpu", "cpu.rt_period_us", std::to_string(*p), f + ".realtimePeriod");
            if (auto p = num(c, "realtimeRuntime", f); p && *p) set("cpu", "cpu.rt_runtime_us", std::to_string(*p), f + ".realtimeRuntime");
            if (auto i = num(c, "idle", f)) set("cpu", "cpu.idle", std::to_string(*i), f + ".idle");
        }
        if (present(c, "cpus")) set("cpuset", "cpuset.cpus", get<std::string>(c, "cpus", f, ""), f + ".cpus");
        if (present(c, "mems")) set("cpuset", "cpuset.mems", get<std::string>(c, "mems", f, ""), f + ".mems");
    }
    if (present(r, "pids")) {
        std::string f = field + ".pids";
        only(r["pids"], f, {"limit"});
        if (auto l = num(r["pids"], "limit", f); l && *l != 0)
            set("pids", "pids.max", *l < 0 ? "max" : std::to_string(*l), f + ".limit");
    }
    if (present(r, "blockIO")) {
        const json& b = r["blockIO"];
        std::string f = field + ".blockIO";
        only(b, f, {"weight", "leafWeight", "weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice",
                    "throttleReadIOPSDevice", "throttleWriteIOPSDevice"});
        // A weight of 0 is no weight (the kernel's range is 10-1000), as runc reads it: dockerd
        // sends blockIO.weight 0 for every container without --blkio-weight.
        auto weight = num(b, "weight", f), leaf = num(b, "leafWeight", f);
        if (weight == 0LL) weight.reset();
        if (leaf == 0LL) leaf.reset();
        bool devices = present(b, "weightDevice") || present(b, "throttleReadBpsDevice") || present(b, "throttleWriteBpsDevice") ||
                       present(b, "throttleReadIOPSDevice") || present(b, "throttleWriteIOPSDevice");
        if (v2 && (weight || leaf || devices)) refuse(f, "not supported by layerbox-runtime on cgroup v2");
        if (weight) set("blkio", "blkio.weight", std::to_string(*weight), f + ".weight");
        if (leaf) set("blkio", "blkio.leaf_weight", std::to_string(*leaf), f + ".leafWeight");
        auto devs = [&](const char* key, const char* file, const char* value_key) {
            if (!present(b, key)) return;
            for (size_t i = 0; i < b[key].size(); ++i) {
                const json& d = b[key][i];
                std::string df = f + "." + key + "[" + std::to_string(i) + "]";
                std::string dev = std::to_string(get<long long>(d, "major", df, 0)) + ":" + std::to_string(get<long long>(d, "minor", df, 0));
                if (std::string(key) == "weightDevice") {
                    if (present(d, "weight")) set("blkio", "blkio.weight_device", dev + " " + std::to_string(get<long long>(d, "weight", df, 0)), df);
                    if (present(d, "leafWeight")) set("blkio", "blkio.leaf_weight_device", dev + " " + std::to_string(get<long long>(d, "leafWeight", df, 0)), df);
                } else {
                    set("blkio", file, dev + " " + std::to_string(get<long long>(d, value_key, df, 0)), df);
                }
            }
        };
        devs("weightDevice", "", "");
        devs("throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rate");
        devs("throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "rate");
        devs("throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "rate");
        devs("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "rate");
    }
    if (present(r, "hugepageLimits")) {
        std::string f = field + ".hugepageLimits";
        for (size_t i = 0; i < r["hugepageLimits"].size(); ++i) {
            const json& h = r["hugepageLimits"][i];
            std::string hf = f + "[" + std::to_string(i) + "]";
            only(h, hf, {"pageSize", "limit"});
            set("hugetlb", "hugetlb." + get<std::string>(h, "pageSize", hf, "") + (v2 ? ".max" : ".limit_in_bytes"),
                std::to_string(get<unsigned long long>(h, "limit", hf, 0)), hf);
        }
    }
    if (present(r, "network")) refuse(field + ".network", "not supported by layerbox-runtime");
    if (present(r, "rdma")) refuse(field + ".rdma", "not supported by layerbox-runtime");
    if (present(r, "unified")) {
        if (!v2) refuse(field + ".unified", "this host's cgroups are v1");
        for (auto& [k, v] : r["unified"].items()) {
            if (k.find('/') != std::string::npos || k.find("..") != std::string::npos)
                refuse(field + ".unified." + k, "not a cgroup file name");
            out.push_back({"unified", k, v.get<std::string>()});
        }
    }
    return out;
}

Translated translate(const json& c, const HostInfo& host) {
    Translated t;
    LaunchPlan& plan = t.plan;
    only(c, "", {"ociVersion", "root", "mounts", "process", "hostname", "domainname", "hooks", "annotations", "linux"});
    std::string version = get<std::string>(c, "ociVersion", "ociVersion", "");
    if (version.rfind("1.", 0) != 0) refuse("ociVersion", "'" + version + "' is not a 1.x version of the runtime spec");
    plan.id = host.id;
    plan.keep_on_parent_exit = true;
    plan.loopback_up = false;  // runc leaves lo as the config's hooks or the caller set it
    plan.process.create_cwd = true;

    if (!present(c, "root")) refuse("root", "needed");
    only(c["root"], "root", {"path", "readonly"});
    std::string rootpath = get<std::string>(c["root"], "path", "root", "");
    if (rootpath.empty()) refuse("root.path", "needed");
    t.rootfs = join_path(host.bundle, rootpath);
    // "." (the bundle itself) or "rootfs/": the state shows a clean path, as runc's does
    while (t.rootfs.size() > 1 && (t.rootfs.back() == '/' || (t.rootfs.size() > 2 && t.rootfs.compare(t.rootfs.size() - 2, 2, "/.") == 0)))
        t.rootfs.pop_back();
    plan.rootfs.bind_dir = true;
    plan.rootfs.target = t.rootfs;
    plan.rootfs.readonly = get<bool>(c["root"], "readonly", "root", false);

    if (!present(c, "process")) refuse("process", "needed (layerbox-runtime runs a process)");
    plan.process = process_from_oci(c["process"]);
    const json& pr = c["process"];
    for (size_t i = 0; present(pr, "rlimits") && i < pr["rlimits"].size(); ++i) {
        const json& r = pr["rlimits"][i];
        std::string f = "process.rlimits[" + std::to_string(i) + "]";
        only(r, f, {"type", "soft", "hard"});
        std::string type = get<std::string>(r, "type", f, "");
        auto it = std::find_if(std::begin(kRlimits), std::end(kRlimits), [&](const Named& n) { return type == n.name; });
        if (it == std::end(kRlimits)) refuse(f + ".type", "unknown resource limit '" + type + "'");
        plan.rlimits.push_back({it->value, get<uint64_t>(r, "soft", f, 0), get<uint64_t>(r, "hard", f, 0)});
    }
    if (present(pr, "oomScoreAdj")) {
        plan.set_oom_score_adj = true;
        plan.oom_score_adj = get<int>(pr, "oomScoreAdj", "process", 0);
    }

    if (!present(c, "linux")) refuse("linux", "needed (layerbox-runtime runs Linux containers)");
    const json& l = c["linux"];
    only(l, "linux", {"namespaces", "uidMappings", "gidMappings", "devices", "cgroupsPath", "resources",
                      "rootfsPropagation", "maskedPaths", "readonlyPaths", "sysctl", "seccomp", "mountLabel",
                      "personality", "intelRdt", "timeOffsets"});
    if (present(l, "seccomp")) t.seccomp_profile = seccomp_profile(l["seccomp"], plan.process.seccomp_flags);
    if (present(l, "mountLabel")) refuse("linux.mountLabel", "no SELinux on this host");
    if (present(l, "intelRdt")) refuse("linux.intelRdt", "not supported by layerbox-runtime");
    if (present(l, "timeOffsets")) refuse("linux.timeOffsets", "time namespaces are not supported by layerbox-runtime");
    if (present(l, "personality")) {
        const json& pe = l["personality"];
        only(pe, "linux.personality", {"domain", "flags"});
        std::string domain = get<std::string>(pe, "domain", "linux.personality", "");
        if (domain == "LINUX") plan.personality = PER_LINUX;
        else if (domain == "LINUX32") plan.personality = PER_LINUX32;
        else refuse("linux.personality.domain", "'" + domain + "': LINUX or LINUX32");
        // The spec names no flag values yet (runc takes none either).
        if (present(pe, "flags")) refuse("linux.personality.flags", "no personality flags are supported");
    }
    // As runc: the namespace's tree is rslave while the root is set up (a host mount under a
    // shared bind source still reaches the container), or what linux.rootfsPropagation says,
    // which is also the new root's own once it is entered.
    plan.ns_propagation = MS_SLAVE | MS_REC;
    std::string prop = get<std::string>(l, "rootfsPropagation", "linux", "");
    if (!prop.empty()) {
        static const std::pair<const char*, unsigned long> kProp[] = {
            {"private", MS_PRIVATE}, {"rprivate", MS_PRIVATE | MS_REC}, {"slave", MS_SLAVE},
            {"rslave", MS_SLAVE | MS_REC}, {"shared", MS_SHARED}, {"rshared", MS_SHARED | MS_REC},
            {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC}};
        auto it = std::find_if(std::begin(kProp), std::end(kProp), [&](const auto& k) { return prop == k.first; });
        if (it == std::end(kProp)) refuse("linux.rootfsPropagation", "unknown propagation '" + prop + "'");
        plan.rootfs_propagation = plan.ns_propagation = it->second;
    }

    for (size_t i = 0; present(l, "namespaces") && i < l["namespaces"].size(); ++i) {
        const json& n = l["namespaces"][i];
        std::string f = "linux.namespaces[" + std::to_string(i) + "]";
        only(n, f, {"type", "path"});
        std::string type = get<std::string>(n, "type", f, "");
        std::string path = get<std::string>(n, "path", f, "");
        if (type == "time") refuse(f, "time namespaces are not supported by layerbox-runtime");
        if (type != "pid" && type != "network" && type != "mount" && type != "ipc" && type != "uts" && type != "cgroup" &&
            type != "user")
            refuse(f + ".type", "unknown namespace type '" + type + "'");
        std::string name = ns_name(type);
        if (path.empty()) {
            if (std::find(plan.namespaces.begin(), plan.namespaces.end(), name) != plan.namespaces.end())
                refuse(f, "namespace " + type + " listed twice");
            plan.namespaces.push_back(name);
        } else if (type == "pid") {
            t.pid_ns_path = path;
        } else {
            // A mount namespace too: the root is set up in it as in a new one (and pivot_root
            // moves the root of the processes already there, as runc's does).
            plan.join_namespaces.emplace_back(name, path);
        }
    }
    auto is_new = [&](const char* n) {
        return std::find(plan.namespaces.begin(), plan.namespaces.end(), n) != plan.namespaces.end();
    };
    bool joined_user = !joined_user_namespace(plan).empty();
    user_namespace(plan, l, is_new("user"), joined_user, !plan.join_namespaces.empty() || !t.pid_ns_path.empty());

    std::string hostname = get<std::string>(c, "hostname", "hostname", "");
    // A new uts namespace or one joined by path (runc sets the names in that one too).
    bool uts = std::find(plan.namespaces.begin(), plan.namespaces.end(), "uts") != plan.namespaces.end() ||
               std::any_of(plan.join_namespaces.begin(), plan.join_namespaces.end(),
                           [](const auto& j) { return j.first == "uts"; });
    if (!hostname.empty() && !uts) refuse("hostname", "setting it needs a new uts namespace");
    plan.hostname = hostname;
    plan.domainname = get<std::string>(c, "domainname", "domainname", "");
    if (!plan.domainname.empty() && !uts) refuse("domainname", "setting it needs a new uts namespace");

    std::vector<MountOp> late;
    for (size_t i = 0; present(c, "mounts") && i < c["mounts"].size(); ++i)
        add_mount(plan, c["mounts"][i], "mounts[" + std::to_string(i) + "]", host, late);
    bool own_dev = false;
    for (auto& m : plan.mounts)
        if (m.target == "/dev" && m.kind == MountOp::Kind::Fs) own_dev = true;
    if (own_dev) add_default_devices(plan);
    if (present(l, "devices")) add_devices(plan, l["devices"]);
    for (auto& m : late) plan.mounts.push_back(m);
    if (!plan.uid_map.empty() || joined_user) adapt_to_user_namespace(plan);
    for (const char* key : {"maskedPaths", "readonlyPaths"}) {
        for (auto& p : get<std::vector<std::string>>(l, key, std::string("linux"), {})) {
            MountOp op;
            op.kind = std::string(key) == "maskedPaths" ? MountOp::Kind::MaskDir : MountOp::Kind::ReadOnly;
            op.target = p;
            op.optional = true;
            plan.mounts.push_back(op);
        }
    }
    if (present(l, "sysctl")) {
        for (auto& [k, v] : l["sysctl"].items()) {
            allowed_sysctl(k, "linux.sysctl." + k, plan);
            if (!v.is_string()) refuse("linux.sysctl." + k, "must be a string");
            plan.sysctl.emplace_back(k, v.get<std::string>());
        }
    }

    plan.cgroup = cgroup_dirs(get<std::string>(l, "cgroupsPath", "linux", ""), host);
    if (present(l, "resources")) plan.cgroup.settings = resource_settings(l["resources"], host);

    if (present(c, "hooks")) {
        const json& h = c["hooks"];
        only(h, "hooks", {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"});
        auto hooks = [&](const char* key, std::vector<Hook>& out) {
            for (size_t i = 0; present(h, key) && i < h[key].size(); ++i) {
                const json& e = h[key][i];
                std::string f = std::string("hooks.") + key + "[" + std::to_string(i) + "]";
                only(e, f, {"path", "args", "env", "timeout"});
                Hook hk;
                hk.path = get<std::string>(e, "path", f, "");
                if (hk.path.empty() || hk.path[0] != '/') refuse(f + ".path", "must be an absolute path");
                hk.args = get<std::vector<std::string>>(e, "args", f, {});
                hk.env = get<std::vector<std::string>>(e, "env", f, {});
                hk.timeout = get<int>(e, "timeout", f, 0);
                if (present(e, "timeout") && hk.timeout <= 0) refuse(f + ".timeout", "must be positive");
                out.push_back(std::move(hk));
            }
        };
        hooks("prestart", t.hooks.create_runtime);
        hooks("createRuntime", t.hooks.create_runtime);
        hooks("createContainer", t.hooks.create_container);
        hooks("startContainer", t.hooks.start_container);
        hooks("poststart", t.hooks.poststart);
        hooks("poststop", t.hooks.poststop);
    }
    // createContainer: in the container's namespaces once its mounts are made, before
    // pivot_root (the init stops there for them).
    plan.stop_before_pivot = !t.hooks.create_container.empty();
    if (present(c, "annotations")) {
        if (!c["annotations"].is_object()) refuse("annotations", "must be an object");
        t.annotations = c["annotations"];
    }
    return t;
}

json default_spec() {
    json caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
    return {
        {"ociVersion", "1.1.0"},
        {"process",
         {{"terminal", false},
          {"user", {{"uid", 0}, {"gid", 0}}},
          {"args", {"sh"}},
          {"env", {kDefaultPath, "TERM=xterm"}},
          {"cwd", "/"},
          {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
          {"rlimits", {{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}}},
          {"noNewPrivileges", true}}},
        {"root", {{"path", "rootfs"}, {"readonly", true}}},
        {"hostname", "layerbox"},
        {"mounts",
         {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
          {{"destination", "/dev"}, {"type", "tmpfs"}, {"source", "tmpfs"},
           {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
          {{"destination", "/dev/pts"}, {"type", "devpts"}, {"source", "devpts"},
           {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
          {{"destination", "/dev/shm"}, {"type", "tmpfs"}, {"source", "shm"},
           {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
          {{"destination", "/dev/mqueue"}, {"type", "mqueue"}, {"source", "mqueue"},
           {"options", {"nosuid", "noexec", "nodev"}}},
          {{"destination", "/sys"}, {"type", "sysfs"}, {"source", "sysfs"},
           {"options", {"nosuid", "noexec", "nodev", "ro"}}},
          {{"destination", "/sys/fs/cgroup"}, {"type", "cgroup"}, {"source", "cgroup"},
           {"options", {"nosuid", "noexec", "nodev", "relatime", "ro"}}}}},
        {"linux",
         {{"resources", {{"devices", {{{"allow", false}, {"access", "rwm"}}}}}},
          {"namespaces",
           {{{"type", "pid"}}, {{"type", "network"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}},
            {{"type", "cgroup"}}}},
          {"maskedPaths",
           {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
            "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"}},
          {"readonlyPaths",
           {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}}}};
}

}  // namespace lb::oci
