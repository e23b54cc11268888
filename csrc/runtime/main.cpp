// layerbox-runtime: an OCI runtime with runc's command line, over the same launch core as
// `layerbox run` (csrc/core). config.json becomes a LaunchPlan (runtime/config.cpp); the
// container's init stops after its set-up and waits on exec.fifo until `start` (as runc's
// init does), so create and start are separate commands that each exit at once.
//
// Errors: one line on stderr, and with --log a line in the log file (JSON with --log-format
// json, as containerd reads it); exit status 1, as runc.
#include <string_view>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/cgroup.hpp"
#include "core/error.hpp"
#include "core/exec.hpp"
#include "core/fd.hpp"
#include "core/proc.hpp"
#include "core/sealed.hpp"
#include "core/seccomp.hpp"
#include "core/spawn.hpp"
#include "core/syscalls.hpp"
#include "core/unix.hpp"
#include "runtime/config.hpp"
#include "runtime/events.hpp"
#include "runtime/hooks.hpp"
#include "runtime/state.hpp"

#ifndef LAYERBOX_VERSION
#define LAYERBOX_VERSION "0.0.0"
#endif

extern char** environ;

using nlohmann::json;
using namespace lb;
using namespace lb::oci;

namespace {

// -- global options and logging -------------------------------------------------------------

struct Globals {
    std::string root = "/run/layerbox-runtime";
    std::string log;
    std::string log_format = "text";
    bool debug = false;
};
Globals g;

// A failure that is the user's: printed as is, exit 1.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void log_line(const char* level, const std::string& msg) {
    if (g.log.empty()) return;
    int fd = ::open(g.log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    std::string line;
    if (g.log_format == "json") {
        nlohmann::ordered_json j = {{"level", level}, {"msg", msg}, {"time", now_rfc3339(false)}};
        line = j.dump() + "\n";
    } else {
        line = "time=\"" + now_rfc3339(false) + "\" level=" + level + " msg=" + json(msg).dump() + "\n";
    }
    ssize_t n = ::write(fd, line.data(), line.size());
    (void)n;
    ::close(fd);
}

// As runc's fatal(): the error goes to the log; without --log the log is stderr (logrus's text
// line), with one the plain message goes to stderr as well.
void report_error(const std::string& msg) {
    if (!g.log.empty()) {
        log_line("error", msg);
        std::fprintf(stderr, "%s\n", msg.c_str());
        return;
    }
    // logrus quotes a value only when it has a character outside [A-Za-z0-9-._/@^+].
    bool quote = msg.empty() || std::any_of(msg.begin(), msg.end(), [](char c) {
                     return !(std::isalnum(static_cast<unsigned char>(c)) || std::strchr("-._/@^+", c));
                 });
    std::string text = quote ? json(msg).dump() : msg;
    std::fprintf(stderr, "time=\"%s\" level=error msg=%s\n", now_rfc3339(false).c_str(), text.c_str());
}

void debug(const std::string& msg) {
    if (g.debug) log_line("debug", msg);
}

void warn(const std::string& msg) {
    log_line("warning", msg);
    std::fprintf(stderr, "%s\n", msg.c_str());
}

// -- argument parsing -------------------------------------------------------------------------

// A command's flags, runc style: "--name value", "--name=value", "-n value"; booleans bare.
struct Args {
    std::map<std::string, std::string> opts;
    std::vector<std::string> pos;
    bool has(const std::string& k) const { return opts.count(k) != 0; }
    std::string get(const std::string& k, const std::string& def = "") const {
        auto it = opts.find(k);
        return it == opts.end() ? def : it->second;
    }
};

// `valued`: flag names that take a value; `booleans`: those that do not; aliases map short
// names to long. Parsing stops at the first positional argument (runc's `exec ID CMD -x`).
Args parse(const std::vector<std::string>& argv, size_t from, const std::vector<std::string>& valued,
           const std::vector<std::string>& booleans, const std::map<std::string, std::string>& aliases,
           bool stop_at_positional) {
    Args a;
    size_t i = from;
    for (; i < argv.size(); ++i) {
        const std::string& s = argv[i];
        if (s == "--") {
            ++i;
            break;
        }
        if (s.size() < 2 || s[0] != '-') {
            a.pos.push_back(s);
            if (stop_at_positional) {
                ++i;
                break;
            }
            continue;
        }
        std::string name = s.substr(s[1] == '-' ? 2 : 1), value;
        bool inline_value = false;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            inline_value = true;
        }
        if (auto al = aliases.find(name); al != aliases.end()) name = al->second;
        if (std::find(valued.begin(), valued.end(), name) != valued.end()) {
            if (!inline_value) {
                if (i + 1 >= argv.size()) throw UsageError("flag needs an argument: -" + name);
                value = argv[++i];
            }
            if (name == "env" || name == "e") a.opts[name] += (a.opts.count(name) ? "\n" : "") + value;
            else a.opts[name] = value;
        } else if (std::find(booleans.begin(), booleans.end(), name) != booleans.end()) {
            a.opts[name] = inline_value ? value : "true";
        } else {
            throw UsageError("flag provided but not defined: -" + name);
        }
    }
    for (; i < argv.size(); ++i) a.pos.push_back(argv[i]);
    return a;
}

std::string one_id(const Args& a, const char* cmd) {
    if (a.pos.size() != 1)
        throw UsageError(std::string("\"") + cmd + "\" requires exactly 1 argument(s)");
    check_id(a.pos[0]);
    return a.pos[0];
}

// -- host facts -------------------------------------------------------------------------------

