// Errors that cross from the kernel to Python.
//
// Convention (after crun's libcrun_error_t): every failure carries the errno, the syscall that
// failed and the path (or name) it was about, so a user reading "mount overlay on
// /var/lib/layerbox/containers/ab12/merged: invalid argument" knows what, where and why. The
// bindings turn a SysError into a Python OSError subclass with errno, syscall and filename set.
#pragma once

#include <cerrno>
#include <stdexcept>
#include <string>

namespace lb {

class SysError : public std::runtime_error {
public:
    SysError(int err, std::string syscall, std::string path, std::string what = {});
    int err;              // errno value (0 when the failure is not from the kernel)
    std::string syscall;  // "mount", "openat2", "execve", ...
    std::string path;     // the path or name involved, may be empty
};

// Throws SysError with the current errno.
[[noreturn]] void throw_errno(const std::string& syscall, const std::string& path = {});
// Throws SysError with an explicit errno.
[[noreturn]] void throw_err(int err, const std::string& syscall, const std::string& path = {});
// A failure that is about the input, not the kernel (corrupt archive, bad plan): EINVAL-like.
[[noreturn]] void throw_invalid(const std::string& what, const std::string& path = {},
                                int err = EINVAL);

// "mount /x: invalid argument" style message, lower case as in our convention.
std::string format_error(int err, const std::string& syscall, const std::string& path);
// strerror in lower case ("no such file or directory").
std::string errno_text(int err);

}  // namespace lb
