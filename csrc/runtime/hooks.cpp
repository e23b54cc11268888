#include "runtime/hooks.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/syscalls.hpp"

namespace lb::oci {

using nlohmann::json;

namespace {

long long now_ms() {
    struct timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

void run_hook(const Hook& h, const std::string& what, const std::string& state) {
    auto [in_r, in_w] = make_pipe();
    std::vector<char*> argv, envp;
    for (auto& a : h.args) argv.push_back(const_cast<char*>(a.c_str()));
    if (argv.empty()) argv.push_back(const_cast<char*>(h.path.c_str()));
    argv.push_back(nullptr);
    for (auto& e : h.env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) throw_errno("fork", "hook " + h.path);
    if (pid == 0) {
        ::dup2(in_r.get(), 0);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execve(h.path.c_str(), argv.data(), envp.data());
        ::_exit(127);
    }
    in_r.reset();
    // A hook that does not read its stdin must not block us: ignore EPIPE, write what fits.
    ::signal(SIGPIPE, SIG_IGN);
    ssize_t n = ::write(in_w.get(), state.data(), state.size());
    (void)n;
    in_w.reset();
    UniqueFd pidfd(sys::pidfd_open(pid));
    long long deadline = h.timeout > 0 ? now_ms() + h.timeout * 1000LL : -1;
    for (;;) {
        int wait_ms = deadline < 0 ? -1 : static_cast<int>(std::max(0LL, deadline - now_ms()));
        struct pollfd p {pidfd.get(), POLLIN, 0};
        int r = ::poll(&p, 1, wait_ms);
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
            throw std::runtime_error(what + " hook " + h.path + ": timed out after " + std::to_string(h.timeout) + "s");
        }
        break;
    }
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return;
    if (WIFEXITED(st))
        throw std::runtime_error(what + " hook " + h.path + ": exit status " + std::to_string(WEXITSTATUS(st)));
    throw std::runtime_error(what + " hook " + h.path + ": killed by signal " + std::to_string(WTERMSIG(st)));
}

}  // namespace

void run_hooks(const std::vector<Hook>& hooks, const std::string& what, const nlohmann::ordered_json& state) {
    if (hooks.empty()) return;
    std::string s = state.dump();
    for (auto& h : hooks) run_hook(h, what, s);
}

std::vector<Hook> hooks_from_json(const json& list) {
    std::vector<Hook> out;
    for (auto& e : list) out.push_back({e.at("path"), e.at("args"), e.at("env"), e.at("timeout")});
    return out;
}

json hooks_to_json(const std::vector<Hook>& hooks) {
    json out = json::array();
    for (auto& h : hooks) out.push_back({{"path", h.path}, {"args", h.args}, {"env", h.env}, {"timeout", h.timeout}});
    return out;
}

}  // namespace lb::oci
