#include "listing/pslist.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <exception>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>

#include <simdjson.h>

#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/syscalls.hpp"

namespace lb {

namespace {

using nlohmann::json;

// The key paths a row reads ("*": any key, or an array's element); nothing else of the files
// is copied out of simdjson's parse.
using KeyPaths = std::vector<std::vector<std::string_view>>;
const KeyPaths kConfigKeys = {
    {"Created"}, {"Name"}, {"Path"}, {"Args"}, {"Image"},
    {"Config", "Image"}, {"Config", "Labels"}, {"Config", "Healthcheck", "Test"},
    {"HostConfig", "NetworkMode"}, {"Mounts", "*", "Type"}, {"Mounts", "*", "Name"}, {"Mounts", "*", "Source"},
    // the Engine API's summary (api_summary) besides the row
    {"Mounts", "*", "Destination"}, {"Mounts", "*", "Mode"}, {"Mounts", "*", "RW"},
};
const KeyPaths kStateKeys = {
    {"Status"}, {"StartedAt"}, {"FinishedAt"}, {"ExitCode"}, {"NetworkSettings", "Ports"},
    {"NetworkSettings", "Networks"},
};

bool wanted(const std::vector<std::string_view>& path, const KeyPaths& keys) {
    for (const auto& k : keys) {
        size_t n = std::min(k.size(), path.size());
        size_t i = 0;
        while (i < n && (k[i] == "*" || path[i] == k[i])) ++i;
        if (i == n) return true;  // on the way to a wanted key, or below one
    }
    return false;
}

// Copies what `keys` wants of a parsed element into `out`; `path` is where `e` is.
void keep(simdjson::dom::element e, std::vector<std::string_view>& path, const KeyPaths& keys, json& out) {
    using T = simdjson::dom::element_type;
    switch (e.type()) {
        case T::OBJECT:
            out = json::object();
            for (auto [key, value] : simdjson::dom::object(e)) {
                path.push_back(key);
                if (wanted(path, keys)) keep(value, path, keys, out[std::string(key)]);
                path.pop_back();
            }
            break;
        case T::ARRAY:
            out = json::array();
            path.push_back("");  // an element: "*" in a key path
            for (simdjson::dom::element v : simdjson::dom::array(e)) keep(v, path, keys, out.emplace_back());
            path.pop_back();
            break;
        case T::STRING: out = std::string(std::string_view(e)); break;
        case T::INT64: out = int64_t(e); break;
        case T::UINT64: out = uint64_t(e); break;
        case T::DOUBLE: out = double(e); break;
        case T::BOOL: out = bool(e); break;
        case T::NULL_VALUE: out = nullptr; break;
    }
}

// Parses buf[0, len) (the buffer holds simdjson's padding past len) as a JSON object.
bool parsed_object(simdjson::dom::parser& parser, const std::string& buf, size_t len, simdjson::dom::element& doc) {
    return parser.parse(reinterpret_cast<const uint8_t*>(buf.data()), len, false).get(doc) == simdjson::SUCCESS &&
           doc.is_object();
}

// What one reader thread keeps between files: simdjson's parser and a read buffer (with
// simdjson's padding past its end, so a file is parsed where it was read, not copied).
struct Reader {
    simdjson::dom::parser parser;
    std::string buf = std::string(size_t(64) << 10, '\0');
};

// Opens `rel` ("ID/config.json") below `top`: one openat2 that refuses any symlink and any
// escape (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), instead of the container's directory opened
// and closed around each of its files (ps -a of 10,000 containers: 2 syscalls of 7 or 10 a
// container). Without openat2 (Linux < 5.6), the directory with O_NOFOLLOW, then the file.
// O_NONBLOCK: a FIFO put in a file's place fails the parse instead of hanging the listing.
int open_beneath(int top, const std::string& id, const char* name) {
    static std::atomic<bool> no_openat2{false};
    constexpr int kFlags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
    if (!no_openat2.load(std::memory_order_relaxed)) {
        std::string rel = id + "/" + name;
        int fd = sys::openat2(top, rel.c_str(), kFlags, 0,
                              RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
        if (fd >= 0 || errno != ENOSYS) return fd;
        no_openat2.store(true, std::memory_order_relaxed);
    }
    int d = ::openat(top, id.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (d < 0) return -1;
    UniqueFd dir(d);
    return ::openat(dir.get(), name, kFlags);
}

// The wanted part of the JSON object file `name` of the container `id` under `top` (`shown`
// names it in errors); nullopt when the file (or the container's directory) is missing: a
// container removed meanwhile, or never started. No exception on that path: a never-started
// container has no state.json, and 10,000 of them must not cost 10,000 throws.
std::optional<json> read_json_object(Reader& rd, int top, const std::string& id, const char* name,
                                     const std::string& shown, const KeyPaths& keys) {
    int fd = open_beneath(top, id, name);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
        throw_errno("open", shown);
    }
    UniqueFd f(fd);
    // One read a file: these are a few KiB, written whole and renamed into place, and a read of
    // a regular file returns less than asked only at its end. A file that fills the buffer is
    // read on to its end; one that does not parse is read on too before it is called damaged
    // (so a short read elsewhere costs a second read, never a wrong answer).
    std::string& buf = rd.buf;
    size_t len = 0;
    bool at_end = false;
    auto read_some = [&]() -> bool {  // false at the end of the file
        if (buf.size() - len < simdjson::SIMDJSON_PADDING + 4096) buf.resize(buf.size() * 2);
        size_t room = buf.size() - len - simdjson::SIMDJSON_PADDING;
        ssize_t n;
        do n = ::read(f.get(), buf.data() + len, room);
        while (n < 0 && errno == EINTR);
        if (n < 0) throw_errno("read", shown);
        len += static_cast<size_t>(n);
        at_end = n == 0;
        return !at_end && static_cast<size_t>(n) == room;  // filled: there may be more
    };
    while (read_some()) {
    }
    simdjson::dom::element doc;
    while (!parsed_object(rd.parser, buf, len, doc)) {
        if (at_end) throw_invalid("not a JSON object", shown);
        while (!at_end) read_some();  // a short read before the end: read it all, then judge
    }
    std::vector<std::string_view> at;
    json out;
    keep(doc, at, keys, out);
    return out;
}

// The listing's cache (ps_rows' `cache`): what a row reads of each container's two files,
// kept with the stamp of the container's directory it was read under. Every writer of
// config.json and state.json (the commands, the monitor) writes a new file and renames it
// into that directory, which changes the directory's ctime and mtime; so an entry whose stamp
// still matches holds what the files hold, and ps -a reads one file and stats each directory
// instead of opening, reading and parsing two files a container. The files stay the truth:
// an entry that does not match is read again, a cache that does not parse is ignored and
// rebuilt, and a lost or stale cache only costs the reads.
//
// Text, one line a container: ID INO CTIME_S CTIME_NS MTIME_S MTIME_NS \t CONFIG \t STATE,
// CONFIG and STATE the kept parts as JSON (no raw tab or newline in either; STATE empty for a
// container never started), between a header line and an "end COUNT" line (a file cut short
// by a crash does not parse).
// The number is the kept keys' version: a cache of other keys is not read (rebuilt).
constexpr std::string_view kCacheHeader = "layerbox ps cache 2\n";

struct Stamp {
    uint64_t ino = 0;
    int64_t ctime_s = 0, ctime_ns = 0, mtime_s = 0, mtime_ns = 0;
    bool operator==(const Stamp& o) const {
        return ino == o.ino && ctime_s == o.ctime_s && ctime_ns == o.ctime_ns && mtime_s == o.mtime_s &&
               mtime_ns == o.mtime_ns;
    }
};

struct CacheEntry {
    Stamp stamp;
    std::string_view line, config, state;  // into the cache's text
};

struct Cache {
    std::string text;
    std::unordered_map<std::string_view, CacheEntry> entries;
    bool read_ok = false;  // false: missing or damaged (rewritten)
};

bool parse_int(std::string_view& s, int64_t& out) {
    size_t i = 0;
    bool neg = i < s.size() && s[i] == '-';
    if (neg) ++i;
    if (i == s.size() || s[i] < '0' || s[i] > '9') return false;
    int64_t v = 0;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
        if (v > (INT64_MAX - 9) / 10) return false;
        v = v * 10 + (s[i] - '0');
    }
    out = neg ? -v : v;
    s.remove_prefix(i);
    return true;
}

// Reads the cache at `path` (relative to nothing: an absolute path of the store's); an empty
// cache when it is missing or does not parse.
void read_cache(const std::string& path, Cache& c) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return;
    UniqueFd f(fd);
    struct stat st {};
    if (::fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode)) return;
    try {
        c.text = read_all(f.get(), path);
    } catch (const std::exception&) {
        return;
    }
    std::string_view t = c.text;
    if (t.substr(0, kCacheHeader.size()) != kCacheHeader) return;
    t.remove_prefix(kCacheHeader.size());
    int64_t count = 0;
    for (;;) {
        size_t nl = t.find('\n');
        if (nl == std::string_view::npos) break;
        std::string_view line = t.substr(0, nl + 1), l = t.substr(0, nl);
        t.remove_prefix(nl + 1);
        if (l.substr(0, 4) == "end ") {
            l.remove_prefix(4);
            int64_t n = 0;
            if (parse_int(l, n) && l.empty() && t.empty() && n == count) {
                c.read_ok = true;
                return;
            }
            break;
        }
        size_t sp = l.find(' ');
        if (sp == std::string_view::npos || sp == 0) break;
        std::string_view id = l.substr(0, sp);
        l.remove_prefix(sp);
        CacheEntry e;
        int64_t v[5];
        bool ok = true;
        for (int64_t& x : v) {
            if (l.empty() || l[0] != ' ') ok = false;
            if (!ok) break;
            l.remove_prefix(1);
            ok = parse_int(l, x);
        }
        if (!ok || l.empty() || l[0] != '\t') break;
        l.remove_prefix(1);
        size_t tab = l.find('\t');
        if (tab == std::string_view::npos) break;
        e.stamp = Stamp{static_cast<uint64_t>(v[0]), v[1], v[2], v[3], v[4]};
        e.config = l.substr(0, tab);
        e.state = l.substr(tab + 1);
        e.line = line;
        c.entries[id] = e;
        ++count;
    }
    c.entries.clear();  // damaged: as if there were none
}