HostInfo host_info(const std::string& bundle, const std::string& id) {
    HostInfo h;
    h.bundle = bundle;
    h.id = id;
    h.cgroup_version = ::access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ? 2 : 1;
    if (h.cgroup_version == 1) {
        std::ifstream mi("/proc/self/mountinfo");
        std::string line;
        while (std::getline(mi, line)) {
            // "... /sys/fs/cgroup/memory rw,... - cgroup cgroup rw,memory"
            size_t dash = line.find(" - ");
            if (dash == std::string::npos) continue;
            if (line.compare(dash + 3, 7, "cgroup ") != 0) continue;
            size_t p = 0;
            for (int f = 0; f < 4 && p != std::string::npos; ++f) p = line.find(' ', p + 1);
            if (p == std::string::npos) continue;
            size_t e = line.find(' ', p + 1);
            std::string mp = line.substr(p + 1, e - p - 1);
            const std::string base = "/sys/fs/cgroup/";
            if (mp.compare(0, base.size(), base) != 0) continue;
            std::string name = mp.substr(base.size());
            if (name.find('/') == std::string::npos && !name.empty()) h.v1_controllers.push_back(name);
        }
    }
    return h;
}

std::string absolute(const std::string& p) {
    if (!p.empty() && p[0] == '/') return p;
    char buf[4096];
    if (!::getcwd(buf, sizeof buf)) throw_errno("getcwd");
    return p.empty() || p == "." ? std::string(buf) : std::string(buf) + "/" + p;
}

json read_json_file(const std::string& path) {
    std::string text;
    try {
        text = read_file(path);
    } catch (const SysError& e) {
        throw UsageError("open " + path + ": " + errno_text(e.err));
    }
    try {
        return json::parse(text);
    } catch (const json::exception& e) {
        throw UsageError("parse " + path + ": " + e.what());
    }
}

// -- the console socket -----------------------------------------------------------------------

void send_console(const std::string& path, int master) {
    UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s) throw_errno("socket", path);
    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) throw_err(ENAMETOOLONG, "connect", path);
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw_errno("connect to console socket", path);
    send_fds(s.get(), "/dev/ptmx", {master});
}

void write_pid_file(const std::string& path, pid_t pid) {
    if (path.empty()) return;
    write_file_atomic(absolute(path), std::to_string(pid), 0644);
}

// --preserve-fds N: the caller's fds 3 .. 3+N-1 go to the container's process as they are.
int preserve_fds(const Args& a) {
    if (!a.has("preserve-fds")) return 0;
    std::string v = a.get("preserve-fds");
    char* end = nullptr;
    long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end || n < 0 || n > 65536) throw UsageError("invalid value \"" + v + "\" for flag -preserve-fds");
    for (int fd = 3; fd < 3 + n; ++fd)
        if (::fcntl(fd, F_GETFD) < 0) throw UsageError("--preserve-fds " + v + ": fd " + std::to_string(fd) + " is not open");
    return static_cast<int>(n);
}

int wait_status(pid_t pid);

// -- create / start -----------------------------------------------------------------------------

struct Created {
    ContainerState state;
    Launched launched;
};

// Hooks that run inside the container (createContainer, startContainer), through the sealed
// exec helper.
void run_hooks_in_container(const ContainerState& s, const std::vector<Hook>& hooks, const char* what);

// The mount id of what is mounted on `path` now (0 when it cannot be read).
uint64_t mount_id(const std::string& path) {
    struct statx sx {};
    if (::statx(AT_FDCWD, path.c_str(), AT_STATX_SYNC_AS_STAT, STATX_MNT_ID, &sx) != 0 || !(sx.stx_mask & STATX_MNT_ID))
        return 0;
    return sx.stx_mnt_id;
}

