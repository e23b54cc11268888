#include "core/psrows.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "core/error.hpp"

namespace lb {

namespace {

using nlohmann::json;

const std::string& str_field(const json& j, const char* key) {
    static const std::string empty;
    if (!j.is_object()) return empty;
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get_ref<const std::string&>() : empty;
}

const json& obj_field(const json& j, const char* key) {
    static const json null;
    if (!j.is_object()) return null;
    auto it = j.find(key);
    return it == j.end() ? null : *it;
}

long long int_field(const json& j, const char* key) {
    const json& v = obj_field(j, key);
    return v.is_number() ? v.get<long long>() : 0;
}

// Reads digits at s[i..i+n) as a number; -1 when they are not all digits.
long long digits(std::string_view s, size_t i, size_t n) {
    if (i + n > s.size()) return -1;
    long long v = 0;
    for (size_t k = i; k < i + n; ++k) {
        if (s[k] < '0' || s[k] > '9') return -1;
        v = v * 10 + (s[k] - '0');
    }
    return v;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
long long days_from_civil(long long y, long long m, long long d) {
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

size_t utf8_chars(std::string_view s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

// The first `n` characters of s (UTF-8 code points).
std::string_view utf8_prefix(std::string_view s, size_t n) {
    size_t chars = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
            if (chars == n) return s.substr(0, i);
            ++chars;
        }
    }
    return s;
}

}  // namespace

std::optional<double> parse_rfc3339_checked(std::string_view s) {
    if (s.empty() || s.substr(0, 10) == "0001-01-01") return 0.0;
    // YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)
    long long y = digits(s, 0, 4), mo = digits(s, 5, 2), d = digits(s, 8, 2);
    long long h = digits(s, 11, 2), mi = digits(s, 14, 2), sec = digits(s, 17, 2);
    if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || sec < 0 || s.size() < 19 || s[4] != '-' ||
        s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
        return std::nullopt;
    size_t i = 19;
    double frac = 0.0;
    if (i < s.size() && s[i] == '.') {
        double scale = 0.1;
        for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, scale /= 10) frac += (s[i] - '0') * scale;
    }
    long long tz = 0;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
        long long th = digits(s, i + 1, 2), tm = i + 3 < s.size() && s[i + 3] == ':' ? digits(s, i + 4, 2) : 0;
        if (th < 0 || tm < 0) return std::nullopt;
        tz = (th * 3600 + tm * 60) * (s[i] == '+' ? 1 : -1);
        i += s.size() > i + 3 && s[i + 3] == ':' ? 6 : 3;
    } else if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
        ++i;
    }
    if (i != s.size()) return std::nullopt;
    return static_cast<double>(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - tz) + frac;
}

double parse_rfc3339(std::string_view s) { return parse_rfc3339_checked(s).value_or(0.0); }

std::string human_duration(double seconds) {
    // Go's int() of a float truncates toward zero, as these casts do.
    long long s = static_cast<long long>(seconds);
    if (s < 1) return "Less than a second";
    if (s == 1) return "1 second";
    if (s < 60) return std::to_string(s) + " seconds";
    long long m = static_cast<long long>(seconds / 60);
    if (m == 1) return "About a minute";
    if (m < 60) return std::to_string(m) + " minutes";
    long long h = static_cast<long long>(seconds / 3600 + 0.5);
    if (h == 1) return "About an hour";
    if (h < 48) return std::to_string(h) + " hours";
    if (h < 24 * 7 * 2) return std::to_string(h / 24) + " days";
    if (h < 24 * 30 * 2) return std::to_string(h / 24 / 7) + " weeks";
    if (h < 24 * 365 * 2) return std::to_string(h / 24 / 30) + " months";
    return std::to_string(static_cast<long long>(seconds / 3600) / 24 / 365) + " years";
}

std::string go_quote(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            case '\r': out += "\\r"; break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    char buf[5];
                    std::snprintf(buf, sizeof buf, "\\x%02x", c);
                    out += buf;
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    out += '"';
    return out;
}

