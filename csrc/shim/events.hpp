// The store's event log (python/layerbox/events.py has its format and its rotation): the
// monitor appends the container events only it sees happen, so every client's `events`
// shows them whoever started the container: `die` at each exit of its process, `destroy`
// when it removes an --rm container.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace lb::shim {

struct EventLog {
    std::string path;            // <root>/events.log, "" for none
    long long max_bytes = 0;     // past it the log is renamed to path + ".1" (events.MAX_BYTES)
    std::string id;              // the container's ID
    nlohmann::json attributes;   // name, image and labels: what every event of it carries
};

EventLog event_log_from_json(const nlohmann::json& j);

// Appends one event in docker's shape with one write(2) on an O_APPEND descriptor (appends of
// concurrent writers never interleave). Never fails the monitor: an event it cannot write is
// lost, as the Python writers' are.
void record_event(const EventLog& log, const std::string& action, const nlohmann::json& extra);

}  // namespace lb::shim
