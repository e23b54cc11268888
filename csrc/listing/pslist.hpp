// docker ps's rows read from the store: each container's config.json and state.json parsed
// with simdjson (25x nlohmann's speed on these files here: 3 us against 70 us a config), only
// the fields a row reads kept, on every core without the GIL. What a row says is
// core/psrows.hpp's; this part only reads.
//
// A library (and a Python module, layerbox._listing) of its own: Debian ships simdjson as a
// shared library only, and neither the static monitor and launcher nor _core, which every
// command imports, should load it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/psrows.hpp"

namespace lb {

// The rows of the containers `ids` under `containers_dir` (each a directory with config.json
// and, once started, state.json), newest first. `states` replaces the state.json of the
// containers the caller has read and reconciled already (a running one found ended or
// paused). A container removed meanwhile is left out; a file that is not a JSON object throws
// (invalid, naming it). Reads in parallel when there are many.
//
// `cache_path` (with `cache_tmp`, a fresh name to write it under, renamed over it): when `ids`
// are all the store's containers, the listing's cache (pslist.cpp says how it is kept true):
// each container's directory is stat'ed and its files read only when it changed since.
// `summary_volumes` (the store's volumes directory): each row also gets its Engine API entry
// (PsRow::summary, core/psrows.hpp's api_summary).
std::vector<PsRow> ps_rows(const std::string& containers_dir, const std::vector<std::string>& ids,
                           const std::map<std::string, nlohmann::json>& states, bool trunc,
                           double now, const std::string& cache_path = "",
                           const std::string& cache_tmp = "", const std::string* summary_volumes = nullptr);

// docker ps's default table (no --format) of `rows`, as docker prints it: the first `last`
// rows when last > 0; the STATUS of a running row with a healthcheck gets its suffix from
// `health` (by full id: " (healthy)", ...), and nullopt when a running row's suffix is not
// there (the caller builds the table itself, reading the health log). Text the size of the
// table, instead of a Python object per cell (ps -a of 10,000 containers).
std::optional<std::string> ps_table(std::vector<PsRow>& rows, const std::map<std::string, std::string>& health,
                                    long last);

// GET /containers/json's answer of `rows` (made with their summaries): a JSON array of the
// first `last` when last > 0; a running row with a healthcheck gets its STATUS suffix from
// `health` as in ps_table, and nullopt when it is not there.
std::optional<std::string> api_summaries(std::vector<PsRow>& rows, const std::map<std::string, std::string>& health,
                                         long last);

}  // namespace lb
