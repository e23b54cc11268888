// The writer's promises that need no root: the same tree gives the same bytes every time,
// headers are normalized, and decoding the gzip output gives back the same tar and digests.
#undef NDEBUG
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "layers/compress.hpp"
#include "layers/digest.hpp"
#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/fsutil.hpp"
#include "layers/tar_write.hpp"

using namespace lb;

static std::string g_tmp;

static void put(const std::string& rel, const std::string& data, mode_t mode = 0644) {
    std::string p = g_tmp + "/" + rel;
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    assert(fd >= 0);
    write_all(fd, data, p);
    ::close(fd);
    ::chmod(p.c_str(), mode);
}

static void make_tree() {
    char tmpl[] = "/tmp/lb-tar-write-XXXXXX";
    assert(::mkdtemp(tmpl));
    g_tmp = tmpl;
    assert(::mkdir((g_tmp + "/tree").c_str(), 0755) == 0);
    assert(::mkdir((g_tmp + "/tree/b").c_str(), 0700) == 0);
    assert(::mkdir((g_tmp + "/tree/a").c_str(), 0755) == 0);
    put("tree/a/z", "zz");
    put("tree/a/y", std::string(100000, 'y'), 0755);
    put("tree/b/" + std::string(150, 'n'), "long name");
    put("tree/a-b", "sorts after a/ by component, before it by byte");
    assert(::symlink("a/z", (g_tmp + "/tree/link").c_str()) == 0);
    assert(::link((g_tmp + "/tree/a/z").c_str(), (g_tmp + "/tree/b/hard").c_str()) == 0);
    struct timespec ts[2] = {{1600000000, 123456789}, {1600000000, 987654321}};
    assert(::utimensat(AT_FDCWD, (g_tmp + "/tree/a/z").c_str(), ts, 0) == 0);
}

static std::string tar_of(const std::string& dir, WriteResult* r, bool gzip = false,
                          const std::string& top_name = "") {
    int fd = ::memfd_create("tar", MFD_CLOEXEC);
    assert(fd >= 0);
    WriteOptions o;
    o.gzip = gzip;
    o.top_name = top_name;
    *r = write_layer(dir, fd, o);
    assert(::lseek(fd, 0, SEEK_SET) == 0);
    std::string s = read_all(fd, "memfd");
    ::close(fd);
    return s;
}

static std::string drain_all(LayerInput& in) {
    std::string back;
    for (;;) {
        auto [p, n] = in.next();
        if (!n) break;
        back.append(reinterpret_cast<const char*>(p), n);
    }
    return back;
}

