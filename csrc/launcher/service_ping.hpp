// The first answers of a socket-activated Engine API service, before the interpreter is up.
//
// Why: under socket activation the client has connected and sent its first request (the docker
// CLI, docker-py and compose all begin with `GET` or `HEAD /_ping`) before the service starts,
// and waits for the interpreter and the HTTP server's imports (150-300 ms here). Those answers
// do not depend on anything the service loads: the service writes them down each time it
// starts (api/app.py, write_ping_record), and a child of this launcher answers them from that
// record while the same process execs Python. Every other request, and every connection once
// the service says it is ready, is handed to the service as it is (the connection's fd over a
// socketpair, with the bytes read from it and not answered): the service answers them as if it
// had accepted the connection itself.
#pragma once

namespace lb {

// Starts the answering child when this is `[--root DIR] system service ...` started by socket
// activation (LISTEN_FDS=1 for this pid) and the service left a record newer than this
// launcher; tells the service through LAYERBOX_PING_HANDOFF_FD. Does nothing otherwise.
void start_ping_answers(int argc, char** argv);

}  // namespace lb
