#include "core/error.hpp"

#include <cctype>
#include <cstring>

namespace lb {

std::string errno_text(int err) {
    char buf[128];
    const char* s = strerror_r(err, buf, sizeof buf);  // GNU variant returns the string
    std::string out(s);
    if (!out.empty()) out[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(out[0])));
    return out;
}

std::string format_error(int err, const std::string& syscall, const std::string& path) {
    std::string msg = syscall;
    if (!path.empty()) msg += " " + path;
    if (err != 0) msg += ": " + errno_text(err);
    return msg;
}

SysError::SysError(int e, std::string sc, std::string p, std::string what)
    : std::runtime_error(what.empty() ? format_error(e, sc, p) : what),
      err(e),
      syscall(std::move(sc)),
      path(std::move(p)) {}

void throw_errno(const std::string& syscall, const std::string& path) {
    throw SysError(errno, syscall, path);
}

void throw_err(int err, const std::string& syscall, const std::string& path) {
    throw SysError(err, syscall, path);
}

void throw_invalid(const std::string& what, const std::string& path, int err) {
    std::string msg = path.empty() ? what : path + ": " + what;
    throw SysError(err, "", path, msg);
}

}  // namespace lb
