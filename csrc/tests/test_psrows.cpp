// docker ps's rows and phrases (core/psrows.cpp, listing/pslist.cpp): what `ps`, `images` and the Engine API's
// listings print, checked against docker's words.
#undef NDEBUG
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <sys/stat.h>
#include <unistd.h>
#include <string>

#include "core/error.hpp"
#include "core/psrows.hpp"
#include "listing/pslist.hpp"

using namespace lb;
using nlohmann::json;

int main() {
    // units.HumanDuration
    assert(human_duration(0.4) == "Less than a second");
    assert(human_duration(-3) == "Less than a second");
    assert(human_duration(1) == "1 second");
    assert(human_duration(59.9) == "59 seconds");
    assert(human_duration(60) == "About a minute");
    assert(human_duration(119) == "About a minute");
    assert(human_duration(120) == "2 minutes");
    assert(human_duration(3599) == "59 minutes");
    assert(human_duration(3600) == "About an hour");
    assert(human_duration(2.5 * 3600) == "3 hours");  // Go rounds half up (Python's round would not)
    assert(human_duration(47 * 3600) == "47 hours");
    assert(human_duration(48 * 3600) == "2 days");
    assert(human_duration(14 * 86400) == "2 weeks");
    assert(human_duration(60 * 86400) == "2 months");
    assert(human_duration(800 * 86400.0) == "2 years");

    // RFC 3339
    assert(parse_rfc3339("") == 0.0);
    assert(parse_rfc3339("0001-01-01T00:00:00Z") == 0.0);
    assert(parse_rfc3339("1970-01-01T00:00:01Z") == 1.0);
    assert(parse_rfc3339("2026-12-03T15:32:01.5Z") == 1796311921.5);
    assert(parse_rfc3339("2026-12-03T16:32:01+01:00") == 1796311921.0);
    assert(parse_rfc3339("2026-12-03T14:32:01-01:00") == 1796311921.0);
    assert(parse_rfc3339("2026-12-03T15:32:01") == 1796311921.0);
    assert(!parse_rfc3339_checked("yesterday"));
    assert(!parse_rfc3339_checked("2026-12-03T15:32:01Zjunk"));
    assert(parse_rfc3339("2026-12-03") == 0.0);

    // strconv.Quote
    assert(go_quote("sh -c 'a\"b'") == "\"sh -c 'a\\\"b'\"");
    assert(go_quote("a\\b\n\t\r\x01\x7f") == "\"a\\\\b\\n\\t\\r\\x01\\x7f\"");
    assert(go_quote("caf\xc3\xa9") == "\"caf\xc3\xa9\"");

    // STATUS and COMMAND
    double now = parse_rfc3339("2026-12-03T15:32:01Z");
    assert(status_text(json{{"Status", "running"}, {"StartedAt", "2026-12-03T15:31:58Z"}}, now) == "Up 3 seconds");
    assert(status_text(json{{"Status", "paused"}, {"StartedAt", "2026-12-03T15:31:58Z"}}, now) ==
           "Up 3 seconds (Paused)");
    assert(status_text(json{{"Status", "exited"}, {"ExitCode", 3}, {"FinishedAt", "2026-12-03T15:29:01Z"}}, now) ==
           "Exited (3) 3 minutes ago");
    assert(status_text(json{{"Status", "exited"}, {"ExitCode", 0}, {"FinishedAt", "0001-01-01T00:00:00Z"}}, now) ==
           "Exited (0)");
    assert(status_text(json{{"Status", "restarting"}, {"ExitCode", 1}, {"FinishedAt", "2026-12-03T15:32:00Z"}}, now) ==
           "Restarting (1) 1 second ago");
    assert(status_text(json::object(), now) == "Created");
    assert(status_text(json{{"Status", "dead"}}, now) == "Dead");
    json cfg = {{"Path", "sh"}, {"Args", {"-c", "exit 3"}}};
    assert(command_text(cfg, true) == "\"sh -c 'exit 3'\"");
    json long_cfg = {{"Path", "/bin/s\xc3\xa9"}, {"Args", {"aaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}};
    // 19 characters (the é is one) and an ellipsis
    assert(command_text(long_cfg, true) == "\"/bin/s\xc3\xa9 aaaaaaaaaaa\xe2\x80\xa6\"");
    assert(command_text(long_cfg, false) == "\"/bin/s\xc3\xa9 aaaaaaaaaaaaaaaaaaaaaaaaaaaa\"");

    // a row
    json config = {{"Created", "2026-12-03T15:30:01.123Z"}, {"Name", "/web"}, {"Path", "httpd"}, {"Args", {"-f"}},
                   {"Image", "sha256:abc"},
                   {"Config", {{"Image", "busybox"}, {"Labels", {{"b", "2"}, {"a", "1"}}},
                               {"Healthcheck", {{"Test", {"CMD", "true"}}}}}},
                   {"HostConfig", {{"NetworkMode", "bridge"}}},
                   {"Mounts", {{{"Type", "volume"}, {"Name", "data"}}, {{"Type", "bind"}, {"Source", "/srv"}}}}};
    json state = {{"Status", "running"}, {"StartedAt", "2026-12-03T15:31:01Z"},
                  {"NetworkSettings", {{"Ports", {{"443/tcp", nullptr},
                                                  {"80/tcp", {{{"HostIp", "0.0.0.0"}, {"HostPort", "8080"}}}}}}}}};
    std::string id(64, 'a');
    PsRow r = ps_row(id, config, state, true, now);
    assert(r.id == std::string(12, 'a') && r.full_id == id);
    assert(r.names == "web" && r.image == "busybox" && r.command == "\"httpd -f\"");
    assert(r.created_at == "2026-12-03 15:30:01 +0000 UTC" && r.running_for == "About a minute ago");
    assert(r.labels == "a=1,b=2" && r.mounts == "data,/srv" && r.local_volumes == "1");
    assert(r.networks == "bridge" && r.state == "running" && r.status == "Up About a minute");
    assert(r.ports == "0.0.0.0:8080->80/tcp, 443/tcp" && r.healthcheck);
    state["Status"] = "exited";
    assert(ps_row(id, config, state, true, now).ports.empty());  // docker empties a stopped one's

    // from the files: what the filtered parse keeps is what the row needs
    char tmpl[] = "/tmp/test_psrows.XXXXXX";
    std::string root = ::mkdtemp(tmpl);
    std::string cdir = root + "/" + id;
    ::mkdir(cdir.c_str(), 0700);
    json full = config;
    full["Config"]["Env"] = {"PATH=/bin"};
    full["HostConfig"]["Binds"] = {"/a:/b"};
    full["Extra"] = {{"Deep", {{"Mounts", {1, 2}}}}};
    state["Status"] = "running";
    state["Health"] = {{"Status", "healthy"}};
    std::FILE* f = std::fopen((cdir + "/config.json").c_str(), "w");
    std::fputs(full.dump().c_str(), f);
    std::fclose(f);
    f = std::fopen((cdir + "/state.json").c_str(), "w");
    std::fputs(state.dump().c_str(), f);
    std::fclose(f);
    ::mkdir((root + "/gone").c_str(), 0700);  // removed meanwhile: no config.json
    auto rows = ps_rows(root, {"gone", id}, {}, false, now);
    assert(rows.size() == 1 && rows[0].id == id);
    PsRow want = ps_row(id, config, state, false, now);
    assert(rows[0].status == want.status && rows[0].ports == want.ports && rows[0].mounts == want.mounts &&
           rows[0].labels == want.labels && rows[0].command == want.command && rows[0].names == want.names &&
           rows[0].image == want.image && rows[0].networks == want.networks && rows[0].healthcheck);
    std::map<std::string, json> given = {{id, json{{"Status", "exited"}, {"ExitCode", 137}}}};
    assert(ps_rows(root, {id}, given, true, now)[0].status == "Exited (137)");
    f = std::fopen((cdir + "/state.json").c_str(), "w");
    std::fputs("{not json", f);
    std::fclose(f);
    bool threw = false;
    try {
        ps_rows(root, {id}, {}, true, now);
    } catch (const SysError& e) {
        threw = e.path == cdir + "/state.json";
    }
    assert(threw);

    // docker's default table (ps_table): each column as wide as its widest cell (in characters,
    // not bytes) + 3, at least 10; the expected text is layerbox.cli.output._tabwriter's.
    PsRow a, b;
    a.full_id = "abc-full";
    a.id = "abc", a.image = "b\u00fc/\u00fcn\u00ef", a.command = "\"true\"", a.running_for = "2 hours ago";
    a.status = "Exited (0) 1 hour ago", a.state = "exited", a.names = "x";
    b.full_id = "def-full";
    b.id = "def", b.image = "busybox", b.command = "\"sh -c 'sleep 9'\"", b.running_for = "3 hours ago";
    b.status = "Up 3 hours", b.state = "running", b.ports = "0.0.0.0:80->80/tcp", b.names = "web";
    b.healthcheck = true;
    std::vector<PsRow> table_rows = {a, b};
    assert(!ps_table(table_rows, {}, -1));  // a running row with a healthcheck needs its suffix
    table_rows = {a, b};
    auto table = ps_table(table_rows, {{"def-full", " (healthy)"}}, -1);
    assert(table && *table ==
           "CONTAINER ID   IMAGE     COMMAND             CREATED       STATUS                  PORTS                NAMES\n"
           "abc            b\u00fc/\u00fcn\u00ef    \"true\"              2 hours ago   Exited (0) 1 hour ago                        x\n"
           "def            busybox   \"sh -c 'sleep 9'\"   3 hours ago   Up 3 hours (healthy)    0.0.0.0:80->80/tcp   web\n");
    table_rows = {a, b};
    table = ps_table(table_rows, {}, 1);  // -n 1: the running row is not shown, no suffix needed
    assert(table && table->find("abc ") != std::string::npos && table->find("def") == std::string::npos);

    std::system(("rm -rf " + root).c_str());
    std::puts("test_psrows: ok");
    return 0;
}
