// copy_tree (a new volume filled with the image's content at its mount point): what is kept
// (contents, modes with setuid, owners, xattrs, times, symlinks as links, hard links, fifos)
// and that nothing is followed out of the source: an absolute link to a host directory stays a
// link and the host directory is never read or written.
#undef NDEBUG
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/copyup.hpp"
#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/mount.hpp"
#include "core/plan.hpp"

using namespace lb;

static void write_file(const std::string& p, const std::string& text, mode_t mode) {
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    assert(fd >= 0);
    assert(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    ::close(fd);
    assert(::chmod(p.c_str(), mode) == 0);
}

static std::string slurp(const std::string& p) {
    UniqueFd fd = open_path(p, O_RDONLY);
    return read_all(fd.get(), p);
}

static void test_copy_tree() {
    char tmpl[] = "/tmp/lb-copyup-XXXXXX";
    std::string base = ::mkdtemp(tmpl);
    std::string src = base + "/src", dst = base + "/dst", host = base + "/host";
    assert(::mkdir(src.c_str(), 0750) == 0 && ::mkdir(dst.c_str(), 0755) == 0);
    assert(::mkdir(host.c_str(), 0755) == 0);
    write_file(host + "/secret", "host\n", 0600);
    assert(::mkdir((src + "/sub").c_str(), 0700) == 0);
    write_file(src + "/sub/app", "#!/bin/sh\n", 04755);
    write_file(src + "/data", "payload\n", 0640);
    assert(::link((src + "/data").c_str(), (src + "/sub/data-link").c_str()) == 0);
    assert(::symlink(host.c_str(), (src + "/escape").c_str()) == 0);  // absolute, to the host dir
    assert(::symlink("../data", (src + "/sub/rel").c_str()) == 0);
    assert(::mkfifo((src + "/fifo").c_str(), 0620) == 0 && ::chmod((src + "/fifo").c_str(), 0620) == 0);
    bool root = ::geteuid() == 0;
    if (root) {
        assert(::chown((src + "/sub").c_str(), 1000, 1001) == 0);
        assert(::chown((src + "/sub/app").c_str(), 1000, 1001) == 0);
        assert(::chmod((src + "/sub/app").c_str(), 04755) == 0);  // chown cleared setuid
        assert(::lchown((src + "/escape").c_str(), 7, 8) == 0);
    }
    bool xattrs = ::setxattr((src + "/data").c_str(), "user.lb", "v1", 2, 0) == 0;
    struct timespec old[2] = {{1000000, 0}, {2000000, 0}};
    assert(::utimensat(AT_FDCWD, (src + "/data").c_str(), old, 0) == 0);

    UniqueFd s = open_path(src, O_RDONLY | O_DIRECTORY);
    UniqueFd d = open_path(dst, O_RDONLY | O_DIRECTORY);
    assert(dir_is_empty(d.get()));
    copy_tree(s.get(), d.get(), "/data");
    assert(!dir_is_empty(d.get()));

    struct stat st;
    assert(::stat(dst.c_str(), &st) == 0 && (st.st_mode & 07777) == 0750);  // the root's mode
    assert(slurp(dst + "/data") == "payload\n");
    assert(::lstat((dst + "/data").c_str(), &st) == 0 && (st.st_mode & 07777) == 0640);
    assert(st.st_mtim.tv_sec == 2000000 && st.st_nlink == 2);
    struct stat st2;
    assert(::lstat((dst + "/sub/data-link").c_str(), &st2) == 0 && st2.st_ino == st.st_ino);
    assert(::lstat((dst + "/sub/app").c_str(), &st) == 0 && (st.st_mode & 07777) == 04755);
    assert(::lstat((dst + "/sub").c_str(), &st) == 0 && (st.st_mode & 07777) == 0700);
    if (root) {
        assert(st.st_uid == 1000 && st.st_gid == 1001);
        assert(::lstat((dst + "/sub/app").c_str(), &st) == 0 && st.st_uid == 1000);
        assert(::lstat((dst + "/escape").c_str(), &st) == 0 && st.st_uid == 7 && st.st_gid == 8);
    }
    char link[256] = {};
    assert(::readlink((dst + "/escape").c_str(), link, sizeof link - 1) > 0 && host == link);
    assert(::lstat((dst + "/escape").c_str(), &st) == 0 && S_ISLNK(st.st_mode));
    std::memset(link, 0, sizeof link);
    assert(::readlink((dst + "/sub/rel").c_str(), link, sizeof link - 1) > 0 && std::string(link) == "../data");
    assert(::lstat((dst + "/fifo").c_str(), &st) == 0 && S_ISFIFO(st.st_mode) && (st.st_mode & 0777) == 0620);
    if (xattrs) {
        char v[8] = {};
        assert(::getxattr((dst + "/data").c_str(), "user.lb", v, sizeof v) == 2 && std::string(v) == "v1");
    }
    // The host directory the link names was neither copied nor written.
    assert(slurp(host + "/secret") == "host\n");
    assert(::stat(host.c_str(), &st) == 0 && (st.st_mode & 07777) == 0755);
    std::string cmd = "rm -rf " + base;
    assert(std::system(cmd.c_str()) == 0);
}

// The plan's "copy_up" on a bind: an empty volume is filled from the root's directory at the
// target (resolved inside the root, through the image's own absolute link), then bound; a
// volume that is not empty is left as it is.
static void test_copy_up_in_the_mount_plan() {
    char tmpl[] = "/tmp/lb-copyup-plan-XXXXXX";
    std::string base = ::mkdtemp(tmpl);
    std::string root = base + "/root", vol = base + "/vol", full = base + "/full";
    for (auto& d : {root, vol, full, root + "/srv", root + "/srv/app"}) assert(::mkdir(d.c_str(), 0755) == 0);
    write_file(root + "/srv/app/conf", "conf\n", 0644);
    assert(::symlink("/srv/app", (root + "/app").c_str()) == 0);  // absolute: inside the root
    write_file(full + "/mine", "mine\n", 0644);
    nlohmann::json j = {
        {"id", "t"},
        {"rootfs", {{"lower", {"/l"}}, {"target", root}}},
        {"process", {{"args", {"/bin/true"}}}},
        {"mounts", nlohmann::json::array({
            {{"kind", "bind"}, {"target", "/app"}, {"source", vol}, {"recursive", true}, {"copy_up", true}},
            {{"kind", "bind"}, {"target", "/srv/app"}, {"source", full}, {"copy_up", true}},
        })},
    };
    LaunchPlan p = plan_from_json(j);
    assert(p.mounts[0].copy_up && p.mounts[1].copy_up);
    RecordingMountApi api;
    UniqueFd rootfd = open_path(root, O_PATH | O_DIRECTORY);
    run_mount_ops(api, rootfd.get(), p.mounts);
    assert(api.calls.size() == 2 && api.calls[0] == "rbind " + vol + " -> /app");
    assert(slurp(vol + "/conf") == "conf\n");
    struct stat st;
    assert(::lstat((full + "/conf").c_str(), &st) != 0);  // not empty: nothing copied
    std::string cmd = "rm -rf " + base;
    assert(std::system(cmd.c_str()) == 0);
}

int main() {
    test_copy_tree();
    test_copy_up_in_the_mount_plan();
    std::puts("test_copyup: ok");
    return 0;
}
