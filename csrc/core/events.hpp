// The store's event log (python/layerbox/events.py has its format and its rotation), for the
// writers that are not Python: the monitor appends the container events only it sees happen
// (`start`, `die` at each exit of its process, `destroy` when it removes an --rm container), so
// every client's `events` shows them whoever started the container; the compiled exec path of
// the `layerbox` command appends an exec's `exec_create`, `exec_start` and `exec_die`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace lb {

struct EventLog {
    std::string path;            // <root>/events.log, "" for none
    long long max_bytes = 0;     // past it the log is renamed to path + ".1" (events.MAX_BYTES)
    std::string id;              // the container's ID
    nlohmann::json attributes;   // name, image and labels: what every event of it carries
};

// {"log", "max_bytes", "id", "attributes"} as the Python engine writes it (the monitor's plan;
// a running container's process.json has the first two).
EventLog event_log_from_json(const nlohmann::json& j);

// The attributes every event of a container carries, from its config.json: its labels, name
// and image (container/engine.py's event_attributes, for the writers that read config.json).
nlohmann::json container_event_attributes(const nlohmann::json& config);

// Appends one container event in docker's shape with one write(2) on an O_APPEND descriptor
// (appends of concurrent writers never interleave). Never fails its caller: an event it cannot
// write is lost, as the Python writers' are.
void record_event(const EventLog& log, const std::string& action, const nlohmann::json& extra) noexcept;

}  // namespace lb
