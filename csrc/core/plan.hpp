// The launch plan: everything Python decided about a container, handed to C++ once.
//
// Python builds it (which layers, which mounts, which env, which cgroup files get which values);
// the core only carries it out. It travels as JSON because the monitor is a separate program
// (it must outlive the CLI that started it) and because a plan written to disk explains a
// container after the fact.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace lb {

struct RootfsSpec {
    std::vector<std::string> lower;  // top-most first, as overlayfs lists them
    std::string upper;
    std::string work;
    std::string target;  // where the overlay is attached (inside the container's mount ns only)
    std::vector<std::pair<std::string, std::string>> options;  // extra overlay options, best effort
    // With an upper dir the overlay is attached read-write so mount points (-v, --tmpfs) can be
    // made in it, and the container's root is remounted read-only after set-up (docker's order).
    bool readonly = false;
    bool legacy_mount = false;  // force mount(2) instead of fsopen/fsconfig (tests, old kernels)
    // `target` is a plain directory (an OCI bundle's rootfs): it is bound on itself (so that
    // pivot_root can use it) instead of an overlay being mounted there; lower/upper/work unused.
    bool bind_dir = false;
};

// One step of the rootfs set-up, carried out in order inside the new mount namespace with every
// target resolved inside the root (bubblewrap's "list of operations, then one function runs
// them").
struct MountOp {
    enum class Kind { Fs, Bind, Mknod, Symlink, MaskFile, MaskDir, ReadOnly, Mkdir, File };
    Kind kind = Kind::Fs;
    std::string target;   // path inside the root
    std::string fstype;   // Fs: "proc", "sysfs", "tmpfs", "devpts", "mqueue"
    std::string source;   // Bind: host path; Symlink: link text; File: the file's contents
    std::vector<std::pair<std::string, std::string>> data;  // Fs options ("mode", "755"); flag = ""
    bool ro = false, nosuid = false, nodev = false, noexec = false, recursive = false;
    bool optional = false;   // skip quietly when the target does not exist (masks, ro paths)
    bool file = false;       // Bind: the target is a file, not a directory
    mode_t mode = 0;         // Mknod, Mkdir
    unsigned major = 0, minor = 0;
    // Mknod: mode's S_IFMT picks the node type (0 = a character device).
    // Fs and Bind: MOUNT_ATTR_NOATIME/STRICTATIME/NODIRATIME/NOSYMFOLLOW beyond the four flags
    // above, and a propagation (MS_SHARED, MS_SLAVE, MS_PRIVATE, MS_UNBINDABLE, | MS_REC) set
    // on the new mount once it is in place.
    unsigned attrs = 0;
    unsigned long propagation = 0;
    int uid = -1, gid = -1;  // Mknod: owner of the node when >= 0
    // Bind of a directory (a new volume): when it is empty, first fill it with what the root
    // holds at the target (docker's copy-up; see copyup.hpp).
    bool copy_up = false;
    // Bind: `source` is a path inside this mount namespace (a /proc/PID/ns/mnt file), not the
    // host's: another container's /dev/shm for --ipc container:NAME.
    std::string source_mntns;
    // Bind with source_mntns: `source` is a target of that container's File ops (/etc/hosts,
    // ...), and what is bound is the very file it generated there (--network container:NAME
    // shares them, as docker's), which is not reachable by that path (generated_file_path).
    bool generated = false;
    // ReadOnly: the target is a mount of its own (a tmpfs the plan just made): made read-only
    // in place, with what is mounted below it, instead of by a read-only bind on itself (which
    // would show it twice in /proc/self/mountinfo).
    bool in_place = false;
};

struct ProcessSpec {
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string cwd = "/";
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
    uint64_t caps = 0;  // capability mask for bounding, effective and permitted
    // An OCI config's capabilities set by set (layerbox-runtime): used instead of `caps` when
    // cap_sets_given, and kept across a change of user, as runc does.
    struct CapSets {
        uint64_t bounding = 0, effective = 0, permitted = 0, inheritable = 0, ambient = 0;
    };
    bool cap_sets_given = false;
    CapSets cap_sets;
    bool no_new_privs = true;
    bool tty = false;
    unsigned short rows = 0, cols = 0;  // initial terminal size when tty
    bool create_cwd = true;
    mode_t umask = 022;
    // fds 3 .. 3+preserve_fds-1 of the launcher pass to the command at the same numbers (an
    // OCI runtime's --preserve-fds); every other descriptor is closed.
    int preserve_fds = 0;
    bool die_with_parent = false;  // SIGKILL when the parent (the container's monitor) dies
    std::string seccomp;           // a compiled BPF program (see seccomp.hpp); empty: none
    unsigned seccomp_flags = 0;    // SECCOMP_FILTER_FLAG_*
};

