#include "core/etcfile.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/rootpath.hpp"

namespace lb {

namespace {

constexpr off_t kMaxGenerated = 1 << 20;

// The inode behind `fd` opened for reading and writing through the mount of `dev` (the
// container's /dev tmpfs), not through the mount `fd` was found on.
UniqueFd reopen_through(int dev, int fd, const std::string& name) {
    // MAX_HANDLE_SZ is 128; tmpfs handles are 12 bytes.
    alignas(struct file_handle) unsigned char buf[sizeof(struct file_handle) + 128];
    auto* h = reinterpret_cast<struct file_handle*>(buf);
    h->handle_bytes = 128;
    int mount_id = 0;
    if (::name_to_handle_at(fd, "", h, &mount_id, AT_EMPTY_PATH) != 0)
        throw_errno("name_to_handle_at", name);
    int f = ::open_by_handle_at(dev, h, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (f < 0) throw_errno("open_by_handle_at", name);
    return UniqueFd(f);
}

}  // namespace

bool rewrite_generated_file(pid_t pid, const std::string& target,
                            const std::function<std::optional<std::string>(const std::string&)>& edit) {
    // The monitor's own child, not reaped yet: the pid cannot name another process.
    std::string proc_root = "/proc/" + std::to_string(pid) + "/root";
    UniqueFd root(::open(proc_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) throw_errno("open", proc_root);
    // Not O_PATH: open_by_handle_at takes its mount from a real open file.
    UniqueFd dev = try_open_in_root(root.get(), "dev", O_RDONLY | O_DIRECTORY);
    UniqueFd file = try_open_in_root(root.get(), target, O_PATH, true);
    if (!dev || !file) return false;
    struct stat ds, fs;
    if (::fstat(dev.get(), &ds) != 0) throw_errno("stat", "/dev");
    if (::fstat(file.get(), &fs) != 0) throw_errno("stat", target);
    if (!S_ISREG(fs.st_mode) || fs.st_dev != ds.st_dev || fs.st_nlink != 1) return false;
    UniqueFd rw = reopen_through(dev.get(), file.get(), target);
    struct stat rs;
    if (::fstat(rw.get(), &rs) != 0) throw_errno("stat", target);
    if (rs.st_dev != fs.st_dev || rs.st_ino != fs.st_ino) return false;
    // Read with a bound: the container can make its own file as large as it likes, and the
    // monitor's memory is not the container's. A file that large is not ours any more.
    if (rs.st_size > kMaxGenerated) return false;
    std::string text(static_cast<size_t>(rs.st_size), '\0');
    ssize_t n = ::pread(rw.get(), text.data(), text.size(), 0);
    if (n < 0) throw_errno("read", target);
    text.resize(static_cast<size_t>(n));
    std::optional<std::string> out = edit(text);
    if (!out || *out == text) return true;
    // In place (the bind mount shows this inode): truncate, then write from the start.
    if (::ftruncate(rw.get(), 0) != 0) throw_errno("ftruncate", target);
    if (::lseek(rw.get(), 0, SEEK_SET) != 0) throw_errno("lseek", target);
    write_all(rw.get(), *out, target);
    return true;
}

std::string edit_hosts(const std::string& text, const std::vector<std::string>& drop_ips,
                       const std::string& add) {
    std::string out;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        size_t end = nl == std::string::npos ? text.size() : nl + 1;
        std::string line = text.substr(pos, end - pos);
        pos = end;
        size_t a = line.find_first_not_of(" \t");
        size_t b = a == std::string::npos ? a : line.find_first_of(" \t\n", a);
        std::string first = a == std::string::npos ? "" : line.substr(a, b == std::string::npos ? b : b - a);
        if (!first.empty() && std::find(drop_ips.begin(), drop_ips.end(), first) != drop_ips.end())
            continue;
        out += line;
    }
    if (!add.empty() && !out.empty() && out.back() != '\n') out += '\n';
    return out + add;
}

}  // namespace lb
