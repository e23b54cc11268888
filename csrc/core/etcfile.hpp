// A generated file (/etc/hosts, /etc/resolv.conf) of a running container, rewritten in place
// when its networks change (`network connect/disconnect`), as docker rewrites the files it
// binds into its containers.
//
// The file is the one mount.cpp's File op made: an inode of the container's own /dev tmpfs
// whose one name is hidden under its /dev/pts mount, bound over its target. The target is
// opened inside the container's root (/proc/PID/root, openat2 RESOLVE_IN_ROOT, final symlink
// not followed) and must still be such an inode: a regular file on the superblock of the
// container's /dev, with one name. Anything else there (a user's bind mount, a file the
// container put in its place) is not ours and is left alone. The write goes through the /dev mount (open_by_handle_at), not through the bind,
// which --read-only makes read-only for the container, not for the engine.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace lb {

// Reads the container's `target` and writes what `edit` returns for it (nothing when it
// returns nullopt). False when `target` is not a file the engine generated (see above).
// Throws SysError when reading or writing it fails.
bool rewrite_generated_file(pid_t pid, const std::string& target,
                            const std::function<std::optional<std::string>(const std::string&)>& edit);

// /etc/hosts edits as docker's etchosts package makes them: drops the lines of the given
// addresses (first field), then appends `add` (whole lines).
std::string edit_hosts(const std::string& text, const std::vector<std::string>& drop_ips,
                       const std::string& add);

}  // namespace lb
