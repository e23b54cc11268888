#include "layers/compress_stream.hpp"

#include <unistd.h>

#include <cerrno>
#include <memory>

#include "layers/compress.hpp"
#include "layers/digest.hpp"
#include "core/error.hpp"
#include "core/fd.hpp"

namespace lb {

GzipStreamResult gzip_stream(int src_fd, int dst_fd, int level, const std::string& expected_diff_id) {
    if (!expected_diff_id.empty() && !valid_digest(expected_diff_id))
        throw_invalid("not a sha256 digest", expected_diff_id);
    GzipEncoder enc(level);  // checks the level before anything is read
    std::unique_ptr<unsigned char[]> buf(new unsigned char[kIoChunk]);
    Sha256 in_hash, out_hash;
    GzipStreamResult r;
    const std::string src_what = "fd " + std::to_string(src_fd);
    const std::string dst_what = "fd " + std::to_string(dst_fd);
    auto emit = [&](const unsigned char* p, size_t n) {
        out_hash.update(p, n);
        write_all(dst_fd, p, n, dst_what);
        r.size += n;
    };
    for (;;) {
        ssize_t n = ::read(src_fd, buf.get(), kIoChunk);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno("read", src_what);
        }
        if (n == 0) break;
        in_hash.update(buf.get(), static_cast<size_t>(n));
        r.input_size += static_cast<uint64_t>(n);
        enc.write(buf.get(), static_cast<size_t>(n), emit);
    }
    enc.finish(emit);
    r.diff_id = in_hash.finish();
    r.digest = out_hash.finish();
    if (!expected_diff_id.empty() && r.diff_id != expected_diff_id)
        throw SysError(EBADMSG, "verify", expected_diff_id,
                       "content digest mismatch: expected " + expected_diff_id + ", got " + r.diff_id);
    return r;
}

}  // namespace lb
