#include "shim/health.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include "core/error.hpp"
#include "core/exec.hpp"
#include "core/logfile.hpp"
#include "core/spawn.hpp"
#include "core/syscalls.hpp"

namespace lb::shim {

using nlohmann::json;

namespace {

// docker's limits: the probe's output kept (maxOutputLen) and the results kept (maxLogEntries).
constexpr size_t kMaxOutput = 4096;
constexpr size_t kMaxLog = 5;

long long mono_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

// The output is shown as JSON text: bytes that are not UTF-8 (a probe may print anything)
// become U+FFFD, as Go's encoding/json does, so state.json stays valid.
std::string valid_utf8(const std::string& s) {
    std::string out;
    size_t i = 0;
    while (i < s.size()) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = n > 0 && i + n <= s.size();
        for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 2;
        if (ok) {
            out.append(s, i, n);
            i += n;
        } else {
            out += "\xef\xbf\xbd";
            ++i;
        }
    }
    return out;
}

}  // namespace

Health::Health(const json& cfg) {
    if (!cfg.is_object()) return;
    enabled_ = true;
    interval_ms_ = cfg.value("interval_ms", 30000LL);
    timeout_ms_ = cfg.value("timeout_ms", 30000LL);
    start_period_ms_ = cfg.value("start_period_ms", 0LL);
    retries_ = cfg.value("retries", 3);
    timeout_text_ = cfg.value("timeout_text", "30s");
    exec_ = cfg.at("exec");
    // The monitor runs from a sealed memfd copy of the shim (see core/sealed.hpp): the probe's
    // helper is started from that same copy, so nothing of the host's disk is reachable.
    self_exe_ = open_path("/proc/self/exe", O_RDONLY);
}

void Health::on_start(json& state) {
    if (!enabled_) return;
    started_ms_ = mono_ms();
    due_ms_ = started_ms_ + interval_ms_;
    json h = state.value("Health", json::object());
    if (!h.is_object()) h = json::object();
    h["Status"] = "starting";
    h["FailingStreak"] = 0;
    if (!h.contains("Log") || !h["Log"].is_array()) h["Log"] = json::array();
    state["Health"] = h;
}

void Health::on_stop(json& state) {
    if (!enabled_) return;
    if (pidfd_) sys::pidfd_send_signal(pidfd_.get(), SIGKILL);
    pid_ = -1;  // reaped by whoever waits next; no longer ours to record
    pidfd_.reset();
    out_.reset();
    due_ms_ = -1;
    if (state.contains("Health") && state["Health"].is_object()) state["Health"]["Status"] = "unhealthy";
}

int Health::next_timeout_ms() const {
    if (!enabled_) return -1;
    long long at = pid_ > 0 ? (timed_out_ ? -1 : probe_start_ms_ + timeout_ms_) : due_ms_;
    if (at < 0) return -1;
    return static_cast<int>(std::max(0LL, std::min(at - mono_ms(), 3600000LL)));
}

void Health::on_output() {
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(out_.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n == 0 || errno != EAGAIN) out_.reset();
            return;
        }
        size_t room = kMaxOutput - std::min(kMaxOutput, output_.size());
        output_.append(buf, std::min(room, static_cast<size_t>(n)));
    }
}

bool Health::tick(json& state, pid_t init, uint64_t init_start, bool frozen) {
    if (!enabled_) return false;
    long long now = mono_ms();
    if (pid_ > 0) {
        if (!timed_out_ && now >= probe_start_ms_ + timeout_ms_) {
            // Killed, then recorded when reaped (docker waits for the dying probe too, so that
            // probes never pile up).
            timed_out_ = true;
            if (pidfd_) sys::pidfd_send_signal(pidfd_.get(), SIGKILL);
        }
        return false;
    }
    if (due_ms_ < 0 || now < due_ms_ || init <= 0) return false;
    probe_start_ = rfc3339_now();
    probe_start_ms_ = now;
    output_.clear();
    timed_out_ = false;
    if (frozen) {
        // docker's exec refuses a paused container, and the probe fails with that.
        record(state, -1, "container is paused, unpause the container before exec");
        return true;
    }
    try {
        json spec = exec_;
        spec["pid"] = init;
        spec["pid_start_time"] = init_start;
        spec["detach"] = false;
        std::string text = spec.dump();
        ExecSpec s = exec_spec_from_json(text);
        s.helper_fd = self_exe_.get();
        auto [r, w] = make_pipe();
        ::fcntl(r.get(), F_SETFL, ::fcntl(r.get(), F_GETFL) | O_NONBLOCK);  // ours only
        UniqueFd devnull = open_path("/dev/null", O_RDONLY);
        StdioFds io;
        io.in = devnull.get();
        io.out = w.get();
        io.err = w.get();  // docker keeps one buffer for both streams
        ExecStarted e = exec_in_container(s, text, io);
        pid_ = e.pid;
        pidfd_ = std::move(e.pidfd);
        out_ = std::move(r);
    } catch (const SysError& e) {
        record(state, -1, e.what());
        return true;
    } catch (const json::exception& e) {
        record(state, -1, e.what());
        return true;
    }
    return false;
}

bool Health::on_reaped(pid_t pid, int status, json& state, bool* changed) {
    if (!enabled_ || pid_ <= 0 || pid != pid_) return false;
    pid_ = -1;
    pidfd_.reset();
    if (out_) on_output();  // what the pipe still holds; a child the probe left keeps it open
    out_.reset();
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (timed_out_) {
        record(state, -1, "Health check exceeded timeout (" + timeout_text_ + ")");
    } else {
        record(state, code, output_);
    }
    *changed = true;
    return true;
}

void Health::record(json& state, int exit_code, const std::string& output) {
    long long now = mono_ms();
    json& h = state["Health"];
    if (!h.is_object()) h = {{"Status", "starting"}, {"FailingStreak", 0}, {"Log", json::array()}};
    json& log = h["Log"];
    if (!log.is_array()) log = json::array();
    log.push_back({{"Start", probe_start_}, {"End", rfc3339_now()}, {"ExitCode", exit_code},
                   {"Output", valid_utf8(output)}});
    while (log.size() > kMaxLog) log.erase(log.begin());
    if (exit_code == 0) {
        h["FailingStreak"] = 0;
        h["Status"] = "healthy";
    } else {
        // moby's handleProbeResult: a failure while still "starting" within the start period
        // does not count; otherwise the streak grows and reaching `retries` is unhealthy.
        bool counts = !(h.value("Status", "") == "starting" &&
                        probe_start_ms_ - started_ms_ < start_period_ms_);
        if (counts) {
            int streak = h.value("FailingStreak", 0) + 1;
            h["FailingStreak"] = streak;
            if (streak >= retries_) h["Status"] = "unhealthy";
        }
    }
    // The next probe one interval after this one ended (docker's loop).
    due_ms_ = now + interval_ms_;
}

}  // namespace lb::shim
