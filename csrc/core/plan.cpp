#include "core/plan.hpp"

#include <sched.h>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/fd.hpp"

namespace lb {

using nlohmann::json;

namespace {

std::vector<std::pair<std::string, std::string>> kv_list(const json& j) {
    std::vector<std::pair<std::string, std::string>> out;
    if (j.is_object()) {
        for (auto& [k, v] : j.items()) out.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
    } else if (j.is_array()) {
        for (auto& e : j) {
            if (e.is_array() && e.size() == 2)
                out.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
            else
                out.emplace_back(e.get<std::string>(), "");
        }
    }
    return out;
}

MountOp::Kind kind_from(const std::string& s) {
    if (s == "fs") return MountOp::Kind::Fs;
    if (s == "bind") return MountOp::Kind::Bind;
    if (s == "mknod") return MountOp::Kind::Mknod;
    if (s == "symlink") return MountOp::Kind::Symlink;
    if (s == "mask-file") return MountOp::Kind::MaskFile;
    if (s == "mask-dir") return MountOp::Kind::MaskDir;
    if (s == "readonly") return MountOp::Kind::ReadOnly;
    if (s == "mkdir") return MountOp::Kind::Mkdir;
    if (s == "file") return MountOp::Kind::File;
    throw_invalid("unknown mount operation '" + s + "'");
}

}  // namespace

int namespace_flags(const std::vector<std::string>& names) {
    int flags = 0;
    for (auto& n : names) {
        if (n == "mount") flags |= CLONE_NEWNS;
        else if (n == "pid") flags |= CLONE_NEWPID;
        else if (n == "uts") flags |= CLONE_NEWUTS;
        else if (n == "ipc") flags |= CLONE_NEWIPC;
        else if (n == "net") flags |= CLONE_NEWNET;
        else if (n == "cgroup") flags |= CLONE_NEWCGROUP;
        else if (n == "user") flags |= CLONE_NEWUSER;
        else throw_invalid("unknown namespace '" + n + "'");
    }
    return flags;
}

const std::string& joined_user_namespace(const LaunchPlan& p) {
    static const std::string none;
    for (auto& [type, path] : p.join_namespaces)
        if (type == "user") return path;
    return none;
}

bool has_mount_namespace(const LaunchPlan& p) {
    for (auto& n : p.namespaces)
        if (n == "mount") return true;
    for (auto& [type, path] : p.join_namespaces)
        if (type == "mount") return true;
    return false;
}

ProcessSpec process_from_json(const json& pr) {
    try {
        ProcessSpec p;
        p.args = pr.at("args").get<std::vector<std::string>>();
        if (p.args.empty()) throw_invalid("no command specified");
        p.env = pr.value("env", std::vector<std::string>{});
        p.cwd = pr.value("cwd", "/");
        p.uid = pr.value("uid", 0u);
        p.gid = pr.value("gid", 0u);
        p.groups = pr.value("groups", std::vector<gid_t>{});
        p.caps = pr.value("caps", uint64_t{0});
        if (pr.contains("cap_sets") && pr["cap_sets"].is_object()) {
            const json& c = pr["cap_sets"];
            p.cap_sets_given = true;
            p.cap_sets = {c.value("bounding", uint64_t{0}), c.value("effective", uint64_t{0}),
                          c.value("permitted", uint64_t{0}), c.value("inheritable", uint64_t{0}),
                          c.value("ambient", uint64_t{0})};
        }
        p.no_new_privs = pr.value("no_new_privs", true);
        p.tty = pr.value("tty", false);
        p.rows = pr.value("rows", 0);
        p.cols = pr.value("cols", 0);
        p.create_cwd = pr.value("create_cwd", true);
        p.umask = pr.value("umask", 022u);
        p.preserve_fds = pr.value("preserve_fds", 0);
        if (pr.contains("seccomp") && pr["seccomp"].is_object()) {
            // The compiled program, from the store's cache (read here: in the monitor before
            // clone, in the exec caller before it forks).
            std::string file = pr["seccomp"].at("file").get<std::string>();
            p.seccomp = read_file(file);
            if (p.seccomp.empty() || p.seccomp.size() % 8) throw_invalid("seccomp program " + file + " is not a BPF program", file);
            p.seccomp_flags = pr["seccomp"].value("flags", 0u);
        }
        return p;
    } catch (const json::exception& e) {
        throw_invalid(std::string("bad process spec: ") + e.what());
    }
}

MountOp mount_op_from_json(const json& m) {
    MountOp op;
    op.kind = kind_from(m.at("kind").get<std::string>());
    op.target = m.at("target").get<std::string>();
    op.fstype = m.value("fstype", "");
    op.source = m.value("source", "");
    op.data = kv_list(m.value("data", json::array()));
    op.ro = m.value("ro", false);
    op.nosuid = m.value("nosuid", false);
    op.nodev = m.value("nodev", false);
    op.noexec = m.value("noexec", false);
    op.recursive = m.value("recursive", false);
    op.optional = m.value("optional", false);
    op.file = m.value("file", false);
    op.mode = m.value("mode", 0u);
    op.major = m.value("major", 0u);
    op.minor = m.value("minor", 0u);
    op.attrs = m.value("attrs", 0u);
    op.propagation = m.value("propagation", 0ul);
    op.uid = m.value("uid", -1);
    op.gid = m.value("gid", -1);
    op.copy_up = m.value("copy_up", false);
    op.source_mntns = m.value("source_mntns", "");
    op.generated = m.value("generated", false);
    op.in_place = m.value("in_place", false);
    return op;
}

LaunchPlan plan_from_json(const json& j) {
    try {
        LaunchPlan p;
        p.id = j.value("id", "");
        const json& r = j.at("rootfs");
        p.rootfs.lower = r.at("lower").get<std::vector<std::string>>();
        p.rootfs.upper = r.value("upper", "");
        p.rootfs.work = r.value("work", "");
        p.rootfs.target = r.at("target").get<std::string>();
        p.rootfs.options = kv_list(r.value("options", json::object()));
        p.rootfs.readonly = r.value("readonly", false);
        p.rootfs.legacy_mount = r.value("legacy_mount", false);
        p.rootfs.bind_dir = r.value("bind_dir", false);
        for (auto& m : j.value("mounts", json::array())) p.mounts.push_back(mount_op_from_json(m));
        p.namespaces = j.value("namespaces", std::vector<std::string>{});
        namespace_flags(p.namespaces);  // validate early
        p.hostname = j.value("hostname", "");
        p.loopback_up = j.value("loopback_up", true);
        p.init = j.value("init", false);
        p.process = process_from_json(j.at("process"));
        p.join_namespaces = kv_list(j.value("join_namespaces", json::array()));
        p.domainname = j.value("domainname", "");
        p.sysctl = kv_list(j.value("sysctl", json::object()));
        for (auto& r : j.value("rlimits", json::array()))
            p.rlimits.push_back({r.at(0).get<int>(), r.at(1).get<uint64_t>(), r.at(2).get<uint64_t>()});
        if (j.contains("oom_score_adj")) {
            p.set_oom_score_adj = true;
            p.oom_score_adj = j["oom_score_adj"].get<int>();
        }
        p.keep_on_parent_exit = j.value("keep_on_parent_exit", false);
        p.uid_map = j.value("uid_map", "");
        p.gid_map = j.value("gid_map", "");
        p.personality = j.value("personality", -1L);
        if (j.contains("cgroup") && !j["cgroup"].is_null()) p.cgroup = cgroup_plan_from_json(j["cgroup"]);
        return p;
    } catch (const json::exception& e) {
        throw_invalid(std::string("bad launch plan: ") + e.what());
    }
}

CgroupPlan cgroup_plan_from_json(const json& c) {
    CgroupPlan p;
    p.version = c.value("version", 0);
    p.dirs = kv_list(c.value("dirs", json::object()));
    for (auto& s : c.value("settings", json::array()))
        p.settings.push_back({s.at(0).get<std::string>(), s.at(1).get<std::string>(), s.at(2).get<std::string>()});
    if (c.contains("devices") && c["devices"].is_array()) {
        p.device_filter = true;
        p.device_rules = c["devices"].get<std::vector<std::string>>();
    }
    return p;
}

}  // namespace lb