struct CgroupPlan {
    int version = 0;  // 0 = no cgroup, 1 = v1 (one dir per controller), 2 = unified
    std::vector<std::pair<std::string, std::string>> dirs;  // controller -> directory
    struct Setting {
        std::string controller, file, value;
    };
    std::vector<Setting> settings;  // written in order after the dirs exist
    // v2: the device allowlist ("c 1:3 rwm", ...) an eBPF program enforces (see devices_bpf.hpp);
    // empty with device_filter false: no program (v1 has devices.allow, --privileged needs none).
    bool device_filter = false;
    std::vector<std::string> device_rules;
};

struct LaunchPlan {
    std::string id;  // only for messages and the monitor's argv
    RootfsSpec rootfs;
    std::vector<MountOp> mounts;
    std::vector<std::string> namespaces;  // "mount", "pid", "uts", "ipc", "cgroup", "net", "user"
    std::string hostname;
    bool loopback_up = true;  // bring lo up in a new network namespace
    bool init = false;        // run our small init as PID 1 (--init)
    ProcessSpec process;
    CgroupPlan cgroup;

    // What an OCI runtime's config.json asks for beyond `layerbox run` (layerbox-runtime sets
    // them; their defaults change nothing). Carried out by csrc/core/procsetup.cpp.
    struct Rlimit {
        int resource;
        uint64_t soft, hard;
    };
    // Namespaces joined instead of created: type ("net", "ipc", "uts", "mount", "cgroup",
    // "user") and the path of a namespace file. "pid" is joined by the caller before clone (a
    // pid namespace applies to children only); "user" by the launcher before clone, so that
    // the new namespaces are that user namespace's (launch_container).
    std::vector<std::pair<std::string, std::string>> join_namespaces;
    std::string domainname;
    std::vector<std::pair<std::string, std::string>> sysctl;  // "net.ipv4.ip_forward" -> "1"
    // The propagation of the container's / once it is set up (MS_SHARED, MS_SLAVE, ... | MS_REC;
    // 0 = leave it private).
    unsigned long rootfs_propagation = 0;
    // The propagation the container's mount namespace's tree gets before its root is set up
    // (0: MS_PRIVATE | MS_REC). `layerbox run`: rprivate, so nothing of the host's comes in or
    // goes out. An OCI runtime: runc's rslave, or linux.rootfsPropagation, so a bind of a
    // shared host mount keeps its peer group and its own "rshared"/"rslave" has a meaning; the
    // rootfs (or the mount it is on) is then made private before it is bound, so the
    // container's own mounts reach no peer, and the old root is made rslave before it is
    // detached, so its unmounting reaches none either.
    unsigned long ns_propagation = 0;
    std::vector<Rlimit> rlimits;
    bool set_oom_score_adj = false;
    int oom_score_adj = 0;
    // The init outlives the process that launched it (an OCI runtime's `create` exits; the
    // caller, e.g. containerd's shim, is its subreaper): no PR_SET_PDEATHSIG.
    bool keep_on_parent_exit = false;
    // With "user" in namespaces: the new user namespace's /proc/PID/uid_map and gid_map
    // ("inside outside count" lines). The launcher writes them after clone, before the child
    // goes on (as runc's parent does); the child then becomes root of that namespace.
    std::string uid_map, gid_map;
    // personality(2) of the process (PER_LINUX, PER_LINUX32); -1 = the launcher's own.
    long personality = -1;
    // Stop once the mounts are made, before pivot_root: the launcher's before_pivot runs (an
    // OCI createContainer hook, in the container's mount namespace) and lets the child go on.
    bool stop_before_pivot = false;
    // An fd (inherited by the child) of the exec fifo, opened O_PATH: set up, the init reports
    // success, then opens the fifo for writing (blocking until `start` opens it for reading),
    // writes one byte, and only then execs.
    int start_wait_fd = -1;
};

// Whether the container has a mount namespace of its own (new, or joined by path). Without one
// (an OCI config may ask for that) its root is entered by chroot, and its mounts are made in
// the launcher's namespace, under the root, where the runtime removes them at delete.
bool has_mount_namespace(const LaunchPlan& p);
// The path of the user namespace the plan joins ("" when none).
const std::string& joined_user_namespace(const LaunchPlan& p);

LaunchPlan plan_from_json(const nlohmann::json& j);
// One entry of a plan's "mounts" (also the binds of a stopped container's volumes for cp).
MountOp mount_op_from_json(const nlohmann::json& j);
// A plan's "cgroup" part ({"version", "dirs", "settings", "devices"}); also what a monitor is
// given to apply a `docker update` (see Cgroup::update).
CgroupPlan cgroup_plan_from_json(const nlohmann::json& c);
ProcessSpec process_from_json(const nlohmann::json& j);
// Namespaces by name -> CLONE_* flags; throws on an unknown name.
int namespace_flags(const std::vector<std::string>& names);

}  // namespace lb
