#include "layers/compress.hpp"

#include <isa-l/igzip_lib.h>

#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include <cerrno>
#include <cstring>

#ifdef LAYERBOX_HAVE_ZSTD
#include <zstd.h>
#endif

#include "core/error.hpp"
#include "core/fd.hpp"

namespace lb {

namespace {

constexpr size_t kInChunk = 256 << 10;  // compressed input reads; output chunks are kIoChunk

[[noreturn]] void truncated(const std::string& what, const char* stream) {
    throw SysError(EIO, "", what, what + ": layer archive " + stream + ": unexpected end of data");
}

[[noreturn]] void corrupt(const std::string& what, const char* stream, const std::string& detail) {
    throw SysError(EINVAL, "", what, what + ": layer archive " + stream + ": corrupt data (" + detail + ")");
}

}  // namespace

const char* compression_name(Compression c) {
    switch (c) {
        case Compression::Gzip: return "gzip";
        case Compression::Zstd: return "zstd";
        case Compression::None: break;
    }
    return "none";
}

Compression detect_compression(const unsigned char* p, size_t n, const std::string& what) {
    if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b) return Compression::Gzip;
    // A zstd frame (28 b5 2f fd) or a skippable frame (5? 2a 4d 18) in front of one.
    if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd) return Compression::Zstd;
    if (n >= 4 && (p[0] & 0xf0) == 0x50 && p[1] == 0x2a && p[2] == 0x4d && p[3] == 0x18)
        return Compression::Zstd;
    if (n >= 6 && !std::memcmp(p, "\xfd" "7zXZ\0", 6))
        throw_invalid("layer archive: xz compression is not supported (use gzip or zstd)", what);
    if (n >= 3 && !std::memcmp(p, "BZh", 3))
        throw_invalid("layer archive: bzip2 compression is not supported (use gzip or zstd)", what);
    return Compression::None;
}

// The decoder state of one compressed stream. step() consumes from in[*pos, len) and produces
// into out[*produced, cap); it returns without progress when it needs more input.
struct LayerInput::Codec {
    virtual ~Codec() = default;
    virtual void step(const unsigned char* in, size_t* pos, size_t len, unsigned char* out,
                      size_t* produced, size_t cap) = 0;
    // Called at EOF once no more output comes: throws when the stream stopped mid-way.
    virtual void at_eof() = 0;
};

namespace {

// gzip with ISA-L's igzip inflate (libisal is linked for the push's deflate already). Why not
// zlib: on a pull, inflate and its CRC-32 were 14% of the CPU profile with zlib 1.2.13
// (crc32_z alone 5.7%); igzip's inflate is 2-3x zlib's and its CRC uses PCLMULQDQ (figures in
// the commit that chose it). The header, the CRC-32 and the size trailer are checked by igzip
// (ISAL_GZIP).
const char* isal_error(int rc) {
    switch (rc) {
        case ISAL_INVALID_BLOCK: return "invalid block";
        case ISAL_INVALID_SYMBOL: return "invalid symbol";
        case ISAL_INVALID_LOOKBACK: return "invalid distance";
        case ISAL_INVALID_WRAPPER: return "invalid gzip header";
        case ISAL_UNSUPPORTED_METHOD: return "unknown compression method";
        case ISAL_INCORRECT_CHECKSUM: return "incorrect data check";
        default: return "inflate error";
    }
}

struct GzipCodec : LayerInput::Codec {
    std::unique_ptr<inflate_state> st{new inflate_state};
    bool member_open = true;  // the first member starts at byte 0 (detected by magic)
    bool trailing = false;    // garbage after the last member: hashed, ignored (as gunzip does)
    const std::string& what;

    explicit GzipCodec(const std::string& w) : what(w) {
        isal_inflate_init(st.get());
        st->crc_flag = ISAL_GZIP;
    }

    void step(const unsigned char* in, size_t* pos, size_t len, unsigned char* out, size_t* produced,
              size_t cap) override {
        if (trailing) {
            *pos = len;
            return;
        }
        if (!member_open) {
            if (*pos == len) return;
            // Another member (multi-member gzip, like pigz or concatenated files) or trailing data.
            if (in[*pos] != 0x1f) {
                trailing = true;
                *pos = len;
                return;
            }
            isal_inflate_reset(st.get());
            st->crc_flag = ISAL_GZIP;
            member_open = true;
        }
        st->next_in = const_cast<unsigned char*>(in + *pos);
        st->avail_in = static_cast<uint32_t>(len - *pos);
        st->next_out = out + *produced;
        st->avail_out = static_cast<uint32_t>(cap - *produced);
        int rc = isal_inflate(st.get());
        *pos = len - st->avail_in;
        *produced = cap - st->avail_out;
        if (rc < 0) corrupt(what, "gzip stream", isal_error(rc));
        if (st->block_state == ISAL_BLOCK_FINISH) member_open = false;
    }
    void at_eof() override {
        if (member_open) truncated(what, "gzip stream");
    }
};

#ifdef LAYERBOX_HAVE_ZSTD
struct ZstdCodec : LayerInput::Codec {
    ZSTD_DCtx* dctx;
    size_t last = 0;  // ZSTD_decompressStream's last hint: 0 when a frame is complete
    bool any = false;
    const std::string& what;