std::string status_text(const json& state, double now) {
    std::string st = str_field(state, "Status");
    if (st.empty()) st = "created";
    std::string code = std::to_string(int_field(state, "ExitCode"));
    if (st == "running" || st == "paused")
        return "Up " + human_duration(now - parse_rfc3339(str_field(state, "StartedAt"))) +
               (st == "paused" ? " (Paused)" : "");
    if (st == "restarting")
        return "Restarting (" + code + ") " + human_duration(now - parse_rfc3339(str_field(state, "FinishedAt"))) + " ago";
    if (st == "exited") {
        double fin = parse_rfc3339(str_field(state, "FinishedAt"));
        if (fin == 0.0) return "Exited (" + code + ")";
        return "Exited (" + code + ") " + human_duration(now - fin) + " ago";
    }
    if (st == "dead") return "Dead";
    return "Created";
}

std::string command_text(const json& config, bool trunc) {
    std::string cmd = str_field(config, "Path");
    const json& args = obj_field(config, "Args");
    if (args.is_array())
        for (const json& a : args) {
            if (!a.is_string()) continue;
            const std::string& s = a.get_ref<const std::string&>();
            cmd += ' ';
            cmd += s.find(' ') == std::string::npos ? s : "'" + s + "'";
        }
    if (trunc && utf8_chars(cmd) > 20) cmd = std::string(utf8_prefix(cmd, 19)) + "\u2026";
    return go_quote(cmd);
}

json api_summary(const std::string& id, const json& config, const json& state, const std::string& volumes_dir,
                 double now) {
    const json& cfg = obj_field(config, "Config");
    std::string status = str_field(state, "Status");
    if (status.empty()) status = "created";
    // The addresses and ports only while the container's network is up (docker empties a
    // stopped container's).
    static const json none;
    const json& live = status == "running" || status == "paused" || status == "restarting"
                           ? obj_field(state, "NetworkSettings")
                           : none;
    json ports = json::array();
    const json& published = obj_field(live, "Ports");
    if (published.is_object())
        for (auto it = published.begin(); it != published.end(); ++it) {
            const std::string& key = it.key();
            size_t slash = key.find('/');
            long long port = std::atoll(key.c_str());
            std::string proto = slash == std::string::npos ? "" : key.substr(slash + 1);
            if (proto.empty()) proto = "tcp";
            const json& binds = it.value();
            if (!binds.is_array() || binds.empty()) {
                ports.push_back({{"PrivatePort", port}, {"Type", proto}});
                continue;
            }
            for (const json& b : binds) {
                std::string ip = str_field(b, "HostIp");
                ports.push_back({{"IP", ip.empty() ? "0.0.0.0" : ip},
                                 {"PrivatePort", port},
                                 {"PublicPort", std::atoll(str_field(b, "HostPort").c_str())},
                                 {"Type", proto}});
            }
        }
    const json& host_mode = obj_field(obj_field(config, "HostConfig"), "NetworkMode");
    std::string mode = host_mode.is_string() ? host_mode.get<std::string>() : "none";
    const json& nets = obj_field(live, "Networks");
    json networks = nets.is_object() && !nets.empty() ? nets : json{{mode, json::object()}};
    json mounts = json::array();
    const json& ms = obj_field(config, "Mounts");
    if (ms.is_array())
        for (const json& m : ms) {
            const std::string& type = str_field(m, "Type");
            const std::string& name = str_field(m, "Name");
            const json& rw = obj_field(m, "RW");
            mounts.push_back({{"Type", type},
                              {"Name", name},
                              {"Source", type == "bind" ? str_field(m, "Source") : volumes_dir + "/" + name + "/_data"},
                              {"Destination", str_field(m, "Destination")},
                              {"Driver", type == "volume" ? "local" : ""},
                              {"Mode", str_field(m, "Mode")},
                              {"RW", rw.is_boolean() ? rw.get<bool>() : true},
                              {"Propagation", type == "bind" ? "rprivate" : ""}});
        }
    std::string image = str_field(cfg, "Image");
    if (image.empty()) image = str_field(config, "Image");
    std::string command = str_field(config, "Path");
    const json& args = obj_field(config, "Args");
    if (args.is_array())
        for (const json& a : args)
            if (a.is_string()) command += " " + a.get<std::string>();
    const json& labels = obj_field(cfg, "Labels");
    const std::string& name = str_field(config, "Name");
    return {{"Id", id},
            {"Names", json::array({"/" + name.substr(std::min(name.find_first_not_of('/'), name.size()))})},
            {"Image", image},
            {"ImageID", str_field(config, "Image")},
            {"Command", command},
            {"Created", static_cast<long long>(parse_rfc3339(str_field(config, "Created")))},
            {"Ports", std::move(ports)},
            {"Labels", labels.is_object() ? labels : json::object()},
            {"State", status},
            {"Status", status_text(state, now)},
            {"HostConfig", {{"NetworkMode", mode}}},
            {"NetworkSettings", {{"Networks", std::move(networks)}}},
            {"Mounts", std::move(mounts)}};
}

