// The mount plan without root: plan_from_json, then run_mount_ops against a RecordingMountApi
// on a temporary directory. Checks which operations run, in which order, and that every
// target is resolved (and created) inside the root even through a hostile absolute symlink.
#undef NDEBUG
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/mount.hpp"
#include "core/plan.hpp"

using namespace lb;

static bool exists(const std::string& p) {
    struct stat st;
    return ::lstat(p.c_str(), &st) == 0;
}

static void test_plan_through_recording_api() {
    char tmpl[] = "/tmp/lb-mountplan-XXXXXX";
    std::string base = ::mkdtemp(tmpl);
    std::string root = base + "/root", outside = base + "/outside";
    assert(::mkdir(root.c_str(), 0755) == 0 && ::mkdir(outside.c_str(), 0755) == 0);
    assert(::mkdir((root + "/dev").c_str(), 0755) == 0);
    // The image's /etc is an absolute link naming a real host directory: inside the root it
    // must lead to <root><outside>, never to the host's directory of that name.
    assert(::symlink(outside.c_str(), (root + "/etc").c_str()) == 0);
    std::string cmd = "mkdir -p " + root + outside;
    assert(std::system(cmd.c_str()) == 0);
    std::string hostfile = base + "/hosts.src";
    FILE* f = std::fopen(hostfile.c_str(), "w");
    assert(f);
    std::fputs("127.0.0.1 localhost\n", f);
    std::fclose(f);

    nlohmann::json j = {
        {"id", "t"},
        {"rootfs", {{"lower", {"/l2", "/l1"}}, {"target", root}}},
        {"process", {{"args", {"/bin/true"}}}},
        {"mounts", nlohmann::json::array({
            {{"kind", "fs"}, {"fstype", "proc"}, {"target", "/proc"}, {"nosuid", true}, {"noexec", true}},
            {{"kind", "fs"}, {"fstype", "tmpfs"}, {"target", "/dev/shm"}, {"nodev", true},
             {"data", {{"mode", "1777"}, {"size", "65536k"}}}},
            {{"kind", "symlink"}, {"target", "/dev/fd"}, {"source", "/proc/self/fd"}},
            {{"kind", "bind"}, {"target", "/etc/hosts"}, {"source", hostfile}, {"ro", true}},
            // another container's /dev/shm (--ipc container:), cloned from its mount namespace
            {{"kind", "bind"}, {"target", "/mnt/shared"}, {"source", "/dev/shm"},
             {"source_mntns", "/proc/1/ns/mnt"}},
            {{"kind", "mkdir"}, {"target", "/work/a/b"}, {"mode", 0700}},
            {{"kind", "mask-dir"}, {"target", "/proc/acpi"}, {"optional", true}},
            {{"kind", "file"}, {"target", "/etc/hostname"}, {"source", "box\n"}},
            // another container's generated /etc/hosts (--network container:)
            {{"kind", "bind"}, {"target", "/etc/hosts2"}, {"source", "/etc/hosts"},
             {"source_mntns", "/proc/1/ns/mnt"}, {"generated", true}},
            {{"kind", "readonly"}, {"target", "/work"}},
        })},
    };
    LaunchPlan p = plan_from_json(j);
    assert(p.mounts.size() == 10);
    assert(p.mounts[8].generated && !p.mounts[4].generated);
    assert(p.mounts[4].source_mntns == "/proc/1/ns/mnt");
    assert(p.rootfs.lower.size() == 2 && p.rootfs.lower[0] == "/l2");

    UniqueFd rootfd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    assert(rootfd);
    RecordingMountApi api;
    run_mount_ops(api, rootfd.get(), p.mounts);

    const std::vector<std::string> want = {
        "mount proc on /proc nosuid noexec",
        "mount tmpfs on /dev/shm nodev mode=1777,size=65536k",
        "bind " + hostfile + " -> /etc/hosts ro",
        "bind /proc/1/ns/mnt:/dev/shm -> /mnt/shared",
        "bind /dev/pts/.layerbox-hostname -> /etc/hostname",
        "bind /proc/1/ns/mnt:/dev/pts/.layerbox-hosts -> /etc/hosts2",
        "ro /work",
    };
    if (api.calls != want) {
        for (auto& c : api.calls) std::fprintf(stderr, "call: %s\n", c.c_str());
        assert(false);
    }
    // Mount points and links were made inside the root, through the link as the image sees it.
    assert(exists(root + "/proc") && exists(root + "/dev/shm") && exists(root + "/dev/fd"));
    assert(exists(root + outside + "/hosts"));
    assert(!exists(outside + "/hosts") && !exists(outside + "/hostname"));
    assert(exists(root + "/work/a/b") && exists(root + "/mnt/shared"));
    // The generated file keeps its name in the container's /dev, under /dev/pts (where the
    // plan mounts devpts before the container runs), so another container can bind it.
    assert(exists(root + "/dev/pts/.layerbox-hostname"));
    assert(exists(root + outside + "/hosts2"));
    // An optional mask whose target is missing is skipped quietly (no /proc/acpi here).
    cmd = "rm -rf " + base;
    assert(std::system(cmd.c_str()) == 0);
}

