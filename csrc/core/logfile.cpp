#include "core/logfile.hpp"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>

namespace lb {

std::string rfc3339(long long sec, long nsec) {
    // UTC by arithmetic (Howard Hinnant's civil_from_days): glibc's gmtime_r reads
    // /etc/localtime at its first call, a file nothing here needs (the monitor read it at
    // every container start, before its report).
    long long days = sec / 86400, secs = sec % 86400;
    if (secs < 0) secs += 86400, --days;
    long long z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1), month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
    int year = static_cast<int>(yoe + era * 400 + (month <= 2));
    char buf[80];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", year, month, day,
                  static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60), nsec);
    return buf;
}

std::string rfc3339_now() {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return rfc3339(ts.tv_sec, ts.tv_nsec);
}

std::string rfc3339_nano_trimmed(long long sec, long nsec) {
    std::string s = rfc3339(sec, nsec);  // ...:05.123456789Z
    size_t dot = s.rfind('.');
    size_t end = s.size() - 1;  // the 'Z'
    size_t last = end;
    while (last > dot + 1 && s[last - 1] == '0') --last;
    if (last == dot + 1) last = dot;  // no fraction at all
    return s.substr(0, last) + "Z";
}

void json_escape_into(std::string& out, std::string_view s) {
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    while (i < s.size()) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            switch (c) {
                case '"': out += "\\\""; break;
                case '\\': out += "\\\\"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                case '\t': out += "\\t"; break;
                case '<': case '>': case '&':
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 0xf];
                    break;
                default:
                    if (c < 0x20) {
                        out += "\\u00";
                        out += hex[c >> 4];
                        out += hex[c & 0xf];
                    } else {
                        out += static_cast<char>(c);
                    }
            }
            ++i;
            continue;
        }
        // A multi-byte sequence: copied when it is valid UTF-8 (shortest form, no surrogates),
        // else one U+FFFD per bad byte, as Go's encoder does.
        size_t n = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = n > 0 && i + n <= s.size();
        unsigned cp = ok ? (c & (0x7f >> n)) : 0;
        for (size_t k = 1; ok && k < n; ++k) {
            unsigned char b = static_cast<unsigned char>(s[i + k]);
            ok = (b >> 6) == 2;
            cp = (cp << 6) | (b & 0x3f);
        }
        if (ok) ok = (n == 2 && cp >= 0x80) || (n == 3 && cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff)) ||
                     (n == 4 && cp >= 0x10000 && cp <= 0x10ffff);
        if (!ok) {
            out += "\\ufffd";
            ++i;
            continue;
        }
        if (cp == 0x2028 || cp == 0x2029) {
            out += cp == 0x2028 ? "\\u2028" : "\\u2029";
        } else {
            out.append(s.substr(i, n));
        }
        i += n;
    }
}

LogWriter::LogWriter(const std::string& path, LogOptions opts) : path_(path), opts_(std::move(opts)) {
    if (opts_.max_file < 1) opts_.max_file = 1;
}

bool LogWriter::open_file(bool truncate) {
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND), 0640);
    if (fd < 0) {
        failed_ = true;
        return false;
    }
    fd_.reset(fd);
    struct stat st;
    size_ = ::fstat(fd, &st) == 0 ? st.st_size : 0;
    return true;
}

bool LogWriter::flush() {
    const char* p = buf_.data();
    size_t left = buf_.size();
    while (left > 0) {
        ssize_t n = ::write(fd_.get(), p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            failed_ = true;
            return false;
        }
        p += n;
        left -= static_cast<size_t>(n);
        size_ += n;
    }
    buf_.clear();
    return true;
}

// docker's rotate(): FILE.(n-1) -> FILE.n ... FILE -> FILE.1, then a new FILE; with a single
// file, the same file truncated. A reader that has FILE open reads on to its end and then
// opens the new one (logs -f does).
void LogWriter::rotate() {
    fd_.reset();
    if (opts_.max_file >= 2) {
        for (int i = opts_.max_file - 1; i > 1; --i) {
            std::string to = path_ + "." + std::to_string(i), from = path_ + "." + std::to_string(i - 1);
            ::rename(from.c_str(), to.c_str());  // ENOENT: not that many files yet
        }
        ::rename(path_.c_str(), (path_ + ".1").c_str());
    }
    open_file(true);
}

void LogWriter::write(std::string_view stream, std::string_view data) {
    if (path_.empty() || failed_ || data.empty()) return;
    // Created on first output: a container that prints nothing has no log file to make
    // and remove (most of a CI system's short-lived containers).
    if (!fd_ && !open_file(false)) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    bool json = opts_.format == "json";
    std::string stamp = json ? rfc3339_nano_trimmed(ts.tv_sec, ts.tv_nsec) : rfc3339(ts.tv_sec, ts.tv_nsec);
    buf_.clear();
    size_t pos = 0;
    while (pos < data.size()) {
        size_t nl = data.find('\n', pos);
        bool full = nl != std::string_view::npos;
        size_t end = full ? nl : data.size();
        if (json) {
            buf_ += "{\"log\":\"";
            json_escape_into(buf_, data.substr(pos, end - pos + (full ? 1 : 0)));
            buf_ += "\",\"stream\":\"";
            buf_ += stream;
            buf_ += "\",\"time\":\"";
            buf_ += stamp;
            buf_ += "\"}\n";
        } else {
            buf_ += stamp;
            buf_ += ' ';
            buf_ += stream;
            buf_ += full ? " F " : " P ";
            buf_.append(data.substr(pos, end - pos));
            buf_ += '\n';
        }
        pos = full ? nl + 1 : data.size();
        // docker checks the size before each message: the file passes max-size by at most
        // one record, and rotates before the next.
        if (opts_.max_size > 0 && size_ + static_cast<long long>(buf_.size()) >= opts_.max_size) {
            if (!flush()) return;
            rotate();
            if (failed_) return;
        }
    }
    flush();
}

}  // namespace lb
