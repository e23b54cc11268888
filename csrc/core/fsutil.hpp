// Filesystem chores shared by the monitor and the bindings.
#pragma once

#include <string>

namespace lb {

// rm -rf without following symlinks (unlinkat/openat with O_NOFOLLOW all the way down). Missing
// is fine. Throws naming the path that could not be removed.
void remove_tree(const std::string& path);
void remove_tree_at(int dirfd, const std::string& name);

}  // namespace lb

namespace lb {
// syncfs(2) on the filesystem holding `path`: makes everything written there durable at once.
void sync_filesystem(const std::string& path);
}  // namespace lb
