// `events`: a container's resource statistics and OOM kills, read from its cgroup in the JSON
// shape runc prints ({"type": "stats", "id": ..., "data": {cpu, memory, pids, ...}}).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "core/plan.hpp"

namespace lb::oci {

// runc's stats "data" object from the cgroup's files (v1 or v2); what a host lacks is zero.
nlohmann::ordered_json cgroup_stats(const CgroupPlan& cg);
// How many OOM kills the memory controller counted (v1 memory.oom_control, v2 memory.events).
uint64_t oom_kills(const CgroupPlan& cg);

}  // namespace lb::oci
