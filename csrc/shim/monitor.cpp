#include "shim/monitor.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "core/error.hpp"
#include "core/etcfile.hpp"
#include "core/fd.hpp"
#include "core/fsutil.hpp"
#include "core/proc.hpp"
#include "core/spawn.hpp"
#include "core/syscalls.hpp"
#include "core/unix.hpp"

namespace lb::shim {

using nlohmann::json;

namespace {

long long now_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

void set_nonblock(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Writes everything or gives up on the first error (a client that went away).
bool relay_write(int fd, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                struct pollfd pfd {
                    fd, POLLOUT, 0
                };
                ::poll(&pfd, 1, 1000);
                continue;
            }
            return false;
        }
        p += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

}  // namespace

MonitorConfig config_from_json(const json& j) {
    MonitorConfig c;
    c.dir = j.at("dir").get<std::string>();
    c.state_file = j.value("state_file", c.state_file);
    c.socket = j.value("socket", c.socket);
    c.log = j.value("log", "");
    c.log_options.format = j.value("log_format", "cri");
    c.log_options.max_size = j.value("log_max_size", 0LL);
    c.log_options.max_file = j.value("log_max_file", 1);
    c.state = j.value("state", json::object());
    c.attach_stdin = j.value("attach_stdin", false);
    c.attach_stdout = j.value("attach_stdout", false);
    c.attach_stderr = j.value("attach_stderr", false);
    c.open_stdin = j.value("open_stdin", false);
    c.restart = j.value("restart", "no");
    c.restart_max = j.value("restart_max", 0);
    c.autoremove = j.value("autoremove", false);
    c.remove_paths = j.value("remove_paths", std::vector<std::string>{});
    c.remove_staging = j.value("remove_staging", "");
    c.names_dir = j.value("names_dir", "");
    c.network = j.value("network", json());
    c.health = j.value("health", json());
    c.events = event_log_from_json(j.value("events", json()));
    return c;
}

Monitor::Monitor(LaunchPlan plan, MonitorConfig cfg, int report_fd)
    : plan_(std::move(plan)), cfg_(std::move(cfg)), cg_(plan_.cgroup) {
    conns_.push_back(Conn{UniqueFd(report_fd), true});
    if (!cfg_.log.empty()) log_ = LogWriter(cfg_.log, cfg_.log_options);
    restart_count_ = cfg_.state.value("RestartCount", 0);
}

// state.json's fields are listed once, in python/layerbox/container/engine.py STATE_SCHEMA:
// the monitor starts from the state the plan carries and only changes those fields' values.
// 0600: a container's state names its processes and is nobody else's business (as docker's).
void Monitor::write_state() { write_file_atomic(cfg_.dir + "/" + cfg_.state_file, cfg_.state.dump(), 0600); }

void Monitor::notify(const json& msg, bool close_after) {
    std::string s = msg.dump();
    for (auto& c : conns_) {
        if (!c.fd || !c.waiting) continue;
        // A client may have gone (the API's start drops its connection at once; a container
        // that exits before we poll it still has it here): EPIPE, not an exception.
        if (!try_send_fds(c.fd.get(), s, {})) c.fd.reset();
        if (close_after) c.fd.reset();
    }
    conns_.erase(std::remove_if(conns_.begin(), conns_.end(), [](const Conn& c) { return !c.fd; }),
                 conns_.end());
}

void Monitor::fail_start(const std::exception& e, int err, const std::string& syscall,
                         const std::string& path, int exit_code) {
    // As docker: a container whose process could not start stays "created", with the exit
    // code and the error recorded.
    if (net_) {
        net_->down();
        net_->free_ports();
        net_->remove_links();
        net_->end();
    }
    cfg_.state["Status"] = "created";
    cfg_.state["Running"] = false;
    cfg_.state["Pid"] = 0;
    cfg_.state["ExitCode"] = exit_code;
    cfg_.state["Error"] = e.what();
    cfg_.state["MonitorPid"] = 0;
    try {
        cg_.destroy();
    } catch (const SysError&) {
    }
    try {
        write_state();
    } catch (const SysError&) {
    }
    json msg = {{"ok", false},     {"errno", err},          {"syscall", syscall},
                {"path", path},    {"message", e.what()},   {"exit_code", exit_code}};
    listener_.reset();
    ::unlink((cfg_.dir + "/" + cfg_.socket).c_str());
    if (cfg_.autoremove) {
        for (auto& p : paths_to_remove()) {
            try {
                remove_tree(p);
            } catch (const SysError&) {
            }
        }
    }
    notify(msg, true);
}

bool Monitor::launch(bool first) {
    StdioFds io;
    UniqueFd out_w, err_w, in_r, devnull;
    try {
        devnull = open_path("/dev/null", O_RDWR);
        if (!plan_.process.tty) {
            auto [or_, ow] = make_pipe();
            auto [er, ew] = make_pipe();
            out_.fd = std::move(or_);
            err_.fd = std::move(er);
            out_w = std::move(ow);
            err_w = std::move(ew);
            set_nonblock(out_.fd.get());
            set_nonblock(err_.fd.get());
            io.out = out_w.get();
            io.err = err_w.get();
            if (cfg_.open_stdin && cfg_.attach_stdin && first) {
                io.in = 0;  // the client's own stdin, read by the container directly
            } else if (cfg_.open_stdin) {
                auto [r, w] = make_pipe();
                in_r = std::move(r);
                stdin_keep_ = std::move(w);
                io.in = in_r.get();
            } else {
                io.in = devnull.get();
            }
        }
        std::function<void(pid_t)> net_up;
        if (net_) net_up = [this](pid_t pid) { net_->up(pid); };
        Launched l = launch_container(plan_, cg_, io, net_up);
        init_ = l.pid;
        init_pidfd_ = std::move(l.pidfd);
        mount_ns_ = std::move(l.mount_ns);
        pty_ = std::move(l.pty_master);
        if (pty_) set_nonblock(pty_.get());
    } catch (const StartError& e) {
        if (!first) return false;
        fail_start(e, e.err, e.syscall, e.path, e.exit_code);
        return false;
    } catch (const SysError& e) {
        if (!first) return false;
        fail_start(e, e.err, e.syscall, e.path, 125);
        return false;
    }
    last_start_ms_ = now_ms();
    cfg_.state["Status"] = "running";
    cfg_.state["Running"] = true;
    cfg_.state["Restarting"] = false;
    cfg_.state["Paused"] = false;
    cfg_.state["OOMKilled"] = false;
    cfg_.state["Dead"] = false;
    cfg_.state["Pid"] = init_;
    cfg_.state["PidStartTime"] = process_start_time(init_);
    cfg_.state["ExitCode"] = 0;
    cfg_.state["Error"] = "";
    cfg_.state["StartedAt"] = rfc3339_now();
    cfg_.state["FinishedAt"] = "0001-01-01T00:00:00Z";
    cfg_.state["MonitorPid"] = ::getpid();
    cfg_.state["MonitorStartTime"] = process_start_time(::getpid());
    cfg_.state["BootId"] = boot_id();
    cfg_.state["RestartCount"] = restart_count_;
    health_.on_start(cfg_.state);
    write_state();
    // Recorded here, not by whoever asked for the start: before the process can end (so a
    // container that exits at once still reads create, start, die), and for every restart.
    record_event(cfg_.events, "start", json::object());
    if (first) {
        json msg = {{"ok", true}, {"pid", init_}, {"monitor_pid", ::getpid()}};
        std::vector<int> fds{init_pidfd_.get()};
        if (pty_) fds.push_back(pty_.get());
        if (!conns_.empty() && !try_send_fds(conns_.front().fd.get(), msg.dump(), fds))
            conns_.front().fd.reset();  // the client went away; carry on without it
    }
    return true;
}

void Monitor::on_readable(Stream& s) {
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(s.fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return;
            n = 0;  // EIO from a pty whose last slave closed: end of output
        }
        if (n == 0) {
            s.fd.reset();
            return;
        }
        log_.write(s.name, std::string_view(buf, static_cast<size_t>(n)));
        if (s.relay >= 0 && !relay_write(s.relay, buf, static_cast<size_t>(n))) s.relay = -1;
    }
}