    explicit ZstdCodec(const std::string& w) : dctx(ZSTD_createDCtx()), what(w) {
        if (!dctx) throw_err(ENOMEM, "zstd", what);
    }
    ~ZstdCodec() override { ZSTD_freeDCtx(dctx); }

    void step(const unsigned char* in, size_t* pos, size_t len, unsigned char* out, size_t* produced,
              size_t cap) override {
        ZSTD_inBuffer ib{in, len, *pos};
        ZSTD_outBuffer ob{out, cap, *produced};
        size_t rc = ZSTD_decompressStream(dctx, &ob, &ib);
        if (ZSTD_isError(rc)) corrupt(what, "zstd stream", ZSTD_getErrorName(rc));
        // A call without progress (no input left) says nothing about the frame: keep the hint
        // of the last call that did something.
        if (ib.pos != *pos || ob.pos != *produced) {
            any = true;
            last = rc;
        }
        *pos = ib.pos;
        *produced = ob.pos;
    }
    void at_eof() override {
        if (last != 0 || !any) truncated(what, "zstd stream");
    }
};
#endif

}  // namespace

LayerInput::LayerInput(StreamSource src, int blob_fd, std::string what)
    : src_(std::move(src)), left_(src_.limit), blob_fd_(blob_fd), what_(std::move(what)),
      in_(new unsigned char[kIoChunk]) {
    // Read until the magic bytes can be told apart (or EOF).
    while (in_len_ < 6 && !eof_) {
        size_t n = read_raw(in_.get() + in_len_, kIoChunk - in_len_);
        if (n == 0) eof_ = true;
        in_len_ += n;
    }
    raw_bytes_ = in_len_;
    comp_ = detect_compression(in_.get(), in_len_, what_);
    if (comp_ == Compression::None) {
        first_pending_ = true;  // plain tar: the raw bytes are the tar bytes (hashed once)
    } else {
        raw_hash_.update(in_.get(), in_len_);
        if (comp_ == Compression::Gzip) {
            codec_ = std::make_unique<GzipCodec>(what_);
        } else {
#ifdef LAYERBOX_HAVE_ZSTD
            codec_ = std::make_unique<ZstdCodec>(what_);
#else
            throw_invalid("layer archive: zstd compression is not supported by this build", what_);
#endif
        }
    }
    for (int i = 0; i < kChunks; ++i) {
        chunk_[i].reset(new unsigned char[kIoChunk]);
        free_.push_back(i);
    }
}

