// SHA-256 over streams: the content addresses of blobs and layers ("sha256:<hex>").
//
// OpenSSL's SHA256_* functions take the SHA-NI code path on this machine (~1.3 GB/s a core), as
// EVP does; EVP's first digest in a process also sets up OpenSSL's providers and reads its
// config (~2 ms, paid by every command that hashes a layer: each build step), the low-level
// functions do not. Deprecated in OpenSSL 3 but kept by it. Every hashing loop here reads in
// 1 MiB chunks so the syscall cost stays far below the hashing cost.
#pragma once

#ifndef OPENSSL_SUPPRESS_DEPRECATED
#define OPENSSL_SUPPRESS_DEPRECATED
#endif
#include <openssl/sha.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace lb {

class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    void update(const void* data, size_t len);
    // "sha256:<64 hex digits>"; the hasher must not be updated afterwards.
    std::string finish();

private:
    SHA256_CTX ctx_;
};

// sha256 of "" etc. in one call (tests, small buffers).
std::string sha256_hex_of(const void* data, size_t len);

// True for "sha256:" followed by 64 lower-case hex digits.
bool valid_digest(const std::string& digest);

// Reads `fd` from its current offset to EOF, hashing. Returns "sha256:<hex>".
std::string sha256_fd(int fd, uint64_t* size_out = nullptr);

struct CopyResult {
    std::string digest;
    uint64_t size = 0;
};

// Copies src to dst (both from their current offsets) while hashing. If `expected` is not empty
// and differs from what was copied, throws SysError EBADMSG naming both digests (the bytes are
// already written: the caller owns dst and discards it).
CopyResult copy_verify(int src_fd, int dst_fd, const std::string& expected);

constexpr size_t kIoChunk = 1 << 20;  // 1 MiB: every streaming loop uses this size

}  // namespace lb
