#include "launcher/run_fast.hpp"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/client.hpp"
#include "core/error.hpp"
#include "core/events.hpp"
#include "core/fd.hpp"
#include "core/fsutil.hpp"
#include "core/logfile.hpp"
#include "core/proc.hpp"
#include "core/sealed.hpp"
#include "core/spawn.hpp"
#include "launcher/common.hpp"

extern char** environ;

namespace lb {

namespace {

using nlohmann::json;

constexpr int kVersion = 1;  // runtemplate.VERSION
// runtemplate._UNCACHED_ENV: set, they change what the engine does; the Python path runs.
constexpr const char* kUncachedEnv[] = {"LAYERBOX_FAULT", "LAYERBOX_DEBUG", "LAYERBOX_IMPORT_REPORT",
                                        "LAYERBOX_NO_RUN_TEMPLATE"};
// The holes runtemplate.py leaves in the texts: NUL-delimited words, as JSON escapes them.
constexpr std::string_view kNameHole = "\\u0000name\\u0000";
constexpr std::string_view kCreatedHole = "\\u0000created\\u0000";
constexpr std::string_view kIpHole = "\\u0000ip\\u0000";
constexpr std::string_view kMacHole = "\\u0000mac\\u0000";
constexpr std::string_view kClaimHole = "\\u0000claim\\u0000";

// The caller's LAYERBOX_* variables, sorted (runtemplate.key_env).
std::vector<std::string> key_env() {
    std::vector<std::string> out;
    for (char** e = environ; *e; ++e) {
        std::string_view s(*e);
        if (s.substr(0, 9) == "LAYERBOX_" && s.substr(0, 16) != "LAYERBOX_PYTHON=") out.emplace_back(s);
    }
    std::sort(out.begin(), out.end());
    return out;
}

// runtemplate.file_name: FNV-1a 64 of the arguments and the variables, NUL-joined.
std::string template_name(int argc, char** argv, const std::vector<std::string>& env) {
    uint64_t h = 0xCBF29CE484222325ULL;
    auto add = [&h](std::string_view s) {
        for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ULL;
    };
    for (int i = 1; i < argc; ++i) {
        if (i > 1) add(std::string_view("\0", 1));
        add(argv[i]);
    }
    add(std::string_view("\0\0", 2));
    for (size_t i = 0; i < env.size(); ++i) {
        if (i > 0) add(std::string_view("\0", 1));
        add(env[i]);
    }
    char buf[24];
    snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return std::string(buf) + ".json";
}

bool read_file(const std::string& path, std::string& out) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return false;
    struct stat st;
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 022)) return false;
    out.resize(size_t(st.st_size));
    size_t got = 0;
    while (got < out.size()) {
        ssize_t n = ::read(fd.get(), out.data() + got, out.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        got += size_t(n);
    }
    return true;
}

// Our capability bounding set (security.bounding_set): the plan's capabilities were cut to the
// recording process's.
unsigned long long bounding_set() {
    std::string status;
    UniqueFd fd(::open("/proc/self/status", O_RDONLY | O_CLOEXEC));
    char buf[4096];
    ssize_t n;
    while (fd && (n = ::read(fd.get(), buf, sizeof buf)) > 0) status.append(buf, size_t(n));
    size_t at = status.find("\nCapBnd:");
    if (at == std::string::npos) return ~0ULL;
    return strtoull(status.c_str() + at + 8, nullptr, 16);
}

// Every input the texts were computed from, unchanged: facts by (device, inode, size, mtime),
// the rest by existence.
bool inputs_unchanged(const json& doc) {
    for (const auto& f : doc.at("facts")) {
        struct stat st;
        if (::stat(f.at(0).get_ref<const std::string&>().c_str(), &st) != 0) return false;
        long long mtime = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
        if (f.at(1).get<unsigned long long>() != st.st_dev || f.at(2).get<unsigned long long>() != st.st_ino ||
            f.at(3).get<long long>() != st.st_size || f.at(4).get<long long>() != mtime)
            return false;
    }
    for (const auto& p : doc.at("exists")) {
        struct stat st;
        if (::lstat(p.get_ref<const std::string&>().c_str(), &st) != 0) return false;
    }
    for (const auto& d : doc.at("cgroup_parents")) {
        struct stat st;
        if (::stat(d.at(0).get_ref<const std::string&>().c_str(), &st) != 0 ||
            d.at(1).get<unsigned long long>() != st.st_dev || d.at(2).get<unsigned long long>() != st.st_ino)
            return false;
    }
    return doc.at("capbnd").get<unsigned long long>() == bounding_set();
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
    if (from.empty()) return;
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
        s.replace(at, from.size(), to);
}

