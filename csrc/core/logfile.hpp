// The container log, in the CRI format kubelet and containerd use:
//   2026-11-29T19:35:12.123456789Z stdout F a full line
//   2026-11-29T19:35:12.123456789Z stderr P a partial line (no newline yet)
// One record per line of output, stamped when the monitor read it; a chunk that ends without a
// newline becomes a P record and the next record continues it. Plain text, appendable, and
// `logs` can split the streams apart again.
#pragma once

#include <string>
#include <string_view>

#include "core/fd.hpp"

namespace lb {

// RFC 3339 with nanoseconds, UTC: what docker prints for StartedAt and `logs -t`.
std::string rfc3339_now();
std::string rfc3339(long long sec, long nsec);

class LogWriter {
public:
    LogWriter() = default;
    explicit LogWriter(const std::string& path);
    bool enabled() const { return !path_.empty(); }
    // Appends `data` read from `stream` ("stdout"/"stderr") as records. Errors are swallowed
    // after the first (a full disk must not kill the container); `failed()` tells.
    void write(std::string_view stream, std::string_view data);
    bool failed() const { return failed_; }

private:
    std::string path_;
    UniqueFd fd_;
    bool failed_ = false;
    std::string buf_;
};

}  // namespace lb