void Monitor::on_control(size_t i) {
    std::string msg;
    try {
        recv_fds(conns_[i].fd.get(), 0, &msg);
    } catch (const SysError&) {
        msg.clear();
    }
    if (msg.empty()) {
        conns_[i].fd.reset();
        return;
    }
    if (msg == "stop") {
        // A user stopped or killed the container: no restart policy applies to this exit.
        manual_stop_ = true;
        try {
            send_fds(conns_[i].fd.get(), "ok", {});
        } catch (const SysError&) {
        }
    } else if (msg == "wait") {
        conns_[i].waiting = true;
    } else if (msg.rfind("net ", 0) == 0) {
        // network connect/disconnect of the running container (see net.hpp)
        json reply = {{"ok", false}, {"errno", EINVAL}, {"message", "the container has no network of its own"}};
        json req = json::parse(msg.substr(4), nullptr, false);
        if (net_ && req.is_object()) reply = net_->control(req, init_, cfg_.state);
        if (reply.value("ok", false) && !reply.value("unchanged", false)) {
            update_etc_files(req.value("files", json::object()));
            try {
                write_state();
            } catch (const SysError&) {
            }
        }
        try {
            send_fds(conns_[i].fd.get(), reply.dump(), {});
        } catch (const SysError&) {
        }
    } else if (msg == "stdin") {
        // An attach to the running container's stdin (-i): the client gets the write end of
        // its stdin pipe, or with a tty the terminal's master, and writes to it directly. When
        // the first client's own stdin is the container's, there is nothing to hand out.
        int fd = plan_.process.tty ? pty_.get() : stdin_keep_.get();
        json reply = {{"ok", fd >= 0}};
        if (fd < 0) reply["message"] = cfg_.open_stdin ? "its stdin is held by the client that started it"
                                                       : "it was not started with an open stdin (-i)";
        try {
            send_fds(conns_[i].fd.get(), reply.dump(), fd >= 0 ? std::vector<int>{fd} : std::vector<int>{});
        } catch (const SysError&) {
        }
    } else if (msg.rfind("stdin-close", 0) == 0) {
        // The end of an attached client's input with StdinOnce: the container's stdin pipe is
        // closed here too, so the container reads its end once the client's copy is closed.
        stdin_keep_.reset();
        try {
            send_fds(conns_[i].fd.get(), json{{"ok", true}}.dump(), {});
        } catch (const SysError&) {
        }
    } else if (msg.rfind("update ", 0) == 0) {
        json reply = on_update(msg.substr(7));
        try {
            send_fds(conns_[i].fd.get(), reply.dump(), {});
        } catch (const SysError&) {
        }
    } else if (msg == "ping") {
        try {
            send_fds(conns_[i].fd.get(), "pong", {});
        } catch (const SysError&) {
        }
    }
}

