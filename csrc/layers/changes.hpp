// `docker diff` for an overlay container: what its upper dir changed against its image.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace lb {

// Returns (kind, path) pairs, kind "A" (added), "C" (changed) or "D" (deleted), path absolute
// in the container ("/etc/passwd"), in docker's order: a depth-first walk of the upper dir with
// names in byte order, each directory before its contents (which is the paths sorted component
// by component). `lower_dirs` are the image's layer dirs, top first.
//
// Semantics follow moby's OverlayChanges (pkg/archive/changes.go + changes_linux.go):
//   - a whiteout (char device 0/0) in the upper: D
//   - an opaque upper directory that hid a directory of the image: D for the directory itself
//     (docker prints this; its new contents follow as A/C)
//   - otherwise C when the path exists in the image, A when it does not; a directory that exists
//     in the image with the same mode, size and mtime (a copy-up parent only) is not listed,
//   - for every A or D, each parent directory not yet listed is listed first as C.
// "Exists in the image" is looked up in the merged view of the lowers: top layer first,
// stopping at a whiteout, at a non-directory met on the way, and below an opaque directory
// (moby only stops at whiteouts; the difference shows only with opaque dirs in lowers).
// trusted.overlay.* xattrs are not part of the comparison.
std::vector<std::pair<std::string, std::string>> list_changes(const std::string& upper_dir,
                                                              const std::vector<std::string>& lower_dirs);

}  // namespace lb
