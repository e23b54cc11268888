// Keeping a reserve of free space on the file system an untrusted stream is written to.
//
// A layer or archive says nothing trustworthy about how much it will write: 19 MiB of gzip can
// inflate to many GiB. Extraction stops, with ENOSPC, once the destination's file system has
// less than `min_free` bytes left (checked with fstatvfs every few MiB written: a syscall of
// about a microsecond per MiB that costs a millisecond to write), so the store's disk never
// fills up because of one import, load or pull, and the containers and commands sharing it keep
// working.
#pragma once

#include <cstdint>
#include <string>

namespace lb {

class SpaceReserve {
public:
    SpaceReserve() = default;  // no reserve: never checks
    // `fd`: any descriptor on the destination file system (kept only as a number: the caller
    // keeps it open while this is used). `shown`: the destination, for the error.
    SpaceReserve(int fd, uint64_t min_free, std::string shown);

    // Count n more bytes written; every kCheckEvery bytes, check the reserve.
    void wrote(uint64_t n) {
        if (min_free_ == 0) return;
        pending_ += n;
        if (pending_ >= kCheckEvery) check();
    }
    // Throws SysError(ENOSPC) naming the destination when the file system is below the reserve.
    void check();

    static constexpr uint64_t kCheckEvery = 4ull << 20;

private:
    int fd_ = -1;
    uint64_t min_free_ = 0;
    uint64_t pending_ = 0;
    std::string shown_;
};

// "1.5GB"-style size for messages (decimal units, as docker prints sizes).
std::string human_size(uint64_t n);

}  // namespace lb