// A container without a mount namespace of its own made its mounts in ours, stacked on its
// rootfs: each is removed (with what is under it) until the mount that was there before the
// container (containerd's overlay, or the bundle's own file system) is on top again.
void unmount_host_mounts(const ContainerState& s) {
    if (!s.rootfs_base_mount) return;
    for (int i = 0; i < 16; ++i) {
        uint64_t id = mount_id(s.rootfs);
        if (id == 0 || id == s.rootfs_base_mount) return;
        if (::umount2(s.rootfs.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0) throw_errno("umount", s.rootfs);
    }
}

void kill_and_forget(const StateDir& sd, const ContainerState& s, pid_t pid) {
    if (pid > 0) ::kill(pid, SIGKILL);
    Cgroup cg(s.cgroup);
    try {
        if (cg.enabled()) {
            cg.signal_all(SIGKILL);
            for (int i = 0; i < 500 && !cg.procs().empty(); ++i) ::usleep(2000);
            cg.destroy();
        }
    } catch (const std::exception&) {
    }
    try {
        unmount_host_mounts(s);
        sd.remove(s.id);
    } catch (const std::exception&) {
    }
}

Created create_container(const StateDir& sd, const std::string& id, const Args& a, bool keep_on_exit) {
    if (a.has("no-pivot")) throw UsageError("--no-pivot is not supported by layerbox-runtime (it always uses pivot_root)");
    if (a.has("no-new-keyring")) {
    }  // layerbox-runtime never creates a session keyring: the flag asks for what it does
    int preserve = preserve_fds(a);
    std::string bundle = absolute(a.get("bundle", "."));
    json config = read_json_file(bundle + "/config.json");
    Translated t;
    try {
        t = translate(config, host_info(bundle, id));
    } catch (const ConfigError& e) {
        throw UsageError(std::string("config.json: ") + e.what());
    }
    if (!t.seccomp_profile.empty()) {
        try {
            t.plan.process.seccomp = seccomp_compile(t.seccomp_profile);
        } catch (const SysError& e) {
            throw UsageError(std::string("config.json: linux.seccomp: ") + e.what());
        }
    }
    if (t.plan.process.tty && !a.has("console-socket"))
        throw UsageError("cannot allocate tty if runc will detach without setting console socket");
    if (!t.plan.process.tty && a.has("console-socket"))
        throw UsageError("cannot use console socket if runc will not detach or allocate tty");
    t.plan.keep_on_parent_exit = keep_on_exit;
    t.plan.process.preserve_fds = preserve;

    sd.claim(id);
    ContainerState st;
    st.id = id;
    st.bundle = bundle;
    st.rootfs = t.rootfs;
    st.created = now_rfc3339();
    st.cgroup = t.plan.cgroup;
    // Every namespace of the init that is not the runtime's, new or joined: `exec` and the
    // hooks that run inside join all of them.
    st.namespaces = t.plan.namespaces;
    for (auto& [type, path] : t.plan.join_namespaces) st.namespaces.push_back(type);
    if (!t.pid_ns_path.empty()) st.namespaces.push_back("pid");
    if (!has_mount_namespace(t.plan)) st.rootfs_base_mount = mount_id(t.rootfs);
    st.annotations = t.annotations;
    st.hooks = {{"startContainer", hooks_to_json(t.hooks.start_container)},
                {"poststart", hooks_to_json(t.hooks.poststart)}, {"poststop", hooks_to_json(t.hooks.poststop)}};
    st.seccomp = !t.plan.process.seccomp.empty();
    st.seccomp_flags = t.plan.process.seccomp_flags;
    st.personality = t.plan.personality;
    Created out;
    try {
        if (st.seccomp) write_file_atomic(sd.seccomp(id), t.plan.process.seccomp, 0600);
        std::string fifo = sd.fifo(id);
        if (::mkfifo(fifo.c_str(), 0622) != 0) throw_errno("mkfifo", fifo);
        // 0622 whatever our umask: the init opens it for writing as the root of its user
        // namespace, an id of the host's that is not root (runc's mode, umask 0).
        if (::chmod(fifo.c_str(), 0622) != 0) throw_errno("chmod", fifo);
        UniqueFd fifo_fd = open_path(fifo, O_PATH);
        t.plan.start_wait_fd = fifo_fd.get();
        // Saved before the cgroup exists, so a failure from here on is cleaned up by `delete`.
        sd.save(st);
        Cgroup cg(t.plan.cgroup);
        if (cg.enabled()) cg.create();
        if (!t.pid_ns_path.empty()) {
            UniqueFd ns = open_path(t.pid_ns_path, O_RDONLY);
            if (::setns(ns.get(), CLONE_NEWPID) != 0) throw_errno("setns pid", t.pid_ns_path);
        }
        debug("launching the container's init");
        auto create_container_hooks = [&](pid_t pid) {
            st.pid = pid;
            st.start_time = process_start_time(pid);
            sd.save(st);  // a failure from here on is cleaned up by `delete`, the init's pid known
            run_hooks_in_container(st, t.hooks.create_container, "createContainer");
        };
        out.launched = launch_container(t.plan, cg, StdioFds{0, 1, 2}, {}, create_container_hooks);
        st.pid = out.launched.pid;
        st.start_time = process_start_time(st.pid);
        sd.save(st);
        if (out.launched.pty_master) send_console(a.get("console-socket"), out.launched.pty_master.get());
        out.launched.pty_master.reset();
        run_hooks(t.hooks.create_runtime, "createRuntime", state_json(st, "created"));
        write_pid_file(a.get("pid-file"), st.pid);
    } catch (...) {
        kill_and_forget(sd, st, st.pid);
        throw;
    }
    out.state = st;
    return out;
}

uint64_t own_permitted_caps() {
    struct __user_cap_header_struct hdr {};
    hdr.version = _LINUX_CAPABILITY_VERSION_3;
    struct __user_cap_data_struct data[2] {};
    if (::syscall(SYS_capget, &hdr, data) != 0) throw_errno("capget");
    return data[0].permitted | (static_cast<uint64_t>(data[1].permitted) << 32);
}

// createContainer and startContainer hooks: each runs inside the container (its namespaces and
// cgroup, joined as `exec` joins them, from the sealed helper), as root with every capability
// we hold, the state on stdin and our stderr as its stdout and stderr. A startContainer hook's
// path resolves in the container's root; a createContainer hook's in the root the init still
// has, before pivot_root: the runtime's, with the container's mounts made (the spec's rule).
void run_hooks_in_container(const ContainerState& s, const std::vector<Hook>& hooks, const char* what) {
    if (hooks.empty()) return;
    std::string state = state_json(s, "created").dump();
    for (auto& h : hooks) {
        ExecSpec spec;
        spec.target = s.pid;
        spec.target_start = s.start_time;
        spec.cgroup = s.cgroup;
        spec.namespaces = s.namespaces;
        spec.helper = "/proc/self/exe";
        ProcessSpec& p = spec.process;
        p.args = h.args.empty() ? std::vector<std::string>{h.path} : h.args;
        p.args[0] = h.path;  // the core execs args[0]; the hook's own argv[0] is its path here
        p.env = h.env;
        p.cwd = "/";
        p.no_new_privs = false;
        p.create_cwd = false;
        p.caps = own_permitted_caps();  // every capability we hold (not always all: no CAP_SYS_RESOURCE here)
        auto [in_r, in_w] = make_pipe();
        // The state fits in the pipe's buffer: written before the hook starts, then closed.
        write_all(in_w.get(), state, std::string(what) + " hook stdin");
        in_w.reset();
        ExecStarted e;
        try {
            e = exec_in_container(spec, exec_spec_to_json(spec), StdioFds{in_r.get(), 2, 2});
        } catch (const std::exception& ex) {
            throw UsageError(std::string(what) + " hook " + h.path + ": " + ex.what());
        }
        in_r.reset();
        struct pollfd pf {e.pidfd.get(), POLLIN, 0};
        int r;
        do {
            r = ::poll(&pf, 1, h.timeout > 0 ? h.timeout * 1000 : -1);
        } while (r < 0 && errno == EINTR);
        if (r == 0) {
            sys::pidfd_send_signal(e.pidfd.get(), SIGKILL);
            wait_status(e.pid);
            throw UsageError(std::string(what) + " hook " + h.path + ": timed out after " + std::to_string(h.timeout) + "s");
        }
        int code = wait_status(e.pid);
        if (code != 0) throw UsageError(std::string(what) + " hook " + h.path + ": exit status " + std::to_string(code));
    }
}

// Releases the init (it opens the fifo for writing and waits for a reader), then removes the
// fifo: from then on the container is running.
void start_container(const StateDir& sd, const ContainerState& s) {
    std::string status = status_of(sd, s);
    if (status == "stopped") throw UsageError("cannot start a container that has stopped");
    if (status != "created") throw UsageError("cannot start an already running container");
    UniqueFd pidfd(sys::pidfd_open(s.pid));
    if (!pidfd) throw_errno("pidfd_open", std::to_string(s.pid));
    run_hooks_in_container(s, hooks_from_json(s.hooks.value("startContainer", json::array())), "startContainer");
    UniqueFd fifo = open_path(sd.fifo(s.id), O_RDONLY | O_NONBLOCK);
    for (;;) {
        struct pollfd p[2] = {{fifo.get(), POLLIN, 0}, {pidfd.get(), POLLIN, 0}};
        int r = ::poll(p, 2, -1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) throw_errno("poll", sd.fifo(s.id));
        if (p[0].revents & POLLIN) {
            char c;
            if (::read(fifo.get(), &c, 1) == 1) break;
        }
        if (p[1].revents & POLLIN) throw UsageError("container's init exited before start");
    }
    ::unlink(sd.fifo(s.id).c_str());
    // Returns once the process runs or the init is gone, not just released: a caller's `kill`
    // right after `start` must find the command, not the init still on its way to execve (a
    // signal the command would have handled is lost on a pid namespace's init that has no
    // handler yet). The init keeps its end of the fifo open until execve closes it
    // (wait_for_start): end of file here is that moment. Bounded: 2 s at the most.
    for (;;) {
        struct pollfd p {fifo.get(), POLLIN, 0};
        int r = ::poll(&p, 1, 2000);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        char buf[4096];  // a failed exec's report, if any: the exit code tells it
        ssize_t n = ::read(fifo.get(), buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;
    }
    try {
        run_hooks(hooks_from_json(s.hooks.value("poststart", json::array())), "poststart", state_json(s, "running"));
    } catch (const std::exception& e) {
        warn(e.what());
    }
}

// -- delete -------------------------------------------------------------------------------------

void destroy(const StateDir& sd, const ContainerState& s) {
    Cgroup cg(s.cgroup);
    UniqueFd pidfd(s.pid > 0 && process_start_time(s.pid) == s.start_time ? sys::pidfd_open(s.pid) : -1);
    if (pidfd) sys::pidfd_send_signal(pidfd.get(), SIGKILL);
    // A cgroup already empty (the usual end: the init exited, the pid namespace went with it)
    // has nothing to signal: no freeze and thaw for it.
    if (cg.enabled() && (pidfd || !cg.procs().empty())) {
        try {
            cg.signal_all(SIGKILL);
        } catch (const std::exception&) {
        }
    }
    if (pidfd) {
        struct pollfd p {pidfd.get(), POLLIN, 0};
        ::poll(&p, 1, 10000);
    }
    if (cg.enabled()) {
        for (int i = 0; i < 2500 && !cg.procs().empty(); ++i) ::usleep(2000);
        cg.destroy();
    }
    unmount_host_mounts(s);
    sd.remove(s.id);
    try {
        run_hooks(hooks_from_json(s.hooks.value("poststop", json::array())), "poststop", state_json(s, "stopped"));
    } catch (const std::exception& e) {
        warn(e.what());
    }
}

// -- commands -----------------------------------------------------------------------------------

int cmd_create(const std::vector<std::string>& argv, size_t i) {
    Args a = parse(argv, i, {"bundle", "pid-file", "console-socket", "preserve-fds"}, {"no-pivot", "no-new-keyring"},
                   {{"b", "bundle"}}, false);
    std::string id = one_id(a, "create");
    StateDir sd(g.root);
    create_container(sd, id, a, true);
    return 0;
}

int cmd_start(const std::vector<std::string>& argv, size_t i) {
    Args a = parse(argv, i, {}, {}, {}, false);
    std::string id = one_id(a, "start");
    StateDir sd(g.root);
    start_container(sd, sd.load(id));
    return 0;
}

int cmd_state(const std::vector<std::string>& argv, size_t i) {
    Args a = parse(argv, i, {}, {}, {}, false);
    std::string id = one_id(a, "state");
    StateDir sd(g.root);
    ContainerState s = sd.load(id);
    std::printf("%s\n", state_json(s, status_of(sd, s)).dump(2).c_str());
    return 0;
}

int cmd_kill(const std::vector<std::string>& argv, size_t i) {
    Args a = parse(argv, i, {}, {"all", "a"}, {{"a", "all"}}, false);
    if (a.pos.empty() || a.pos.size() > 2) throw UsageError("\"kill\" requires a minimum of 1 and a maximum of 2 argument(s)");
    check_id(a.pos[0]);
    int sig = signal_number(a.pos.size() == 2 ? a.pos[1] : "SIGTERM");
    if (sig < 0) throw UsageError("unknown signal \"" + a.pos[1] + "\"");
    StateDir sd(g.root);
    ContainerState s = sd.load(a.pos[0]);
    if (status_of(sd, s) == "stopped") throw UsageError("container not running");
    if (a.has("all")) {
        Cgroup cg(s.cgroup);
        if (!cg.enabled()) throw UsageError("kill --all needs the container's cgroup");
        cg.signal_all(sig);
        return 0;
    }
    UniqueFd pidfd(sys::pidfd_open(s.pid));
    if (!pidfd || process_start_time(s.pid) != s.start_time) throw UsageError("container not running");
    if (sys::pidfd_send_signal(pidfd.get(), sig) != 0) throw_errno("kill", std::to_string(s.pid));
    return 0;
}

int cmd_delete(const std::vector<std::string>& argv, size_t i) {
    Args a = parse(argv, i, {}, {"force", "f"}, {{"f", "force"}}, false);
    std::string id = one_id(a, "delete");
    StateDir sd(g.root);
    ContainerState s;
    try {
        s = sd.load(id);
    } catch (const NotFound&) {
        if (a.has("force")) {
            ::rmdir(sd.dir(id).c_str());
            return 0;
        }
        throw;
    }
    std::string status = status_of(sd, s);
    if ((status == "running" || status == "paused") && !a.has("force"))
        throw UsageError("cannot delete container " + id + " that is not stopped: " + status);
    destroy(sd, s);
    return 0;
}

int wait_status(pid_t pid) {
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) return 255;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int cmd_run(const std::vector<std::string>& argv, size_t i) {
    Args a = parse(argv, i, {"bundle", "pid-file", "console-socket", "preserve-fds"},
                   {"no-pivot", "no-new-keyring", "detach", "d", "keep"}, {{"b", "bundle"}, {"d", "detach"}}, false);
    std::string id = one_id(a, "run");
    if (a.has("keep")) throw UsageError("--keep is not supported by layerbox-runtime");
    bool detach = a.has("detach");
    StateDir sd(g.root);
    // Signals for the container reach us while we wait: block them now, forward them later.
    sigset_t fwd, old;
    sigfillset(&fwd);
    sigdelset(&fwd, SIGSEGV);
    sigdelset(&fwd, SIGBUS);
    sigdelset(&fwd, SIGILL);
    sigdelset(&fwd, SIGFPE);
    ::sigprocmask(SIG_BLOCK, &fwd, &old);
    Created c = create_container(sd, id, a, detach);
    try {
        start_container(sd, c.state);
    } catch (...) {
        destroy(sd, c.state);
        throw;
    }
    if (detach) return 0;
    int code = 0;
    for (;;) {
        siginfo_t si;
        int sig = ::sigwaitinfo(&fwd, &si);
        if (sig < 0) continue;
        if (sig == SIGCHLD) {
            int st;
            pid_t w = ::waitpid(c.state.pid, &st, WNOHANG);
            if (w == c.state.pid) {
                code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                break;
            }
            continue;
        }
        ::kill(c.state.pid, sig);
    }
    destroy(sd, c.state);
    return code;
}

int cmd_exec(const std::vector<std::string>& argv, size_t i) {
    Args a = parse(argv, i, {"process", "p", "console-socket", "pid-file", "cwd", "env", "user", "u", "preserve-fds", "process-label", "apparmor", "cap", "c"},
                   {"tty", "t", "detach", "d", "no-new-privs"},
                   {{"p", "process"}, {"t", "tty"}, {"d", "detach"}, {"e", "env"}, {"u", "user"}, {"c", "cap"}}, true);
    if (a.pos.empty()) throw UsageError("\"exec\" requires a minimum of 1 argument(s)");
    std::string id = a.pos[0];
    check_id(id);
    for (const char* f : {"process-label", "apparmor", "cap"})
        if (a.has(f)) throw UsageError(std::string("--") + f + " is not supported by layerbox-runtime");
    StateDir sd(g.root);
    ContainerState s = sd.load(id);
    std::string status = status_of(sd, s);
    if (status == "stopped") throw UsageError("cannot exec in a stopped container");
    if (status == "paused") throw UsageError("cannot exec in a paused container");
    ProcessSpec p;
    try {
        if (a.has("process")) {
            p = process_from_oci(read_json_file(a.get("process")));
        } else {
            if (a.pos.size() < 2) throw UsageError("exec: no command given (arguments or --process)");
            json proc = read_json_file(s.bundle + "/config.json").value("process", json::object());
            proc["args"] = std::vector<std::string>(a.pos.begin() + 1, a.pos.end());
            proc["terminal"] = a.has("tty");
            proc.erase("consoleSize");
            proc.erase("rlimits");
            proc.erase("oomScoreAdj");
            if (a.has("cwd")) proc["cwd"] = a.get("cwd");
            if (a.has("env")) {
                std::string e = a.get("env");
                size_t pos = 0;
                while (pos <= e.size()) {
                    size_t nl = e.find('\n', pos);
                    if (nl == std::string::npos) nl = e.size();
                    proc["env"].push_back(e.substr(pos, nl - pos));
                    pos = nl + 1;
                }
            }
            if (a.has("user")) {
                std::string u = a.get("user");
                size_t colon = u.find(':');
                proc["user"]["uid"] = std::stoul(u.substr(0, colon));
                if (colon != std::string::npos) proc["user"]["gid"] = std::stoul(u.substr(colon + 1));
            }
            if (a.has("no-new-privs")) proc["noNewPrivileges"] = true;
            p = process_from_oci(proc);
        }
    } catch (const ConfigError& e) {
        throw UsageError(std::string("process: ") + e.what());
    } catch (const std::invalid_argument&) {
        throw UsageError("--user: want UID[:GID]");
    }
    p.create_cwd = false;
    p.preserve_fds = preserve_fds(a);
    if (p.tty && !a.has("console-socket")) throw UsageError("cannot allocate tty if runc will detach without setting console socket");
    if (!p.tty && a.has("console-socket")) throw UsageError("cannot use console socket if runc will not detach or allocate tty");
    ExecSpec spec;
    spec.target = s.pid;
    spec.target_start = s.start_time;
    spec.cgroup = s.cgroup;
    spec.namespaces = s.namespaces;
    spec.process = p;
    spec.personality = s.personality;  // as runc's setns init: the container's personality
    // -d: the process is not waited for, but keeps our stdio (containerd passes its fifos) and
    // is reparented to the caller's subreaper when we exit.
    spec.detach = false;
    // The process that joins the container is a sealed copy of this binary (the exec helper
    // mode below), never the file on the host's disk (the CVE-2019-5736 class).
    spec.helper = "/proc/self/exe";
    std::string spec_text = exec_spec_to_json(spec);
    if (s.seccomp) {
        // The container's program, compiled at create: the helper reads the file before it
        // joins the container.
        json j = json::parse(spec_text);
        j["process"]["seccomp"] = {{"file", sd.seccomp(id)}, {"flags", s.seccomp_flags}};
        spec_text = j.dump();
    }
    ExecStarted e = exec_in_container(spec, spec_text, StdioFds{0, 1, 2});
    if (e.pty) send_console(a.get("console-socket"), e.pty.get());
    e.pty.reset();
    write_pid_file(a.get("pid-file"), e.pid);
    if (a.has("detach")) return 0;
    return wait_status(e.pid);
}

int cmd_pause(const std::vector<std::string>& argv, size_t i, bool pause) {
    Args a = parse(argv, i, {}, {}, {}, false);
    std::string id = one_id(a, pause ? "pause" : "resume");
    StateDir sd(g.root);
    ContainerState s = sd.load(id);
    std::string status = status_of(sd, s);
    Cgroup cg(s.cgroup);
    if (!cg.enabled()) throw UsageError("the container has no cgroup to freeze");
    if (pause) {
        if (status != "running") throw UsageError("container not running");
        cg.freeze();
    } else {
        if (status != "paused") throw UsageError("container not paused");
        cg.thaw();
    }
    return 0;
}

int cmd_ps(const std::vector<std::string>& argv, size_t i) {
    Args a = parse(argv, i, {"format", "f"}, {}, {{"f", "format"}}, true);
    if (a.pos.empty()) throw UsageError("\"ps\" requires a minimum of 1 argument(s)");
    StateDir sd(g.root);
    ContainerState s = sd.load(a.pos[0]);
    Cgroup cg(s.cgroup);
    std::vector<pid_t> pids;
    if (cg.enabled()) pids = cg.procs();
    std::string format = a.get("format", "table");
    if (format == "json") {
        std::printf("%s\n", json(pids).dump().c_str());
        return 0;
    }
    if (format != "table") throw UsageError("invalid format option");
    // As runc: ps(1) of the host with the given options (default -ef), rows of our pids only.
    std::string cmd = "ps";
    std::vector<std::string> psargs(a.pos.begin() + 1, a.pos.end());
    if (psargs.empty()) psargs = {"-ef"};
    auto [r, w] = make_pipe();
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(w.get(), 1);
        std::vector<char*> av{const_cast<char*>("ps")};
        for (auto& x : psargs) av.push_back(const_cast<char*>(x.c_str()));
        av.push_back(nullptr);
        ::execvp("ps", av.data());
        ::_exit(127);
    }
    w.reset();
    std::string out = read_all(r.get(), "ps output");
    if (wait_status(pid) != 0) throw UsageError("ps failed");
    size_t nl = out.find('\n');
    std::string header = out.substr(0, nl);
    size_t col = 0;
    {
        size_t p = header.find("PID");
        if (p == std::string::npos) throw UsageError("couldn't find PID field in ps output");
        // which whitespace-separated field is PID
        size_t k = 0, j = 0;
        while (j < p) {
            while (j < p && header[j] == ' ') ++j;
            if (j >= p) break;
            while (j < p && header[j] != ' ') ++j;
            ++k;
        }
        col = k;
    }
    std::printf("%s\n", header.c_str());
    size_t pos = nl + 1;
    while (pos < out.size()) {
        size_t e = out.find('\n', pos);
        if (e == std::string::npos) e = out.size();
        std::string line = out.substr(pos, e - pos);
        pos = e + 1;
        std::vector<std::string> f;
        size_t j = 0;
        while (j < line.size()) {
            while (j < line.size() && line[j] == ' ') ++j;
            size_t st = j;
            while (j < line.size() && line[j] != ' ') ++j;
            if (j > st) f.push_back(line.substr(st, j - st));
        }
        if (col < f.size()) {
            pid_t p = std::atoi(f[col].c_str());
            if (std::find(pids.begin(), pids.end(), p) != pids.end()) std::printf("%s\n", line.c_str());
        }
    }
    return 0;
}

int cmd_list(const std::vector<std::string>& argv, size_t i) {
    Args a = parse(argv, i, {"format", "f"}, {"quiet", "q"}, {{"f", "format"}, {"q", "quiet"}}, false);
    StateDir sd(g.root);
    std::string format = a.get("format", "table");
    nlohmann::ordered_json all = nlohmann::ordered_json::array();
    if (a.has("quiet")) {
        for (auto& id : sd.ids()) std::printf("%s\n", id.c_str());
        return 0;
    }
    if (format == "table") std::printf("%-12s %-8s %-10s %-40s %-31s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER");
    for (auto& id : sd.ids()) {
        ContainerState s;
        try {
            s = sd.load(id);
        } catch (const std::exception&) {
            continue;
        }
        std::string status = status_of(sd, s);
        auto j = state_json(s, status);
        if (format == "json") all.push_back(j);
        else std::printf("%-12s %-8d %-10s %-40s %-31s %s\n", id.c_str(), status == "stopped" ? 0 : s.pid, status.c_str(),
                         s.bundle.c_str(), s.created.c_str(), s.owner.c_str());
    }
    if (format == "json") std::printf("%s\n", all.empty() ? "null" : all.dump().c_str());
    else if (format != "table") throw UsageError("invalid format option");
    return 0;
}

int cmd_update(const std::vector<std::string>& argv, size_t i) {
    Args a = parse(argv, i, {"resources", "r"}, {}, {{"r", "resources"}}, false);
    std::string id = one_id(a, "update");
    if (!a.has("resources")) throw UsageError("update: --resources FILE is needed (the other flags are not supported)");
    StateDir sd(g.root);
    ContainerState s = sd.load(id);
    if (status_of(sd, s) == "stopped") throw UsageError("container not running");
    json r = a.get("resources") == "-" ? json::parse(read_all(0, "stdin")) : read_json_file(a.get("resources"));
    std::vector<CgroupPlan::Setting> settings;
    try {
        settings = resource_settings(r, host_info(s.bundle, id), "resources");
    } catch (const ConfigError& e) {
        throw UsageError(e.what());
    }
    CgroupPlan spec = s.cgroup;
    spec.settings = settings;
    Cgroup(spec).create();
    return 0;
}

// runc's `events`: with --stats one stats event; otherwise a stats event every --interval and
// an "oom" event at each OOM kill, until the container stops.
int cmd_events(const std::vector<std::string>& argv, size_t i) {
    Args a = parse(argv, i, {"interval"}, {"stats"}, {}, false);
    std::string id = one_id(a, "events");
    StateDir sd(g.root);
    ContainerState s = sd.load(id);
    if (status_of(sd, s) == "stopped") throw UsageError("container with id " + id + " is not running");
    auto emit = [&](const char* type, const nlohmann::ordered_json& data) {
        nlohmann::ordered_json e = {{"type", type}, {"id", id}};
        if (!data.is_null()) e["data"] = data;
        std::printf("%s\n", e.dump().c_str());
        std::fflush(stdout);
    };
    if (a.has("stats")) {
        emit("stats", cgroup_stats(s.cgroup));
        return 0;
    }
    // Go's duration syntax for the common cases: "5s", "500ms", "1m".
    std::string iv = a.get("interval", "5s");
    char* end = nullptr;
    double n = std::strtod(iv.c_str(), &end);
    std::string unit = end ? end : "";
    double ms = unit == "ms" ? n : unit == "s" ? n * 1000 : unit == "m" ? n * 60000 : -1;
    if (ms <= 0) throw UsageError("invalid value \"" + iv + "\" for flag -interval: want a duration such as 5s");
    uint64_t ooms = oom_kills(s.cgroup);
    UniqueFd pidfd(sys::pidfd_open(s.pid));
    if (!pidfd) throw UsageError("container with id " + id + " is not running");
    long long next = 0;
    for (;;) {
        struct timespec ts;
        ::clock_gettime(CLOCK_MONOTONIC, &ts);
        long long now = ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
        if (now >= next) {
            emit("stats", cgroup_stats(s.cgroup));
            next = now + static_cast<long long>(ms);
        }
        uint64_t o = oom_kills(s.cgroup);
        if (o > ooms) emit("oom", nullptr);
        ooms = o;
        // OOM kills are polled at most every 100 ms; the init's exit ends the stream at once.
        struct pollfd p {pidfd.get(), POLLIN, 0};
        int wait = static_cast<int>(std::min<long long>(100, std::max(0LL, next - now)));
        if (::poll(&p, 1, wait) > 0) return 0;
    }
}

int cmd_spec(const std::vector<std::string>& argv, size_t i) {
    Args a = parse(argv, i, {"bundle"}, {"rootless"}, {{"b", "bundle"}}, false);
    if (a.has("rootless")) throw UsageError("--rootless is not supported by layerbox-runtime");
    std::string path = absolute(a.get("bundle", ".")) + "/config.json";
    if (::access(path.c_str(), F_OK) == 0) throw UsageError("File " + path + " exists. Remove it first");
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) throw_errno("open", path);
    UniqueFd f(fd);
    write_all(f.get(), default_spec().dump(2) + "\n", path);
    return 0;
}