// Writes `text` to `tmp` and renames it to `path`; any failure leaves the old cache (or none).
void write_cache(const std::string& path, const std::string& tmp, const std::string& text) {
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return;
    bool ok = true;
    {
        UniqueFd f(fd);
        try {
            write_all(f.get(), text, tmp);
        } catch (const std::exception&) {
            ok = false;
        }
    }
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) ::unlink(tmp.c_str());
}

double realtime_now() {
    struct timespec ts {};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

// Parses a cached kept part (small) through the reader's padded buffer; nullopt when it does
// not parse (a damaged cache: the files are read instead).
std::optional<json> parse_cached(Reader& rd, std::string_view text, const KeyPaths& keys) {
    if (rd.buf.size() < text.size() + simdjson::SIMDJSON_PADDING) rd.buf.resize(text.size() + simdjson::SIMDJSON_PADDING);
    std::memcpy(rd.buf.data(), text.data(), text.size());
    simdjson::dom::element doc;
    if (!parsed_object(rd.parser, rd.buf, text.size(), doc)) return std::nullopt;
    std::vector<std::string_view> at;
    json out;
    keep(doc, at, keys, out);
    return out;
}

}  // namespace

std::vector<PsRow> ps_rows(const std::string& containers_dir, const std::vector<std::string>& ids,
                           const std::map<std::string, json>& states, bool trunc, double now,
                           const std::string& cache_path, const std::string& cache_tmp,
                           const std::string* summary_volumes) {
    std::vector<std::optional<PsRow>> slots(ids.size());
    if (ids.empty()) return {};  // a store without containers may have no directory for them
    UniqueFd top = open_path(containers_dir, O_PATH | O_DIRECTORY);
    const bool caching = !cache_path.empty() && !cache_tmp.empty();
    Cache cache;
    if (caching) read_cache(cache_path, cache);
    // An entry is made only of a directory last changed a while before this listing began:
    // a write in the same tick of the clock as the stat would leave the stamp as it was.
    const double trusted_before = realtime_now() - 2.0;
    std::vector<const CacheEntry*> hits(caching ? ids.size() : 0, nullptr);
    std::vector<std::string> made(caching ? ids.size() : 0);  // new entries' lines
    auto row = [&](const std::string& id, const json& config, const json& state) {
        PsRow r = ps_row(id, config, state, trunc, now);
        if (summary_volumes) r.summary = api_summary(id, config, state, *summary_volumes, now);
        return r;
    };
    auto one = [&](Reader& rd, size_t i) {
        const std::string& id = ids[i];
        const std::string shown = containers_dir + "/" + id;
        if (id.empty() || id.find('/') != std::string::npos || id == ".." || id == ".")
            throw_invalid("not a container id", shown);
        auto given = states.find(id);
        Stamp stamp;
        if (caching) {
            struct statx sx {};
            if (::statx(top.get(), id.c_str(), AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
                        STATX_TYPE | STATX_INO | STATX_CTIME | STATX_MTIME, &sx) != 0) {
                if (errno == ENOENT || errno == ENOTDIR) return;  // removed meanwhile
                throw_errno("stat", shown);
            }
            if (!S_ISDIR(sx.stx_mode)) return;  // not a container's directory
            stamp = Stamp{sx.stx_ino, sx.stx_ctime.tv_sec, sx.stx_ctime.tv_nsec, sx.stx_mtime.tv_sec,
                          sx.stx_mtime.tv_nsec};
            auto it = cache.entries.find(id);
            if (it != cache.entries.end() && it->second.stamp == stamp) {
                const CacheEntry& e = it->second;
                std::optional<json> config = parse_cached(rd, e.config, kConfigKeys);
                std::optional<json> state;
                if (given != states.end()) state = given->second;
                else if (e.state.empty()) state = json{{"Status", "created"}};
                else state = parse_cached(rd, e.state, kStateKeys);
                if (config && state) {
                    hits[i] = &e;
                    slots[i] = row(id, *config, *state);
                    return;
                }
            }
        }
        std::optional<json> config = read_json_object(rd, top.get(), id, "config.json", shown + "/config.json", kConfigKeys);
        if (!config) return;  // removed meanwhile
        std::optional<json> state;
        if (given != states.end()) state = given->second;
        else state = read_json_object(rd, top.get(), id, "state.json", shown + "/state.json", kStateKeys);
        if (caching && given == states.end() && id.find_first_of(" \t\n") == std::string::npos &&
            double(stamp.ctime_s) + double(stamp.ctime_ns) / 1e9 < trusted_before &&
            double(stamp.mtime_s) + double(stamp.mtime_ns) / 1e9 < trusted_before) {
            std::string& line = made[i];
            line = id + " " + std::to_string(stamp.ino) + " " + std::to_string(stamp.ctime_s) + " " +
                   std::to_string(stamp.ctime_ns) + " " + std::to_string(stamp.mtime_s) + " " +
                   std::to_string(stamp.mtime_ns) + "\t";
            // Dumped as JSON: invalid UTF-8 (never in a file simdjson accepted) replaced, not thrown.
            line += config->dump(-1, ' ', false, json::error_handler_t::replace);
            line += '\t';
            if (state) line += state->dump(-1, ' ', false, json::error_handler_t::replace);
            line += '\n';
        }
        slots[i] = row(id, *config, state ? *state : json{{"Status", "created"}});
    };
    // Files of a few hundred containers read in one thread; more on every core.
    size_t workers = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), 8);
    workers = std::min(workers, (ids.size() + 255) / 256);
    if (workers <= 1) {
        Reader rd;
        for (size_t i = 0; i < ids.size(); ++i) one(rd, i);
    } else {
        std::vector<std::exception_ptr> errors(workers);
        std::vector<std::thread> threads;
        for (size_t w = 0; w < workers; ++w)
            threads.emplace_back([&, w] {
                try {
                    Reader rd;  // one each: a parser is not shared
                    for (size_t i = w; i < ids.size(); i += workers) one(rd, i);
                } catch (...) {
                    errors[w] = std::current_exception();
                }
            });
        for (auto& t : threads) t.join();
        for (auto& e : errors)
            if (e) std::rethrow_exception(e);
    }
    if (caching) {
        // Rewritten when it would change: an entry made, or one dropped (a container removed
        // or changed since); a directory changed in the last seconds is read each time until
        // it has been left alone for a while.
        size_t kept = 0, added = 0;
        for (size_t i = 0; i < ids.size(); ++i) {
            kept += hits[i] != nullptr;
            added += !made[i].empty();
        }
        if (added || kept != cache.entries.size() || !cache.read_ok) {
            std::string text(kCacheHeader);
            for (size_t i = 0; i < ids.size(); ++i) {
                if (hits[i]) text += hits[i]->line;
                else text += made[i];
            }
            text += "end " + std::to_string(kept + added) + "\n";
            write_cache(cache_path, cache_tmp, text);
        }
    }
    // Newest first, ties in the order given: the order sorted as indices (a row is 15 strings
    // to move), then the rows moved once.
    std::vector<size_t> order;
    order.reserve(ids.size());
    for (size_t i = 0; i < slots.size(); ++i)
        if (slots[i]) order.push_back(i);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return slots[a]->created > slots[b]->created; });
    std::vector<PsRow> rows;
    rows.reserve(order.size());
    for (size_t i : order) rows.push_back(std::move(*slots[i]));
    return rows;
}

