// Layer stream compression: detection by magic bytes, streaming gzip/zstd decoding of the input
// with both digests computed in the same pass, and gzip encoding for written layers.
#pragma once

#include <zlib.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "core/space.hpp"
#include "layers/digest.hpp"

struct isal_zstream;  // <isa-l/igzip_lib.h>, kept out of this header

namespace lb {

enum class Compression { None, Gzip, Zstd };

const char* compression_name(Compression c);

// Looks at the first bytes of a stream. xz and bzip2 are recognized only to be refused with a
// clear error (throws EINVAL naming `what`); anything else is taken as an uncompressed tar.
Compression detect_compression(const unsigned char* p, size_t n, const std::string& what);

// Where a layer stream's raw (maybe compressed) bytes come from: `prefix` first (bytes the
// caller already read, e.g. the start of an HTTP body its client buffered), then `fd` from its
// current offset, to EOF or for exactly `limit` bytes (an HTTP body's Content-Length: the fd
// may be a kept-alive socket, never read past the body; fewer bytes is "unexpected end of
// data"). A non-blocking fd (a socket with a timeout) is waited for with poll(), at most
// `timeout_ms` without a byte (ETIMEDOUT). `progress(raw bytes so far)` is called from the
// reading thread at most every 100 ms and once at the end.
// `tee_fd` (a file, e.g. a download kept for resuming): its first `tee_have` bytes are the
// stream's start, read before all else; every raw byte read after them is written there too
// (from offset tee_have on), so that an interrupted download can be taken up where it stopped.
struct StreamSource {
    int fd = -1;
    std::string prefix;
    int64_t limit = -1;
    int timeout_ms = 60000;
    std::function<void(uint64_t)> progress;
    int tee_fd = -1;
    uint64_t tee_have = 0;
};

// One pass over a layer stream: the raw bytes are hashed (the blob digest), decompressed when
// gzip or zstd, the uncompressed bytes hashed (the diff_id) and, when `blob_fd >= 0`, written
// there too. `next()` hands out the uncompressed bytes in chunks of up to 1 MiB; `drain()`
// reads what is left to EOF, so the digests cover the whole stream even when the tar parser
// stops at the end-of-archive blocks.
//
// Reading, decompressing, the raw hash and the blob copy run in a thread of their own, a few
// chunks ahead of the consumer (the tar parser writing files), and the uncompressed chunks are
// hashed by a third thread as they come: the parts of an extraction use both cores. An error of
// the reading thread is raised by next() once the chunks before it are used.
//
// Errors name `what` (the destination, for the caller's message): a truncated stream is EIO
// "...: unexpected end of data", a corrupt one EINVAL.
class LayerInput {
public:
    LayerInput(StreamSource src, int blob_fd, std::string what);
    ~LayerInput();
    LayerInput(const LayerInput&) = delete;
    LayerInput& operator=(const LayerInput&) = delete;

    // The next chunk of uncompressed bytes, valid until the next call; {nullptr, 0} at the end.
    std::pair<const unsigned char*, size_t> next();
    void drain();

    // Every uncompressed byte handed out (and written to blob_fd) counts against `r`, which
    // throws ENOSPC once the destination is under its reserve. Not owned; may be null. Set
    // before the first next().
    void keep_free(SpaceReserve* r) { reserve_ = r; }

    Compression compression() const { return comp_; }
    // Valid once next() returned the end (or after drain()).
    uint64_t raw_bytes() const { return raw_bytes_; }
    uint64_t tar_bytes() const { return tar_bytes_; }
    std::string raw_digest();
    std::string tar_digest();

    struct Codec;  // the gzip or zstd decoder (compress.cpp)

private:
    size_t read_raw(unsigned char* buf, size_t cap);
    size_t read_new(unsigned char* buf, size_t cap);
    size_t refill();
    size_t produce(unsigned char* out, size_t cap);
    size_t fill(unsigned char* out, size_t cap);
    void emit(const unsigned char* p, size_t n);
    void producer();
    void hasher();
    void release(int chunk);
    void report(bool last);

    StreamSource src_;
    size_t prefix_pos_ = 0;
    uint64_t replay_pos_ = 0, tee_off_ = 0;
    int64_t left_ = -1;  // bytes still to read from src_.fd when it has a limit
    int blob_fd_;
    std::string what_;
    Compression comp_ = Compression::None;
    std::unique_ptr<unsigned char[]> in_;
    size_t in_pos_ = 0, in_len_ = 0;
    bool eof_ = false, first_pending_ = false;
    uint64_t raw_bytes_ = 0, tar_bytes_ = 0;
    Sha256 raw_hash_, tar_hash_;
    std::string raw_digest_, tar_digest_;
    std::unique_ptr<Codec> codec_;
    SpaceReserve* reserve_ = nullptr;
    int64_t last_report_ns_ = 0;

    // The chunks between the producer thread, the hasher thread and next(). A filled chunk is
    // queued for both (full_, hash_q_) and is free again once both are done with it (refs_).
    // Why a thread for the diff_id: the producer alone was the longer half of a pull (59% of
    // its CPU samples), but right after an rmi the parser's file creations are (ext4 skips
    // recently freed inodes one lookup at a time: 31% of the samples in one pull), so the hash
    // is better in neither; a third thread lets the scheduler put it where a core is free.
    static constexpr int kChunks = 6;
    std::unique_ptr<unsigned char[]> chunk_[kChunks];
    size_t chunk_len_[kChunks] = {};
    int refs_[kChunks] = {};
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<int> free_, full_, hash_q_;
    int held_ = -1;          // the chunk next() last handed out
    bool finished_ = false;  // the producer has ended (EOF or error_)
    std::exception_ptr error_, hash_error_;
    std::atomic<bool> stop_{false};
    std::thread thread_, hasher_;
};

// Streaming gzip (RFC 1952) encoder with ISA-L's igzip: a fixed header (mtime 0, OS unix), so
// the same input gives the same bytes. Why igzip and not zlib: it is the compression of a push,
// and on this kind of machine zlib's level 6 (docker's) makes 10-25 MB/s, igzip 140-900 MB/s
// (random data is the fast end) for a ratio within a few percent (measured in the commit that
// chose it). `level` is zlib's scale (0-9, -1 for the default), mapped onto igzip's levels 1-3.
class GzipEncoder {
public:
    explicit GzipEncoder(int level);
    ~GzipEncoder();
    GzipEncoder(const GzipEncoder&) = delete;
    GzipEncoder& operator=(const GzipEncoder&) = delete;

    using Emit = std::function<void(const unsigned char*, size_t)>;
    void write(const void* data, size_t len, const Emit& emit);
    void finish(const Emit& emit);

private:
    void run(bool end, const Emit& emit);
    std::unique_ptr<::isal_zstream> zs_;
    std::unique_ptr<unsigned char[]> level_buf_;
    std::unique_ptr<unsigned char[]> out_;
    bool header_written_ = false;
};

}  // namespace lb