int cmd_features() {
    json caps = json::array();
    for (int c = 0; c <= 40; ++c) {
        static const char* names[] = {"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
                                      "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
                                      "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
                                      "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
                                      "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
                                      "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"};
        caps.push_back(std::string("CAP_") + names[c]);
    }
    json f = {
        {"ociVersionMin", "1.0.0"},
        {"ociVersionMax", "1.1.0"},
        {"hooks", {"prestart", "createRuntime", "startContainer", "poststart", "poststop"}},
        {"mountOptions",
         {"async", "bind", "dev", "exec", "noatime", "nodev", "nodiratime", "noexec", "nosuid", "nosymfollow", "private",
          "rbind", "relatime", "ro", "rprivate", "rshared", "rslave", "runbindable", "rw", "shared", "slave",
          "strictatime", "suid", "unbindable"}},
        {"linux",
         {{"namespaces", {"cgroup", "ipc", "mount", "network", "pid", "user", "uts"}},
          {"capabilities", caps},
          {"cgroup", {{"v1", true}, {"v2", true}, {"systemd", false}, {"systemdUser", false}}},
          {"seccomp",
           {{"enabled", true},
            {"actions", {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                         "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"}},
            {"operators", {"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ",
                           "SCMP_CMP_NE"}},
            {"archs", {"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"}},
            {"knownFlags", {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"}},
            {"supportedFlags", {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"}}}},
          {"apparmor", {{"enabled", false}}},
          {"selinux", {{"enabled", false}}}}},
        {"annotations", {{"org.opencontainers.runtime-spec.features", "layerbox-runtime " LAYERBOX_VERSION}}}};
    std::printf("%s\n", f.dump(4).c_str());
    return 0;
}

// The container's init is a clone of this process and stays one until `start` (it waits on
// exec.fifo): were this the file on the host's disk, a container process could reach it through
// /proc/1/exe and overwrite the runtime (CVE-2019-5736). So `create` and `run` first re-exec
// themselves from a sealed memfd copy (csrc/core/sealed.cpp, as `layerbox run`'s monitor and
// runc do): the init's /proc/N/exe is then that copy, readable and never writable.
char** g_argv = nullptr;

void reexec_sealed() {
    UniqueFd self(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
    if (!self) throw_errno("open", "/proc/self/exe");
    if (::fcntl(self.get(), F_GET_SEALS) >= 0) return;  // running from the sealed copy already
    char target[4096];
    ssize_t n = ::readlink("/proc/self/exe", target, sizeof target - 1);
    if (n <= 0) throw_errno("readlink", "/proc/self/exe");
    target[n] = 0;
    int exe = sealed_executable(target);
    ::syscall(SYS_execveat, exe, "", g_argv, environ, AT_EMPTY_PATH);
    throw_errno("execveat", std::string("sealed copy of ") + target);
}

void usage() {
    std::printf(
        "usage: layerbox-runtime [global options] command [options] [arguments...]\n\n"
        "An OCI runtime with runc's command line, over layerbox's launch core.\n\n"
        "commands: create, start, state, kill, delete, run, exec, pause, resume, ps, list, events, update, features, spec\n\n"
        "global options:\n"
        "  --root DIR         state directory (default /run/layerbox-runtime)\n"
        "  --log FILE         log file (default: none)\n"
        "  --log-format FMT   text or json\n"
        "  --debug            debug lines in the log\n"
        "  --systemd-cgroup   refused: the systemd cgroup driver is not supported\n"
        "  --version, -v      print the version\n");
}

int dispatch(const std::vector<std::string>& argv) {
    size_t i = 1;
    for (; i < argv.size(); ++i) {
        std::string s = argv[i];
        if (s.empty() || s[0] != '-') break;
        std::string name = s.substr(s[1] == '-' ? 2 : 1), value;
        bool inl = false;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            inl = true;
        }
        auto val = [&]() {
            if (inl) return value;
            if (i + 1 >= argv.size()) throw UsageError("flag needs an argument: -" + name);
            return argv[++i];
        };
        if (name == "root") g.root = val();
        else if (name == "log") g.log = val();
        else if (name == "log-format") {
            g.log_format = val();
            if (g.log_format != "text" && g.log_format != "json")
                throw UsageError("invalid log-format: " + g.log_format);
        } else if (name == "debug") g.debug = true;
        else if (name == "systemd-cgroup")
            throw UsageError("--systemd-cgroup: the systemd cgroup driver is not supported by layerbox-runtime");
        else if (name == "rootless") {
            std::string v = val();
            if (v != "false" && v != "auto") throw UsageError("--rootless: rootless containers are not supported by layerbox-runtime");
        } else if (name == "criu") val();  // only for checkpoint, which is not a command here
        else if (name == "version" || name == "v") {
            std::printf("layerbox-runtime version %s\nspec: 1.1.0\n", LAYERBOX_VERSION);
            return 0;
        } else if (name == "help" || name == "h") {
            usage();
            return 0;
        } else throw UsageError("flag provided but not defined: -" + name);
    }
    if (i >= argv.size()) {
        usage();
        return 0;
    }
    std::string cmd = argv[i++];
    if (!g.root.empty() && g.root[0] != '/') g.root = absolute(g.root);
    debug("command " + cmd);
    if (cmd == "create" || cmd == "run") reexec_sealed();
    if (cmd == "create") return cmd_create(argv, i);
    if (cmd == "start") return cmd_start(argv, i);
    if (cmd == "state") return cmd_state(argv, i);
    if (cmd == "kill") return cmd_kill(argv, i);
    if (cmd == "delete") return cmd_delete(argv, i);
    if (cmd == "run") return cmd_run(argv, i);
    if (cmd == "exec") return cmd_exec(argv, i);
    if (cmd == "pause") return cmd_pause(argv, i, true);
    if (cmd == "resume") return cmd_pause(argv, i, false);
    if (cmd == "ps") return cmd_ps(argv, i);
    if (cmd == "list") return cmd_list(argv, i);
    if (cmd == "update") return cmd_update(argv, i);
    if (cmd == "events") return cmd_events(argv, i);
    if (cmd == "spec") return cmd_spec(argv, i);
    if (cmd == "features") return cmd_features();
    if (cmd == "help") {
        usage();
        return 0;
    }
    throw UsageError("No help topic for '" + cmd + "'");
}

}  // namespace

int main(int argc, char** argv) {
    // Started by exec_in_container from our sealed copy as the exec helper (core/exec.hpp):
    // argv is {"layerbox-shim", "exec", PID}, which no runtime command line is.
    if (argc > 1 && std::string_view(argv[0]) == "layerbox-shim" && std::string_view(argv[1]) == "exec")
        return lb::exec_helper_main(argc, argv);
    g_argv = argv;
    std::vector<std::string> args(argv, argv + argc);
    try {
        return dispatch(args);
    } catch (const std::exception& e) {
        report_error(e.what());
        return 1;
    }
}
