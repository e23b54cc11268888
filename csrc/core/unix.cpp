#include "core/unix.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"

namespace lb {

std::pair<UniqueFd, UniqueFd> make_socketpair() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) throw_errno("socketpair");
    return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

void send_fds(int sock, const std::string& msg, const std::vector<int>& fds) {
    if (!try_send_fds(sock, msg, fds)) throw_errno("sendmsg", "monitor socket");
}

bool try_send_fds(int sock, const std::string& msg, const std::vector<int>& fds) {
    struct iovec iov {
        const_cast<char*>(msg.data()), msg.size()
    };
    char ctrl[CMSG_SPACE(sizeof(int) * 8)] = {};
    struct msghdr mh {};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (!fds.empty()) {
        mh.msg_control = ctrl;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        struct cmsghdr* c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    ssize_t n;
    do {
        n = ::sendmsg(sock, &mh, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n >= 0;
}

std::vector<UniqueFd> recv_fds(int sock, size_t max_fds, std::string* msg) {
    char buf[65536];
    struct iovec iov {
        buf, sizeof buf
    };
    char ctrl[CMSG_SPACE(sizeof(int) * 8)] = {};
    struct msghdr mh {};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctrl;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * std::min<size_t>(max_fds ? max_fds : 1, 8));
    ssize_t n;
    do {
        n = ::recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) throw_errno("recvmsg", "monitor socket");
    std::vector<UniqueFd> out;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k; ++i) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                out.emplace_back(fd);
            }
        }
    }
    if (msg) msg->assign(buf, static_cast<size_t>(n));
    return out;
}

namespace {

struct sockaddr_un addr_via_fd(int dirfd, const std::string& name, socklen_t& len) {
    struct sockaddr_un a {};
    a.sun_family = AF_UNIX;
    std::string p = fd_path(dirfd) + "/" + name;
    if (p.size() >= sizeof a.sun_path) throw_invalid("socket name too long", name);
    std::memcpy(a.sun_path, p.c_str(), p.size() + 1);
    len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + p.size() + 1);
    return a;
}

}  // namespace

UniqueFd listen_unix(const std::string& dir, const std::string& name) {
    UniqueFd d = open_path(dir, O_PATH | O_DIRECTORY);
    UniqueFd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (!s) throw_errno("socket", dir + "/" + name);
    socklen_t len;
    struct sockaddr_un a = addr_via_fd(d.get(), name, len);
    ::unlinkat(d.get(), name.c_str(), 0);
    if (::bind(s.get(), reinterpret_cast<struct sockaddr*>(&a), len) != 0)
        throw_errno("bind", dir + "/" + name);
    if (::listen(s.get(), 64) != 0) throw_errno("listen", dir + "/" + name);
    return s;
}

UniqueFd connect_unix(const std::string& dir, const std::string& name) {
    int dfd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return UniqueFd();
    UniqueFd d(dfd);
    UniqueFd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (!s) return UniqueFd();
    socklen_t len;
    struct sockaddr_un a = addr_via_fd(d.get(), name, len);
    int r;
    do {
        r = ::connect(s.get(), reinterpret_cast<struct sockaddr*>(&a), len);
    } while (r < 0 && errno == EINTR);
    if (r != 0) return UniqueFd();
    return s;
}

}  // namespace lb
