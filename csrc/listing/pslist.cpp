#include "listing/pslist.hpp"

#include <fcntl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <exception>
#include <optional>
#include <string_view>
#include <thread>

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
};
const KeyPaths kStateKeys = {
    {"Status"}, {"StartedAt"}, {"FinishedAt"}, {"ExitCode"}, {"NetworkSettings", "Ports"},
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

}  // namespace

std::vector<PsRow> ps_rows(const std::string& containers_dir, const std::vector<std::string>& ids,
                           const std::map<std::string, json>& states, bool trunc, double now) {
    std::vector<std::optional<PsRow>> slots(ids.size());
    if (ids.empty()) return {};  // a store without containers may have no directory for them
    UniqueFd top = open_path(containers_dir, O_PATH | O_DIRECTORY);
    auto one = [&](Reader& rd, size_t i) {
        const std::string shown = containers_dir + "/" + ids[i];
        if (ids[i].empty() || ids[i].find('/') != std::string::npos || ids[i] == ".." || ids[i] == ".")
            throw_invalid("not a container id", shown);
        std::optional<json> config = read_json_object(rd, top.get(), ids[i], "config.json", shown + "/config.json", kConfigKeys);
        if (!config) return;  // removed meanwhile
        auto given = states.find(ids[i]);
        std::optional<json> state;
        if (given != states.end()) state = given->second;
        else state = read_json_object(rd, top.get(), ids[i], "state.json", shown + "/state.json", kStateKeys);
        slots[i] = ps_row(ids[i], *config, state ? *state : json{{"Status", "created"}}, trunc, now);
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
    std::vector<PsRow> rows;
    rows.reserve(ids.size());
    for (auto& s : slots)
        if (s) rows.push_back(std::move(*s));
    std::stable_sort(rows.begin(), rows.end(), [](const PsRow& a, const PsRow& b) { return a.created > b.created; });
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

std::optional<std::string> ps_table(std::vector<PsRow>& rows, const std::map<std::string, std::string>& health,
                                    long last) {
    if (last > 0 && rows.size() > static_cast<size_t>(last)) rows.resize(static_cast<size_t>(last));
    for (PsRow& r : rows) {
        if (!r.healthcheck || r.state != "running") continue;
        auto it = health.find(r.full_id);
        if (it == health.end()) return std::nullopt;  // started since the caller looked
        r.status += it->second;
    }
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