void Monitor::update_etc_files(const json& files) {
    // As docker after a connect or disconnect: /etc/hosts loses the lines of the addresses
    // the container gave up and gains one per new address; /etc/resolv.conf changes with the
    // set of resolvers of its user networks, unless the container changed the file (it is
    // then no longer what the plan wrote there). The plan's copies change too, so a restart
    // policy's next run writes the same.
    if (!files.is_object() || files.empty()) return;
    for (MountOp& op : plan_.mounts) {
        if (op.kind != MountOp::Kind::File) continue;
        std::function<std::optional<std::string>(const std::string&)> edit;
        if (op.target == "/etc/hosts" && (files.contains("hosts_add") || files.contains("hosts_drop"))) {
            auto drop = files.value("hosts_drop", std::vector<std::string>{});
            auto add = files.value("hosts_add", std::string());
            edit = [drop, add](const std::string& text) -> std::optional<std::string> {
                return edit_hosts(text, drop, add);
            };
        } else if (op.target == "/etc/resolv.conf" && files.contains("resolv_conf")) {
            auto was = op.source;
            auto now = files.at("resolv_conf").get<std::string>();
            edit = [was, now](const std::string& text) -> std::optional<std::string> {
                if (text != was) return std::nullopt;
                return now;
            };
        } else {
            continue;
        }
        if (init_ > 0) {
            try {
                rewrite_generated_file(init_, op.target, edit);
            } catch (const SysError&) {
                // The endpoint is made or gone either way: the file stays as it was, as a
                // file the container replaced does.
            }
        }
        if (auto next = edit(op.source)) op.source = *next;
    }
}

