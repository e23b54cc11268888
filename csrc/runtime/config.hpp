// config.json (OCI runtime spec 1.1) -> the LaunchPlan `layerbox run` also uses.
//
// Pure logic: what the host has (cgroup version and hierarchies) comes in as HostInfo, so the
// translation is unit-tested without root (csrc/tests/test_oci_config.cpp). Anything the spec
// allows that layerbox-runtime cannot do fully is refused with the field named, never ignored.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/plan.hpp"

namespace lb::oci {

// "linux.seccomp: not supported": `field` is the config.json path of what was refused.
class ConfigError : public std::runtime_error {
public:
    ConfigError(const std::string& field, const std::string& why)
        : std::runtime_error(field + ": " + why), field(field) {}
    std::string field;
};

struct HostInfo {
    std::string bundle;  // absolute path of the bundle directory
    std::string id;
    int cgroup_version = 1;                   // 1: a hierarchy per controller; 2: unified
    std::string cgroup_base = "/sys/fs/cgroup";
    std::vector<std::string> v1_controllers;  // mounted v1 hierarchies (directory names)
};

struct Hook {
    std::string path;
    std::vector<std::string> args, env;
    int timeout = 0;  // seconds; 0 = none
};

struct Hooks {
    std::vector<Hook> create_runtime;  // prestart (legacy) hooks first, then createRuntime
    std::vector<Hook> create_container;  // in the container's namespaces, mounts made, before pivot_root
    std::vector<Hook> start_container;  // run inside the container at `start`, before the process
    std::vector<Hook> poststart, poststop;
};

struct Translated {
    LaunchPlan plan;
    // linux.seccomp as the resolved profile seccomp_compile reads ("" = no filter); the caller
    // compiles it into plan.process.seccomp (only the runtime's main links libseccomp).
    std::string seccomp_profile;
    Hooks hooks;
    std::string rootfs;        // absolute
    std::string pid_ns_path;   // a pid namespace to join (before clone), "" for a new or the host's
    nlohmann::json annotations = nlohmann::json::object();
};

Translated translate(const nlohmann::json& config, const HostInfo& host);

// The process part (also `exec --process`): `field` prefixes error names ("process").
ProcessSpec process_from_oci(const nlohmann::json& process, const std::string& field = "process");

// linux.seccomp -> the resolved profile text that seccomp_compile (core/seccomp.hpp) reads and
// the SECCOMP_FILTER_FLAG_* bits; refuses what the core cannot install (a listener, NOTIFY).
std::string seccomp_profile(const nlohmann::json& seccomp, unsigned& flags,
                            const std::string& field = "linux.seccomp");

// linux.resources -> the cgroup files and their values, in the order they must be written
// (also `update --resources`).
std::vector<CgroupPlan::Setting> resource_settings(const nlohmann::json& resources, const HostInfo& host,
                                                   const std::string& field = "linux.resources");

// The cgroup directories of `cgroups_path` ("" = /<id>) on this host.
CgroupPlan cgroup_dirs(const std::string& cgroups_path, const HostInfo& host);

// "CAP_NET_ADMIN" -> 12; -1 when unknown.
int capability_number(const std::string& name);
// "KILL", "SIGKILL", "9" -> 9; -1 when unknown.
int signal_number(const std::string& name);

// The config.json `spec` writes (runc's default, with layerbox-runtime's supported subset).
nlohmann::json default_spec();

}  // namespace lb::oci
