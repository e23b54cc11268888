// Paths resolved inside a root directory, never outside it.
//
// Everything that takes a path from an image, an archive, a Dockerfile, a volume spec or `cp`
// comes through here: openat2(RESOLVE_IN_ROOT) makes "/", ".." and absolute symlinks stop at the
// root, so "/app -> /etc" inside an image leads to the image's /etc, not the host's. On kernels
// without openat2 the same walk is done one component at a time with O_NOFOLLOW fds, resolving
// symlinks ourselves against the root.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/fd.hpp"

namespace lb {

// Opens `path` (absolute or relative, taken as relative to `rootfd`) inside the root.
// `flags` are open(2) flags (O_PATH, O_DIRECTORY, O_RDONLY, ...). Symlinks are followed inside the
// root unless `nofollow_last` (then a final symlink is opened as itself with O_PATH|O_NOFOLLOW).
UniqueFd open_in_root(int rootfd, std::string_view path, int flags, bool nofollow_last = false);

// Like open_in_root but returns -1 in `err_out` style: no throw; returns an invalid fd and sets
// errno. For probing ("does the image have /etc/passwd?").
UniqueFd try_open_in_root(int rootfd, std::string_view path, int flags, bool nofollow_last = false);

// The contents of a regular file inside the root; nullopt when it is absent or anything else (a
// FIFO would block the reader, a device is no file to read). A file over `max_bytes` throws
// (invalid, naming it): what a container or an archive put there is bounded before it is read.
std::optional<std::string> read_regular_in_root(int rootfd, std::string_view path, uint64_t max_bytes);

// mkdir -p inside the root: existing components (symlinks included) are resolved inside the
// root; missing ones are created with `mode` (and uid/gid when uid >= 0). Returns an O_PATH fd
// of the final directory.
UniqueFd mkdir_p_in_root(int rootfd, std::string_view path, mode_t mode = 0755, uid_t uid = -1,
                         gid_t gid = -1);

// Splits "a/b/c" into ("a/b", "c") after dropping empty and "." components; the parent is ""
// for a name directly under the root.
std::pair<std::string, std::string> split_parent(std::string_view path);

// Normalizes a path lexically: collapses "//", "." and resolves ".." without going above "/".
// Returns a path without a leading "/" ("" for the root itself).
std::string clean_relative(std::string_view path);

// Creates an empty file or directory at `path` inside the root when nothing is there (a mount
// point), returning an O_PATH fd of what is there now. `want_dir` picks which to create.
UniqueFd ensure_mountpoint(int rootfd, std::string_view path, bool want_dir);

}  // namespace lb
