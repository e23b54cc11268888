// The container's healthcheck, run by its monitor (there is no daemon to run it): docker's
// probe loop (moby daemon/health.go) over the same sealed exec path `layerbox exec` uses.
//
// Python resolves the check (the image's HEALTHCHECK merged with --health-*, defaults applied,
// CMD-SHELL turned into the shell's argv) and the probe's exec spec (the container init's user,
// env, capabilities, seccomp, namespaces, cgroup); see python/layerbox/container/health.py.
// The monitor only schedules probes, runs them, and records State.Health in state.json:
//   {"Status": "starting"|"healthy"|"unhealthy", "FailingStreak": n,
//    "Log": [{"Start", "End", "ExitCode", "Output"}, ... the last 5]}
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "core/fd.hpp"

namespace lb::shim {

class Health {
public:
    Health() = default;
    // `cfg`: {"interval_ms", "timeout_ms", "start_period_ms", "retries", "timeout_text",
    // "exec": the probe's exec spec less the container's pid}; null: no healthcheck.
    explicit Health(const nlohmann::json& cfg);
    bool enabled() const { return enabled_; }

    // The container (re)started: Health becomes "starting", the first probe is due one
    // interval from now (docker's order).
    void on_start(nlohmann::json& state);
    // The container stopped: a probe still running is killed; Health is "unhealthy", as
    // docker leaves it ("for compatibility reasons").
    void on_stop(nlohmann::json& state);

    // Whether tick() has something to do now.
    bool due() const { return enabled_ && next_timeout_ms() == 0; }
    // Milliseconds until a probe is due or times out; -1 when nothing is scheduled.
    int next_timeout_ms() const;
    // The probe's output pipe to poll, or -1.
    int output_fd() const { return out_ ? out_.get() : -1; }
    void on_output();
    // Starts a due probe, kills one past its timeout. `init`: the container's init (pid and
    // start time); `frozen`: the container is paused. True when `state` changed.
    bool tick(nlohmann::json& state, pid_t init, uint64_t init_start, bool frozen);
    // A child was reaped: true (and `state` updated) when it was the running probe.
    bool on_reaped(pid_t pid, int status, nlohmann::json& state, bool* changed);

private:
    void record(nlohmann::json& state, int exit_code, const std::string& output);

    bool enabled_ = false;
    long long interval_ms_ = 30000, timeout_ms_ = 30000, start_period_ms_ = 0;
    int retries_ = 3;
    std::string timeout_text_;
    nlohmann::json exec_;
    UniqueFd self_exe_;  // our own sealed copy: what joins the container

    long long started_ms_ = 0;  // the container's start (monotonic)
    long long due_ms_ = -1;     // next probe
    // The running probe.
    pid_t pid_ = -1;
    UniqueFd pidfd_, out_;
    long long probe_start_ms_ = 0;
    std::string probe_start_;  // RFC 3339
    std::string output_;
    bool timed_out_ = false;
};

}  // namespace lb::shim
