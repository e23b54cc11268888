// Unix-domain sockets: the monitor's control socket and passing fds (pty master, pidfd).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/fd.hpp"

namespace lb {

// SOCK_SEQPACKET pair: message boundaries kept, both ends O_CLOEXEC.
std::pair<UniqueFd, UniqueFd> make_socketpair();

// Sends `msg` with `fds` attached (SCM_RIGHTS).
void send_fds(int sock, const std::string& msg, const std::vector<int>& fds);
// The same without an exception: false (errno set) when it could not be sent. For a peer that
// may be gone (a client that stopped waiting), where a throw would cost more than the send:
// the first exception of a -static binary makes libgcc sort every FDE of it.
bool try_send_fds(int sock, const std::string& msg, const std::vector<int>& fds);
// Receives one message; attached fds are returned (O_CLOEXEC). Empty vector and empty `msg` on
// end of file.
std::vector<UniqueFd> recv_fds(int sock, size_t max_fds, std::string* msg = nullptr);

// Listening SOCK_SEQPACKET socket at `dir`/`name`. The directory is reached through an fd so
// the 108-byte sun_path limit never bites, however deep the store lives.
UniqueFd listen_unix(const std::string& dir, const std::string& name);
// Connects to `dir`/`name`; returns an invalid fd with errno set on failure.
UniqueFd connect_unix(const std::string& dir, const std::string& name);

}  // namespace lb
