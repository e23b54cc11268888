// The container log writer: docker's json-file records (escaping, partial lines), Go's
// RFC3339Nano stamps, and rotation by max-size/max-file as docker's logfile.go rotates.
// Plain asserts (NDEBUG is undone: the tests build in Release like everything else).
#undef NDEBUG
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/fd.hpp"
#include "core/logfile.hpp"

using namespace lb;

static std::string esc(std::string_view s) {
    std::string out;
    json_escape_into(out, s);
    return out;
}

static void test_escaping() {
    assert(esc("plain text") == "plain text");
    assert(esc("a\"b\\c\n\r\t") == "a\\\"b\\\\c\\n\\r\\t");
    assert(esc("<a>&") == "\\u003ca\\u003e\\u0026");
    assert(esc(std::string("\x01\x1f", 2)) == "\\u0001\\u001f");
    assert(esc("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    // not UTF-8: one U+FFFD per bad byte, as Go's encoder; overlong and surrogates too
    assert(esc("a\xff" "b") == "a\\ufffdb");
    assert(esc("\xc3") == "\\ufffd");
    assert(esc("\xc0\xaf") == "\\ufffd\\ufffd");
    assert(esc("\xed\xa0\x80") == "\\ufffd\\ufffd\\ufffd");
    assert(esc("\xe2\x80\xa8") == "\\u2028");
}

static void test_stamps() {
    assert(rfc3339_nano_trimmed(0, 0) == "1970-01-01T00:00:00Z");
    assert(rfc3339_nano_trimmed(0, 500000000) == "1970-01-01T00:00:00.5Z");
    assert(rfc3339_nano_trimmed(0, 123456789) == "1970-01-01T00:00:00.123456789Z");
    assert(rfc3339_nano_trimmed(0, 1000) == "1970-01-01T00:00:00.000001Z");
    // by arithmetic, not gmtime_r: the same as gmtime_r's over leap days, centuries, 2000
    assert(rfc3339(951782400, 7) == "2000-02-29T00:00:00.000000007Z");
    assert(rfc3339(4107456000LL, 0) == "2100-02-28T00:00:00.000000000Z");
    for (long long t = 0; t < 4200000000LL; t += 86399 * 37 + 12345) {
        time_t tt = static_cast<time_t>(t);
        struct tm tm;
        gmtime_r(&tt, &tm);
        char want[80];
        std::snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.000000001Z", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        assert(rfc3339(t, 1) == want);
    }
}

static std::string slurp(const std::string& p) {
    struct stat st;
    if (::stat(p.c_str(), &st) != 0) return "<missing>";
    return read_file(p);
}

static void test_records_and_rotation() {
    char tmpl[] = "/tmp/lb-logfile-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    std::string path = dir + "/log";
    {
        LogWriter w(path, LogOptions{"json", 0, 1});
        w.write("stdout", "one\ntwo");
        w.write("stderr", "<x>\n");
        std::string text = slurp(path);
        // a line per record; the chunk's unfinished part is a record without a newline
        size_t lines = 0;
        for (char c : text) lines += c == '\n';
        assert(lines == 3);
        assert(text.find("{\"log\":\"one\\n\",\"stream\":\"stdout\",\"time\":\"") == 0);
        assert(text.find("{\"log\":\"two\",\"stream\":\"stdout\",\"time\":\"") != std::string::npos);
        assert(text.find("{\"log\":\"\\u003cx\\u003e\\n\",\"stream\":\"stderr\"") != std::string::npos);
    }
    ::unlink(path.c_str());
    {
        // max-size 100 with 3 files: FILE, FILE.1, FILE.2; never a FILE.3
        LogWriter w(path, LogOptions{"json", 100, 3});
        for (int i = 0; i < 40; ++i) w.write("stdout", "line " + std::to_string(i) + "\n");
        assert(!w.failed());
        assert(slurp(path + ".3") == "<missing>");
        for (auto p : {path, path + ".1", path + ".2"}) {
            std::string t = slurp(p);
            assert(t != "<missing>");
            assert(t.size() < 100 + 80);  // past max-size by at most one record
        }
        assert(slurp(path + ".1").find("line 3") != std::string::npos ||
               slurp(path + ".2").find("line 3") == std::string::npos);
        std::string newest = slurp(path);
        std::string last = slurp(path + ".1");
        assert(newest.find("line 39") != std::string::npos || last.find("line 39") != std::string::npos);
    }
    for (auto p : {path, path + ".1", path + ".2"}) ::unlink(p.c_str());
    {
        // max-file 1: the same file, truncated
        LogWriter w(path, LogOptions{"json", 100, 1});
        for (int i = 0; i < 40; ++i) w.write("stdout", "line " + std::to_string(i) + "\n");
        assert(slurp(path + ".1") == "<missing>");
        assert(slurp(path).size() < 100 + 80);
    }
    ::unlink(path.c_str());
    {
        // the CRI format of containers made before json-file
        LogWriter w(path, LogOptions{"cri", 0, 1});
        w.write("stdout", "a\nb");
        std::string t = slurp(path);
        assert(t.find(" stdout F a\n") != std::string::npos && t.find(" stdout P b\n") != std::string::npos);
    }
    ::unlink(path.c_str());
    ::rmdir(dir.c_str());
}

int main() {
    test_escaping();
    test_stamps();
    test_records_and_rotation();
    std::puts("test_logfile: ok");
    return 0;
}
