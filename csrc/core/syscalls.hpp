// Thin wrappers for the syscalls glibc 2.36 does not wrap (or wraps in headers that fight each
// other). Each returns what the kernel returns and leaves errno set; callers decide what an
// error means.
#pragma once

#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace lb::sys {

inline int openat2(int dirfd, const char* path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct open_how how {};
    how.flags = flags;
    how.mode = mode;
    how.resolve = resolve;
    return static_cast<int>(::syscall(SYS_openat2, dirfd, path, &how, sizeof how));
}

// struct clone_args as of Linux 5.7 (with cgroup); declared here so <sched.h> and
// <linux/sched.h> never meet.
struct CloneArgs {
    uint64_t flags;
    uint64_t pidfd;
    uint64_t child_tid;
    uint64_t parent_tid;
    uint64_t exit_signal;
    uint64_t stack;
    uint64_t stack_size;
    uint64_t tls;
    uint64_t set_tid;
    uint64_t set_tid_size;
    uint64_t cgroup;
};
constexpr uint64_t kClonePidfd = 0x00001000ULL;
constexpr uint64_t kCloneIntoCgroup = 0x200000000ULL;

// clone3 used like fork(): returns 0 in the child, the pid in the parent.
inline long clone3(CloneArgs* args) { return ::syscall(SYS_clone3, args, sizeof *args); }

inline int pidfd_open(pid_t pid, unsigned flags = 0) {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, flags));
}
inline int pidfd_send_signal(int pidfd, int sig, unsigned flags = 0) {
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, flags));
}
inline int close_range(unsigned first, unsigned last, unsigned flags) {
    return static_cast<int>(::syscall(SYS_close_range, first, last, flags));
}
inline int pivot_root(const char* new_root, const char* put_old) {
    return static_cast<int>(::syscall(SYS_pivot_root, new_root, put_old));
}
constexpr unsigned kCloseRangeCloexec = 1U << 2;

}  // namespace lb::sys