uint32_t random_u32() {
    uint32_t r = 0;
    while (::getrandom(&r, sizeof r, 0) != sizeof r) {
        if (errno != EINTR) throw std::runtime_error("getrandom failed");
    }
    return r;
}

// container/names.generate with its word lists (the template carries them: names.py stays
// their one place).
std::string generate_name(const json& words, int attempt) {
    const json& left = words.at(0);
    const json& right = words.at(1);
    for (;;) {
        uint32_t r = random_u32();  // little-endian, as int.from_bytes(os.urandom(4), "little")
        std::string name = left.at(r % left.size()).get<std::string>() + "_" +
                           right.at((r / left.size()) % right.size()).get<std::string>();
        if (name == "boring_wozniak") continue;  // Steve Wozniak is not boring (docker's rule)
        if (attempt) name += char('0' + (random_u32() & 0xff) % 10);
        return name;
    }
}

void write_new_file(const std::string& path, const std::string& text, int flags) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0600));
    if (!fd) throw SysError(errno, "open", path);
    size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw SysError(errno, "write", path);
        done += size_t(n);
    }
}

void lock_fd(int fd, int how, const std::string& path) {
    while (::flock(fd, how) != 0) {
        if (errno != EINTR) throw SysError(errno, "flock", path);
    }
}

// What the Python path does when the monitor vanished without an exit report: the engine's
// wait (it reconciles the container), run as `layerbox [--root R] wait ID` by this launcher.
int python_wait(const std::string& root, const std::string& id) {
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) return 125;
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(pipefd[1], 1);
        std::vector<const char*> args{"layerbox", "--root", root.c_str(), "wait", id.c_str(), nullptr};
        ::execv("/proc/self/exe", const_cast<char**>(args.data()));
        ::_exit(125);
    }
    ::close(pipefd[1]);
    std::string out;
    char buf[64];
    ssize_t n;
    while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0) out.append(buf, size_t(n));
    ::close(pipefd[0]);
    int status = 0;
    if (pid > 0) ::waitpid(pid, &status, 0);
    return out.empty() ? 125 : atoi(out.c_str());
}

struct Template {
    json doc;
    std::string root;
};

