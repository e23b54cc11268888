// Facts about processes read from /proc.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace lb {

// Field 22 of /proc/PID/stat (clock ticks since boot); 0 when the process is gone or has exited
// (a zombie). With the pid it names one process for all time, so a recorded pid is never
// confused with a reused one.
uint64_t process_start_time(pid_t pid);
// /proc/sys/kernel/random/boot_id: changes at every boot.
std::string boot_id();

}  // namespace lb