// `docker update` of the live container ("update {json}", from container/update.py): the
// cgroup's limits (Cgroup::update), and the restart policy, which is this monitor's to apply.
// The stored HostConfig is the client's to write, after this succeeded.
json Monitor::on_update(const std::string& text) {
    json req = json::parse(text, nullptr, false);
    if (!req.is_object()) return {{"ok", false}, {"errno", EINVAL}, {"message", "bad update request"}};
    try {
        if (req.contains("cgroup")) cg_.update(cgroup_plan_from_json(req["cgroup"]));
        if (req.contains("restart")) {
            cfg_.restart = req["restart"].get<std::string>();
            cfg_.restart_max = req.value("restart_max", 0);
        }
    } catch (const SysError& e) {
        return {{"ok", false}, {"errno", e.err}, {"path", e.path}, {"message", e.what()}};
    } catch (const json::exception& e) {
        return {{"ok", false}, {"errno", EINVAL}, {"message", std::string("bad update request: ") + e.what()}};
    }
    return {{"ok", true}};
}

bool Monitor::should_restart(int exit_code) const {
    if (manual_stop_) return false;
    if (cfg_.restart == "always" || cfg_.restart == "unless-stopped") return true;
    if (cfg_.restart == "on-failure")
        return exit_code != 0 && (cfg_.restart_max <= 0 || restart_count_ < cfg_.restart_max);
    return false;
}

void Monitor::drain_streams(int timeout_ms) {
    // Every process of the container is gone (the PID namespace dies with its init), so the
    // pipes hold their last bytes and then report end of file.
    long long deadline = now_ms() + timeout_ms;
    while ((out_.fd || err_.fd || pty_) && now_ms() < deadline) {
        std::vector<struct pollfd> p;
        if (out_.fd) p.push_back({out_.fd.get(), POLLIN, 0});
        if (err_.fd) p.push_back({err_.fd.get(), POLLIN, 0});
        if (pty_) p.push_back({pty_.get(), POLLIN, 0});
        int r = ::poll(p.data(), p.size(), static_cast<int>(std::max(1LL, deadline - now_ms())));
        if (r <= 0) break;
        if (out_.fd) on_readable(out_);
        if (err_.fd) on_readable(err_);
        if (pty_) {
            Stream s{std::move(pty_), "stdout", out_.relay};
            on_readable(s);
            pty_ = std::move(s.fd);
        }
    }
    out_.fd.reset();
    err_.fd.reset();
    pty_.reset();
}

void Monitor::on_exit(int status) {
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    init_ = -1;
    init_pidfd_.reset();
    // Without a PID namespace of its own (--pid host, --pid container:), the init's end does
    // not end the rest of the container: as runc does, whatever is left in its cgroup goes too.
    if (!(namespace_flags(plan_.namespaces) & CLONE_NEWPID)) {
        try {
            cg_.signal_all(SIGKILL);
        } catch (const SysError&) {
        }
    }
    health_.on_stop(cfg_.state);
    drain_streams(2000);
    if (net_) net_->down();  // before the exit is reported: its ports and names are free by then
    if (should_restart(code)) {
        mount_ns_.reset();  // a restart makes a new one
        if (net_) net_->remove_links();  // and new links of the same names
    }
    bool oom = cg_.oom_killed();
    if (should_restart(code)) {
        ++restart_count_;
        cfg_.state["Status"] = "restarting";
        cfg_.state["Running"] = false;
        cfg_.state["Restarting"] = true;
        cfg_.state["Pid"] = 0;
        cfg_.state["ExitCode"] = code;
        cfg_.state["OOMKilled"] = oom;
        cfg_.state["FinishedAt"] = rfc3339_now();
        cfg_.state["RestartCount"] = restart_count_;
        write_state();
        record_exit(code, oom);
        notify({{"exit", true}, {"exit_code", code}, {"oom_killed", oom}, {"restarting", true}}, false);
        // docker's back-off: 100 ms doubling per quick failure, reset after 10 s of running.
        if (now_ms() - last_start_ms_ > 10000) restart_delay_ms_ = 100;
        long long until = now_ms() + restart_delay_ms_;
        restart_delay_ms_ = std::min(restart_delay_ms_ * 2, 60000LL);
        while (now_ms() < until && !manual_stop_) {
            std::vector<struct pollfd> p;
            if (listener_) p.push_back({listener_.get(), POLLIN, 0});
            for (auto& c : conns_) p.push_back({c.fd.get(), POLLIN, 0});
            int r = ::poll(p.data(), p.size(), static_cast<int>(until - now_ms()));
            if (r > 0) {
                size_t k = 0;
                if (listener_ && (p[k++].revents & POLLIN)) {
                    int c = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
                    if (c >= 0) conns_.push_back(Conn{UniqueFd(c), false});
                }
                for (size_t i = 0; i + k < p.size() && i < conns_.size(); ++i)
                    if (p[i + k].revents) on_control(i);
            }
        }
        if (!manual_stop_ && launch(false)) return;
    }
    finish(code, oom);
}

