// The per-container monitor: parent and subreaper of the container's init, keeper of its log
// and its state file, and the one that cleans up when it ends. One per running container; no
// daemon, no interpreter.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/cgroup.hpp"
#include "core/fd.hpp"
#include "core/logfile.hpp"
#include "core/plan.hpp"
#include "core/events.hpp"
#include "shim/health.hpp"
#include "shim/net.hpp"

namespace lb::shim {

struct MonitorConfig {
    std::string dir;          // the container's directory (state, log and socket live here)
    std::string state_file = "state.json";
    std::string socket = "monitor.sock";
    std::string log;          // log path, "" for none
    LogOptions log_options;   // its format and rotation (core/logfile.hpp)
    nlohmann::json state;     // the state document to keep up to date (fields we do not own kept)
    bool attach_stdin = false, attach_stdout = false, attach_stderr = false;
    bool open_stdin = false;  // -i: the container's stdin stays open (a pipe or the client's)
    std::string restart = "no";
    int restart_max = 0;
    bool autoremove = false;
    std::vector<std::string> remove_paths;  // removed, in order, when autoremove
    // The store's names/: with autoremove, the container's name link there goes too, found at
    // its exit (a `rename` meanwhile moved it) and only while it still names this container
    std::string names_dir;
    // The store's tmp/: with autoremove, the paths are moved into a staging dir of ours there
    // before the exit is reported and removed after it ("" removes them before, in place)
    std::string remove_staging;
    nlohmann::json network;                 // the container's bridge network (net.hpp), or null
    nlohmann::json health;                  // the healthcheck (health.hpp), or null
    EventLog events;                        // where die and destroy are recorded (events.hpp)
};

MonitorConfig config_from_json(const nlohmann::json& j);

class Monitor {
public:
    Monitor(LaunchPlan plan, MonitorConfig cfg, int report_fd);
    int run();

private:
    struct Conn {
        UniqueFd fd;
        bool waiting = true;
    };
    struct Stream {
        UniqueFd fd;
        const char* name;
        int relay = -1;  // attached client fd to copy to
    };

    bool launch(bool first);
    void loop();
    void on_readable(Stream& s);
    void on_control(size_t i);
    void update_etc_files(const nlohmann::json& files);
    void on_signals();
    void on_exit(int status);
    void finish(int exit_code, bool oom);
    std::vector<std::string> paths_to_remove() const;
    std::string stage_removal(const std::vector<std::string>& paths);
    void record_exit(int exit_code, bool oom);
    void notify(const nlohmann::json& msg, bool close_after);
    void write_state();
    void fail_start(const std::exception& e, int err, const std::string& syscall,
                    const std::string& path, int exit_code);
    void drain_streams(int timeout_ms);
    bool should_restart(int exit_code) const;
    nlohmann::json on_update(const std::string& text);
    void health_tick();

    LaunchPlan plan_;
    MonitorConfig cfg_;
    Cgroup cg_;
    LogWriter log_;
    std::vector<Conn> conns_;
    UniqueFd listener_, sigfd_;
    UniqueFd stdin_keep_;  // write end holding a detached -i container's stdin open
    Stream out_{UniqueFd(), "stdout"}, err_{UniqueFd(), "stderr"};
    UniqueFd pty_;
    int attach_in_ = -1;
    pid_t init_ = -1;
    UniqueFd init_pidfd_;
    Health health_;
    std::unique_ptr<NetHook> net_;  // set up before each start, torn down at each exit
    UniqueFd mount_ns_;  // keeps the container's mounts until after the exit is reported
    bool manual_stop_ = false;
    bool done_ = false;
    int restart_count_ = 0;
    long long last_start_ms_ = 0;
    long long restart_delay_ms_ = 100;
};

}  // namespace lb::shim