PsRow ps_row(const std::string& id, const json& config, const json& state, bool trunc, double now) {
    PsRow r;
    r.full_id = id;
    r.id = trunc ? id.substr(0, 12) : id;
    const json& cfg = obj_field(config, "Config");
    const json& host = obj_field(config, "HostConfig");
    r.created = str_field(config, "Created");
    double created = parse_rfc3339(r.created);
    r.command = command_text(config, trunc);
    std::time_t t = static_cast<std::time_t>(std::floor(created));
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
    r.created_at = buf;
    r.image = str_field(cfg, "Image");
    if (r.image.empty()) r.image = str_field(config, "Image");
    const json& labels = obj_field(cfg, "Labels");
    if (labels.is_object())
        for (auto it = labels.begin(); it != labels.end(); ++it) {  // std::map: sorted by key
            if (!it.value().is_string()) continue;
            r.label_map.emplace_back(it.key(), it.value().get<std::string>());
            if (!r.labels.empty()) r.labels += ',';
            r.labels += it.key() + "=" + r.label_map.back().second;
        }
    long long volumes = 0;
    const json& mounts = obj_field(config, "Mounts");
    if (mounts.is_array())
        for (const json& m : mounts) {
            if (str_field(m, "Type") == "volume") ++volumes;
            std::string name = str_field(m, "Name");
            if (name.empty()) name = str_field(m, "Source");
            if (name.empty()) continue;
            if (!r.mounts.empty()) r.mounts += ',';
            r.mounts += name;
        }
    r.local_volumes = std::to_string(volumes);
    std::string name = str_field(config, "Name");
    r.names = name.substr(std::min(name.find_first_not_of('/'), name.size()));
    r.networks = str_field(host, "NetworkMode");
    if (r.networks.empty()) r.networks = "none";
    r.state = str_field(state, "Status");
    if (r.state.empty()) r.state = "created";
    // docker ps's PORTS: published first, then exposed, by port number; only while the
    // container's network is up (docker empties a stopped container's).
    if (r.state == "running" || r.state == "paused" || r.state == "restarting") {
        const json& ports = obj_field(obj_field(state, "NetworkSettings"), "Ports");
        if (ports.is_object()) {
            std::vector<std::pair<long long, std::string>> keys;
            for (auto it = ports.begin(); it != ports.end(); ++it)
                keys.emplace_back(std::atoll(it.key().c_str()), it.key());
            std::stable_sort(keys.begin(), keys.end(),
                             [](const auto& a, const auto& b) { return a.first < b.first; });
            for (auto& [_n, key] : keys) {
                const json& binds = ports[key];
                if (!binds.is_array() || binds.empty()) {
                    r.ports += (r.ports.empty() ? "" : ", ") + key;
                    continue;
                }
                for (const json& b : binds)
                    r.ports += (r.ports.empty() ? "" : ", ") + str_field(b, "HostIp") + ":" +
                               str_field(b, "HostPort") + "->" + key;
            }
        }
    }
    r.running_for = human_duration(now - created) + " ago";
    r.status = status_text(state, now);
    const json& test = obj_field(obj_field(cfg, "Healthcheck"), "Test");
    r.healthcheck = test.is_array() && !test.empty();
    return r;
}

}  // namespace lb
