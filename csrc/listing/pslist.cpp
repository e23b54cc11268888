#include "listing/pslist.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <optional>
#include <string_view>
#include <thread>

#include <simdjson.h>

#include "core/error.hpp"
#include "core/fd.hpp"

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

// The wanted part of the JSON object file `name` in the directory `dirfd` (`shown` names it in
// errors); nullopt when the file (or the directory) is missing: a container removed meanwhile,
// or never started. No exception on that path: a never-started container has no state.json,
// and 10,000 of them must not cost 10,000 throws.
std::optional<json> read_json_object(simdjson::dom::parser& parser, int dirfd, const char* name,
                                     const std::string& shown, const KeyPaths& keys) {
    int fd = ::openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
        throw_errno("open", shown);
    }
    UniqueFd f(fd);
    std::string text = read_all(f.get(), shown);
    simdjson::dom::element doc;
    if (parser.parse(text).get(doc) != simdjson::SUCCESS || !doc.is_object()) throw_invalid("not a JSON object", shown);
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
    auto one = [&](simdjson::dom::parser& parser, size_t i) {
        const std::string shown = containers_dir + "/" + ids[i];
        if (ids[i].find('/') != std::string::npos || ids[i] == ".." || ids[i] == ".") throw_invalid("not a container id", shown);
        int d = ::openat(top.get(), ids[i].c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (d < 0) {
            if (errno == ENOENT || errno == ENOTDIR) return;  // removed meanwhile
            throw_errno("open", shown);
        }
        UniqueFd dir(d);
        std::optional<json> config = read_json_object(parser, dir.get(), "config.json", shown + "/config.json", kConfigKeys);
        if (!config) return;  // removed meanwhile
        auto given = states.find(ids[i]);
        std::optional<json> state;
        if (given != states.end()) state = given->second;
        else state = read_json_object(parser, dir.get(), "state.json", shown + "/state.json", kStateKeys);
        slots[i] = ps_row(ids[i], *config, state ? *state : json{{"Status", "created"}}, trunc, now);
    };
    // Files of a few hundred containers read in one thread; more on every core.
    size_t workers = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), 8);
    workers = std::min(workers, (ids.size() + 255) / 256);
    if (workers <= 1) {
        simdjson::dom::parser parser;
        for (size_t i = 0; i < ids.size(); ++i) one(parser, i);
    } else {
        std::vector<std::exception_ptr> errors(workers);
        std::vector<std::thread> threads;
        for (size_t w = 0; w < workers; ++w)
            threads.emplace_back([&, w] {
                try {
                    simdjson::dom::parser parser;  // one each: a parser is not shared
                    for (size_t i = w; i < ids.size(); i += workers) one(parser, i);
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

}  // namespace lb
