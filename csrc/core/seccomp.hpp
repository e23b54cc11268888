// Seccomp: a container process's syscall filter.
//
// Python resolves a profile (Docker's JSON format) for this machine's architecture and the
// container's capabilities; libseccomp compiles it once into a classic BPF program, which is
// cached in the store. A container's process only installs those bytes, last thing before
// execve: the monitor and the exec helper never link libseccomp (the monitor is static).
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

// The BPF for `resolved_json`, from `cache_dir` when it was compiled before (the cache file
// holds the profile text too and is used only when it matches), otherwise compiled and
// published there by rename. An empty cache_dir compiles without caching.
std::string seccomp_program(const std::string& resolved_json, const std::string& cache_dir);

}  // namespace lb
