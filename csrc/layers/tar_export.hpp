// A container's tree as tars, and tars into a container's tree: `export`, `cp` and the API's
// get_archive/put_archive.
//
// A stopped container has no mounted root anywhere. Rather than mounting its overlay on the
// host (where a crash would leave it in the host's mount table and where other processes would
// see it), a helper thread unshares its mount namespace, makes it private, mounts the overlay
// there and does the work; when the thread ends, the mount goes with its namespace, whatever
// happens. A running container's root is reached through /proc/PID/root instead, so its own
// mounts (volumes, /etc/hosts) are honoured; both cases end up as "a root directory", and
// every path below it is resolved inside that root (openat2 RESOLVE_IN_ROOT).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/plan.hpp"
#include "layers/tar_read.hpp"
#include "layers/tar_write.hpp"

namespace lb {

struct PrivateOverlay {
    std::vector<std::string> lower;  // top first; at least one
    std::string upper, work;         // both empty: the overlay is mounted read-only
    std::string target;              // an existing directory; the mount exists only in the helper
    // The container's volumes and binds, mounted over the overlay in order (dockerd's
    // mountVolumes for an archive of a stopped container): `cp` into a volume path writes the
    // volume, not the container's layer. On a read-only overlay a bind whose mount point is
    // missing is skipped (nothing below it can be read anyway).
    std::vector<MountOp> mounts;
};

// Mounts `o` in a private mount namespace of a helper thread and runs fn(o.target) there; the
// namespace and its mount end with the thread, whatever happens (a killed process included).
// fn's result (a small string) is returned and its exceptions rethrown here.
std::string run_in_private_overlay(const PrivateOverlay& o,
                                   const std::function<std::string(const std::string&)>& fn);

struct PathInfo {
    bool exists = false;
    std::string type;         // "file" | "dir" | "symlink" | "other"
    uint32_t mode = 0;        // st_mode
    uint64_t size = 0;
    int64_t mtime = 0;
    std::string link_target;  // for a symlink (not followed)
    std::string name;         // the base name of what was found ("" for the root)
    std::string resolved;     // where the path led inside the root, symlinks resolved ("/a/b";
                              // set when its parent exists): what a check of the mounts it is
                              // under must compare, not the path as given
    bool mount_root = false;  // something is mounted there (a volume, a running container's
                              // /etc/hosts): archive_in_root sends a mounted directory's
                              // contents only, without the directory's own entry
};

// lstat (or stat with `follow`) of `path` resolved inside `root`. A missing path (or missing
// parent) gives exists=false; other errors throw.
PathInfo stat_in_root(const std::string& root, const std::string& path, bool follow);

// Writes what `path` (inside `root`) names as a tar to out_fd: a file or a directory with
// everything below it, under its base name (docker's `cp CONTAINER:/etc/passwd` gives
// "passwd"); with contents_only (`/etc/.`) a directory's contents without the directory.
// `follow`: a final symlink is followed, inside the root (cp -L).
WriteResult archive_in_root(const std::string& root, const std::string& path, bool follow,
                            bool contents_only, int out_fd);

// Extracts the tar read from src_fd into the directory `dir` inside `root` (created when
// missing). With `rename_to`, the archive's single top-level entry lands in `dir` as
// `rename_to` instead of its own name (docker cp to a new name), replacing a file there: it is
// extracted into a fresh directory beside it and renamed into place, so a failure leaves the
// old file.
ExtractResult extract_in_root(int src_fd, const std::string& root, const std::string& dir,
                              const std::string& rename_to, const ExtractOptions& o);

// JSON forms of the results: what crosses back from the helper thread's function, and what
// the bindings hand to Python as a dict.
std::string to_json(const WriteResult& r);
std::string to_json(const ExtractResult& r);
std::string to_json(const PathInfo& r);

}  // namespace lb
