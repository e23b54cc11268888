// cgroup v2's device allowlist: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE attached
// to the container's cgroup (what runc and crun generate), since v2 has no devices.allow file.
#pragma once

#include <string>
#include <vector>

#include "core/fd.hpp"

namespace lb {

// A rule in the v1 devices.allow syntax: "c 1:3 rwm", "b *:* m", "a *:* rwm".
struct DeviceRule {
    char type = 'a';         // 'a' (any), 'c', 'b'
    long major = -1;         // -1: any
    long minor = -1;
    unsigned access = 7;     // bit 0 mknod, 1 read, 2 write (BPF_DEVCG_ACC_*)
};

DeviceRule parse_device_rule(const std::string& rule);

// The program's instructions (struct bpf_insn, as bytes): access is allowed when one rule
// matches, denied otherwise. Pure logic, so it is unit-testable.
std::string device_program(const std::vector<DeviceRule>& rules);

// Loads the program for `rules` and attaches it to the cgroup directory `dir`
// (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI). Throws SysError.
void attach_device_filter(const std::string& dir, const std::vector<std::string>& rules);

}  // namespace lb
