// docker's user and environment rules (core/users.cpp, core/procenv.cpp), which `run`, the
// Python engine's exec and the compiled exec path share.
#undef NDEBUG
#include <cassert>
#include <cstdio>
#include <string>
#include <vector>

#include "core/procenv.hpp"
#include "core/users.hpp"

using namespace lb;
using V = std::vector<std::string>;

static const char* kPasswd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "# a comment\n"
    "app:x:1000:1000:app:/home/app:/bin/sh\n"
    "broken:x\n"
    "nohome:x:1001:1001:::/bin/sh\n";
static const char* kGroup = "root:x:0:\napp:x:1000:\nstaff:x:50:app,other\nextra:x:77:\n";

static bool throws(const char* spec, const char* msg) {
    try {
        resolve_user(spec, kPasswd, kGroup);
    } catch (const UserNotFound& e) {
        return std::string(e.what()) == msg;
    }
    return false;
}

static void test_users() {
    ResolvedUser r = resolve_user("", kPasswd, kGroup);
    assert(r.uid == 0 && r.gid == 0 && r.home == "/root" && r.groups.empty());
    ResolvedUser a = resolve_user("app", kPasswd, kGroup);
    assert(a.uid == 1000 && a.gid == 1000 && a.home == "/home/app" && a.groups == std::vector<gid_t>{50});
    ResolvedUser ag = resolve_user("app:staff", kPasswd, kGroup);
    assert(ag.gid == 50 && ag.groups.empty());  // the primary group is not repeated
    ResolvedUser n = resolve_user("4242:7", kPasswd, kGroup);  // numbers need no entry
    assert(n.uid == 4242 && n.gid == 7 && n.home == "/" && n.groups.empty());
    ResolvedUser h = resolve_user("nohome", kPasswd, kGroup);
    assert(h.uid == 1001 && h.home == "/");
    ResolvedUser none = resolve_user("", "", "");  // no files: root, HOME=/
    assert(none.uid == 0 && none.home == "/");
    assert(throws("nope", "unable to find user nope: no matching entries in passwd file"));
    assert(throws("app:nogroup", "unable to find group nogroup: no matching entries in group file"));
    assert(throws("99999999999", "unable to find user 99999999999: no matching entries in passwd file"));
    // (uid_t)-1 would be setresuid's "unchanged", i.e. root: out of moby's range
    assert(throws("4294967295", "uids and gids must be in range 0-2147483647"));
    assert(throws("app:2147483648", "uids and gids must be in range 0-2147483647"));
    {
        bool range = false;
        try {
            resolve_user("big", "big:x:4294967295:0::/:/bin/sh\n", "");
        } catch (const UserNotFound& e) {
            range = std::string(e.what()) == "uids and gids must be in range 0-2147483647";
        }
        assert(range);
    }
    ResolvedUser g = with_groups(a, {"extra", "50", "9"}, kGroup);
    assert((g.groups == std::vector<gid_t>{50, 77, 9}));
    bool threw = false;
    try {
        with_groups(a, {"missing"}, kGroup);
    } catch (const UserNotFound&) {
        threw = true;
    }
    assert(threw);
}

static void test_env() {
    assert((merge_env({"A=1", "B=2"}, {"B=3", "C=4", "A=5"}) == V{"A=5", "B=3", "C=4"}));
    // docker's unset: a bare override removes the name, wherever it was; "K" then "K=v" sets it
    assert((merge_env({"A=1", "B=2", "C=3"}, {"B", "D", "C", "C=4"}) == V{"A=1", "C=4"}));
    V u = process_env({"A=1", "B=2"}, "h", "/root", false, {"A", "HOSTNAME"});
    assert((u == V{kDefaultPath, "B=2", "HOME=/root"}));
    V e = process_env({"A=1"}, "host", "/root", false, {"B=2"});
    assert((e == V{kDefaultPath, "HOSTNAME=host", "A=1", "B=2", "HOME=/root"}));
    // docker's order: PATH, HOSTNAME, TERM replaced where they stand, the rest appended
    V t = process_env({"PATH=/x", "TERM=vt100"}, "h", "/", true, {"HOME=/elsewhere"});
    assert((t == V{"PATH=/x", "HOSTNAME=h", "TERM=vt100", "HOME=/elsewhere"}));
    V tt = process_env({"A=1"}, "h", "/", true, {});
    assert((tt == V{kDefaultPath, "HOSTNAME=h", "TERM=xterm", "A=1", "HOME=/"}));
    // create: the user's entries first, as given (a bare K kept: the start unsets K), then the
    // image's the user does not name; docker inspect shows the same list
    V c = config_env({"A=img", "B=img", "K=img"}, {"B=user", "C=user", "K"});
    assert((c == V{"B=user", "C=user", "K", "A=img"}));
    V started = process_env(c, "h", "/root", false, {"A"});
    assert((started == V{kDefaultPath, "HOSTNAME=h", "B=user", "C=user", "HOME=/root"}));
}

int main() {
    test_users();
    test_env();
    std::puts("ok");
}
