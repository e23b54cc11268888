// Extracting layer tars (and `cp`/COPY tars) into a directory, safely.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

namespace lb {

enum class WhiteoutMode {
    Overlay,  // ".wh.NAME" -> char device 0/0 NAME; ".wh..wh..opq" -> trusted.overlay.opaque=y
    Apply,    // ".wh.NAME" deletes NAME; ".wh..wh..opq" empties the directory (merged trees)
    None      // whiteout names are ordinary files
};

// "overlay" | "apply" | "none"; throws EINVAL otherwise.
WhiteoutMode parse_whiteout_mode(const std::string& s);

struct ExtractOptions {
    int blob_fd = -1;                  // also write the uncompressed tar here (same pass)
    WhiteoutMode whiteouts = WhiteoutMode::Overlay;
    bool allow_devices = false;        // create block/char devices (0/0 whiteouts always pass)
    bool chown = false;                // override every owner with uid/gid
    uid_t uid = 0;
    gid_t gid = 0;
    bool no_overwrite_dir_non_dir = false;  // refuse replacing a dir by a non-dir and vice versa
    uint64_t min_free = 0;             // stop (ENOSPC) when the destination has less free (0: no check)
    // The source beyond "src_fd to EOF" (see StreamSource in layers/compress.hpp): bytes read
    // before src_fd's, a byte count to read from src_fd, how long a non-blocking src_fd may
    // stay silent, and a progress callback (raw bytes read, every 100 ms at most).
    std::string src_prefix;
    int64_t src_limit = -1;
    int src_timeout_ms = 60000;
    std::function<void(uint64_t)> progress;
    int tee_fd = -1;        // raw bytes kept there too, after its first tee_have (read first)
    uint64_t tee_have = 0;
};

struct ExtractResult {
    std::string diff_id;      // sha256 of the uncompressed tar stream
    std::string digest;       // sha256 of the bytes read (== diff_id when uncompressed)
    uint64_t size = 0;        // uncompressed bytes
    uint64_t compressed_size = 0;  // bytes read
    uint64_t unpacked_size = 0;    // sum of regular file sizes
    uint64_t entries = 0;
    std::string compression;  // "none" | "gzip" | "zstd"
};

// Extracts the tar stream read from `src_fd` (plain, gzip or zstd) into `dest_dir`, an existing
// (normally empty) directory. On error it throws and leaves the partial tree to the caller.
ExtractResult extract_layer(int src_fd, const std::string& dest_dir, const ExtractOptions& opts);

// Extracts into `dest_path` resolved inside `root_dir` (created there if missing): archive
// names are kept below dest_path, and symlinks met on the way, in the tree or in the archive,
// resolve inside root_dir, never outside it.
ExtractResult extract_tree(int src_fd, const std::string& root_dir, const std::string& dest_path,
                           const ExtractOptions& opts);

}  // namespace lb
