// The parts of a container's set-up that an OCI runtime's config.json asks for and `layerbox
// run` does not use: namespaces joined by path, domain name, sysctls, resource limits, the OOM
// score, and waiting for `start`. Each runs in the container's init (after clone, before
// exec), called once from launch_container's child; each does nothing for a plan that does
// not ask for it.
#pragma once

#include "core/plan.hpp"

namespace lb {

// setns() into every namespace of plan.join_namespaces (pid and user excluded: joined before
// the clone).
void join_namespace_paths(const LaunchPlan& plan);
// setdomainname, rlimits, oom_score_adj, the personality and sysctls, once the namespaces exist and before the
// root changes: the sysctls the runtime allows are all namespaced, so writing them through
// /proc/sys (still the host's mount here) sets them in the container's namespaces; and they
// are written before readonlyPaths makes the container's /proc/sys read-only.
void apply_process_limits(const LaunchPlan& plan);
// With plan.start_wait_fd: closes `errfd` (the launcher reads end-of-file: set up and waiting),
// then blocks until `start` opens the exec fifo, writes one byte to it and returns the fifo,
// still open and close-on-exec, as the report fd for the exec step: `start` reads its end of
// file when the command is exec'd (a failure there shows as the container's exit code).
int wait_for_start(const LaunchPlan& plan, int errfd);

}  // namespace lb
