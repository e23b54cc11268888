// /etc/hosts edits of `network connect/disconnect` (core/etcfile.hpp): docker's etchosts rules.
#undef NDEBUG
#include <cassert>
#include <cstdio>
#include <string>

#include "core/etcfile.hpp"

using namespace lb;

int main() {
    const std::string base = "127.0.0.1\tlocalhost\n10.0.0.9\tdb\n172.17.0.2\tweb\n";
    // connect: the new address's line at the end, everything before it kept
    assert(edit_hosts(base, {}, "10.96.1.5\tweb\n") == base + "10.96.1.5\tweb\n");
    // disconnect: every line of that address goes, others stay
    assert(edit_hosts(base + "10.96.1.5\tweb\n", {"10.96.1.5"}, "") == base);
    assert(edit_hosts(base, {"172.17.0.2"}, "") == "127.0.0.1\tlocalhost\n10.0.0.9\tdb\n");
    // a prefix of an address is not that address; comments and blank lines stay
    assert(edit_hosts("# c\n\n10.0.0.19 x\n", {"10.0.0.1"}, "") == "# c\n\n10.0.0.19 x\n");
    // leading blanks before the address; a last line without its newline
    assert(edit_hosts("  10.0.0.1 a\n10.0.0.2 b", {"10.0.0.1"}, "10.0.0.3\tc\n") == "10.0.0.2 b\n10.0.0.3\tc\n");
    std::puts("test_etc_hosts: ok");
    return 0;
}
