#include "core/space.hpp"

#include <sys/statvfs.h>

#include <cerrno>
#include <cstdio>

#include "core/error.hpp"

namespace lb {

SpaceReserve::SpaceReserve(int fd, uint64_t min_free, std::string shown)
    : fd_(fd), min_free_(min_free), shown_(std::move(shown)) {
    if (min_free_) check();  // an already full disk fails before the first byte
}

void SpaceReserve::check() {
    pending_ = 0;
    struct statvfs st;
    if (::fstatvfs(fd_, &st) != 0) throw_errno("statfs", shown_);
    // f_bfree, not f_bavail: we run as root, and root writes into the blocks ext4 reserves.
    uint64_t free_bytes = static_cast<uint64_t>(st.f_bfree) * st.f_frsize;
    if (free_bytes >= min_free_) return;
    throw SysError(ENOSPC, "write", shown_,
                   "write " + shown_ + ": no space left on device (stopped with " + human_size(free_bytes) +
                       " free: the store keeps " + human_size(min_free_) + " free, see LAYERBOX_MIN_FREE)");
}

std::string human_size(uint64_t n) {
    static const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    double v = static_cast<double>(n);
    int i = 0;
    while (v >= 1000 && i < 5) {
        v /= 1000;
        ++i;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g%s", v, units[i]);
    return buf;
}

}  // namespace lb