// Whether tmp/ holds what a killed process left: a staging dir <kind>-<pid>-<start>-<name>
// whose owner is gone (store.staging_owner, owner_alive). The Python path reclaims those at
// its first lock (store/heal.py, their one place); the launcher leaves the command line to it
// then. Download dirs belong to no process (the pull that resumes them).
bool dead_staging(const std::string& root) {
    UniqueFd dir(::open((root + "/tmp").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) return errno != ENOENT;
    DIR* d = ::fdopendir(dir.get());
    if (!d) return true;
    dir.release();
    bool dead = false;
    while (struct dirent* e = ::readdir(d)) {
        std::string_view n = e->d_name;
        if (n == "." || n == ".." || n.substr(0, 9) == "download-") continue;
        // rsplit("-", 3): the last three dashes delimit pid, start and name
        size_t c = n.rfind('-');
        size_t b = c == std::string_view::npos || c == 0 ? std::string_view::npos : n.rfind('-', c - 1);
        size_t a = b == std::string_view::npos || b == 0 ? std::string_view::npos : n.rfind('-', b - 1);
        if (a == std::string_view::npos) {
            dead = true;
            break;
        }
        std::string pid(n.substr(a + 1, b - a - 1)), start(n.substr(b + 1, c - b - 1));
        bool digits = !pid.empty() && !start.empty() &&
                      pid.find_first_not_of("0123456789") == std::string::npos &&
                      start.find_first_not_of("0123456789") == std::string::npos && pid.size() < 10;
        if (!digits || process_start_time(pid_t(atol(pid.c_str()))) != strtoull(start.c_str(), nullptr, 10)) {
            dead = true;
            break;
        }
    }
    ::closedir(d);
    return dead;
}

// Undoes a create that was not published: the staging dir and the name it claimed.
struct Unpublished {
    std::string staging, name_link, id;
    bool published = false;
    ~Unpublished() {
        if (published) return;
        if (!name_link.empty()) {
            char target[80];
            ssize_t n = ::readlink(name_link.c_str(), target, sizeof target);
            if (n == ssize_t(id.size()) && std::string_view(target, size_t(n)) == id) ::unlink(name_link.c_str());
        }
        if (!staging.empty()) {
            try {
                remove_tree(staging);
            } catch (...) {
            }
        }
    }
};

// Created: the new container's id and name, published in the store; on the default bridge,
// its address, the MAC made from it and the address's claim (a symlink holding claim_target).
struct Created {
    std::string id, name, dir;
    std::string ip, mac, claim_link, claim_target;
};

// engine.create_container's writes, in its order, from the template. Returns false, having
// left nothing, when anything is not as the template expects (the Python path then runs).
bool create(const Template& t, Created& c) {
    const json& doc = t.doc;
    const std::string& root = t.root;
    const std::string old_id = doc.at("id").get<std::string>();
    UniqueFd lock(::open((root + "/lock").c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0600));
    if (!lock) return false;
    lock_fd(lock.get(), LOCK_SH, root + "/lock");  // the image cannot be removed under us
    if (!inputs_unchanged(doc) || dead_staging(root)) return false;
    c.id = launcher::random_id();
    Unpublished undo;
    undo.id = c.id;
    pid_t me = ::getpid();
    undo.staging = root + "/tmp/create-" + std::to_string(me) + "-" +
                   std::to_string(process_start_time(me)) + "-" + c.id;
    if (::mkdir(undo.staging.c_str(), 0700) != 0) return false;
    // The name, once the staging dir exists (a name whose container is neither published nor
    // being created by a live process is a crash's leftover: engine._name_holder).
    const std::string given = doc.at("name").get<std::string>();
    for (int attempt = 0; attempt < 20; ++attempt) {
        std::string n = given.empty() ? generate_name(doc.at("names"), attempt) : given;
        std::string link = root + "/names/" + n;
        if (::symlink(c.id.c_str(), link.c_str()) == 0) {
            c.name = n;
            undo.name_link = link;
            break;
        }
        if (errno != EEXIST || !given.empty()) return false;  // a conflict: Python words it
    }
    if (c.name.empty()) return false;
    for (const char* d : {"/upper", "/work", "/merged"})
        if (::mkdir((undo.staging + d).c_str(), 0755) != 0) return false;
    std::string config = doc.at("config").get<std::string>();
    replace_all(config, old_id, c.id);
    replace_all(config, std::string_view(old_id).substr(0, 12), std::string_view(c.id).substr(0, 12));
    replace_all(config, kNameHole, c.name);
    replace_all(config, kCreatedHole, rfc3339_now());
    write_new_file(undo.staging + "/config.json", config, O_EXCL);
    c.dir = root + "/containers/" + c.id;
    if (::rename(undo.staging.c_str(), c.dir.c_str()) != 0) return false;
    undo.published = true;
    return true;
}

std::string filled(const json& doc, const char* key, const Created& c) {
    std::string text = doc.at(key).get<std::string>();
    const std::string old_id = doc.at("id").get<std::string>();
    replace_all(text, old_id, c.id);
    // (an endpoint's EndpointID begins with 32 digits of the id)
    replace_all(text, std::string_view(old_id).substr(0, 32), std::string_view(c.id).substr(0, 32));
    replace_all(text, std::string_view(old_id).substr(0, 12), std::string_view(c.id).substr(0, 12));
    replace_all(text, kNameHole, c.name);
    if (!c.ip.empty()) {
        replace_all(text, kIpHole, c.ip);
        replace_all(text, kMacHole, c.mac);
        replace_all(text, kClaimHole, c.claim_target);
    }
    return text;
}

std::string ip_text(uint32_t n) {
    char buf[16];
    snprintf(buf, sizeof buf, "%u.%u.%u.%u", n >> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
    return buf;
}

// network.claim_target: the id's 32 bytes in unpadded base64 (43 characters: an ext4 fast
// symlink), and claim_holder, its inverse ("" when the target is neither form).
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string claim_target(const std::string& hex_id) {
    unsigned char raw[32];
    for (int k = 0; k < 32; ++k) raw[k] = static_cast<unsigned char>(std::stoi(hex_id.substr(2 * size_t(k), 2), nullptr, 16));
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (unsigned char b : raw) {
        acc = (acc << 8) | b;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += kB64[(acc >> bits) & 63];
        }
    }
    if (bits) out += kB64[(acc << (6 - bits)) & 63];
    return out;
}

std::string claim_holder(std::string_view target) {
    if (target.size() == 64) return std::string(target);
    if (target.size() != 43) return "";
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    static const char hex[] = "0123456789abcdef";
    for (char ch : target) {
        const char* at = ::strchr(kB64, ch);
        if (!ch || !at) return "";
        acc = (acc << 6) | uint32_t(at - kB64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            unsigned b = (acc >> bits) & 0xff;
            out += hex[b >> 4];
            out += hex[b & 15];
        }
    }
    return out;
}

// network.Networks.allocate for the default bridge, under the network's lock, with the same
// cursor: the next address after the last one given whose claim can be made. A claim whose
// container is gone from the store is a crash's leftover and is taken over; one whose
// container exists is left to the Python path's finer check (is it running with it?), as if
// taken. Called under the container's lock, after it is published: a Python allocation that
// meets this claim sees a container being started.
void claim_address(const std::string& root, const json& bridge, Created& c) {
    const std::string ndir = bridge.at("dir").get<std::string>();
    const uint32_t base = bridge.at("base").get<uint32_t>(), size = bridge.at("size").get<uint32_t>();
    const uint32_t gw = bridge.at("gateway").get<uint32_t>(), first = bridge.at("first").get<uint32_t>();
    const uint32_t count = bridge.at("count").get<uint32_t>();
    UniqueFd lock(::open(ndir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!lock) throw SysError(errno, "open", ndir);
    lock_fd(lock.get(), LOCK_EX, ndir);
    const std::string cursor_path = ndir + "/cursor";
    uint32_t cur = 0;
    {
        UniqueFd fd(::open(cursor_path.c_str(), O_RDONLY | O_CLOEXEC));
        char buf[16] = {0};
        if (fd && ::read(fd.get(), buf, sizeof buf - 1) > 0) cur = uint32_t(strtoul(buf, nullptr, 10));
    }
    const uint32_t last = base + cur;
    const uint32_t start = first <= last && last - first < count ? (last - first + 1) % count : 0;
    const std::string target = claim_target(c.id);
    for (uint32_t k = 0; k < count; ++k) {
        const uint32_t n = first + (start + k) % count, off = n - base;
        if (off == 0 || off == size - 1 || n == gw) continue;
        const std::string ip = ip_text(n), link = ndir + "/ips/" + ip;
        bool mine = ::symlink(target.c_str(), link.c_str()) == 0;
        if (!mine && errno == EEXIST) {
            char held[80];
            ssize_t len = ::readlink(link.c_str(), held, sizeof held);
            std::string holder = len > 0 ? claim_holder(std::string_view(held, size_t(len))) : "";
            struct stat st;
            if (!holder.empty() && holder.find('/') == std::string::npos &&
                ::lstat((root + "/containers/" + holder).c_str(), &st) != 0 && errno == ENOENT) {
                ::unlink(link.c_str());
                mine = ::symlink(target.c_str(), link.c_str()) == 0;
            }
        } else if (!mine) {
            throw SysError(errno, "symlink", link);
        }
        if (!mine) continue;
        UniqueFd fd(::open(cursor_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
        char buf[16];
        int len = snprintf(buf, sizeof buf, "%010u", off);
        if (fd && ::pwrite(fd.get(), buf, size_t(len), 0) < 0) {
            // only where the next search starts
        }
        char mac[18];
        snprintf(mac, sizeof mac, "02:42:%02x:%02x:%02x:%02x", n >> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
        c.ip = ip;
        c.mac = mac;
        c.claim_link = link;
        c.claim_target = target;
        return;
    }
    throw std::runtime_error("no available IPv4 addresses on network bridge");
}

// Gives a claim up (network.Networks.release): only while it is still ours.
void release_address(const Created& c) {
    if (c.claim_link.empty()) return;
    char held[80];
    ssize_t n = ::readlink(c.claim_link.c_str(), held, sizeof held);
    if (n == ssize_t(c.claim_target.size()) && std::string_view(held, size_t(n)) == c.claim_target)
        ::unlink(c.claim_link.c_str());
}

// engine._remove_files for an --rm container that failed before its monitor existed.
void remove_container(const std::string& root, const Created& c) {
    ::unlink((root + "/running/" + c.id).c_str());
    char target[80];
    std::string link = root + "/names/" + c.name;
    ssize_t n = ::readlink(link.c_str(), target, sizeof target);
    if (n == ssize_t(c.id.size()) && std::string_view(target, size_t(n)) == c.id) ::unlink(link.c_str());
    try {
        remove_tree(c.dir);
    } catch (...) {
    }
}

// Joins the thread that makes the sealed copy of the shim, however we leave.
struct Joined {
    std::thread t;
    ~Joined() {
        if (t.joinable()) t.join();
    }
};

}  // namespace

bool compiled_run(int argc, char** argv, int* code) {
    // [--root DIR] [container] run ...: anything else before the verb is Python's.
    std::string root_opt;
    int i = launcher::global_options(argc, argv, root_opt);
    if (i < 0) return false;
    if (i < argc && std::string_view(argv[i]) == "container") ++i;
    if (i >= argc || std::string_view(argv[i]) != "run") return false;
    for (const char* v : kUncachedEnv)
        if (const char* s = ::getenv(v); s && *s) return false;

    Template t;
    t.root = launcher::store_root(root_opt);
    if (t.root.empty()) return false;
    std::vector<std::string> env = key_env();
    std::string text;
    if (!read_file(t.root + "/run-templates/" + template_name(argc, argv, env), text)) return false;
    Created c;
    Joined sealer;
    std::string shim;
    bool detach = false, autoremove = false;
    sigset_t mask;
    ::sigprocmask(SIG_SETMASK, nullptr, &mask);
    try {
        t.doc = json::parse(text);
        const json& doc = t.doc;
        if (doc.at("version").get<int>() != kVersion || !doc.value("ready", false)) return false;
        const json& targv = doc.at("argv");
        if (targv.size() != size_t(argc - 1) || doc.at("env") != json(env)) return false;
        for (int k = 1; k < argc; ++k)
            if (targv[size_t(k - 1)].get_ref<const std::string&>() != argv[k]) return false;
        shim = doc.at("shim").get<std::string>();
        detach = doc.at("detach").get<bool>();
        autoremove = doc.at("autoremove").get<bool>();
        // The monitor runs from a sealed copy of the shim (1.7 MB): made while we create.
        sealer.t = std::thread([shim] {
            try {
                sealed_executable(shim);
            } catch (...) {
                // start_monitor makes the copy again and reports what failed
            }
        });
        if (!create(t, c)) return false;
    } catch (...) {
        return false;  // nothing published: the Python path does it all and says what is wrong
    }

    // Published: from here on this is the run, as the Python path's after its create.
    const json& doc = t.doc;
    EventLog events;
    events.path = doc.at("events").at("log").get<std::string>();
    events.max_bytes = doc.at("events").at("max_bytes").get<long long>();
    events.id = c.id;
    events.attributes = {{"name", c.name}, {"image", doc.at("image_ref").get<std::string>()}};
    record_event(events, "create", json::object());
    MonitorStart started;
    try {
        UniqueFd cl(::open(c.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!cl) throw SysError(errno, "open", c.dir);
        lock_fd(cl.get(), LOCK_EX, c.dir);  // the container's lock, as engine.start holds it
        if (doc.contains("bridge")) claim_address(t.root, doc.at("bridge"), c);
        // process.json before the monitor exists, so an exec of the running container finds it
        std::string tmp = c.dir + "/process.json.tmp." + std::to_string(::getpid());
        write_new_file(tmp, filled(doc, "process", c), O_TRUNC);
        if (::rename(tmp.c_str(), (c.dir + "/process.json").c_str()) != 0)
            throw SysError(errno, "rename", c.dir + "/process.json");
        std::string marker = t.root + "/running/" + c.id;
        if (::link((c.dir + "/config.json").c_str(), marker.c_str()) != 0 && errno != EEXIST)
            write_new_file(marker, "", 0);  // engine._mark_running: a file where links fail
        const json& io = doc.at("stdio");
        // A signal that arrives while the container starts waits for it (see client.hpp).
        if (!detach) block_forwarded_signals();
        if (sealer.t.joinable()) sealer.t.join();
        started = start_monitor(shim, c.dir, filled(doc, "plan", c), io.at(0).get<int>(),
                                io.at(1).get<int>(), io.at(2).get<int>());
    } catch (const StartError& e) {  // the monitor recorded it (and removed an --rm container)
        ::sigprocmask(SIG_SETMASK, &mask, nullptr);
        ::fprintf(stderr, "Error: %s\n", e.what());
        *code = e.exit_code == 126 || e.exit_code == 127 ? e.exit_code : 125;
        return true;
    } catch (const std::exception& e) {
        ::sigprocmask(SIG_SETMASK, &mask, nullptr);
        release_address(c);  // no monitor: nobody else gives it up
        if (autoremove) remove_container(t.root, c);
        ::fprintf(stderr, "Error: %s\n", e.what());
        *code = 125;
        return true;
    }
    if (detach) {
        std::string line = c.id + "\n";
        *code = ::write(1, line.data(), line.size()) == ssize_t(line.size()) ? 0 : 1;
        return true;
    }
    ExitReport r;
    try {
        r = wait_exit(started.sock.get(), started.pidfd.get(), started.pty.get(), true, false, -1);
    } catch (const std::exception& e) {
        ::fprintf(stderr, "Error: %s\n", e.what());
        *code = 125;
        return true;
    }
    *code = r.exited ? r.exit_code : python_wait(t.root, c.id);
    return true;
}

}  // namespace lb
