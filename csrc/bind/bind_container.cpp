#include <signal.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "bind/bind.hpp"
#include "core/cgroup.hpp"
#include "core/client.hpp"
#include "core/exec.hpp"
#include "core/execbuild.hpp"
#include "core/procenv.hpp"
#include "core/psrows.hpp"
#include "core/sealed.hpp"
#include "core/users.hpp"
#include "core/rootpath.hpp"
#include "core/error.hpp"
#include "core/fsutil.hpp"
#include "core/proc.hpp"
#include "core/syscalls.hpp"
#include "core/unix.hpp"

namespace lb::bind {

namespace {

// A started container as the client sees it: the monitor connection and the init's pidfd.
struct PyMonitor {
    MonitorStart s;
    py::dict wait(bool forward_signals, bool raw_tty, int timeout_ms) {
        ExitReport r;
        {
            py::gil_scoped_release nogil;
            r = wait_exit(s.sock.get(), s.pidfd.get(), s.pty.get(), forward_signals, raw_tty, timeout_ms);
        }
        py::dict d;
        d["exited"] = r.exited;
        d["exit_code"] = r.exit_code;
        d["oom_killed"] = r.oom_killed;
        d["restarting"] = r.restarting;
        return d;
    }
};

// A connection to a running monitor's socket.
struct PyMonitorConn {
    UniqueFd fd;
    std::string request(const std::string& msg, int timeout_ms) {
        py::gil_scoped_release nogil;
        return monitor_request(fd.get(), msg, timeout_ms);
    }
    py::dict wait(int timeout_ms) {
        ExitReport r;
        {
            py::gil_scoped_release nogil;
            try {
                send_fds(fd.get(), "wait", {});
                r = wait_exit(fd.get(), -1, -1, false, false, timeout_ms);
            } catch (const SysError&) {
                // The monitor ended between our connect and this request: the caller reads the
                // outcome from the state file.
            }
        }
        py::dict d;
        d["exited"] = r.exited;
        d["exit_code"] = r.exit_code;
        d["oom_killed"] = r.oom_killed;
        d["restarting"] = r.restarting;
        return d;
    }
};

// A process started by `exec`, ours to wait for.
struct PyExec {
    ExecStarted e;
    int wait(bool forward_signals, bool relay_stdin, bool raw_tty) {
        py::gil_scoped_release nogil;
        return wait_exec(e, forward_signals, relay_stdin, raw_tty);
    }
};

CgroupPlan cgroup_plan(const py::dict& d) {
    CgroupPlan c;
    c.version = d.contains("version") ? d["version"].cast<int>() : 0;
    if (d.contains("dirs"))
        for (auto item : d["dirs"].cast<py::dict>())
            c.dirs.emplace_back(item.first.cast<std::string>(), item.second.cast<std::string>());
    if (d.contains("settings"))
        for (auto s : d["settings"])
            c.settings.push_back({s[py::int_(0)].cast<std::string>(), s[py::int_(1)].cast<std::string>(),
                                  s[py::int_(2)].cast<std::string>()});
    if (d.contains("devices")) {
        c.device_filter = true;
        for (auto r : d["devices"]) c.device_rules.push_back(r.cast<std::string>());
    }
    return c;
}

}  // namespace

void bind_container(py::module_& m) {
    py::class_<PyMonitor>(m, "Monitor", "a started container: its init's pid and pidfd, and the monitor connection")
        .def_property_readonly("pid", [](PyMonitor& p) { return p.s.pid; })
        .def_property_readonly("monitor_pid", [](PyMonitor& p) { return p.s.monitor_pid; })
        .def_property_readonly("pidfd", [](PyMonitor& p) { return p.s.pidfd.get(); })
        .def_property_readonly("pty", [](PyMonitor& p) { return p.s.pty.get(); })
        .def("wait", &PyMonitor::wait, py::arg("forward_signals") = false, py::arg("raw_tty") = false,
             py::arg("timeout_ms") = -1,
             "Block (without the GIL) until the monitor reports the container's exit.")
        .def("request", [](PyMonitor& p, const std::string& msg, int timeout_ms) {
                py::gil_scoped_release nogil;
                return monitor_request(p.s.sock.get(), msg, timeout_ms);
            }, py::arg("msg"), py::arg("timeout_ms") = 5000)
        .def("close", [](PyMonitor& p) {
            p.s.sock.reset();
            p.s.pidfd.reset();
            p.s.pty.reset();
        });

    py::class_<PyMonitorConn>(m, "MonitorConnection", "a connection to a running container's monitor")
        .def("request", &PyMonitorConn::request, py::arg("msg"), py::arg("timeout_ms") = 5000)
        .def("wait", &PyMonitorConn::wait, py::arg("timeout_ms") = -1)
        .def("close", [](PyMonitorConn& c) { c.fd.reset(); });

    m.def("start_monitor",
          [](const std::string& shim, const std::string& container_dir, const py::bytes& plan, int in,
             int out, int err) {
              std::string text = plan;
              PyMonitor pm;
              {
                  py::gil_scoped_release nogil;
                  pm.s = start_monitor(shim, container_dir, text, in, out, err);
              }
              return pm;
          },
          py::arg("shim"), py::arg("container_dir"), py::arg("plan"), py::arg("stdin") = -1, py::arg("stdout") = -1,
          py::arg("stderr") = -1,
          "Start a container's monitor with a launch plan (JSON bytes); returns once the "
          "container's command runs, raises StartError otherwise.");

    m.def("prepare_sealed",
          [](const std::string& path) {
              py::gil_scoped_release nogil;
              try {
                  sealed_executable(path);
              } catch (const std::exception&) {
                  // start_monitor makes the copy again and reports what failed
              }
          },
          py::arg("path"),
          "Make this process's sealed copy of an executable now (start_monitor makes it at its "
          "first use otherwise): for another thread, while the caller prepares the start.");

    m.def("block_forwarded_signals", &block_forwarded_signals,
          "Block (in this thread) the signals a foreground run/exec forwards to the container, "
          "so they wait for it instead of killing the caller while it starts.");

    m.def("connect_monitor",
          [](const std::string& dir, const std::string& name) -> py::object {
              UniqueFd fd = connect_unix(dir, name);
              if (!fd) return py::none();
              return py::cast(PyMonitorConn{std::move(fd)});
          },
          py::arg("dir"), py::arg("name") = "monitor.sock",
          "Connect to a container's monitor; None when no monitor listens there.");

    py::class_<PyExec>(m, "ExecProcess", "a process started in a running container by exec")
        .def_property_readonly("pid", [](PyExec& x) { return x.e.pid; })
        .def_property_readonly("pty", [](PyExec& x) { return x.e.pty.get(); })
        .def("wait", &PyExec::wait, py::arg("forward_signals") = false, py::arg("relay_stdin") = false,
             py::arg("raw_tty") = false, "Wait (without the GIL) and return docker's exit code.")
        .def("signal", [](PyExec& x, int sig) {
            if (x.e.pidfd) sys::pidfd_send_signal(x.e.pidfd.get(), sig);
        });

    m.def("exec_start",
          [](const py::bytes& spec_json, int in, int out, int err) {
              std::string text = spec_json;
              ExecSpec s = exec_spec_from_json(text);
              PyExec x;
              {
                  py::gil_scoped_release nogil;
                  x.e = exec_in_container(s, text, StdioFds{in, out, err});
              }
              return x;
          },
          py::arg("spec"), py::arg("stdin") = -1, py::arg("stdout") = -1, py::arg("stderr") = -1,
          "Start a process inside a running container (spec: JSON bytes); raises StartError.");

    m.def("exec_spec",
          [](const std::string& dir, std::vector<std::string> args, std::vector<std::string> env,
             std::optional<std::string> user, std::string workdir, bool tty, bool detach,
             unsigned short rows, unsigned short cols, std::string helper) {
              ExecRequest r{std::move(args), std::move(env), std::move(user), std::move(workdir),
                            tty, detach, rows, cols, std::move(helper)};
              std::string text;
              try {
                  text = exec_spec_json(read_container_files(dir), r);
              } catch (const nlohmann::json::exception& e) {
                  throw_invalid(std::string("damaged container files: ") + e.what(), dir);
              }
              return py::bytes(text);
          },
          py::arg("dir"), py::arg("args"), py::arg("env"), py::arg("user"), py::arg("workdir"),
          py::arg("tty"), py::arg("detach"), py::arg("rows"), py::arg("cols"), py::arg("helper"),
          "The exec spec (JSON bytes for exec_start) for the running container in dir "
          "(see core/execbuild.hpp); ValueError when the user or a group is not there.");
    m.def("resolve_user",
          [](const std::string& spec, const py::bytes& passwd, const py::bytes& group) {
              ResolvedUser u = resolve_user(spec, std::string(passwd), std::string(group));
              return py::make_tuple(u.uid, u.gid, u.groups, u.home);
          },
          py::arg("spec"), py::arg("passwd"), py::arg("group"),
          "(uid, gid, groups, home) for \"user[:group]\" (see core/users.hpp); ValueError when absent.");
    m.def("with_groups",
          [](uid_t uid, gid_t gid, std::vector<gid_t> groups, std::string home,
             const std::vector<std::string>& names, const py::bytes& group) {
              ResolvedUser u{uid, gid, std::move(groups), std::move(home)};
              u = with_groups(std::move(u), names, std::string(group));
              return py::make_tuple(u.uid, u.gid, u.groups, u.home);
          },
          py::arg("uid"), py::arg("gid"), py::arg("groups"), py::arg("home"), py::arg("names"),
          py::arg("group"), "--group-add on top of a resolved user (see core/users.hpp).");
    m.attr("DEFAULT_PATH") = kDefaultPath;
    m.def("config_env", &config_env, py::arg("image_env"), py::arg("user_env"),
          "A container's Config.Env at create (see core/procenv.hpp).");
    m.def("process_env", &process_env, py::arg("config_env"), py::arg("hostname"), py::arg("home"),
          py::arg("tty"), py::arg("overrides"), "A container process's environment (see core/procenv.hpp).");

    // The phrases the views share with the ps rows (core/psrows.hpp; the rows themselves are
    // layerbox._listing's).
    m.def("status_text",
          [](const std::string& state_json, double now) {
              return status_text(nlohmann::json::parse(state_json), now);
          },
          py::arg("state_json"), py::arg("now"), "docker ps's STATUS of a state.json text.");
    m.def("human_duration", &human_duration, py::arg("seconds"), "docker's units.HumanDuration.");
    m.def("go_quote", [](std::string_view s) { return go_quote(s); }, py::arg("s"), "Go's strconv.Quote.");
    m.def("parse_rfc3339",
          [](std::string_view s) {
              auto t = parse_rfc3339_checked(s);
              if (!t) throw py::value_error("not an RFC 3339 time: " + std::string(s));
              return *t;
          },
          py::arg("s"), "Seconds since the epoch of an RFC 3339 time (0 for docker's zero time).");

    m.def("read_in_root",
          [](const std::string& root, const std::string& path, uint64_t max_bytes) -> py::object {
              UniqueFd r = open_path(root, O_PATH | O_DIRECTORY);
              auto data = read_regular_in_root(r.get(), path, max_bytes);
              if (!data) return py::none();
              return py::bytes(*data);
          },
          py::arg("root"), py::arg("path"), py::arg("max_bytes") = uint64_t{64} << 20,
          "Read a regular file inside root (symlinks resolved inside it, never out); None if absent\n"
          "or not a regular file (a FIFO is not waited on); over max_bytes raises.");

    m.def("process_start_time", &process_start_time, py::arg("pid"),
          "Start time of a process in clock ticks since boot (0 when it does not exist).");
    m.def("boot_id", &boot_id);
    m.def("signal_process",
          [](pid_t pid, uint64_t start_time, int sig) {
              // pidfd first, then check it is still the process we recorded: no reuse race.
              int fd = sys::pidfd_open(pid);
              if (fd < 0) return false;
              UniqueFd pfd(fd);
              if (start_time && process_start_time(pid) != start_time) return false;
              if (sys::pidfd_send_signal(pfd.get(), sig) != 0) {
                  if (errno == ESRCH) return false;
                  throw_errno("kill", std::to_string(pid));
              }
              return true;
          },
          py::arg("pid"), py::arg("start_time"), py::arg("signal"),
          "Send a signal to the process pid if it is still the one that started at start_time.");
    m.def("remove_tree",
          [](const std::string& path) {
              py::gil_scoped_release nogil;
              remove_tree(path);
          },
          py::arg("path"), "rm -rf without following symlinks.");
    m.def("syncfs",
          [](const std::string& path) {
              py::gil_scoped_release nogil;
              sync_filesystem(path);
          },
          py::arg("path"), "Flush the filesystem holding path to disk (syncfs(2)).");

    py::class_<Cgroup>(m, "Cgroup", "one container's cgroup (v1 directories or a v2 directory)")
        .def(py::init([](const py::dict& plan) { return Cgroup(cgroup_plan(plan)); }), py::arg("plan"))
        .def("create", [](Cgroup& c) { py::gil_scoped_release g; c.create(); })
        .def("add_pid", &Cgroup::add_pid)
        .def("freeze", [](Cgroup& c) { py::gil_scoped_release g; c.freeze(); })
        .def("thaw", &Cgroup::thaw)
        .def("frozen", &Cgroup::frozen)
        .def("procs", &Cgroup::procs)
        .def("signal_all", [](Cgroup& c, int sig) { py::gil_scoped_release g; c.signal_all(sig); })
        .def("oom_killed", &Cgroup::oom_killed)
        .def("destroy", [](Cgroup& c) { py::gil_scoped_release g; c.destroy(); });
}

}  // namespace lb::bind
