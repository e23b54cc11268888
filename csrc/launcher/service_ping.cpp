#include "launcher/service_ping.hpp"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/fd.hpp"
#include "launcher/common.hpp"

namespace lb {

namespace {

constexpr int kListenFd = 3;            // SD_LISTEN_FDS_START
constexpr size_t kMaxHead = 16 << 10;   // a request head longer than this is the service's
// Connections held at once while Python loads (a few clients' first pings, in practice): more
// wait in the listening socket's backlog for the service, so that a burst of connections costs
// this child neither unbounded memory nor, at its fd limit, a loop of failing accepts.
constexpr size_t kMaxHeld = 128;
constexpr std::string_view kDateHole = std::string_view("\0date\0", 6);

// What the service wrote down (api/app.py write_ping_record).
struct Record {
    std::string get, head;      // the two answers, the date a hole
    int min_minor = 0, max_minor = 0;  // the API versions 1.N it answers
};

bool load_record(const std::string& path, Record& r) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    struct stat st, exe;
    if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid() ||
        (st.st_mode & 022) || st.st_size > (64 << 10))
        return false;
    // Written by the service of this installation: a reinstall (a new launcher) may answer
    // differently, and its service writes the record again.
    if (::stat("/proc/self/exe", &exe) != 0 || st.st_mtim.tv_sec < exe.st_mtim.tv_sec ||
        (st.st_mtim.tv_sec == exe.st_mtim.tv_sec && st.st_mtim.tv_nsec < exe.st_mtim.tv_nsec))
        return false;
    std::string text(size_t(st.st_size), '\0');
    if (::read(fd.get(), text.data(), text.size()) != ssize_t(text.size())) return false;
    try {
        auto j = nlohmann::json::parse(text);
        r.get = j.at("get").get<std::string>();
        r.head = j.at("head").get<std::string>();
        r.min_minor = j.at("min_minor").get<int>();
        r.max_minor = j.at("max_minor").get<int>();
    } catch (...) {
        return false;
    }
    return r.get.find(kDateHole) != std::string::npos && r.head.find(kDateHole) != std::string::npos;
}

std::string with_date(const std::string& answer) {
    char date[64];
    time_t now = ::time(nullptr);
    struct tm tm;
    ::gmtime_r(&now, &tm);
    ::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    std::string out = answer;
    out.replace(out.find(kDateHole), kDateHole.size(), date);
    return out;
}

// /_ping or /v1.N/_ping with N in the record's range (anything else, a version refused
// included, is the service's to answer).
bool is_ping(std::string_view target, const Record& r) {
    target = target.substr(0, target.find('?'));
    if (target == "/_ping") return true;
    if (target.substr(0, 4) != "/v1.") return false;
    size_t slash = target.find('/', 4);
    if (slash == std::string_view::npos || target.substr(slash) != "/_ping" || slash == 4 || slash > 7) return false;
    int minor = 0;
    for (char c : target.substr(4, slash - 4)) {
        if (c < '0' || c > '9') return false;
        minor = minor * 10 + (c - '0');
    }
    return minor >= r.min_minor && minor <= r.max_minor;
}

struct Conn {
    UniqueFd fd;
    std::string in;     // read and not answered: the service's, at the handover
    bool held = false;  // a request that is not ours: read no further
    bool done = false;
};

bool write_all(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
        ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += size_t(n);
        } else if (n < 0 && errno == EAGAIN) {
            struct pollfd p{fd, POLLOUT, 0};
            if (::poll(&p, 1, 1000) <= 0) return false;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return false;
        }
    }
    return true;
}

// Answers every complete ping request at the front of the connection's input; stops at the
// first request that is anything else (held for the service).
void serve(Conn& c, const Record& r) {
    while (!c.held && !c.done) {
        size_t end = c.in.find("\r\n\r\n");
        if (end == std::string::npos) {
            if (c.in.size() > kMaxHead) c.held = true;
            return;
        }
        std::string_view head(c.in.data(), end);
        size_t eol = head.find("\r\n");
        std::string_view line = head.substr(0, eol);
        size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
        if (sp1 == std::string_view::npos || sp2 == sp1) {
            c.held = true;
            return;
        }
        std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1);
        std::string_view version = line.substr(sp2 + 1);
        // (HTTP/1.0 is the service's: its answers say 1.0, and keep-alive means otherwise)
        bool ours = (method == "GET" || method == "HEAD") && is_ping(target, r) && version == "HTTP/1.1";
        bool keep = true;
        // Fields: a body, an upgrade or an expectation is the service's; so is anything odd.
        for (size_t at = eol; ours && at != std::string_view::npos && at < head.size();) {
            size_t next = head.find("\r\n", at + 2);
            std::string_view field = head.substr(at + 2, next == std::string_view::npos ? std::string_view::npos : next - at - 2);
            at = next;
            size_t colon = field.find(':');
            if (colon == std::string_view::npos) {
                ours = false;
                break;
            }
            std::string name(field.substr(0, colon));
            std::string_view value = field.substr(colon + 1);
            while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
            if (!strcasecmp(name.c_str(), "content-length")) {
                ours = value == "0";
            } else if (!strcasecmp(name.c_str(), "transfer-encoding") || !strcasecmp(name.c_str(), "upgrade") ||
                       !strcasecmp(name.c_str(), "expect")) {
                ours = false;
            } else if (!strcasecmp(name.c_str(), "connection")) {
                std::string v(value);
                if (!strcasecmp(v.c_str(), "close")) keep = false;
            }
        }
        if (!ours) {
            c.held = true;
            return;
        }
        std::string answer = with_date(method == "HEAD" ? r.head : r.get);
        if (!keep) answer.insert(answer.find("\r\n\r\n") + 2, "Connection: close\r\n");  // as aiohttp
        if (!write_all(c.fd.get(), answer)) {
            c.done = true;
            return;
        }
        c.in.erase(0, end + 4);
        if (!keep) c.done = true;  // (closing it is the answer's end, as the service's)
    }
}

