#include "launcher/exec_fast.hpp"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/client.hpp"
#include "core/events.hpp"
#include "core/exec.hpp"
#include "core/execbuild.hpp"
#include "launcher/common.hpp"

#ifndef LAYERBOX_PYVER
#define LAYERBOX_PYVER "3"
#endif

namespace lb {

namespace {

using launcher::is_dir;
using launcher::is_file;
using launcher::store_root;

struct CommandLine {
    std::string root;
    ExecRequest req;
    bool interactive = false;
    std::string ref;
};



// docker's -e (its CLI's ValidateEnv, as cli/actions caller_env): "K=V" as given; a bare "K"
// takes the caller's value, or stays bare when the caller has none (it then unsets K in the
// process: merge_env). "=V" is an error: Python reports it.
bool add_env(std::vector<std::string>& env, std::string_view e) {
    if (e.empty() || e[0] == '=') return false;
    const char* v = e.find('=') == std::string_view::npos ? ::getenv(std::string(e).c_str()) : nullptr;
    env.push_back(v ? std::string(e) + "=" + v : std::string(e));
    return true;
}

// The options of `exec` as the Python CLI's table has them (cli/_verb_table.py), minus
// --env-file; flags stop at the first argument that is not one (docker's interspersed=false).
bool parse(int argc, char** argv, CommandLine& cl) {
    int i = launcher::global_options(argc, argv, cl.root);
    if (i < 0) return false;
    if (i < argc && std::string_view(argv[i]) == "container") ++i;
    if (i >= argc || std::string_view(argv[i]) != "exec") return false;
    ++i;
    ExecRequest& r = cl.req;
    auto value = [&](std::string_view inline_value, bool has_inline, std::string& out) {
        if (has_inline) {
            out = std::string(inline_value);
            return true;
        }
        if (i + 1 >= argc) return false;
        out = argv[++i];
        return true;
    };
    for (; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a.size() < 2 || a[0] != '-') break;
        std::string v;
        if (a[1] == '-') {
            size_t eq = a.find('=');
            std::string_view name = a.substr(2, eq == std::string_view::npos ? std::string_view::npos : eq - 2);
            bool has = eq != std::string_view::npos;
            std::string_view inl = has ? a.substr(eq + 1) : std::string_view{};
            if (name == "detach" && !has) r.detach = true;
            else if (name == "interactive" && !has) cl.interactive = true;
            else if (name == "tty" && !has) r.tty = true;
            else if (name == "env") {
                if (!value(inl, has, v) || !add_env(r.env, v)) return false;
            } else if (name == "workdir") {
                if (!value(inl, has, v)) return false;
                r.workdir = v;
            } else if (name == "user") {
                if (!value(inl, has, v)) return false;
                r.user = v;
            } else {
                return false;  // --env-file, --help, "--", anything new: the Python path's
            }
            continue;
        }
        for (size_t j = 1; j < a.size(); ++j) {
            char c = a[j];
            if (c == 'd') r.detach = true;
            else if (c == 'i') cl.interactive = true;
            else if (c == 't') r.tty = true;
            else if (c == 'e' || c == 'w' || c == 'u') {
                bool has = j + 1 < a.size();
                if (!value(a.substr(j + 1), has, v)) return false;
                if (c == 'e' && !add_env(r.env, v)) return false;
                if (c == 'w') r.workdir = v;
                if (c == 'u') r.user = v;
                break;
            } else {
                return false;
            }
        }
    }
    if (i + 1 >= argc) return false;  // no container or no command: Python says so
    cl.ref = argv[i];
    for (++i; i < argc; ++i) r.args.emplace_back(argv[i]);
    return true;
}


bool plain_id(std::string_view s) {
    return !s.empty() && s.find('/') == std::string_view::npos && s != "." && s != "..";
}

// The container a name, a full id or a unique id prefix names (engine.resolve's rules); empty
// when none or several (Python reports which).
std::string resolve(const std::string& root, std::string ref) {
    while (!ref.empty() && ref[0] == '/') ref.erase(0, 1);
    if (!plain_id(ref)) return {};
    const std::string containers = root + "/containers/";
    if (ref.size() == 64 && is_dir(containers + ref)) return ref;
    char target[256];
    ssize_t n = ::readlink((root + "/names/" + ref).c_str(), target, sizeof target - 1);
    if (n > 0) {
        std::string id(target, size_t(n));
        if (plain_id(id) && is_dir(containers + id)) return id;
    }
    DIR* d = ::opendir(containers.c_str());
    if (!d) return {};
    std::string found;
    int matches = 0;
    while (struct dirent* e = ::readdir(d)) {
        if (e->d_name[0] != '.' && strncmp(e->d_name, ref.c_str(), ref.size()) == 0) {
            found = e->d_name;
            ++matches;
        }
    }
    ::closedir(d);
    return matches == 1 ? found : std::string{};
}

// The shim installed in the package beside _core (LAYERBOX_SHIM overrides it, as in
// container/engine.py): we are <prefix>/bin/layerbox, the package <prefix>/lib/pythonX.Y/
// {site,dist}-packages/layerbox. Empty when not found there (an editable install, say).
std::string shim_path() {
    if (const char* env = ::getenv("LAYERBOX_SHIM"); env && *env) return env;
    char self[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return {};
    std::string prefix(self, size_t(n));
    for (int up = 0; up < 2; ++up) {
        size_t slash = prefix.rfind('/');
        if (slash == std::string::npos) return {};
        prefix.resize(slash);
    }
    for (const char* kind : {"site-packages", "dist-packages"}) {
        std::string p = prefix + "/lib/python" LAYERBOX_PYVER "/" + kind + "/layerbox/layerbox-shim";
        if (is_file(p)) return p;
    }
    return {};
}


std::string joined(const std::vector<std::string>& args) {
    std::string s;
    for (const auto& a : args) s += (s.empty() ? "" : " ") + a;
    return s;
}

}  // namespace

bool compiled_exec(int argc, char** argv, int* code) {
    if (argc < 3) return false;
    CommandLine cl;
    if (!parse(argc, argv, cl)) return false;
    std::string root = store_root(cl.root);
    if (root.empty()) return false;
    std::string id = resolve(root, cl.ref);
    if (id.empty()) return false;
    ExecRequest& r = cl.req;
    r.helper = shim_path();
    if (r.helper.empty()) return false;
    if (r.tty) {
        struct winsize ws{};
        if (::ioctl(1, TIOCGWINSZ, &ws) == 0) {
            r.rows = ws.ws_row;
            r.cols = ws.ws_col;
        }
    }
    sigset_t mask;
    ::sigprocmask(SIG_SETMASK, nullptr, &mask);
    ExecStarted started;
    EventLog events;
    std::string exec_id;
    try {
        ContainerFiles files = read_container_files(root + "/containers/" + id);
        if (!plainly_running(files)) return false;
        // The exec's events, as the engine's (execution.py): the log the start that made the
        // container run named in process.json (a start that named none: the Python path's).
        events = event_log_from_json(files.base.value("events", nlohmann::json()));
        if (events.path.empty()) return false;
        events.id = id;
        events.attributes = container_event_attributes(files.config);
        exec_id = launcher::random_id();
        std::string text = exec_spec_json(files, r);
        ExecSpec spec = exec_spec_from_json(text);
        // A signal that arrives while the process starts waits for it (see client.hpp).
        if (!r.detach) block_forwarded_signals();
        started = exec_in_container(spec, text, StdioFds{cl.interactive ? 0 : -1, 1, 2});
    } catch (...) {
        // Nothing runs: the Python path does it again and reports as docker does.
        ::sigprocmask(SIG_SETMASK, &mask, nullptr);
        return false;
    }
    // Recorded once it runs (a failed start is handed to the Python path, which records its own).
    const std::string cmd = joined(r.args);
    record_event(events, "exec_create: " + cmd, {{"execID", exec_id}});
    record_event(events, "exec_start: " + cmd, {{"execID", exec_id}});
    if (r.detach) {  // not ours to wait for: no exec_die (as the engine's detached exec)
        *code = 0;
        return true;
    }
    try {
        *code = wait_exec(started, true, cl.interactive, r.tty && cl.interactive);
    } catch (const std::exception& e) {  // the process runs: too late to hand over
        ::fprintf(stderr, "Error: %s\n", e.what());
        *code = 125;
    }
    record_event(events, "exec_die", {{"execID", exec_id}, {"exitCode", std::to_string(*code)}});
    return true;
}

}  // namespace lb
