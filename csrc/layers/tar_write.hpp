// Writing a directory tree as a layer tar: deterministic bytes, both digests in the same pass,
// optionally gzip'd and optionally mirrored into an unpacked layer directory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lb {

enum class LayerSource {
    // A plain directory: an unpacked layer dir (overlay format) or a merged view for export.
    Dir,
    // An overlay upper dir: as Dir, and refuses what a tar cannot carry faithfully (directories
    // renamed with redirect_dir, files copied up with metacopy, whose data lives in a lower).
    OverlayUpper,
    // A host directory whose files are copied into an image (a build's COPY source): every
    // entry as it is, no whiteout or opaque conversion (a char device 0/0 stays one) and no
    // xattrs, as the builder's own tar writer does.
    Host,
};

// "dir" | "overlay-upper" | "host"; throws EINVAL otherwise.
LayerSource parse_layer_source(const std::string& s);

struct WriteOptions {
    LayerSource source = LayerSource::Dir;
    bool gzip = false;
    int level = 6;                     // gzip level, 0..9 (or -1: zlib's default)
    std::string mirror_dir;            // when not empty: an empty dir to copy the layer into
    std::vector<std::string> exclude;  // relative paths skipped with their subtrees
    bool durable = false;  // the caller will fdatasync out_fd: start writeback as bytes land
    bool hash = true;      // false: no digests (save/export output nobody checks: ~85 ms per 136 MB)
    // Not empty: the top directory is an entry of its own under this name, and everything
    // else is named below it ("vol/", "vol/a"): `cp CONTAINER:/vol` of a mounted volume,
    // which cannot be walked from its parent (the walk skips other filesystems).
    std::string top_name;
};

struct WriteResult {
    std::string diff_id;           // sha256 of the uncompressed tar
    std::string digest;            // sha256 of the bytes written (== diff_id without gzip)
    uint64_t size = 0;             // uncompressed tar bytes
    uint64_t compressed_size = 0;  // bytes written (== size without gzip)
    uint64_t files = 0;            // archive entries written
    uint64_t content_size = 0;     // regular files' bytes, a multi-link file once (docker's DiffSize)
};

// Writes `src_dir` as a tar to `out_fd` (-1: only compute the digests).
//
// The tar is deterministic: names in byte order, depth first, each directory before its
// contents; the top directory itself is not an entry (as in docker's layers); headers carry
// numeric uid/gid only (no user or group names), mtime in whole seconds, no atime/ctime,
// device numbers only for devices; PAX records only when ustar cannot hold a value (long
// names or link names, big ids or sizes, non-ASCII names, xattrs as SCHILY.xattr.*).
// Regular files with several links become one file and hard links to it (first in walk order
// is the file). Overlay whiteouts (char device 0/0) become ".wh.NAME" and an opaque directory
// (trusted.overlay.opaque=y) gets ".wh..wh..opq" right after its own entry, for both sources:
// a layer dir is in overlay format and a merged view never shows either. No trusted.* xattr
// and no security.selinux label is ever written. Symlinks are never followed and other mounts
// below src_dir are skipped (like tar --one-file-system); sockets are skipped.
WriteResult write_layer(const std::string& src_dir, int out_fd, const WriteOptions& opts);

}  // namespace lb
