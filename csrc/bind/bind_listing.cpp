#include "bind/bind.hpp"
#include "listing/pslist.hpp"

namespace lb::bind {

namespace {

// The state JSON texts the caller read and reconciled, by container id, parsed.
std::map<std::string, nlohmann::json> parsed_states(const std::map<std::string, std::string>& states) {
    std::map<std::string, nlohmann::json> given;
    for (auto& [id, text] : states) given[id] = nlohmann::json::parse(text);
    return given;
}

// A listing that answers in one piece (ps_table, api_summaries): `whole(rows)` of the rows
// ps_rows reads, both without the GIL; None when it has no answer (a health suffix missing).
template <class Whole>
std::optional<std::string> whole_listing(const std::string& containers_dir, const std::vector<std::string>& ids,
                                         const std::map<std::string, std::string>& states, bool trunc,
                                         double now, const std::string& cache, const std::string& cache_tmp,
                                         const std::string* volumes, Whole whole) {
    std::map<std::string, nlohmann::json> given = parsed_states(states);
    py::gil_scoped_release nogil;
    std::vector<PsRow> rows = ps_rows(containers_dir, ids, given, trunc, now, cache, cache_tmp, volumes);
    return whole(rows);
}

}  // namespace

// docker ps's rows (listing/pslist.hpp): read and built without the GIL, handed over as the
// dicts `ps --format` renders.
void bind_listing(py::module_& m) {
    m.def("ps_rows",
          [](const std::string& containers_dir, const std::vector<std::string>& ids, bool trunc, double now,
             const std::map<std::string, std::string>& states, const std::string& cache, const std::string& cache_tmp) {
              std::map<std::string, nlohmann::json> given = parsed_states(states);
              std::vector<PsRow> rows;
              {
                  py::gil_scoped_release nogil;
                  rows = ps_rows(containers_dir, ids, given, trunc, now, cache, cache_tmp);
              }
              // The keys made once: 10,000 rows of 17 fields would make and hash each anew.
              static const char* const names[] = {"Command", "CreatedAt", "ID", "Image", "Labels", "LocalVolumes",
                                                  "Mounts", "Names", "Networks", "Ports", "RunningFor", "Size",
                                                  "State", "Status", "_id", "_labels", "_healthcheck"};
              std::vector<py::str> k;
              for (const char* n : names) k.emplace_back(n);
              py::str empty("");
              py::list out(rows.size());
              size_t i = 0;
              for (const PsRow& r : rows) {
                  py::dict labels;
                  for (auto& [key, v] : r.label_map) labels[py::str(key)] = v;
                  py::dict d;
                  d[k[0]] = r.command;
                  d[k[1]] = r.created_at;
                  d[k[2]] = r.id;
                  d[k[3]] = r.image;
                  d[k[4]] = r.labels;
                  d[k[5]] = r.local_volumes;
                  d[k[6]] = r.mounts;
                  d[k[7]] = r.names;
                  d[k[8]] = r.networks;
                  d[k[9]] = r.ports;
                  d[k[10]] = r.running_for;
                  d[k[11]] = empty;
                  d[k[12]] = r.state;
                  d[k[13]] = r.status;
                  d[k[14]] = r.full_id;
                  d[k[15]] = std::move(labels);
                  d[k[16]] = r.healthcheck;
                  out[i++] = std::move(d);
              }
              return out;
          },
          py::arg("containers_dir"), py::arg("ids"), py::kw_only(), py::arg("trunc"), py::arg("now"),
          py::arg("states") = std::map<std::string, std::string>{}, py::arg("cache") = "", py::arg("cache_tmp") = "",
          "docker ps's rows of the containers `ids` (their config.json and state.json; `states`:\n"
          "state JSON texts that replace a container's file), newest first. `cache`, when `ids` are\n"
          "every container of the store: the listing's cache file, written as `cache_tmp` and renamed.");
    m.def("api_summaries",
          [](const std::string& containers_dir, const std::vector<std::string>& ids, const std::string& volumes,
             double now, const std::map<std::string, std::string>& states,
             const std::map<std::string, std::string>& health, long last, const std::string& cache,
             const std::string& cache_tmp) -> py::object {
              std::optional<std::string> text =
                  whole_listing(containers_dir, ids, states, true, now, cache, cache_tmp, &volumes,
                                [&](std::vector<PsRow>& rows) { return api_summaries(rows, health, last); });
              if (!text) return py::none();
              return py::bytes(*text);
          },
          py::arg("containers_dir"), py::arg("ids"), py::kw_only(), py::arg("volumes"), py::arg("now"),
          py::arg("states") = std::map<std::string, std::string>{},
          py::arg("health") = std::map<std::string, std::string>{}, py::arg("last") = -1,
          py::arg("cache") = "", py::arg("cache_tmp") = "",
          "GET /containers/json's answer for the containers `ids` (newest first, the first `last`\n"
          "when > 0), as JSON bytes; `volumes`: the store's volumes directory; `states`, `health`,\n"
          "`cache` and None as for ps_table.");
    m.def("ps_table",
          [](const std::string& containers_dir, const std::vector<std::string>& ids, bool trunc, double now,
             const std::map<std::string, std::string>& states, const std::map<std::string, std::string>& health,
             long last, const std::string& cache, const std::string& cache_tmp) -> py::object {
              std::optional<std::string> text =
                  whole_listing(containers_dir, ids, states, trunc, now, cache, cache_tmp, nullptr,
                                [&](std::vector<PsRow>& rows) { return ps_table(rows, health, last); });
              if (!text) return py::none();
              return py::str(*text);
          },
          py::arg("containers_dir"), py::arg("ids"), py::kw_only(), py::arg("trunc"), py::arg("now"),
          py::arg("states") = std::map<std::string, std::string>{},
          py::arg("health") = std::map<std::string, std::string>{}, py::arg("last") = -1,
          py::arg("cache") = "", py::arg("cache_tmp") = "",
          "docker ps's default table of the containers `ids` (ps_rows' rows, the first `last` when\n"
          "> 0), as text; `health`: the STATUS suffix of running containers with a healthcheck, by\n"
          "id. None when a running row's suffix is missing (then build the rows and the table).");
}

}  // namespace lb::bind
