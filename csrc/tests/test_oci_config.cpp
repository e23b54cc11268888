// config.json -> LaunchPlan (csrc/runtime/config.cpp), without root: which namespaces are made
// or joined, which mount operations in which order, which cgroup files get which values, and
// that what layerbox-runtime cannot do is refused with the field named.
#undef NDEBUG
#include <sched.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cassert>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/config.hpp"

using namespace lb;
using namespace lb::oci;
using nlohmann::json;

static HostInfo host_v1() {
    HostInfo h;
    h.bundle = "/b";
    h.id = "c1";
    h.cgroup_version = 1;
    h.v1_controllers = {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd"};
    return h;
}

static std::string refused(json c, const HostInfo& h = host_v1()) {
    try {
        translate(c, h);
    } catch (const ConfigError& e) {
        return e.field;
    }
    return "";
}

static const MountOp* find(const LaunchPlan& p, const std::string& target, MountOp::Kind kind) {
    for (auto& m : p.mounts)
        if (m.target == target && m.kind == kind) return &m;
    return nullptr;
}

static size_t index_of(const LaunchPlan& p, const std::string& target) {
    for (size_t i = 0; i < p.mounts.size(); ++i)
        if (p.mounts[i].target == target) return i;
    return SIZE_MAX;
}

static void test_default_spec() {
    Translated t = translate(default_spec(), host_v1());
    const LaunchPlan& p = t.plan;
    assert(t.rootfs == "/b/rootfs");
    assert(p.rootfs.bind_dir && p.rootfs.target == "/b/rootfs" && p.rootfs.readonly);
    assert(p.keep_on_parent_exit);
    assert(p.hostname == "layerbox");
    assert((p.namespaces == std::vector<std::string>{"pid", "net", "ipc", "uts", "mount", "cgroup"}));
    assert(p.process.args == std::vector<std::string>{"sh"});
    assert(p.process.no_new_privs);
    // CAP_AUDIT_WRITE (29), CAP_KILL (5), CAP_NET_BIND_SERVICE (10)
    assert(p.process.caps == ((1ULL << 29) | (1ULL << 5) | (1ULL << 10)));
    assert(p.rlimits.size() == 1 && p.rlimits[0].resource == RLIMIT_NOFILE && p.rlimits[0].soft == 1024);
    // /dev is a tmpfs with strictatime; the default devices and links follow the mounts.
    const MountOp* dev = find(p, "/dev", MountOp::Kind::Fs);
    assert(dev && dev->fstype == "tmpfs" && dev->nosuid && (dev->attrs & MOUNT_ATTR_STRICTATIME));
    assert(dev->data.size() == 2 && dev->data[0].first == "mode" && dev->data[0].second == "755");
    const MountOp* null = find(p, "/dev/null", MountOp::Kind::Mknod);
    assert(null && null->major == 1 && null->minor == 3 && null->mode == 0666);
    assert(find(p, "/dev/ptmx", MountOp::Kind::Symlink)->source == "pts/ptmx");
    assert(index_of(p, "/dev/null") > index_of(p, "/dev/pts"));
    // cgroup v1: a tmpfs with each hierarchy, then read-only, after everything under it.
    assert(find(p, "/sys/fs/cgroup", MountOp::Kind::Fs)->fstype == "tmpfs");
    const MountOp* mem = find(p, "/sys/fs/cgroup/memory", MountOp::Kind::Fs);
    assert(mem && mem->fstype == "cgroup" && mem->data.back().first == "memory");
    const MountOp* sd = find(p, "/sys/fs/cgroup/systemd", MountOp::Kind::Fs);
    assert(sd && sd->data.back().first == "name" && sd->data.back().second == "systemd");
    assert(find(p, "/sys/fs/cgroup", MountOp::Kind::ReadOnly));
    assert(index_of(p, "/dev/null") < index_of(p, "/proc/kcore"));
    // masked and read-only paths come last, optional
    const MountOp* kcore = find(p, "/proc/kcore", MountOp::Kind::MaskDir);
    assert(kcore && kcore->optional);
    assert(find(p, "/proc/sys", MountOp::Kind::ReadOnly)->optional);
    // cgroup: /<id> in each hierarchy, devices denied then runc's allowed list
    assert(p.cgroup.version == 1);
    bool mem_dir = false;
    for (auto& [c, d] : p.cgroup.dirs) mem_dir |= c == "memory" && d == "/sys/fs/cgroup/memory/c1";
    assert(mem_dir);
    assert(p.cgroup.settings.at(0).file == "devices.deny" && p.cgroup.settings[0].value == "a");
    assert(p.cgroup.settings.at(1).value == "c *:* m");
}

static void test_namespaces_joined_and_hooks() {
    json c = default_spec();
    c["linux"]["namespaces"] = {{{"type", "mount"}},
                                {{"type", "network"}, {"path", "/var/run/netns/x"}},
                                {{"type", "pid"}, {"path", "/proc/7/ns/pid"}},
                                {{"type", "uts"}}};
    c["linux"]["sysctl"] = {{"net.ipv4.ip_forward", "1"}};
    c["process"]["user"] = {{"uid", 1000}, {"gid", 100}, {"umask", 077}, {"additionalGids", {5, 6}}};
    c["process"]["oomScoreAdj"] = 100;
    c["domainname"] = "example.org";
    c["hooks"] = {{"prestart", {{{"path", "/bin/a"}}}},
                  {"createRuntime", {{{"path", "/bin/b"}, {"args", {"b", "x"}}, {"timeout", 5}}}},
                  {"poststop", {{{"path", "/bin/c"}}}}};
    c["annotations"] = {{"k", "v"}};
    Translated t = translate(c, host_v1());
    assert((t.plan.namespaces == std::vector<std::string>{"mount", "uts"}));
    assert(t.plan.join_namespaces.size() == 1 && t.plan.join_namespaces[0].first == "net");
    assert(t.pid_ns_path == "/proc/7/ns/pid");
    assert(t.plan.sysctl.at(0).first == "net.ipv4.ip_forward");
    assert(t.plan.process.uid == 1000 && t.plan.process.gid == 100 && t.plan.process.umask == 077);
    assert((t.plan.process.groups == std::vector<gid_t>{5, 6}));
    assert(t.plan.set_oom_score_adj && t.plan.oom_score_adj == 100);
    assert(t.plan.domainname == "example.org");
    assert(t.hooks.create_runtime.size() == 2 && t.hooks.create_runtime[0].path == "/bin/a");
    assert(t.hooks.create_runtime[1].timeout == 5 && t.hooks.create_runtime[1].args[1] == "x");
    assert(t.hooks.poststop.size() == 1);
    assert(t.annotations["k"] == "v");
}

// A new user namespace: the maps as /proc/PID/uid_map text; device nodes become binds of the
// host's (no mknod there), a sysfs without a network namespace of its own a bind of the host's.
static void test_user_namespace() {
    json c = default_spec();
    c["linux"]["namespaces"].push_back({{"type", "user"}});
    c["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
    c["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 10}},
                                 {{"containerID", 10}, {"hostID", 300000}, {"size", 5}}};
    c["linux"]["devices"] = {{{"type", "c"}, {"path", "/dev/fuse"}, {"major", 10}, {"minor", 229}}};
    Translated t = translate(c, host_v1());
    assert(t.plan.uid_map == "0 100000 65536\n");
    assert(t.plan.gid_map == "0 200000 10\n10 300000 5\n");
    assert(namespace_flags(t.plan.namespaces) & CLONE_NEWUSER);
    assert(!find(t.plan, "/dev/null", MountOp::Kind::Mknod) && !find(t.plan, "/dev/fuse", MountOp::Kind::Mknod));
    const MountOp* null = find(t.plan, "/dev/null", MountOp::Kind::Bind);
    assert(null && null->source == "/dev/null");
    const MountOp* fuse = find(t.plan, "/dev/fuse", MountOp::Kind::Bind);
    assert(fuse && fuse->source == "/dev/fuse");
    assert(find(t.plan, "/sys", MountOp::Kind::Fs));  // a network namespace of its own: sysfs
    c["linux"]["namespaces"] = {{{"type", "mount"}}, {{"type", "pid"}}, {{"type", "user"}}, {{"type", "cgroup"}}};
    c.erase("hostname");  // no uts namespace now
    t = translate(c, host_v1());
    const MountOp* sys = find(t.plan, "/sys", MountOp::Kind::Bind);
    assert(sys && sys->source == "/sys" && sys->recursive && sys->ro);
    const MountOp* mq = find(t.plan, "/dev/mqueue", MountOp::Kind::Bind);
    assert(mq && mq->source == "/dev/mqueue");
    c["linux"]["namespaces"] = {{{"type", "mount"}}, {{"type", "pid"}}, {{"type", "user"}}};
    assert(refused(c) == "mounts");  // a cgroup mount needs a cgroup namespace of its own
}

// A mount namespace joined by path, none at all, the personality, createContainer hooks.
static void test_mount_namespaces_personality_create_container() {
    json c = default_spec();
    c["linux"]["namespaces"] = {{{"type", "mount"}, {"path", "/proc/9/ns/mnt"}}, {{"type", "pid"}}};
    c.erase("hostname");
    Translated t = translate(c, host_v1());
    assert(t.plan.join_namespaces.size() == 1 && t.plan.join_namespaces[0].first == "mount");
    assert(has_mount_namespace(t.plan));
    c["linux"]["namespaces"] = {{{"type", "pid"}}};
    t = translate(c, host_v1());
    assert(!has_mount_namespace(t.plan) && t.plan.namespaces == std::vector<std::string>{"pid"});
    c = default_spec();
    assert(translate(c, host_v1()).plan.personality == -1);
    c["linux"]["personality"] = {{"domain", "LINUX32"}};
    assert(translate(c, host_v1()).plan.personality == PER_LINUX32);
    c["linux"]["personality"] = {{"domain", "LINUX"}};
    assert(translate(c, host_v1()).plan.personality == PER_LINUX);
    c = default_spec();
    assert(!translate(c, host_v1()).plan.stop_before_pivot);
    c["hooks"] = {{"createContainer", {{{"path", "/bin/x"}, {"args", {"x", "1"}}}}}};
    t = translate(c, host_v1());
    assert(t.plan.stop_before_pivot && t.hooks.create_container.size() == 1);
    assert(t.hooks.create_container[0].path == "/bin/x" && t.hooks.create_container[0].args[1] == "1");
}

static void test_binds_and_options() {
    json c = default_spec();
    c["mounts"].push_back({{"destination", "/data"}, {"type", "bind"}, {"source", "vol"},
                           {"options", {"rbind", "ro", "nosuid", "rslave"}}});
    c["mounts"].push_back({{"destination", "/etc/hosts"}, {"source", "/etc/hosts"}, {"options", {"bind"}}});
    Translated t = translate(c, host_v1());
    const MountOp* d = find(t.plan, "/data", MountOp::Kind::Bind);
    assert(d && d->source == "/b/vol" && d->recursive && d->ro && d->nosuid);
    assert(d->propagation == (MS_SLAVE | MS_REC));
    const MountOp* h = find(t.plan, "/etc/hosts", MountOp::Kind::Bind);
    assert(h && h->source == "/etc/hosts" && !h->recursive);
}

static void test_resources() {
    json r = {{"memory", {{"limit", 1 << 20}, {"swap", 2 << 20}}},
              {"cpu", {{"shares", 512}, {"quota", 50000}, {"period", 100000}, {"cpus", "0"}}},
              {"pids", {{"limit", 10}}}};
    auto s = resource_settings(r, host_v1());
    auto has = [&](const std::string& ctl, const std::string& file, const std::string& value) {
        for (auto& x : s)
            if (x.controller == ctl && x.file == file && x.value == value) return true;
        return false;
    };
    assert(has("memory", "memory.limit_in_bytes", "1048576"));
    assert(has("memory", "memory.memsw.limit_in_bytes", "2097152"));
    assert(has("cpu", "cpu.shares", "512") && has("cpu", "cpu.cfs_quota_us", "50000"));
    assert(has("cpuset", "cpuset.cpus", "0") && has("pids", "pids.max", "10"));
    HostInfo v2 = host_v1();
    v2.cgroup_version = 2;
    s = resource_settings(r, v2);
    assert(has("unified", "memory.max", "1048576") && has("unified", "memory.swap.max", "1048576"));
    assert(has("unified", "cpu.max", "50000 100000") && has("unified", "pids.max", "10"));
    // What dockerd sends for every container: a blkio weight of 0 (none), swappiness -1 as an
    // unsigned, disableOOMKiller false. Nothing to write, on v1 or v2.
    json docker = {{"blockIO", {{"weight", 0}}},
                   {"memory", {{"swappiness", 18446744073709551615ULL}, {"disableOOMKiller", false}}}};
    assert(resource_settings(docker, host_v1()).empty());
    assert(resource_settings(docker, v2).empty());
    s = resource_settings({{"blockIO", {{"weight", 500}}}}, host_v1());
    assert(has("blkio", "blkio.weight", "500"));
    // no hugetlb hierarchy on this host: refused, named
    try {
        resource_settings({{"hugepageLimits", {{{"pageSize", "2MB"}, {"limit", 1}}}}}, host_v1());
        assert(false);
    } catch (const ConfigError& e) {
        assert(e.field == "linux.resources.hugepageLimits[0]");
    }
    // cgroupsPath
    CgroupPlan cg = cgroup_dirs("/a/b", host_v1());
    assert(cg.dirs.at(0).second == "/sys/fs/cgroup/freezer/a/b");
    try {
        cgroup_dirs("/a/../b", host_v1());
        assert(false);
    } catch (const ConfigError& e) {
        assert(e.field == "linux.cgroupsPath");
    }
}

static void test_refusals() {
    json c = default_spec();
    c["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"}, {"listenerPath", "/run/x.sock"}};
    assert(refused(c) == "linux.seccomp.listenerPath");
    c = default_spec();
    c["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"},
                             {"syscalls", {{{"names", {"mkdir"}}, {"action", "SCMP_ACT_NOTIFY"}}}}};
    assert(refused(c) == "linux.seccomp.syscalls[0].action");
    c = default_spec();
    c["linux"]["namespaces"].push_back({{"type", "user"}});
    assert(refused(c) == "linux.uidMappings");  // a new user namespace needs its maps
    c["linux"]["namespaces"].back()["path"] = "/proc/1/ns/user";  // joined: its maps are its own
    {
        Translated t = translate(c, host_v1());
        assert(joined_user_namespace(t.plan) == "/proc/1/ns/user" && t.plan.uid_map.empty());
        assert(std::find(t.plan.namespaces.begin(), t.plan.namespaces.end(), "user") == t.plan.namespaces.end());
    }
    c = default_spec();
    c["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}};
    assert(refused(c) == "linux.uidMappings");  // without a user namespace
    c["linux"]["namespaces"].push_back({{"type", "user"}});
    c["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 1000}, {"size", 0}}};
    assert(refused(c) == "linux.gidMappings[0].size");
    c["linux"]["gidMappings"][0]["size"] = 1;
    c["linux"]["namespaces"].push_back({{"type", "network"}, {"path", "/run/netns/x"}});
    assert(refused(c) == "linux.namespaces");  // joined by path together with a new user namespace
    c = default_spec();
    c["linux"]["personality"] = {{"domain", "LINUX"}, {"flags", {"X"}}};
    assert(refused(c) == "linux.personality.flags");
    c["linux"]["personality"] = {{"domain", "PER_BSD"}};
    assert(refused(c) == "linux.personality.domain");
    c = default_spec();
    c["process"]["capabilities"]["ambient"] = {"CAP_NOPE"};
    assert(refused(c) == "process.capabilities.ambient[0]");
    c = default_spec();
    c["process"]["capabilities"]["bounding"].push_back("CAP_NOPE");
    assert(refused(c) == "process.capabilities.bounding[3]");
    c = default_spec();
    c["linux"]["sysctl"] = {{"vm.swappiness", "1"}};
    assert(refused(c) == "linux.sysctl.vm.swappiness");
    c = default_spec();
    c["somethingNew"] = 1;
    assert(refused(c) == "somethingNew");
    c = default_spec();
    c["process"]["rlimits"][0]["type"] = "RLIMIT_NOPE";
    assert(refused(c) == "process.rlimits[0].type");
    c = default_spec();
    c["hooks"] = {{"createContainer", {{{"path", "bin/x"}}}}};
    assert(refused(c) == "hooks.createContainer[0].path");
    c = default_spec();
    c["mounts"][0]["options"] = {"tmpcopyup"};
    assert(refused(c) == "mounts[0].options");
    c = default_spec();
    c["ociVersion"] = "0.5.0";
    assert(refused(c) == "ociVersion");
    c = default_spec();
    c["linux"]["rootfsPropagation"] = "sideways";
    assert(refused(c) == "linux.rootfsPropagation");
}

// linux.seccomp becomes the profile text seccomp_compile reads, flags as bits; capabilities
// set by set.
static void test_seccomp_and_capability_sets() {
    json c = default_spec();
    c["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ERRNO"}, {"defaultErrnoRet", 38},
                             {"architectures", {"SCMP_ARCH_X86_64"}}, {"flags", {"SECCOMP_FILTER_FLAG_LOG"}},
                             {"syscalls", {{{"names", {"read", "write"}}, {"action", "SCMP_ACT_ALLOW"},
                                            {"args", {{{"index", 0}, {"value", 1}, {"op", "SCMP_CMP_EQ"}}}}}}}};
    Translated t = translate(c, host_v1());
    json p = json::parse(t.seccomp_profile);
    assert(p["defaultAction"] == "SCMP_ACT_ERRNO" && p["defaultErrnoRet"] == 38);
    assert(p["syscalls"][0]["names"][1] == "write" && p["syscalls"][0]["args"][0]["op"] == "SCMP_CMP_EQ");
    assert(t.plan.process.seccomp_flags == 2);  // SECCOMP_FILTER_FLAG_LOG
    c = default_spec();
    c["process"]["capabilities"] = {{"bounding", {"CAP_KILL", "CAP_CHOWN"}}, {"effective", {"CAP_KILL"}},
                                    {"ambient", {"CAP_CHOWN"}}};
    t = translate(c, host_v1());
    assert(t.plan.process.cap_sets_given);
    assert(t.plan.process.cap_sets.bounding == ((1ULL << 5) | 1ULL));
    assert(t.plan.process.cap_sets.effective == (1ULL << 5) && t.plan.process.cap_sets.permitted == 0);
    assert(t.plan.process.cap_sets.ambient == 1ULL);
}

static void test_signals_and_caps() {
    assert(signal_number("KILL") == 9 && signal_number("SIGTERM") == 15 && signal_number("9") == 9);
    assert(signal_number("sigusr1") == 10 && signal_number("NOPE") == -1 && signal_number("0") == -1);
    assert(capability_number("CAP_SYS_ADMIN") == 21 && capability_number("SYS_ADMIN") == -1);
}

int main() {
    test_user_namespace();
    test_mount_namespaces_personality_create_container();
    test_default_spec();
    test_namespaces_joined_and_hooks();
    test_binds_and_options();
    test_resources();
    test_refusals();
    test_seccomp_and_capability_sets();
    test_signals_and_caps();
    std::puts("test_oci_config: ok");
    return 0;
}
