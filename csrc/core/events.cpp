#include "core/events.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fd.hpp"

namespace lb {

using nlohmann::json;

EventLog event_log_from_json(const json& j) {
    EventLog e;
    if (!j.is_object()) return e;
    e.path = j.value("log", "");
    e.max_bytes = j.value("max_bytes", 0LL);
    e.id = j.value("id", "");
    e.attributes = j.value("attributes", json::object());
    return e;
}

json container_event_attributes(const json& config) {
    json attrs = json::object();
    const json& cfg = config.value("Config", json::object());
    if (auto labels = cfg.find("Labels"); labels != cfg.end() && labels->is_object())
        for (auto& [k, v] : labels->items()) attrs[k] = v.is_string() ? v.get<std::string>() : v.dump();
    std::string name = config.value("Name", "");
    attrs["name"] = name.empty() || name[0] != '/' ? name : name.substr(1);
    auto image = cfg.find("Image");
    attrs["image"] = image != cfg.end() && image->is_string() ? image->get<std::string>() : "";
    return attrs;
}

namespace {

// The same rotation as events.py's _rotate: under an flock, and only the file still at path
// (another writer may have rotated it meanwhile).
void rotate(const EventLog& log, int fd) {
    if (::flock(fd, LOCK_EX) != 0) return;
    struct stat mine, cur;
    if (::fstat(fd, &mine) == 0 && ::stat(log.path.c_str(), &cur) == 0 && mine.st_dev == cur.st_dev &&
        mine.st_ino == cur.st_ino && mine.st_size > log.max_bytes)
        ::rename(log.path.c_str(), (log.path + ".1").c_str());
    ::flock(fd, LOCK_UN);
}

void append_event(const EventLog& log, const std::string& action, const json& extra) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long ns = ts.tv_sec * 1000000000LL + ts.tv_nsec;
    json attrs = log.attributes.is_object() ? log.attributes : json::object();
    for (auto& [k, v] : extra.items()) attrs[k] = v.is_string() ? v.get<std::string>() : v.dump();
    json doc = {{"Type", "container"}, {"Action", action},
                {"Actor", {{"ID", log.id}, {"Attributes", attrs}}},
                {"scope", "local"}, {"time", ts.tv_sec}, {"timeNano", ns},
                {"status", action}, {"id", log.id}};
    if (attrs.contains("image")) doc["from"] = attrs["image"];
    // An exec's command line, a label or a name are the user's bytes, not always UTF-8: dump()
    // would throw; invalid sequences become U+FFFD instead.
    std::string line = doc.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    UniqueFd fd(::open(log.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) return;  // the store went (or is not writable): nothing to record into
    if (::write(fd.get(), line.data(), line.size()) < 0) return;
    struct stat st;
    if (log.max_bytes > 0 && ::fstat(fd.get(), &st) == 0 && st.st_size > log.max_bytes) rotate(log, fd.get());
}

}  // namespace

void record_event(const EventLog& log, const std::string& action, const json& extra) noexcept {
    if (log.path.empty()) return;
    try {
        append_event(log, action, extra);
    } catch (const std::exception&) {
        // lost, as promised (a full disk, memory): the exec or exit it tells of goes on
    }
}

}  // namespace lb
