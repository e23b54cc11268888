#include "core/caps.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "core/error.hpp"

namespace lb {

int cap_last_cap() {
    static int last = -1;
    if (last < 0) {
        last = CAP_LAST_CAP;
        if (FILE* f = std::fopen("/proc/sys/kernel/cap_last_cap", "re")) {
            int v;
            if (std::fscanf(f, "%d", &v) == 1) last = v;
            std::fclose(f);
        }
    }
    return last;
}

void apply_credentials(uint64_t mask, uid_t uid, gid_t gid, const std::vector<gid_t>& groups) {
    int last = cap_last_cap();
    for (int c = 0; c <= last; ++c) {
        if (mask & (1ULL << c)) continue;
        if (::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL)
            throw_errno("prctl PR_CAPBSET_DROP", std::to_string(c));
    }
    if (::setgroups(groups.size(), groups.data()) != 0) throw_errno("setgroups");
    if (::setresgid(gid, gid, gid) != 0) throw_errno("setresgid", std::to_string(gid));
    // Without SECBIT_KEEP_CAPS, leaving uid 0 clears permitted and effective: a non-root user
    // gets no capabilities, which is what docker gives it too.
    if (::setresuid(uid, uid, uid) != 0) throw_errno("setresuid", std::to_string(uid));

    uint64_t want = uid == 0 ? mask : 0;
    struct __user_cap_header_struct hdr {};
    hdr.version = _LINUX_CAPABILITY_VERSION_3;
    struct __user_cap_data_struct data[2] {};
    data[0].effective = data[0].permitted = static_cast<uint32_t>(want);
    data[1].effective = data[1].permitted = static_cast<uint32_t>(want >> 32);
    data[0].inheritable = data[1].inheritable = 0;
    if (::syscall(SYS_capset, &hdr, data) != 0) throw_errno("capset");
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        throw_errno("prctl PR_CAP_AMBIENT_CLEAR_ALL");
}

void apply_credentials(const ProcessSpec& p) {
    if (!p.cap_sets_given) return apply_credentials(p.caps, p.uid, p.gid, p.groups);
    const ProcessSpec::CapSets& c = p.cap_sets;
    int last = cap_last_cap();
    for (int n = 0; n <= last; ++n) {
        if (c.bounding & (1ULL << n)) continue;
        if (::prctl(PR_CAPBSET_DROP, n, 0, 0, 0) != 0 && errno != EINVAL)
            throw_errno("prctl PR_CAPBSET_DROP", std::to_string(n));
    }
    if (::setgroups(p.groups.size(), p.groups.data()) != 0) throw_errno("setgroups");
    if (::setresgid(p.gid, p.gid, p.gid) != 0) throw_errno("setresgid", std::to_string(p.gid));
    // The config's sets hold for any user: keep the permitted set across the change of uid
    // (the kernel clears effective then; capset below sets it again).
    if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) throw_errno("prctl PR_SET_KEEPCAPS");
    if (::setresuid(p.uid, p.uid, p.uid) != 0) throw_errno("setresuid", std::to_string(p.uid));
    if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) throw_errno("prctl PR_SET_KEEPCAPS");
    struct __user_cap_header_struct hdr {};
    hdr.version = _LINUX_CAPABILITY_VERSION_3;
    struct __user_cap_data_struct data[2] {};
    data[0].effective = static_cast<uint32_t>(c.effective);
    data[1].effective = static_cast<uint32_t>(c.effective >> 32);
    data[0].permitted = static_cast<uint32_t>(c.permitted);
    data[1].permitted = static_cast<uint32_t>(c.permitted >> 32);
    data[0].inheritable = static_cast<uint32_t>(c.inheritable);
    data[1].inheritable = static_cast<uint32_t>(c.inheritable >> 32);
    if (::syscall(SYS_capset, &hdr, data) != 0) throw_errno("capset");
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        throw_errno("prctl PR_CAP_AMBIENT_CLEAR_ALL");
    for (int n = 0; n <= last; ++n)
        if ((c.ambient & (1ULL << n)) && ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, n, 0, 0) != 0)
            throw_errno("prctl PR_CAP_AMBIENT_RAISE", std::to_string(n));
}

}  // namespace lb
