#include "core/writer_thread.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"
#include "core/fd.hpp"

namespace lb {

BackgroundWriter::BackgroundWriter(int fd, std::string shown, bool writeback, size_t chunk, size_t chunks)
    : fd_(fd), shown_(std::move(shown)), chunk_size_(chunk), max_chunks_(chunks < 1 ? 1 : chunks) {
    struct stat st;
    writeback_ = writeback && ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode);
    // One chunk, not zeroed (new[] without "()"): only the pages the bytes land on are ever
    // touched. The others and the thread come when a chunk fills; a layer that fits in one
    // chunk (a build step's) is written by finish() here, with no thread at all. Zeroed chunks
    // made up front cost 4 MiB of page faults and memset per call (~1000 faults, 1-2 ms).
    cur_ = new_chunk();
}

BackgroundWriter::Chunk BackgroundWriter::new_chunk() {
    ++allocated_;
    return Chunk{std::unique_ptr<unsigned char[]>(new unsigned char[chunk_size_]), 0};
}

BackgroundWriter::~BackgroundWriter() {
    {
        std::lock_guard<std::mutex> g(mu_);
        done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void BackgroundWriter::write_chunk(const Chunk& c) {
    write_all(fd_, c.data.get(), c.used, shown_);
    if (writeback_) {
        // Start writeback now, without waiting: the final fdatasync then finds most of the
        // file already on its way to the disk.
        ::sync_file_range(fd_, static_cast<off64_t>(offset_), static_cast<off64_t>(c.used),
                          SYNC_FILE_RANGE_WRITE);
    }
    offset_ += c.used;
}

void BackgroundWriter::rethrow() {
    if (err_) throw SysError(err_, "write", shown_, err_what_);
}

void BackgroundWriter::submit_current() {
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    std::unique_lock<std::mutex> lk(mu_);
    full_.push_back(std::move(cur_));
    cv_.notify_all();
    if (free_.empty() && allocated_ < max_chunks_ && !err_) {
        lk.unlock();
        cur_ = new_chunk();
        return;
    }
    cv_.wait(lk, [this] { return !free_.empty() || err_; });
    rethrow();
    cur_ = std::move(free_.front());
    free_.pop_front();
    cur_.used = 0;
}

void BackgroundWriter::write(const void* p, size_t n) {
    const unsigned char* q = static_cast<const unsigned char*>(p);
    while (n > 0) {
        size_t k = std::min(n, chunk_size_ - cur_.used);
        std::memcpy(cur_.data.get() + cur_.used, q, k);
        cur_.used += k;
        q += k;
        n -= k;
        if (cur_.used == chunk_size_) submit_current();
    }
}

void BackgroundWriter::finish() {
    if (!thread_.joinable()) {
        // Everything fitted in the first chunk: written here.
        if (cur_.used) write_chunk(cur_);
        cur_.used = 0;
        return;
    }
    std::unique_lock<std::mutex> lk(mu_);
    if (cur_.used) {
        full_.push_back(std::move(cur_));
        cur_ = Chunk{};
    }
    done_ = true;
    cv_.notify_all();
    lk.unlock();
    thread_.join();
    rethrow();
}

void BackgroundWriter::run() {
    for (;;) {
        Chunk c;
        {
            std::unique_lock<std::mutex> lk(mu_);
            cv_.wait(lk, [this] { return !full_.empty() || done_; });
            if (full_.empty()) return;
            c = std::move(full_.front());
            full_.pop_front();
        }
        if (!err_) {
            try {
                write_chunk(c);
            } catch (const SysError& e) {
                std::lock_guard<std::mutex> g(mu_);
                err_ = e.err ? e.err : EIO;
                err_what_ = e.what();
            }
        }
        {
            std::lock_guard<std::mutex> g(mu_);
            c.used = 0;
            if (c.data) free_.push_back(std::move(c));
        }
        cv_.notify_all();
    }
}

}  // namespace lb
