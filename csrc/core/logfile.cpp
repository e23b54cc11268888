#include "core/logfile.hpp"

#include <time.h>
#include <unistd.h>

#include <cstdio>

namespace lb {

std::string rfc3339(long long sec, long nsec) {
    time_t t = static_cast<time_t>(sec);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, nsec);
    return buf;
}

std::string rfc3339_now() {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return rfc3339(ts.tv_sec, ts.tv_nsec);
}

LogWriter::LogWriter(const std::string& path) : path_(path) {}

void LogWriter::write(std::string_view stream, std::string_view data) {
    if (path_.empty() || failed_ || data.empty()) return;
    if (!fd_) {
        // Created on first output: a container that prints nothing has no log file to make
        // and remove (most of a CI system's short-lived containers).
        int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0) {
            failed_ = true;
            return;
        }
        fd_.reset(fd);
    }
    std::string stamp = rfc3339_now();
    buf_.clear();
    size_t pos = 0;
    while (pos < data.size()) {
        size_t nl = data.find('\n', pos);
        bool full = nl != std::string_view::npos;
        size_t end = full ? nl : data.size();
        buf_ += stamp;
        buf_ += ' ';
        buf_ += stream;
        buf_ += full ? " F " : " P ";
        buf_.append(data.substr(pos, end - pos));
        buf_ += '\n';
        pos = full ? nl + 1 : data.size();
    }
    const char* p = buf_.data();
    size_t left = buf_.size();
    while (left > 0) {
        ssize_t n = ::write(fd_.get(), p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            failed_ = true;
            return;
        }
        p += n;
        left -= static_cast<size_t>(n);
    }
}

}  // namespace lb
