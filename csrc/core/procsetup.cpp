#include "core/procsetup.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/error.hpp"
#include "core/fd.hpp"

namespace lb {

namespace {

int ns_type(const std::string& t) {
    if (t == "net") return CLONE_NEWNET;
    if (t == "ipc") return CLONE_NEWIPC;
    if (t == "uts") return CLONE_NEWUTS;
    if (t == "mount") return CLONE_NEWNS;
    if (t == "cgroup") return CLONE_NEWCGROUP;
    throw_invalid("cannot join a namespace of type '" + t + "' in the container's init");
}

}  // namespace

void join_namespace_paths(const LaunchPlan& plan) {
    for (auto& [type, path] : plan.join_namespaces) {
        if (type == "pid" || type == "user") continue;  // joined before the clone
        int kind = ns_type(type);
        UniqueFd fd = open_path(path, O_RDONLY);
        if (::setns(fd.get(), kind) != 0) throw_errno("setns " + type, path);
    }
}

void apply_process_limits(const LaunchPlan& plan) {
    if (!plan.domainname.empty() && ::setdomainname(plan.domainname.data(), plan.domainname.size()) != 0)
        throw_errno("setdomainname", plan.domainname);
    for (auto& r : plan.rlimits) {
        struct rlimit64 l {
            r.soft, r.hard
        };
        if (::setrlimit64(static_cast<__rlimit_resource>(r.resource), &l) != 0)
            throw_errno("setrlimit", std::to_string(r.resource));
    }
    if (plan.set_oom_score_adj) {
        UniqueFd fd = open_path("/proc/self/oom_score_adj", O_WRONLY);
        write_all(fd.get(), std::to_string(plan.oom_score_adj), "/proc/self/oom_score_adj");
    }
    // Kept across execve: the command sees the architecture it asked for (uname -m: i686).
    if (plan.personality >= 0 && ::personality(static_cast<unsigned long>(plan.personality)) < 0)
        throw_errno("personality", std::to_string(plan.personality));
    for (auto& [key, value] : plan.sysctl) {
        std::string path = "/proc/sys/";
        for (char c : key) path += c == '.' ? '/' : c;
        UniqueFd fd = open_path(path, O_WRONLY | O_NOFOLLOW);
        write_all(fd.get(), value, path);
    }
}

int wait_for_start(const LaunchPlan& plan, int errfd) {
    if (plan.start_wait_fd < 0) return errfd;
    std::string self = "/proc/self/fd/" + std::to_string(plan.start_wait_fd);
    // Open the fifo through /proc before reporting, so a container without /proc fails at
    // create, not silently at start.
    if (::access(self.c_str(), F_OK) != 0) throw_errno("open exec fifo through", self);
    ::close(errfd);
    int fd;
    do {
        fd = ::open(self.c_str(), O_WRONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) ::_exit(125);
    ssize_t n = ::write(fd, "0", 1);
    ::close(plan.start_wait_fd);
    if (n != 1) ::_exit(125);
    // Kept open (close-on-exec) as the exec step's report fd: `start` reads end of file the
    // moment the command is exec'd (or the init is gone), with no polling of /proc/N/exe.
    return fd;
}

}  // namespace lb