namespace {

// Characters of UTF-8 text (what Go's tabwriter counts, as Python's len does).
size_t text_width(const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

}  // namespace

namespace {

// The first `last` rows (all when last <= 0), each running one with a healthcheck given its
// STATUS suffix from `health`; false when one's suffix is missing (started since the caller
// looked).
bool cut_and_suffix(std::vector<PsRow>& rows, const std::map<std::string, std::string>& health, long last) {
    if (last > 0 && rows.size() > static_cast<size_t>(last)) rows.resize(static_cast<size_t>(last));
    for (PsRow& r : rows) {
        if (!r.healthcheck || r.state != "running") continue;
        auto it = health.find(r.full_id);
        if (it == health.end()) return false;
        r.status += it->second;
        if (r.summary.is_object()) r.summary["Status"] = r.status;
    }
    return true;
}

}  // namespace

std::optional<std::string> api_summaries(std::vector<PsRow>& rows, const std::map<std::string, std::string>& health,
                                         long last) {
    if (!cut_and_suffix(rows, health, last)) return std::nullopt;
    std::string out = "[";
    for (const PsRow& r : rows) {
        if (out.size() > 1) out += ',';
        out += r.summary.dump(-1, ' ', false, json::error_handler_t::replace);
    }
    out += ']';
    return out;
}

std::optional<std::string> ps_table(std::vector<PsRow>& rows, const std::map<std::string, std::string>& health,
                                    long last) {
    if (!cut_and_suffix(rows, health, last)) return std::nullopt;
    static const std::array<std::string, 7> head = {"CONTAINER ID", "IMAGE", "COMMAND", "CREATED",
                                                   "STATUS", "PORTS", "NAMES"};
    auto cells = [](const PsRow& r) {
        return std::array<const std::string*, 7>{&r.id, &r.image, &r.command, &r.running_for,
                                                 &r.status, &r.ports, &r.names};
    };
    // Go's tabwriter as docker's formatter sets it up (minimum width 10, padding 3), over lines
    // that all have every column: one block, each column as wide as its widest cell + 3.
    std::array<size_t, 6> width{};
    for (size_t c = 0; c < 6; ++c) width[c] = std::max<size_t>(10, text_width(head[c]) + 3);
    std::vector<std::array<size_t, 6>> widths(rows.size());
    size_t bytes = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
        auto cs = cells(rows[i]);
        for (size_t c = 0; c < 6; ++c) {
            widths[i][c] = text_width(*cs[c]);
            width[c] = std::max(width[c], widths[i][c] + 3);
            bytes += cs[c]->size();
        }
        bytes += cs[6]->size();
    }
    size_t line = 1;
    for (size_t w : width) line += w;
    std::string out;
    out.reserve(bytes + (rows.size() + 1) * line);
    auto put = [&](const std::array<const std::string*, 7>& cs, const size_t* ws) {
        for (size_t c = 0; c < 6; ++c) {
            out += *cs[c];
            out.append(width[c] - ws[c], ' ');
        }
        out += *cs[6];
        out += '\n';
    };
    std::array<size_t, 6> head_w{};
    for (size_t c = 0; c < 6; ++c) head_w[c] = text_width(head[c]);
    put({&head[0], &head[1], &head[2], &head[3], &head[4], &head[5], &head[6]}, head_w.data());
    for (size_t i = 0; i < rows.size(); ++i) put(cells(rows[i]), widths[i].data());
    return out;
}

}  // namespace lb
