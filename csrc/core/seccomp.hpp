// Seccomp: a container process's syscall filter.
//
// Python resolves a profile (Docker's JSON format) for this machine's architecture and the
// container's capabilities; libseccomp compiles it once into a classic BPF program, which
// Python caches in the store (seccomp/). The plan names that file; the monitor or the exec
// caller reads it, and the container's process installs the bytes, last thing before execve:
// neither links libseccomp (the monitor is static).
#pragma once

#include <string>

namespace lb {

// SECCOMP_FILTER_FLAG_* names Docker's profile format accepts in "flags".
unsigned seccomp_flags_from_names(const std::string& name);

// Installs `bpf` (an array of struct sock_filter, as seccomp_export_bpf writes it) on the
// calling thread with seccomp(SECCOMP_SET_MODE_FILTER, flags). Without no_new_privs this needs
// CAP_SYS_ADMIN. Throws SysError.
void seccomp_install(const std::string& bpf, unsigned flags);

// Compiles a resolved profile (the JSON that layerbox.container.seccomp makes: defaultAction,
// defaultErrnoRet, architectures, syscalls with names/action/errnoRet/args) to BPF with
// libseccomp. Names this libseccomp does not know are skipped, as runc does. Throws SysError
// (EINVAL, naming the bad field) for an action, operator or architecture it cannot use.
// Defined in seccomp_compile.cpp, which only the Python extension links.
std::string seccomp_compile(const std::string& resolved_json);

}  // namespace lb