LayerInput::~LayerInput() {
    stop_ = true;
    {
        std::lock_guard<std::mutex> g(mu_);
        cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
    if (hasher_.joinable()) hasher_.join();
}

size_t LayerInput::read_raw(unsigned char* buf, size_t cap) {
    if (replay_pos_ < src_.tee_have) {
        size_t want = static_cast<size_t>(std::min<uint64_t>(cap, src_.tee_have - replay_pos_));
        ssize_t n;
        do {
            n = ::pread(src_.tee_fd, buf, want, static_cast<off_t>(replay_pos_));
        } while (n < 0 && errno == EINTR);
        if (n < 0) throw_errno("read", what_);
        if (n == 0) throw SysError(EIO, "read", what_, what_ + ": the partial download shrank");
        replay_pos_ += static_cast<uint64_t>(n);
        return static_cast<size_t>(n);
    }
    size_t n = read_new(buf, cap);
    if (n > 0 && src_.tee_fd >= 0) {
        const unsigned char* p = buf;
        size_t left = n;
        while (left > 0) {
            ssize_t w = ::pwrite(src_.tee_fd, p, std::min(left, kMaxFileWrite),
                                 static_cast<off_t>(src_.tee_have + tee_off_));
            if (w < 0) {
                if (errno == EINTR) continue;
                throw_errno("write", what_);
            }
            p += w;
            left -= static_cast<size_t>(w);
            tee_off_ += static_cast<uint64_t>(w);
            if (reserve_) reserve_->wrote(static_cast<uint64_t>(w));  // the kept bytes fill the disk too
        }
    }
    return n;
}

size_t LayerInput::read_new(unsigned char* buf, size_t cap) {
    if (prefix_pos_ < src_.prefix.size()) {
        size_t n = std::min(cap, src_.prefix.size() - prefix_pos_);
        std::memcpy(buf, src_.prefix.data() + prefix_pos_, n);
        prefix_pos_ += n;
        return n;
    }
    if (left_ == 0) return 0;
    if (left_ > 0 && static_cast<uint64_t>(left_) < cap) cap = static_cast<size_t>(left_);
    int waited = 0;
    for (;;) {
        ssize_t n = ::read(src_.fd, buf, cap);
        if (n > 0) {
            if (left_ > 0) left_ -= n;
            return static_cast<size_t>(n);
        }
        if (n == 0) {
            if (left_ > 0)  // the source (an HTTP body) ended before its length: not the data's fault
                throw SysError(ECONNABORTED, "read", what_,
                               what_ + ": the source ended " + std::to_string(left_) + " bytes early");
            return 0;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN) throw_errno("read", what_);
        // A non-blocking socket: wait in short slices, so that a stopped extraction ends soon.
        if (stop_) throw_err(ECANCELED, "read", what_);
        if (src_.timeout_ms >= 0 && waited >= src_.timeout_ms) throw_err(ETIMEDOUT, "read", what_);
        struct pollfd p = {src_.fd, POLLIN, 0};
        if (::poll(&p, 1, 100) < 0 && errno != EINTR) throw_errno("poll", what_);
        waited += 100;
    }
}

size_t LayerInput::refill() {
    size_t cap = comp_ == Compression::None ? kIoChunk : kInChunk;
    in_pos_ = 0;
    in_len_ = read_raw(in_.get(), cap);
    if (in_len_ == 0) {
        eof_ = true;
        return 0;
    }
    raw_bytes_ += in_len_;
    if (comp_ != Compression::None) raw_hash_.update(in_.get(), in_len_);
    return in_len_;
}

size_t LayerInput::produce(unsigned char* out, size_t cap) {
    size_t produced = 0;
    while (produced < cap) {
        if (in_pos_ == in_len_ && !eof_) {
            refill();
            continue;
        }
        size_t in_before = in_pos_, out_before = produced;
        codec_->step(in_.get(), &in_pos_, in_len_, out, &produced, cap);
        if (in_pos_ == in_before && produced == out_before) {
            if (eof_ && in_pos_ == in_len_) {
                codec_->at_eof();
                break;
            }
            if (in_pos_ < in_len_) corrupt(what_, compression_name(comp_), "decoder made no progress");
        }
    }
    return produced;
}

size_t LayerInput::fill(unsigned char* out, size_t cap) {
    size_t n;
    if (comp_ != Compression::None) {
        n = produce(out, cap);
    } else if (first_pending_) {
        first_pending_ = false;
        std::memcpy(out, in_.get(), in_len_);
        n = in_len_;
        if (n == 0) eof_ = true;
    } else if (eof_) {
        n = 0;
    } else {
        n = read_raw(out, cap);  // plain: straight into the chunk, no copy
        if (n == 0) eof_ = true;
        raw_bytes_ += n;
    }
    if (n) emit(out, n);
    return n;
}

void LayerInput::emit(const unsigned char* p, size_t n) {
    tar_bytes_ += n;
    // Once for the blob copy and once for the files the bytes become.
    if (reserve_) reserve_->wrote(blob_fd_ >= 0 ? 2 * n : n);
    if (blob_fd_ >= 0) write_all(blob_fd_, p, n, "layer blob for " + what_);
}

void LayerInput::report(bool last) {
    if (!src_.progress) return;
    struct timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = ts.tv_sec * 1000000000LL + ts.tv_nsec;
    if (!last && now - last_report_ns_ < 100000000LL) return;
    last_report_ns_ = now;
    src_.progress(raw_bytes_);
}

void LayerInput::producer() {
    try {
        for (;;) {
            int i;
            {
                std::unique_lock<std::mutex> g(mu_);
                cv_.wait(g, [this] { return stop_ || !free_.empty(); });
                if (stop_) return;
                i = free_.front();
                free_.pop_front();
            }
            size_t n = fill(chunk_[i].get(), kIoChunk);
            report(n == 0);
            std::lock_guard<std::mutex> g(mu_);
            if (n == 0) {
                free_.push_back(i);
                finished_ = true;
            } else {
                chunk_len_[i] = n;
                refs_[i] = 2;
                full_.push_back(i);
                hash_q_.push_back(i);
            }
            cv_.notify_all();
            if (n == 0) return;
        }
    } catch (...) {
        std::lock_guard<std::mutex> g(mu_);
        error_ = std::current_exception();
        finished_ = true;
        cv_.notify_all();
    }
}

// Called with mu_ held: one of the chunk's two users is done with it.
void LayerInput::release(int chunk) {
    if (--refs_[chunk] == 0) free_.push_back(chunk);
    cv_.notify_all();
}

void LayerInput::hasher() {
    std::unique_lock<std::mutex> g(mu_);
    for (;;) {
        cv_.wait(g, [this] { return stop_ || !hash_q_.empty() || finished_; });
        if (stop_ || hash_q_.empty()) return;  // stopped, or the producer ended and all is hashed
        int i = hash_q_.front();
        hash_q_.pop_front();
        g.unlock();
        try {
            if (!hash_error_) tar_hash_.update(chunk_[i].get(), chunk_len_[i]);
        } catch (...) {
            hash_error_ = std::current_exception();  // raised by next() at the end
        }
        g.lock();
        release(i);
    }
}

std::pair<const unsigned char*, size_t> LayerInput::next() {
    if (!thread_.joinable() && !finished_) {
        thread_ = std::thread([this] { producer(); });
        hasher_ = std::thread([this] { hasher(); });
    }
    std::unique_lock<std::mutex> g(mu_);
    if (held_ >= 0) {
        release(held_);
        held_ = -1;
    }
    cv_.wait(g, [this] { return !full_.empty() || finished_; });
    if (!full_.empty()) {
        held_ = full_.front();
        full_.pop_front();
        return {chunk_[held_].get(), chunk_len_[held_]};
    }
    g.unlock();
    if (thread_.joinable()) thread_.join();  // its counters and hashes are ours from here
    if (hasher_.joinable()) hasher_.join();  // and the diff_id's once it has hashed the rest
    if (error_) std::rethrow_exception(error_);
    if (hash_error_) std::rethrow_exception(hash_error_);
    return {nullptr, 0};
}

void LayerInput::drain() {
    while (next().second > 0) {
    }
}

std::string LayerInput::tar_digest() {
    if (tar_digest_.empty()) tar_digest_ = tar_hash_.finish();
    return tar_digest_;
}

std::string LayerInput::raw_digest() {
    if (comp_ == Compression::None) return tar_digest();
    if (raw_digest_.empty()) raw_digest_ = raw_hash_.finish();
    return raw_digest_;
}

namespace {

// RFC 1952 header: deflate, no flags, mtime 0, no extra flags, OS 3 (unix): fixed, so that equal
// layers give equal blobs (and digests) wherever they are compressed.
constexpr unsigned char kGzipHeader[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};

struct IsalLevel {
    int level;
    uint32_t buf;
};

IsalLevel isal_level(int zlib_level) {
    if (zlib_level >= 0 && zlib_level <= 1) return {1, ISAL_DEF_LVL1_DEFAULT};
    if (zlib_level >= 7) return {3, ISAL_DEF_LVL3_DEFAULT};
    return {2, ISAL_DEF_LVL2_DEFAULT};  // -1 (default) and 2-6
}

}  // namespace

GzipEncoder::GzipEncoder(int level) : zs_(new isal_zstream), out_(new unsigned char[kIoChunk]) {
    if (level < -1 || level > 9) throw_invalid("gzip level must be between 0 and 9", std::to_string(level));
    IsalLevel l = isal_level(level);
    level_buf_.reset(new unsigned char[l.buf]);
    isal_deflate_init(zs_.get());
    zs_->level = l.level;
    zs_->level_buf = level_buf_.get();
    zs_->level_buf_size = l.buf;
    zs_->gzip_flag = IGZIP_GZIP_NO_HDR;  // our header (above); igzip writes the CRC and size trailer
    zs_->flush = NO_FLUSH;
}

GzipEncoder::~GzipEncoder() = default;

void GzipEncoder::run(bool end, const Emit& emit) {
    if (!header_written_) {
        emit(kGzipHeader, sizeof kGzipHeader);
        header_written_ = true;
    }
    zs_->end_of_stream = end ? 1 : 0;
    for (;;) {
        zs_->next_out = out_.get();
        zs_->avail_out = static_cast<uint32_t>(kIoChunk);
        int rc = isal_deflate(zs_.get());
        if (rc != COMP_OK) throw_err(EIO, "isal_deflate", "error " + std::to_string(rc));
        size_t have = kIoChunk - zs_->avail_out;
        if (have) emit(out_.get(), have);
        if (end ? zs_->internal_state.state == ZSTATE_END : (zs_->avail_in == 0 && zs_->avail_out != 0)) break;
    }
}

void GzipEncoder::write(const void* data, size_t len, const Emit& emit) {
    const unsigned char* p = static_cast<const unsigned char*>(data);
    while (len > 0) {
        size_t n = len > (1u << 30) ? (1u << 30) : len;
        zs_->next_in = const_cast<unsigned char*>(p);
        zs_->avail_in = static_cast<uint32_t>(n);
        run(false, emit);
        p += n;
        len -= n;
    }
}

void GzipEncoder::finish(const Emit& emit) {
    zs_->next_in = nullptr;
    zs_->avail_in = 0;
    run(true, emit);
}

}  // namespace lb