// --rm: the container's directory becomes a staging dir of ours in the store's tmp/
// (rm-<pid>-<start time>-<id>, as `rm` names its own: see store/heal.py), and every other path
// to remove (its name, its running marker, its anonymous volumes) is moved into it. Renames
// only: the container is gone for everyone and its name free once this returns, while the
// removal itself waits until after the exit is reported. Returns the staging dir, or "" when
// there is none to use (then everything is removed in place, as before).
// remove_paths, and the container's name link when it still names this container: its name
// as config.json has it now (`rename` rewrites both under the container's lock, which our
// caller holds), names/<name> pointing at its id. A name given up by a rename and taken by
// another container since is that one's.
std::vector<std::string> Monitor::paths_to_remove() const {
    std::vector<std::string> paths = cfg_.remove_paths;
    if (cfg_.names_dir.empty()) return paths;
    std::string id = cfg_.dir.substr(cfg_.dir.rfind('/') + 1);
    std::string name;
    try {
        json config = json::parse(read_file(cfg_.dir + "/config.json"), nullptr, false);
        if (config.is_object()) name = config.value("Name", "");
    } catch (const std::exception&) {
        return paths;
    }
    while (!name.empty() && name[0] == '/') name.erase(0, 1);
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") return paths;
    std::string link = cfg_.names_dir + "/" + name;
    char target[128];
    ssize_t n = ::readlink(link.c_str(), target, sizeof target);
    if (n > 0 && std::string(target, size_t(n)) == id) paths.insert(paths.begin() + 1, link);
    return paths;
}

std::string Monitor::stage_removal(const std::vector<std::string>& paths) {
    if (cfg_.remove_staging.empty()) return {};
    size_t slash = cfg_.dir.find_last_not_of('/');
    slash = slash == std::string::npos ? std::string::npos : cfg_.dir.rfind('/', slash);
    std::string id = cfg_.dir.substr(slash == std::string::npos ? 0 : slash + 1);
    pid_t me = ::getpid();
    std::string staged = cfg_.remove_staging + "/rm-" + std::to_string(me) + "-" +
                         std::to_string(process_start_time(me)) + "-" + id;
    if (::rename(cfg_.dir.c_str(), staged.c_str()) != 0) return {};
    int n = 0;
    for (auto& p : paths) {
        if (p == cfg_.dir) continue;
        std::string into = staged + "/.removed-" + std::to_string(++n);
        if (::rename(p.c_str(), into.c_str()) == 0 || errno == ENOENT) continue;
        try {
            remove_tree(p);  // elsewhere (another file system, a mount point): in place
        } catch (const SysError&) {
        }
    }
    return staged;
}

// An exit in the store's event log, once the state says so (a client that reacts to the event
// and inspects the container sees it stopped): recorded by the only one who sees every exit,
// whoever started the container, restarts included.
void Monitor::record_exit(int exit_code, bool oom) {
    if (oom) record_event(cfg_.events, "oom", json::object());
    record_event(cfg_.events, "die", {{"exitCode", std::to_string(exit_code)}});
}

