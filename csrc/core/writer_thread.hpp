// Writing on a second core while the first one reads and hashes.
//
// A layer's bytes are read, hashed (SHA-256 is the floor: ~1.5 GB/s) and written. Done in one
// thread those costs add up; with the writes handed to a thread of their own they overlap,
// and, for a file that will be fsynced, writeback to disk is started as each chunk lands
// (sync_file_range), so the final fdatasync has little left to wait for. (Not for other
// files: where the disk is slower than memory, that would make every write wait for it.)
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace lb {

class BackgroundWriter {
public:
    // `writeback`: start writing each chunk to disk as it lands (for a file the caller will
    // fdatasync); otherwise the page cache absorbs the writes, as for a `save` to a file.
    BackgroundWriter(int fd, std::string shown, bool writeback, size_t chunk = 1 << 20,
                     size_t chunks = 4);
    ~BackgroundWriter();
    BackgroundWriter(const BackgroundWriter&) = delete;
    BackgroundWriter& operator=(const BackgroundWriter&) = delete;

    // Copies the bytes into the next free chunk; blocks only when every chunk is in flight.
    // The thread starts when the first chunk fills (smaller output is written by finish()).
    // Throws what a previous write failed with.
    void write(const void* p, size_t n);
    // Writes what is left and waits for it; throws the writer's error, if any.
    void finish();

private:
    struct Chunk {
        std::unique_ptr<unsigned char[]> data;
        size_t used = 0;
    };
    Chunk new_chunk();
    void write_chunk(const Chunk& c);
    void run();
    void submit_current();
    void rethrow();

    int fd_;
    std::string shown_;
    size_t chunk_size_;
    size_t max_chunks_;
    size_t allocated_ = 0;
    bool writeback_ = false;
    uint64_t offset_ = 0;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Chunk> full_, free_;
    Chunk cur_;
    bool done_ = false;
    int err_ = 0;
    std::string err_what_;
    std::thread thread_;
};

}  // namespace lb
