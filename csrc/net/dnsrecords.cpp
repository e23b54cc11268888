#include "net/dnsrecords.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/fd.hpp"

namespace lb::net {

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// aardvark-dns, when it runs: the pid of its pid file, if that process is aardvark.
void reload_resolver(const std::string& dir) {
    std::string text;
    try {
        text = read_file(dir + "/aardvark.pid");
    } catch (const SysError&) {
        return;  // not started: it reads the files when it starts
    }
    pid_t pid = static_cast<pid_t>(std::atol(text.c_str()));
    if (pid <= 0) return;
    try {
        if (!starts_with(read_file("/proc/" + std::to_string(pid) + "/comm"), "aardvark")) return;
    } catch (const SysError&) {
        return;
    }
    ::kill(pid, SIGHUP);
}

// Rewrites the network's file with `change` applied to its lines (the gateway line first),
// under the directory's lock; `change` returns false when nothing changes.
void rewrite(const DnsRecord& r, const std::function<bool(std::vector<std::string>&)>& change) {
    UniqueFd lock(::open(r.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!lock) {
        if (errno == ENOENT) return;
        throw_errno("open", r.dir);
    }
    while (::flock(lock.get(), LOCK_EX) != 0)
        if (errno != EINTR) throw_errno("flock", r.dir);
    std::string path = r.dir + "/" + r.file;
    std::string text;
    try {
        text = read_file(path);
    } catch (const SysError& e) {
        if (e.err == ENOENT) return;  // the network is gone, and its records with it
        throw;
    }
    std::vector<std::string> lines;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        if (nl > pos) lines.push_back(text.substr(pos, nl - pos));
        pos = nl + 1;
    }
    if (!change(lines)) return;
    std::string out;
    for (auto& l : lines) out += l + "\n";
    write_file_atomic(path, out, 0644);
    reload_resolver(r.dir);
}

}  // namespace

void dns_add(const DnsRecord& r) {
    rewrite(r, [&](std::vector<std::string>& lines) {
        for (size_t i = 1; i < lines.size(); ++i)
            if (starts_with(lines[i], r.id + " ")) return false;
        lines.push_back(r.line);
        return true;
    });
}

void dns_remove(const DnsRecord& r) {
    rewrite(r, [&](std::vector<std::string>& lines) {
        size_t before = lines.size();
        for (size_t i = lines.size(); i-- > 1;)
            if (starts_with(lines[i], r.id + " ")) lines.erase(lines.begin() + static_cast<long>(i));
        return lines.size() != before;
    });
}

}  // namespace lb::net
