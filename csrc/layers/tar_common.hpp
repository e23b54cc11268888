// Plumbing shared by the tar reader and writer: libarchive handles as RAII, the thread locale
// libarchive's name conversions see, and archive path cleaning.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <locale.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lb {

struct ArchiveReadFree {
    void operator()(archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteFree {
    void operator()(archive* a) const { archive_write_free(a); }
};
struct ArchiveEntryFree {
    void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using ArchiveReadPtr = std::unique_ptr<archive, ArchiveReadFree>;
using ArchiveWritePtr = std::unique_ptr<archive, ArchiveWriteFree>;
using ArchiveEntryPtr = std::unique_ptr<archive_entry, ArchiveEntryFree>;

// libarchive converts PAX names (UTF-8 in the archive) to and from the charset of the calling
// thread's locale. Under a C locale every non-ASCII name would fall back to
// "hdrcharset=BINARY" when writing, so the bytes of a layer would depend on the caller's
// environment. For the duration of a tar operation the calling thread uses C.UTF-8: valid
// UTF-8 names are stored as plain PAX "path" records, anything else as raw bytes (BINARY), and
// file names are never altered (libarchive keeps the raw bytes when a conversion fails).
class ScopedUtf8Locale {
public:
    ScopedUtf8Locale();
    ~ScopedUtf8Locale();
    ScopedUtf8Locale(const ScopedUtf8Locale&) = delete;
    ScopedUtf8Locale& operator=(const ScopedUtf8Locale&) = delete;

private:
    locale_t old_ = nullptr;
};

// Cleans a path from an archive into a relative path below the extraction directory:
// a leading "/" is dropped (absolute names land inside, as with tar and docker), empty and "."
// components are dropped, ".." removes the previous component. Returns false when ".." would
// climb above the top (the name escapes; the caller refuses the entry). "" is the top itself.
bool clean_archive_path(std::string_view in, std::string* out);

// The names in a directory (without "." and ".."), in byte order, each with its d_type; the
// fd's offset is left alone (a dup is read). Errors name `shown`.
std::vector<std::pair<std::string, unsigned char>> list_dir(int dirfd, const std::string& shown);

}  // namespace lb