void Monitor::finish(int exit_code, bool oom) {
    done_ = true;
    try {
        cg_.destroy();
    } catch (const SysError& e) {
        cfg_.state["Error"] = e.what();
    }
    cfg_.state["Status"] = "exited";
    cfg_.state["Running"] = false;
    cfg_.state["Restarting"] = false;
    cfg_.state["Paused"] = false;
    cfg_.state["Pid"] = 0;
    cfg_.state["ExitCode"] = exit_code;
    cfg_.state["OOMKilled"] = oom;
    cfg_.state["FinishedAt"] = rfc3339_now();
    cfg_.state["MonitorPid"] = 0;
    // The final state goes first: a client that can no longer connect reads it instead. The
    // state it replaces stays open until after the report: on this ext4 (online discard, no
    // journal) freeing the old file's block waits for the device, and it is freed at its last
    // close instead of in the rename.
    UniqueFd replaced(::open((cfg_.dir + "/" + cfg_.state_file).c_str(), O_RDONLY | O_CLOEXEC));
    try {
        write_state();
    } catch (const SysError&) {
    }
    record_exit(exit_code, oom);
    // Whoever connected and was not accepted yet came to wait for this exit too.
    if (listener_) {
        set_nonblock(listener_.get());
        for (;;) {
            int c = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) break;
            conns_.push_back(Conn{UniqueFd(c), true});
        }
    }
    for (auto& c : conns_) c.waiting = true;
    // Until now the run's host ports were held by their reserving sockets; closed only at the
    // monitor's exit (after the teardown below), a `run -p` of the same port right after the
    // report found it taken ("port is already allocated": seen in a loop of run --rm -p).
    if (net_) net_->free_ports();
    listener_.reset();
    ::unlink((cfg_.dir + "/" + cfg_.socket).c_str());
    std::string staged;
    if (cfg_.autoremove) {
        // Under the container's lock, so a concurrent `rm` or `inspect` sees all or nothing.
        int lock = ::open(cfg_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lock >= 0) ::flock(lock, LOCK_EX);
        std::vector<std::string> paths = paths_to_remove();
        staged = stage_removal(paths);
        if (staged.empty()) {
            for (auto& p : paths) {
                try {
                    remove_tree(p);
                } catch (const SysError&) {
                }
            }
        }
        if (lock >= 0) ::close(lock);
        record_event(cfg_.events, "destroy", json::object());
    }
    // The caller's stdio (our 0, 1 and 2: its terminal, or the pipes of `out=$(layerbox run
    // --rm ...)` and of subprocess.run) is let go before the report: the output was drained
    // above, and a caller reading to EOF waited for the teardown below too (~35 ms here).
    if (int null = ::open("/dev/null", O_RDWR | O_CLOEXEC); null >= 0) {
        for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);
        ::close(null);
    }
    notify({{"exit", true}, {"exit_code", exit_code}, {"oom_killed", oom}, {"restarting", false}}, true);
    // Tearing down a mount namespace waits for an RCU grace period. Holding it until now
    // moves that wait from between the container's exit and our report (where every waiter
    // would pay it) to after the report.
    mount_ns_.reset();
    replaced.reset();
    if (!staged.empty()) {
        // Out of sight since before the report; its files (~10 unlinks and rmdirs, each
        // waiting for the disk's discard on this ext4) go now, the overlay unmounted first.
        try {
            remove_tree(staged);
        } catch (const SysError&) {
            // staging of ours: garbage once we are gone, which the next command reclaims
        }
    }
    // The veths go with the network namespace (the mount namespace held its sysfs, so it goes
    // now), or are deleted where it outlives us; an address claim of a container that no
    // longer runs is free to take anyway (see network/__init__.py): removing it need not
    // delay the report.
    if (net_) net_->end();
}

void Monitor::on_signals() {
    struct signalfd_siginfo si;
    while (::read(sigfd_.get(), &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            // Someone asked the monitor itself to go: take the container with it.
            manual_stop_ = true;
            if (init_pidfd_) sys::pidfd_send_signal(init_pidfd_.get(), SIGKILL);
        }
    }
    int status;
    pid_t w;
    while (!done_ && (w = ::waitpid(-1, &status, WNOHANG)) > 0) {
        bool changed = false;
        if (w == init_) {
            on_exit(status);
        } else if (health_.on_reaped(w, status, cfg_.state, &changed) && changed) {
            write_state();
        }
    }
}

