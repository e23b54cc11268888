// A container's records in the name resolver of its user network (aardvark-dns). The engine
// (layerbox/network/__init__.py) writes a network's file and starts or reloads the resolver
// when a container joins; the container's monitor takes the container's records out when its
// endpoint goes (the container ended, or was disconnected), so a stopped or removed
// container's name stops resolving at once, and puts them back for a restart policy's next
// run. The file's format is aardvark-dns's: the gateway on the first line, then
// "<container id> <ipv4> <ipv6> <name,alias,...>" per container. Changes are made under the
// flock of the files' directory, the lock the engine takes, and the resolver reloads on SIGHUP.
#pragma once

#include <string>

namespace lb::net {

struct DnsRecord {
    std::string dir;   // the resolver's config directory (one file per network)
    std::string file;  // the network's file: its name
    std::string id;    // the container's id (each record's first field)
    std::string line;  // the record to add (without the newline)
};

// Adds the record unless the file has one of the container; nothing when the file is gone
// (the network went). Throws SysError.
void dns_add(const DnsRecord& r);
// Removes every record of the container. Throws SysError.
void dns_remove(const DnsRecord& r);

}  // namespace lb::net
