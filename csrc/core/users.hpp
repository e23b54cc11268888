// Users and groups of a container: "user[:group]" resolved against the container's own
// /etc/passwd and /etc/group, read as data (never through the host's NSS). One implementation
// for `run` (the files read from the layers) and `exec` (read inside the running container's
// root), for the Python engine and the compiled exec path alike.
#pragma once

#include <sys/types.h>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace lb {

struct ResolvedUser {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // supplementary, the primary gid not among them
    std::string home = "/";
};

// A user or group the spec names that the files do not have: docker's message, as text.
struct UserNotFound : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

// docker's rules: "" is root; a name must exist in passwd, a number need not; ":group" names or
// numbers the primary group; supplementary groups are those of /etc/group that list the user.
ResolvedUser resolve_user(std::string_view spec, std::string_view passwd, std::string_view group);

// --group-add: numbers as they are, names from /etc/group (docker's GetAdditionalGroups),
// after the user's own groups.
ResolvedUser with_groups(ResolvedUser user, const std::vector<std::string>& names, std::string_view group);

}  // namespace lb
