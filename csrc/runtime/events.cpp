#include "runtime/events.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace lb::oci {

using nlohmann::ordered_json;

namespace {

// A cgroup file's content, "" when it does not exist (a controller this host lacks).
std::string read_text(const std::string& path) {
    std::ifstream f(path);
    if (!f) return "";
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

uint64_t read_u64(const std::string& path, uint64_t def = 0) {
    std::string s = read_text(path);
    if (s.empty() || s.compare(0, 3, "max") == 0) return def;
    return std::strtoull(s.c_str(), nullptr, 10);
}

// "key value" lines (memory.stat, cpu.stat) -> object.
std::map<std::string, uint64_t> read_keyed(const std::string& path) {
    std::map<std::string, uint64_t> out;
    std::istringstream in(read_text(path));
    std::string k;
    uint64_t v;
    while (in >> k >> v) out[k] = v;
    return out;
}

std::string dir_of(const CgroupPlan& cg, const std::string& controller) {
    for (auto& [c, d] : cg.dirs)
        if (c == controller || (cg.version == 2 && c == "unified")) return d;
    return "";
}

}  // namespace

ordered_json cgroup_stats(const CgroupPlan& cg) {
    ordered_json cpu = {{"usage", {{"total", 0}, {"kernel", 0}, {"user", 0}}}, {"throttling", ordered_json::object()}};
    ordered_json memory = ordered_json::object();
    ordered_json pids = {{"current", 0}};
    if (cg.version == 2) {
        std::string d = dir_of(cg, "unified");
        auto c = read_keyed(d + "/cpu.stat");
        cpu["usage"] = {{"total", c["usage_usec"] * 1000}, {"kernel", c["system_usec"] * 1000},
                        {"user", c["user_usec"] * 1000}};
        if (c.count("nr_periods"))
            cpu["throttling"] = {{"periods", c["nr_periods"]}, {"throttled_periods", c["nr_throttled"]},
                                 {"throttled_time", c["throttled_usec"] * 1000}};
        memory["usage"] = {{"limit", read_u64(d + "/memory.max", UINT64_MAX)}, {"usage", read_u64(d + "/memory.current")}};
        memory["swap"] = {{"limit", read_u64(d + "/memory.swap.max", UINT64_MAX)},
                          {"usage", read_u64(d + "/memory.swap.current")}};
        memory["raw"] = read_keyed(d + "/memory.stat");
        pids = {{"current", read_u64(d + "/pids.current")}};
        if (uint64_t l = read_u64(d + "/pids.max")) pids["limit"] = l;
    } else {
        std::string acct = dir_of(cg, "cpuacct"), mem = dir_of(cg, "memory"), pd = dir_of(cg, "pids"),
                    cpud = dir_of(cg, "cpu");
        if (!acct.empty()) {
            ordered_json percpu = ordered_json::array();
            std::istringstream in(read_text(acct + "/cpuacct.usage_percpu"));
            uint64_t v;
            while (in >> v) percpu.push_back(v);
            // cpuacct.stat is in USER_HZ ticks; runc reports nanoseconds.
            auto st = read_keyed(acct + "/cpuacct.stat");
            uint64_t tick = 1000000000ULL / static_cast<uint64_t>(::sysconf(_SC_CLK_TCK));
            cpu["usage"] = {{"total", read_u64(acct + "/cpuacct.usage")}, {"percpu", percpu},
                            {"kernel", st["system"] * tick}, {"user", st["user"] * tick}};
        }
        if (!cpud.empty()) {
            auto t = read_keyed(cpud + "/cpu.stat");
            cpu["throttling"] = {{"periods", t["nr_periods"]}, {"throttled_periods", t["nr_throttled"]},
                                 {"throttled_time", t["throttled_time"]}};
        }
        if (!mem.empty()) {
            auto entry = [&](const std::string& prefix) {
                return ordered_json{{"limit", read_u64(mem + "/" + prefix + "limit_in_bytes")},
                                    {"usage", read_u64(mem + "/" + prefix + "usage_in_bytes")},
                                    {"max", read_u64(mem + "/" + prefix + "max_usage_in_bytes")},
                                    {"failcnt", read_u64(mem + "/" + prefix + "failcnt")}};
            };
            auto raw = read_keyed(mem + "/memory.stat");
            memory["cache"] = raw["total_cache"];
            memory["usage"] = entry("memory.");
            memory["swap"] = entry("memory.memsw.");
            memory["kernel"] = entry("memory.kmem.");
            memory["raw"] = raw;
        }
        if (!pd.empty()) {
            pids = {{"current", read_u64(pd + "/pids.current")}};
            if (uint64_t l = read_u64(pd + "/pids.max")) pids["limit"] = l;
        }
    }
    return {{"cpu", cpu}, {"memory", memory}, {"pids", pids}, {"blkio", ordered_json::object()},
            {"hugetlb", ordered_json::object()}};
}

uint64_t oom_kills(const CgroupPlan& cg) {
    std::string d = dir_of(cg, cg.version == 2 ? "unified" : "memory");
    if (d.empty()) return 0;
    auto m = read_keyed(d + (cg.version == 2 ? "/memory.events" : "/memory.oom_control"));
    return m["oom_kill"];  // the same key in both files
}

}  // namespace lb::oci
