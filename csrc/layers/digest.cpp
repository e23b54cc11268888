#include "layers/digest.hpp"

#include <unistd.h>

#include <cerrno>
#include <memory>

#include "core/error.hpp"
#include "core/fd.hpp"

namespace lb {

Sha256::Sha256() {
    if (SHA256_Init(&ctx_) != 1) throw_err(EIO, "sha256 init");
}

Sha256::~Sha256() = default;

void Sha256::update(const void* data, size_t len) {
    if (len && SHA256_Update(&ctx_, data, len) != 1) throw_err(EIO, "sha256 update");
}

std::string Sha256::finish() {
    unsigned char md[SHA256_DIGEST_LENGTH];
    const unsigned n = SHA256_DIGEST_LENGTH;
    if (SHA256_Final(md, &ctx_) != 1) throw_err(EIO, "sha256 final");
    static const char hex[] = "0123456789abcdef";
    std::string out = "sha256:";
    out.reserve(7 + 2 * n);
    for (unsigned i = 0; i < n; ++i) {
        out += hex[md[i] >> 4];
        out += hex[md[i] & 15];
    }
    return out;
}

std::string sha256_hex_of(const void* data, size_t len) {
    Sha256 h;
    h.update(data, len);
    return h.finish();
}

bool valid_digest(const std::string& d) {
    if (d.size() != 71 || d.compare(0, 7, "sha256:") != 0) return false;
    for (size_t i = 7; i < d.size(); ++i) {
        char c = d[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

namespace {

ssize_t read_some(int fd, void* buf, size_t len, const char* what) {
    for (;;) {
        ssize_t n = ::read(fd, buf, len);
        if (n >= 0) return n;
        if (errno != EINTR) throw_errno("read", what);
    }
}

}  // namespace

std::string sha256_fd(int fd, uint64_t* size_out) {
    std::unique_ptr<char[]> buf(new char[kIoChunk]);
    Sha256 h;
    uint64_t total = 0;
    std::string what = "fd " + std::to_string(fd);
    for (;;) {
        ssize_t n = read_some(fd, buf.get(), kIoChunk, what.c_str());
        if (n == 0) break;
        h.update(buf.get(), static_cast<size_t>(n));
        total += static_cast<uint64_t>(n);
    }
    if (size_out) *size_out = total;
    return h.finish();
}

CopyResult copy_verify(int src_fd, int dst_fd, const std::string& expected) {
    if (!expected.empty() && !valid_digest(expected))
        throw_invalid("not a sha256 digest", expected.empty() ? "''" : expected);
    std::unique_ptr<char[]> buf(new char[kIoChunk]);
    Sha256 h;
    CopyResult r;
    std::string src_what = "fd " + std::to_string(src_fd);
    std::string dst_what = "fd " + std::to_string(dst_fd);
    for (;;) {
        ssize_t n = read_some(src_fd, buf.get(), kIoChunk, src_what.c_str());
        if (n == 0) break;
        h.update(buf.get(), static_cast<size_t>(n));
        write_all(dst_fd, buf.get(), static_cast<size_t>(n), dst_what);
        r.size += static_cast<uint64_t>(n);
    }
    r.digest = h.finish();
    if (!expected.empty() && r.digest != expected) {
        throw SysError(EBADMSG, "verify", expected,
                       "content digest mismatch: expected " + expected + ", got " + r.digest);
    }
    return r;
}

}  // namespace lb
