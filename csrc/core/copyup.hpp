// A new volume filled with what the image holds at its mount point (docker's copy-up,
// moby's copyExistingContents): only into an empty volume, and only from a directory.
//
// The source is inside a container's root (hostile: an image chose every name, link and mode);
// the destination is a volume that other running containers may share. So the whole walk is
// fd-based: every entry opened relative to its parent's fd with O_NOFOLLOW, every new entry
// made with O_EXCL or mkdirat and then opened without following links, and every owner,
// mode, xattr and time set through an fd of the entry itself. A link is copied as a link,
// never followed; a hard link inside the tree stays one (linked from the fd of the first copy,
// not from a path a sharer could swap).
#pragma once

#include <string>

namespace lb {

// True when directory `dirfd` holds no entry but "." and "..".
bool dir_is_empty(int dirfd);

// Copies everything under directory `src` into directory `dst` (which should be empty): files
// (contents by copy_file_range), directories, symlinks, device nodes, fifos; owner, mode
// (setuid included), xattrs, access and modification times. `dst` itself takes `src`'s owner,
// mode and xattrs, as docker gives a volume its mount point's (copyOwnership). `name` is for
// messages (the path inside the container). Throws SysError naming the entry that failed.
void copy_tree(int src, int dst, const std::string& name);

}  // namespace lb