static void test_determinism() {
    // SHA-256's known answers (FIPS 180-2), through the functions every digest here uses
    assert(sha256_hex_of("", 0) == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert(sha256_hex_of("abc", 3) == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    WriteResult r1, r2, r3;
    std::string t1 = tar_of(g_tmp + "/tree", &r1);
    // Reading the tree changes atimes; nothing of that may show.
    std::string t2 = tar_of(g_tmp + "/tree", &r2);
    assert(t1 == t2);
    assert(r1.diff_id == r2.diff_id && r1.digest == r1.diff_id);
    assert(r1.size == t1.size() && r1.compressed_size == t1.size());
    assert(r1.diff_id == sha256_hex_of(t1.data(), t1.size()));
    assert(t1.size() % 512 == 0);
    // No padding beyond the two end-of-archive blocks.
    assert(t1.substr(t1.size() - 1024) == std::string(1024, '\0'));
    assert(t1.substr(t1.size() - 1536, 512) != std::string(512, '\0'));
    // hash-only gives the same digests
    WriteOptions o;
    WriteResult h = write_layer(g_tmp + "/tree", -1, o);
    assert(h.diff_id == r1.diff_id && h.size == r1.size);
    // gzip: the uncompressed digest is unchanged; the blob digest is of the gzip bytes.
    std::string gz = tar_of(g_tmp + "/tree", &r3, true);
    assert(r3.diff_id == r1.diff_id && r3.digest != r3.diff_id);
    assert(r3.digest == sha256_hex_of(gz.data(), gz.size()) && r3.compressed_size == gz.size());
    // Decoding the gzip stream gives back the same tar and both digests.
    int fd = ::memfd_create("gz", MFD_CLOEXEC);
    write_all(fd, gz, "memfd");
    ::lseek(fd, 0, SEEK_SET);
    {
        LayerInput in(StreamSource{fd}, -1, "test");
        assert(drain_all(in) == t1);
        assert(in.compression() == Compression::Gzip);
        assert(in.tar_digest() == r1.diff_id && in.raw_digest() == r3.digest);
    }
    // A source as an HTTP body: a prefix, then exactly `limit` bytes of the fd (what follows
    // them is never read), every raw byte kept in a tee file.
    write_all(fd, "junk after the body", "memfd");
    ::lseek(fd, 100, SEEK_SET);
    int tee = ::memfd_create("tee", MFD_CLOEXEC);
    {
        StreamSource src{fd};
        src.prefix = gz.substr(0, 100);
        src.limit = static_cast<int64_t>(gz.size() - 100);
        src.tee_fd = tee;
        LayerInput in(std::move(src), -1, "test");
        assert(drain_all(in) == t1 && in.raw_digest() == r3.digest && in.raw_bytes() == gz.size());
        assert(::lseek(fd, 0, SEEK_CUR) == static_cast<off_t>(gz.size()));
    }
    ::lseek(tee, 0, SEEK_SET);
    assert(read_all(tee, "tee") == gz);
    // Resuming: the tee's first half is read first, then the rest of the body.
    assert(::ftruncate(tee, static_cast<off_t>(gz.size() / 2)) == 0);
    ::lseek(fd, static_cast<off_t>(gz.size() / 2), SEEK_SET);
    {
        StreamSource src{fd};
        src.limit = static_cast<int64_t>(gz.size() - gz.size() / 2);
        src.tee_fd = tee;
        src.tee_have = gz.size() / 2;
        LayerInput in(std::move(src), -1, "test");
        assert(drain_all(in) == t1 && in.raw_digest() == r3.digest);
    }
    ::lseek(tee, 0, SEEK_SET);
    assert(read_all(tee, "tee") == gz);
    // A body that ends before its length is the source's failure (ECONNABORTED), not the data's.
    ::lseek(fd, 0, SEEK_SET);
    {
        StreamSource src{fd};
        src.limit = static_cast<int64_t>(gz.size() + 1000);  // more than the memfd holds
        bool threw = false;
        try {
            LayerInput in(std::move(src), -1, "test");
            drain_all(in);
        } catch (const SysError& e) {
            threw = e.err == ECONNABORTED;  // the junk after the gzip member is ignored, as gunzip does
        }
        assert(threw);
    }
    ::close(tee);
    ::close(fd);
}

static void test_headers() {
    WriteResult r;
    std::string t = tar_of(g_tmp + "/tree", &r);
    archive* a = archive_read_new();
    archive_read_support_format_tar(a);
    assert(archive_read_open_memory(a, t.data(), t.size()) == ARCHIVE_OK);
    archive_entry* e;
    std::string order;
    int n = 0;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        ++n;
        order += archive_entry_pathname(e);
        order += "|";
        assert(archive_entry_uname(e) == nullptr || *archive_entry_uname(e) == 0);
        assert(archive_entry_gname(e) == nullptr || *archive_entry_gname(e) == 0);
        assert(archive_entry_mtime_nsec(e) == 0);
        assert(!archive_entry_atime_is_set(e));
        assert(!archive_entry_ctime_is_set(e));
        std::string name = archive_entry_pathname(e);
        if (name == "a/z") assert(archive_entry_mtime(e) == 1600000000);
        if (name == "b/hard") assert(archive_entry_hardlink(e) && std::string(archive_entry_hardlink(e)) == "a/z");
        if (name == "link") assert(std::string(archive_entry_symlink(e)) == "a/z");
    }
    archive_read_free(a);
    // Byte order per directory, each directory before its contents; the top is not an entry.
    std::string want = "a/|a/y|a/z|a-b|b/|b/hard|b/" + std::string(150, 'n') + "|link|";
    if (order != want) std::fprintf(stderr, "order: %s\nwant:  %s\n", order.c_str(), want.c_str());
    assert(order == want);
    assert(n == 8 && r.files == 8);
    // the regular files' bytes, b/hard (a link to a/z) counted once
    assert(r.content_size == 2 + 100000 + 9 + 46);
}

// top_name (cp of a mounted volume): the top directory is an entry, everything named below it,
// hard links too.
static void test_top_name() {
    WriteResult r;
    std::string t = tar_of(g_tmp + "/tree", &r, false, "vol");
    archive* a = archive_read_new();
    archive_read_support_format_tar(a);
    assert(archive_read_open_memory(a, t.data(), t.size()) == ARCHIVE_OK);
    archive_entry* e;
    std::string order;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        order += archive_entry_pathname(e);
        order += "|";
        if (std::string(archive_entry_pathname(e)) == "vol/b/hard")
            assert(std::string(archive_entry_hardlink(e)) == "vol/a/z");
    }
    archive_read_free(a);
    std::string want = "vol/|vol/a/|vol/a/y|vol/a/z|vol/a-b|vol/b/|vol/b/hard|vol/b/" + std::string(150, 'n') +
                       "|vol/link|";
    if (order != want) std::fprintf(stderr, "order: %s\nwant:  %s\n", order.c_str(), want.c_str());
    assert(order == want && r.files == 9);
}

int main() {
    make_tree();
    test_determinism();
    test_headers();
    test_top_name();
    remove_tree(g_tmp);
    std::puts("test_tar_write: ok");
    return 0;
}
