// Gzip of a whole stream with both digests in one pass: how `push` turns a layer the store
// keeps uncompressed (its bytes are its diff_id) into the gzip blob a registry receives.
#pragma once

#include <cstdint>
#include <string>

namespace lb {

struct GzipStreamResult {
    std::string digest;   // sha256 of the gzip bytes written: the blob's digest
    uint64_t size = 0;    // bytes written
    std::string diff_id;  // sha256 of the bytes read
    uint64_t input_size = 0;
};

// Reads src_fd from its current offset to EOF, gzips it (level 0-9; the header fixed, so the
// same input always gives the same bytes) to dst_fd, hashing both sides. When
// `expected_diff_id` is not empty and the input's digest differs, throws SysError EBADMSG
// naming both (the output already written is the caller's to discard).
GzipStreamResult gzip_stream(int src_fd, int dst_fd, int level, const std::string& expected_diff_id);

}  // namespace lb