// The whole root set-up of a container (what spawn.cpp's child runs between clone and exec),
// through the recording double: every kernel call in order, nothing mounted for real.
static void test_root_setup_sequence() {
    char tmpl[] = "/tmp/lb-rootsetup-XXXXXX";
    std::string root = ::mkdtemp(tmpl);
    nlohmann::json j = {
        {"id", "t"},
        {"hostname", "box"},
        {"rootfs", {{"lower", {"/l1"}}, {"upper", "/u"}, {"work", "/w"}, {"target", root}, {"readonly", true}}},
        {"process", {{"args", {"/bin/true"}}, {"cwd", "/srv/app"}, {"uid", 1000}, {"gid", 1000}}},
        {"mounts", nlohmann::json::array({{{"kind", "fs"}, {"fstype", "proc"}, {"target", "/proc"}}})},
        {"namespaces", {"mount", "pid"}},
    };
    LaunchPlan p = plan_from_json(j);
    RecordingMountApi api;
    api.set_hostname(p.hostname);
    UniqueFd rootfd = prepare_root(api, p, p.process);
    enter_root(api, p, std::move(rootfd));
    const std::vector<std::string> want = {
        "hostname box",
        "private /",
        "overlay on " + root + " lower=/l1 upper=/u work=/w ro",
        "mount proc on /proc",
        "pivot_root " + root,
        "ro /",
    };
    if (api.calls != want) {
        for (auto& c : api.calls) std::fprintf(stderr, "call: %s\n", c.c_str());
        assert(false);
    }
    // The working directory the plan names was made inside the root, owned by the process.
    struct stat st;
    assert(::stat((root + "/srv/app").c_str(), &st) == 0 && S_ISDIR(st.st_mode));
    assert(::geteuid() != 0 || st.st_uid == 1000);
    std::string cmd = "rm -rf " + root;
    assert(std::system(cmd.c_str()) == 0);
}

// prepare_root and enter_root of an OCI bundle's plan (its rootfs a temporary directory bound
// on itself, ROOT in `want`) through the recording double, `ns_propagation` set as the runtime
// sets it: the calls must be `want`.
static void expect_bundle_root_setup(const std::vector<std::string>& namespaces, nlohmann::json mounts,
                                     unsigned long ns_propagation, std::vector<std::string> want) {
    char tmpl[] = "/tmp/lb-rootsetup-XXXXXX";
    std::string root = ::mkdtemp(tmpl);
    nlohmann::json j = {
        {"id", "t"},
        {"rootfs", {{"lower", nlohmann::json::array()}, {"target", root}, {"bind_dir", true}}},
        {"process", {{"args", {"/bin/true"}}}},
        {"mounts", mounts},
        {"namespaces", namespaces},
    };
    LaunchPlan p = plan_from_json(j);
    p.ns_propagation = ns_propagation;
    RecordingMountApi api;
    UniqueFd rootfd = prepare_root(api, p, p.process);
    enter_root(api, p, std::move(rootfd));
    for (auto& w : want)
        for (size_t at; (at = w.find("ROOT")) != std::string::npos;) w.replace(at, 4, root);
    if (api.calls != want) {
        for (auto& c : api.calls) std::fprintf(stderr, "call: %s\n", c.c_str());
        assert(false);
    }
    std::string cmd = "rm -rf " + root;
    assert(std::system(cmd.c_str()) == 0);
}

// An OCI config without a mount namespace: / of the launcher's namespace is left alone, the
// rootfs's bind is made private (nothing mounted under it reaches another namespace), and the
// root is entered by chroot: pivot_root there would move every process of that namespace.
static void test_root_setup_without_mount_namespace() {
    expect_bundle_root_setup({"pid"}, {{{"kind", "fs"}, {"fstype", "proc"}, {"target", "/proc"}}}, 0,
                             {"rbind ROOT -> ROOT", "propagation ROOT " + std::to_string(MS_PRIVATE | MS_REC),
                              "mount proc on /proc", "chroot ROOT"});
}

// An OCI runtime's namespace (runc's order): / rslave, the mount the rootfs is on made
// private before the rootfs is bound there, the old root rslave before it is detached.
static void test_root_setup_with_slave_namespace() {
    expect_bundle_root_setup({"mount"}, nlohmann::json::array(), MS_SLAVE | MS_REC,
                             {"propagation / " + std::to_string(MS_SLAVE | MS_REC), "private mount of ROOT",
                              "rbind ROOT -> ROOT", "rslave old root, pivot_root ROOT"});
}

static void test_bad_plans_are_refused() {
    bool threw = false;
    try {
        plan_from_json(nlohmann::json{{"rootfs", {{"lower", {"/l"}}, {"target", "/t"}}},
                                      {"process", {{"args", {"x"}}}},
                                      {"mounts", {{{"kind", "teleport"}, {"target", "/x"}}}}});
    } catch (const SysError& e) {
        threw = std::string(e.what()).find("teleport") != std::string::npos;
    }
    assert(threw);
    threw = false;
    try {
        plan_from_json(nlohmann::json{{"rootfs", {{"lower", {"/l"}}, {"target", "/t"}}},
                                      {"namespaces", {"time-travel"}},
                                      {"process", {{"args", {"x"}}}}});
    } catch (const SysError& e) {
        threw = std::string(e.what()).find("time-travel") != std::string::npos;
    }
    assert(threw);
    threw = false;
    try {
        process_from_json(nlohmann::json{{"args", nlohmann::json::array()}});
    } catch (const SysError&) {
        threw = true;
    }
    assert(threw);
}

int main() {
    test_plan_through_recording_api();
    test_root_setup_sequence();
    test_root_setup_without_mount_namespace();
    test_root_setup_with_slave_namespace();
    test_bad_plans_are_refused();
    std::puts("test_mount_plan: ok");
    return 0;
}
