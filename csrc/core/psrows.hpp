// docker ps's rows, built from a container's config.json and state.json, and the phrases they
// share with the other views (durations, statuses, Go's quoting).
//
// One builder for every listing: `ps` (the CLI's, with or without --format and filters) gets
// its rows from here through listing/pslist.hpp, which reads the containers' files. The Python
// views (layerbox.container.views, layerbox._util) delegate their status and duration phrases
// here.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace lb {

// Seconds since the epoch of an RFC 3339 timestamp ("Z" or an offset, optional fraction); 0
// for an empty string and docker's zero time (0001-01-01...); nullopt when malformed.
std::optional<double> parse_rfc3339_checked(std::string_view s);
// The same, malformed as 0 (a record's times: shown as long ago rather than failing a listing).
double parse_rfc3339(std::string_view s);

// docker's units.HumanDuration: "Less than a second", "3 seconds", "About a minute", ...
std::string human_duration(double seconds);

// Go's strconv.Quote as docker prints what it quotes: '"' and '\' escaped, \n \t \r, other
// control bytes and DEL as \xNN; everything else (UTF-8 included) as it is.
std::string go_quote(std::string_view s);

// docker ps STATUS of a state.json: "Up 3 seconds", "Up 5 seconds (Paused)", "Exited (0) 2
// seconds ago", "Created", ... (the health suffix is the caller's: it needs the health log).
std::string status_text(const nlohmann::json& state, double now);

// docker ps COMMAND of a config.json: Path and Args (an argument with a space in single
// quotes), cut to 20 characters with an ellipsis when `trunc`, then Go-quoted.
std::string command_text(const nlohmann::json& config, bool trunc);

struct PsRow {
    std::string full_id;
    std::string id, image, command, created_at, running_for, status, state, ports, names, labels,
        mounts, networks, local_volumes;
    std::vector<std::pair<std::string, std::string>> label_map;  // sorted by key
    std::string created;        // the config's Created (RFC 3339): the listing's order
    bool healthcheck = false;   // the container has a healthcheck (its STATUS gets a suffix)
    nlohmann::json summary;     // the Engine API's entry (api_summary), when asked for
};

// The Engine API's entry of GET /containers/json for a config.json and state.json (docker's
// ContainerSummary: Id, Names, Image, ImageID, Command, Created, Ports, Labels, State, Status,
// HostConfig, NetworkSettings, Mounts); a volume's Source is its data under `volumes_dir`.
// The STATUS has no health suffix (the caller's, as for a row).
nlohmann::json api_summary(const std::string& id, const nlohmann::json& config, const nlohmann::json& state,
                           const std::string& volumes_dir, double now);

PsRow ps_row(const std::string& id, const nlohmann::json& config, const nlohmann::json& state,
             bool trunc, double now);

}  // namespace lb
