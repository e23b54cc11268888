#include "core/users.hpp"

#include <algorithm>

namespace lb {

namespace {

using Entry = std::vector<std::string_view>;

// The non-comment lines of a passwd/group file, split at ':' (as Python's split: every field).
std::vector<Entry> entries(std::string_view data) {
    std::vector<Entry> out;
    size_t pos = 0;
    while (pos < data.size()) {
        size_t end = data.find('\n', pos);
        if (end == std::string_view::npos) end = data.size();
        std::string_view line = data.substr(pos, end - pos);
        pos = end + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty() || line[0] == '#') continue;
        Entry e;
        size_t s = 0;
        for (;;) {
            size_t c = line.find(':', s);
            if (c == std::string_view::npos) {
                e.push_back(line.substr(s));
                break;
            }
            e.push_back(line.substr(s, c - s));
            s = c + 1;
        }
        out.push_back(std::move(e));
    }
    return out;
}

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// An id in 0..2147483647, moby's range (a uid_t of -1, 4294967295, would be setresuid's "leave it
// unchanged": root). Anything else is not an id (a name, or a line of a file to skip).
bool parse_id(std::string_view s, uint32_t& out) {
    if (!all_digits(s) || s.size() > 10) return false;
    uint64_t v = 0;
    for (char c : s) v = v * 10 + uint64_t(c - '0');
    if (v > 0x7FFFFFFFull) return false;
    out = uint32_t(v);
    return true;
}

// The same for the id a process will run as: a number out of range is moby's ErrRange, not a
// name to look up or a field to leave at root.
bool run_id(std::string_view s, uint32_t& out) {
    if (parse_id(s, out)) return true;
    // (more than 10 digits stays a name to look up, as before: docker says ErrRange there too)
    if (all_digits(s) && s.size() <= 10) throw UserNotFound("uids and gids must be in range 0-2147483647");
    return false;
}

bool lists(std::string_view members, std::string_view name) {
    size_t s = 0;
    for (;;) {
        size_t c = members.find(',', s);
        if (members.substr(s, c == std::string_view::npos ? std::string_view::npos : c - s) == name) return true;
        if (c == std::string_view::npos) return false;
        s = c + 1;
    }
}

void add_group(ResolvedUser& u, gid_t g) {
    if (g != u.gid && std::find(u.groups.begin(), u.groups.end(), g) == u.groups.end()) u.groups.push_back(g);
}

}  // namespace

ResolvedUser resolve_user(std::string_view spec, std::string_view passwd_data, std::string_view group_data) {
    size_t colon = spec.find(':');
    std::string_view user = spec.substr(0, colon);
    std::string_view group = colon == std::string_view::npos ? std::string_view{} : spec.substr(colon + 1);
    auto passwd = entries(passwd_data);
    ResolvedUser u;
    std::string name = "root";
    const Entry* found = nullptr;
    uint32_t id = 0;
    if (!user.empty()) {
        if (run_id(user, id)) {
            u.uid = id;
            for (auto& e : passwd)
                if (e.size() >= 7 && e[2] == user) {
                    found = &e;
                    break;
                }
        } else {
            for (auto& e : passwd)
                if (e.size() >= 7 && e[0] == user) {
                    found = &e;
                    break;
                }
            if (!found)
                throw UserNotFound("unable to find user " + std::string(user) + ": no matching entries in passwd file");
        }
    } else {
        for (auto& e : passwd)
            if (e.size() >= 7 && e[2] == "0") {
                found = &e;
                break;
            }
    }
    if (found) {
        const Entry& e = *found;
        name = std::string(e[0]);
        if (run_id(e[2], id)) u.uid = id;
        u.gid = run_id(e[3], id) ? id : 0;
        u.home = e[5].empty() ? "/" : std::string(e[5]);
    } else if (!user.empty()) {
        name.clear();
    }
    auto groups = entries(group_data);
    if (!group.empty()) {
        if (run_id(group, id)) {
            u.gid = id;
        } else {
            bool ok = false;
            for (auto& e : groups)
                if (e.size() >= 3 && e[0] == group && run_id(e[2], id)) {
                    u.gid = id;
                    ok = true;
                    break;
                }
            if (!ok)
                throw UserNotFound("unable to find group " + std::string(group) + ": no matching entries in group file");
        }
    }
    if (!name.empty())
        for (auto& e : groups)
            if (e.size() >= 4 && parse_id(e[2], id) && lists(e[3], name)) add_group(u, id);
    return u;
}

ResolvedUser with_groups(ResolvedUser u, const std::vector<std::string>& names, std::string_view group_data) {
    auto groups = entries(group_data);
    for (const std::string& n : names) {
        uint32_t id = 0;
        if (!run_id(n, id)) {
            bool ok = false;
            for (auto& e : groups)
                if (e.size() >= 3 && e[0] == n && run_id(e[2], id)) {
                    ok = true;
                    break;
                }
            if (!ok) throw UserNotFound("Unable to find group " + n + ": no matching entries in group file");
        }
        add_group(u, id);
    }
    return u;
}

}  // namespace lb
