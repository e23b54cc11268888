// The container log, written by the monitor in one of two formats:
//  - "json": docker's json-file driver, what `docker logs` and every log shipper read:
//      {"log":"a full line\n","stream":"stdout","time":"2026-11-29T19:35:12.123456789Z"}
//    one record per line of output (a chunk that ends without a newline is a record whose
//    "log" has none; the next record continues it), with docker's rotation: once the file
//    reaches max_size it becomes FILE.1 (FILE.1 -> FILE.2, ... up to max_file - 1 old files;
//    with max_file 1 it is truncated instead).
//  - "cri": the CRI format kubelet and containerd use, what containers made before json-file
//    have (kept so their logs stay one format):
//      2026-11-29T19:35:12.123456789Z stdout F a full line
//      2026-11-29T19:35:12.123456789Z stderr P a partial line (no newline yet)
// Records are stamped when the monitor read them. python/layerbox/container/logs.py reads both.
#pragma once

#include <string>
#include <string_view>

#include "core/fd.hpp"

namespace lb {

// RFC 3339 with nanoseconds, UTC: what docker prints for StartedAt and `logs -t`.
std::string rfc3339_now();
std::string rfc3339(long long sec, long nsec);

struct LogOptions {
    std::string format = "cri";  // "json" or "cri"
    long long max_size = 0;      // bytes; 0: never rotate
    int max_file = 1;
};

// docker's JSON string escaping for a log record (its jsonlog writer): quotes, backslashes and
// control characters escaped, <, > and & as \u003c..., bytes that are not UTF-8 as U+FFFD.
void json_escape_into(std::string& out, std::string_view s);
// RFC 3339 with trailing zeros of the fraction dropped (Go's RFC3339Nano, docker's "time").
std::string rfc3339_nano_trimmed(long long sec, long nsec);

class LogWriter {
public:
    LogWriter() = default;
    explicit LogWriter(const std::string& path, LogOptions opts = {});
    bool enabled() const { return !path_.empty(); }
    // Appends `data` read from `stream` ("stdout"/"stderr") as records. Errors are swallowed
    // after the first (a full disk must not kill the container); `failed()` tells.
    void write(std::string_view stream, std::string_view data);
    bool failed() const { return failed_; }

private:
    bool open_file(bool truncate);
    bool flush();
    void rotate();

    std::string path_;
    LogOptions opts_;
    long long size_ = 0;
    UniqueFd fd_;
    bool failed_ = false;
    std::string buf_;
};

}  // namespace lb
