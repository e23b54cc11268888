// Capabilities and the other credentials a container process ends with.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "core/plan.hpp"

namespace lb {

// Docker's 14 default capabilities: CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID
// SETFCAP SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE.
constexpr uint64_t kDockerDefaultCaps = 0x00000000a80425fbULL;

// Drops every capability outside `mask` from the bounding set, switches to uid/gid/groups, then
// sets effective and permitted to `mask` (only when the process stays root; a non-root user
// ends with none, as with docker) with inheritable and ambient empty. Call in the container's
// process, last thing before exec (and before no_new_privs).
void apply_credentials(uint64_t mask, uid_t uid, gid_t gid, const std::vector<gid_t>& groups);

// The credentials of `p`: apply_credentials(p.caps, ...) or, when the process names its
// capability sets one by one (an OCI config), each set as given: bounding, then the user with
// the capabilities kept (PR_SET_KEEPCAPS), then effective, permitted, inheritable, ambient.
void apply_credentials(const ProcessSpec& p);

// The highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap).
int cap_last_cap();

}  // namespace lb