void Monitor::loop() {
    while (!done_) {
        // A probe due (or past its timeout) is started (or killed) whatever else is busy.
        health_tick();
        std::vector<struct pollfd> p;
        enum Kind { SIG, LISTEN, OUT, ERR, PTY, IN, HEALTH, CONN };
        std::vector<std::pair<Kind, size_t>> who;
        auto add = [&](int fd, Kind k, size_t i = 0) {
            p.push_back({fd, POLLIN, 0});
            who.emplace_back(k, i);
        };
        add(sigfd_.get(), SIG);
        if (listener_) add(listener_.get(), LISTEN);
        if (out_.fd) add(out_.fd.get(), OUT);
        if (err_.fd) add(err_.fd.get(), ERR);
        if (pty_) add(pty_.get(), PTY);
        if (pty_ && attach_in_ >= 0) add(attach_in_, IN);
        if (health_.output_fd() >= 0) add(health_.output_fd(), HEALTH);
        for (size_t i = 0; i < conns_.size(); ++i) add(conns_[i].fd.get(), CONN, i);
        int r = ::poll(p.data(), p.size(), health_.next_timeout_ms());
        if (r < 0) {
            if (errno == EINTR) continue;
            throw_errno("poll", "monitor");
        }
        // A child's exit can restart the container or end the monitor, and accepting adds a
        // connection: either invalidates the indexes gathered for this poll, so each is handled
        // on its own and the loop polls again (poll is level-triggered; nothing is lost).
        if (p[0].revents) {
            on_signals();
            continue;
        }

        bool accepted = false;
        for (size_t k = 1; k < p.size() && !done_; ++k) {
            if (!p[k].revents) continue;
            switch (who[k].first) {
                case SIG:
                    break;
                case LISTEN: {
                    int c = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
                    if (c >= 0) {
                        conns_.push_back(Conn{UniqueFd(c), false});
                        accepted = true;
                    }
                    break;
                }
                case OUT: on_readable(out_); break;
                case ERR: on_readable(err_); break;
                case PTY: {
                    Stream s{std::move(pty_), "stdout", out_.relay};
                    on_readable(s);
                    pty_ = std::move(s.fd);
                    break;
                }
                case IN: {
                    char buf[4096];
                    ssize_t n = ::read(attach_in_, buf, sizeof buf);
                    if (n <= 0) {
                        attach_in_ = -1;
                    } else if (pty_) {
                        relay_write(pty_.get(), buf, static_cast<size_t>(n));
                    }
                    break;
                }
                case HEALTH: health_.on_output(); break;
                case CONN:
                    if (!accepted) on_control(who[k].second);
                    break;
            }
        }
        conns_.erase(std::remove_if(conns_.begin(), conns_.end(), [](const Conn& c) { return !c.fd; }),
                     conns_.end());
    }
}

void Monitor::health_tick() {
    if (init_ <= 0 || !health_.due()) return;
    bool frozen = false;
    try {
        frozen = cg_.frozen();
    } catch (const SysError&) {
    }
    if (health_.tick(cfg_.state, init_, cfg_.state.value("PidStartTime", uint64_t{0}), frozen)) {
        try {
            write_state();
        } catch (const SysError&) {
        }
    }
}

int Monitor::run() {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    ::sigprocmask(SIG_BLOCK, &mask, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    ::signal(SIGHUP, SIG_IGN);
    ::signal(SIGTTOU, SIG_IGN);
    ::signal(SIGTTIN, SIG_IGN);
    sigfd_ = UniqueFd(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!sigfd_) throw_errno("signalfd", "monitor");
    // Orphans of the container's init land on us, not on the host's init.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);

    if (cfg_.attach_stdout) out_.relay = 1;
    if (cfg_.attach_stderr) err_.relay = 2;
    if (plan_.process.tty && cfg_.attach_stdin && cfg_.open_stdin) {
        attach_in_ = 0;
        set_nonblock(0);
    }
    try {
        listener_ = listen_unix(cfg_.dir, cfg_.socket);
        // --pid container:NAME: a PID namespace applies to children, so the monitor enters it
        // before it clones the init (join_namespace_paths does the others in the child).
        for (auto& [type, path] : plan_.join_namespaces) {
            if (type != "pid") continue;
            UniqueFd ns = open_path(path, O_RDONLY);
            if (::setns(ns.get(), CLONE_NEWPID) != 0) throw_errno("setns pid", path);
        }
        cg_.create();
        net_ = make_net_hook(cfg_.network);
        health_ = Health(cfg_.health);
    } catch (const SysError& e) {
        fail_start(e, e.err, e.syscall, e.path, 125);
        return 1;
    } catch (const nlohmann::json::exception& e) {
        fail_start(e, EINVAL, "", "network", 125);
        return 1;
    }
    if (!launch(true)) return 1;
    loop();
    return 0;
}

}  // namespace lb::shim