// Hands every connection still open to the service: its fd and what was read from it.
void hand_over(int channel, std::vector<Conn>& conns) {
    for (auto& c : conns) {
        if (c.done) continue;
        std::string payload = "c" + c.in;
        struct iovec iov{payload.data(), payload.size()};
        char control[CMSG_SPACE(sizeof(int))] = {};
        struct msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        struct cmsghdr* cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        int fd = c.fd.get();
        memcpy(CMSG_DATA(cm), &fd, sizeof fd);
        while (::sendmsg(channel, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR) {
        }
    }
}

[[noreturn]] void answer(int channel, const Record& r) {
    std::vector<Conn> conns;
    bool no_more_fds = false;
    for (;;) {
        bool room = conns.size() < kMaxHeld && !no_more_fds;
        std::vector<struct pollfd> p{{channel, POLLIN, 0}, {kListenFd, short(room ? POLLIN : 0), 0}};
        for (auto& c : conns) p.push_back({c.fd.get(), short(c.held || c.done ? 0 : POLLIN), 0});
        if (::poll(p.data(), p.size(), -1) < 0) {
            if (errno == EINTR) continue;
            ::_exit(1);
        }
        if (p[0].revents) {
            // "ready" (the service serves; it takes what we hold) or its end (it is gone:
            // what we hold goes with us).
            char buf[8];
            if (::recv(channel, buf, sizeof buf, 0) > 0) hand_over(channel, conns);
            ::_exit(0);
        }
        if (p[1].revents & POLLIN) {
            int fd = ::accept4(kListenFd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd >= 0) conns.push_back(Conn{UniqueFd(fd)});
            else if (errno == EMFILE || errno == ENFILE) no_more_fds = true;  // the service's to accept
        }
        for (size_t k = 2; k < p.size(); ++k) {
            Conn& c = conns[k - 2];
            if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)) || c.held || c.done) continue;
            char buf[4096];
            ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                c.done = true;  // the client went away: nothing to hand over
                continue;
            }
            if (n > 0) c.in.append(buf, size_t(n));
            serve(c, r);
        }
        std::vector<Conn> open;
        for (auto& c : conns)
            if (!c.done) open.push_back(std::move(c));
        conns = std::move(open);
    }
}

}  // namespace

void start_ping_answers(int argc, char** argv) {
    std::string root_opt;
    int i = launcher::global_options(argc, argv, root_opt);
    if (i < 0) return;
    if (argc - i < 2 || std::string_view(argv[i]) != "system" || std::string_view(argv[i + 1]) != "service") return;
    const char* fds = ::getenv("LISTEN_FDS");
    const char* pid = ::getenv("LISTEN_PID");
    if (!fds || !pid || std::string_view(fds) != "1" || atol(pid) != long(::getpid())) return;
    int accepting = 0;
    socklen_t len = sizeof accepting;
    if (::getsockopt(kListenFd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || !accepting) return;
    std::string root = launcher::store_root(root_opt);
    Record r;
    if (root.empty() || !load_record(root + "/api-ping.json", r)) return;
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return;
    pid_t parent = ::getpid();
    pid_t child = ::fork();
    if (child < 0) {
        ::close(pair[0]);
        ::close(pair[1]);
        return;
    }
    if (child == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(0);
        ::close(pair[0]);
        // The service's stdio (a caller's pipe, a journal) is not ours to hold.
        int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        for (int fd = 0; fd < 3 && null >= 0; ++fd) ::dup2(null, fd);
        answer(pair[1], r);
    }
    ::close(pair[1]);
    ::fcntl(pair[0], F_SETFD, 0);  // the service's, across its exec
    char value[48];
    snprintf(value, sizeof value, "%d,%d", pair[0], int(child));
    ::setenv("LAYERBOX_PING_HANDOFF", value, 1);
}

}  // namespace lb
