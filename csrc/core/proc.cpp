#include "core/proc.hpp"

#include <cstdlib>
#include <cstring>

#include "core/error.hpp"
#include "core/fd.hpp"

namespace lb {

uint64_t process_start_time(pid_t pid) {
    std::string s;
    try {
        s = read_file("/proc/" + std::to_string(pid) + "/stat");
    } catch (const SysError&) {
        return 0;
    }
    // comm (field 2) may hold spaces and parentheses: count fields after the last ')'.
    size_t p = s.rfind(')');
    if (p == std::string::npos) return 0;
    int field = 2;
    const char* c = s.c_str() + p + 1;
    while (*c == ' ') ++c;
    if (*c == 'Z' || *c == 'X') return 0;  // exited, only waiting to be reaped: not alive
    while (*c && field < 22) {
        while (*c == ' ') ++c;
        ++field;
        if (field == 22) return std::strtoull(c, nullptr, 10);
        while (*c && *c != ' ') ++c;
    }
    return 0;
}

std::string boot_id() {
    try {
        std::string s = read_file("/proc/sys/kernel/random/boot_id");
        while (!s.empty() && s.back() == '\n') s.pop_back();
        return s;
    } catch (const SysError&) {
        return "";
    }
}

}  // namespace lb
