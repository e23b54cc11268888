#include "core/seccomp.hpp"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/error.hpp"

namespace lb {

unsigned seccomp_flags_from_names(const std::string& name) {
    if (name == "SECCOMP_FILTER_FLAG_TSYNC") return SECCOMP_FILTER_FLAG_TSYNC;
    if (name == "SECCOMP_FILTER_FLAG_LOG") return SECCOMP_FILTER_FLAG_LOG;
    if (name == "SECCOMP_FILTER_FLAG_SPEC_ALLOW") return SECCOMP_FILTER_FLAG_SPEC_ALLOW;
#ifdef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
    if (name == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV") return SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
#endif
    throw_invalid("unknown seccomp flag '" + name + "'", name);
}

void seccomp_install(const std::string& bpf, unsigned flags) {
    if (bpf.empty()) return;
    if (bpf.size() % sizeof(struct sock_filter) != 0 || bpf.size() / sizeof(struct sock_filter) > BPF_MAXINSNS)
        throw_invalid("seccomp program of " + std::to_string(bpf.size()) + " bytes is not a BPF program");
    struct sock_fprog prog {};
    prog.len = static_cast<unsigned short>(bpf.size() / sizeof(struct sock_filter));
    prog.filter = reinterpret_cast<struct sock_filter*>(const_cast<char*>(bpf.data()));
    if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) != 0) throw_errno("seccomp", "filter");
}

}  // namespace lb
