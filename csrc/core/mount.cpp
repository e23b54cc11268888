#include "core/mount.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include <cerrno>

#include "core/copyup.hpp"
#include "core/error.hpp"
#include "core/fsutil.hpp"
#include "core/plan.hpp"
#include "core/rootpath.hpp"
#include "core/syscalls.hpp"

namespace lb {

namespace {

// Where a File op's file lives, relative to the container's /dev: under the directory devpts is
// mounted on next (see the File op), so no path of the container reaches it.
std::string generated_file_path(const std::string& target) {
    return "pts/.layerbox-" + split_parent(target).second;
}

unsigned attr_flags(const FsOptions& o) {
    unsigned a = 0;
    if (o.ro) a |= MOUNT_ATTR_RDONLY;
    if (o.nosuid) a |= MOUNT_ATTR_NOSUID;
    if (o.nodev) a |= MOUNT_ATTR_NODEV;
    if (o.noexec) a |= MOUNT_ATTR_NOEXEC;
    return a | o.attrs;
}

unsigned long ms_flags(const FsOptions& o) {
    unsigned long f = 0;
    if (o.ro) f |= MS_RDONLY;
    if (o.nosuid) f |= MS_NOSUID;
    if (o.nodev) f |= MS_NODEV;
    if (o.noexec) f |= MS_NOEXEC;
    if (o.attrs & MOUNT_ATTR_NOATIME) f |= MS_NOATIME;
    if (o.attrs & MOUNT_ATTR_STRICTATIME) f |= MS_STRICTATIME;
    if (o.attrs & MOUNT_ATTR_NODIRATIME) f |= MS_NODIRATIME;
    if (o.attrs & MOUNT_ATTR_NOSYMFOLLOW) f |= MS_NOSYMFOLLOW;
    return f;
}

std::string join_data(const std::vector<std::pair<std::string, std::string>>& data) {
    std::string s;
    for (auto& [k, v] : data) {
        if (!s.empty()) s += ',';
        s += k;
        if (!v.empty()) s += "=" + v;
    }
    return s;
}

// Sets the flags of `o` on the mount `mnt` (attached, or a detached tree) by mount_setattr.
void apply_attrs(int mnt, const FsOptions& o, bool recursive, const std::string& name) {
    struct mount_attr attr {};
    attr.attr_set = attr_flags(o);
    if (o.attrs & MOUNT_ATTR__ATIME) attr.attr_clr = MOUNT_ATTR__ATIME;
    if (::mount_setattr(mnt, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr) != 0)
        throw_errno("mount_setattr", name);
}

// A masked directory's tmpfs: empty, read-only, nothing to run or open as a device (runc's).
FsOptions mask_options() {
    FsOptions o;
    o.ro = true;
    o.nosuid = o.nodev = o.noexec = true;
    o.data = {{"size", "0"}, {"mode", "755"}};
    return o;
}

// The new mount API.
class NewMountApi : public MountApi {
public:
    void mount_fs(const std::string& fstype, const std::string& source, const FsOptions& o,
                  int target_fd, const std::string& name) override {
        UniqueFd fs(::fsopen(fstype.c_str(), FSOPEN_CLOEXEC));
        if (!fs) throw_errno("fsopen", fstype);
        if (!source.empty()) config(fs.get(), "source", source, fstype, name);
        for (auto& [k, v] : o.data) config(fs.get(), k, v, fstype, name);
        attach_new(fs.get(), attr_flags(o), target_fd, fstype, name);
    }

    void mount_overlay(const RootfsSpec& r, int target_fd, const std::string& name) override {
        UniqueFd fs(::fsopen("overlay", FSOPEN_CLOEXEC));
        if (!fs) throw_errno("fsopen", "overlay");
        // "lowerdir+" (Linux 6.8) takes one layer per call, so no option-page limit applies.
        bool plus = true;
        for (size_t i = 0; i < r.lower.size(); ++i) {
            if (::fsconfig(fs.get(), FSCONFIG_SET_STRING, "lowerdir+", r.lower[i].c_str(), 0) != 0) {
                if (i == 0 && errno == EINVAL) {
                    plus = false;
                    break;
                }
                throw_errno("mount overlay lowerdir+", r.lower[i]);
            }
        }
        if (!plus) {
            std::string joined;
            for (auto& l : r.lower) joined += (joined.empty() ? "" : ":") + l;
            config(fs.get(), "lowerdir", joined, "overlay", name);
        }
        if (!r.upper.empty()) {
            config(fs.get(), "upperdir", r.upper, "overlay", name);
            config(fs.get(), "workdir", r.work, "overlay", name);
        }
        for (auto& [k, v] : r.options) {
            // Best effort: an option this kernel lacks (it then cannot have the feature either).
            ::fsconfig(fs.get(), v.empty() ? FSCONFIG_SET_FLAG : FSCONFIG_SET_STRING, k.c_str(),
                       v.empty() ? nullptr : v.c_str(), 0);
        }
        attach_new(fs.get(), r.readonly && r.upper.empty() ? MOUNT_ATTR_RDONLY : 0, target_fd, "overlay", name);
    }

    void bind(int source_fd, const std::string& source_name, int target_fd,
              const std::string& name, bool recursive, bool ro) override {
        unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH;
        if (recursive) flags |= AT_RECURSIVE;
        UniqueFd tree(::open_tree(source_fd, "", flags));
        if (!tree) throw_errno("open_tree", source_name);
        if (ro) set_ro(tree.get(), recursive, name);
        if (::move_mount(tree.get(), "", target_fd, "",
                         MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
            throw_errno("mount " + source_name + " on", name);
    }

    void bind_from_namespace(const std::string& mntns, const std::string& path, int target_fd,
                             const std::string& name, bool recursive, bool ro,
                             const std::string& under) override {
        // Only this (single-threaded) process switches: setns(CLONE_NEWNS) also sets its root
        // and cwd to the other namespace's root, so `path` resolves inside that container (its
        // symlinks included) and never on the host. Back in our namespace, root and cwd are our
        // namespace's root again, which is what they were: the container's root is an fd here.
        UniqueFd own(::open("/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC));
        if (!own) throw_errno("open", "/proc/thread-self/ns/mnt");
        UniqueFd other(::open(mntns.c_str(), O_RDONLY | O_CLOEXEC));
        if (!other) throw_errno("open", mntns);
        if (::setns(other.get(), CLONE_NEWNS) != 0) throw_errno("setns", mntns);
        unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
        int t = ::open_tree(AT_FDCWD, path.c_str(), under.empty() ? flags : OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        int err = errno;
        if (t >= 0 && !under.empty()) {
            // Still in that namespace: a clone of a detached tree is only allowed from the
            // namespace it was cloned in.
            UniqueFd outer(t);
            t = ::open_tree(outer.get(), under.c_str(), flags);
            err = errno;
        }
        if (::setns(own.get(), CLONE_NEWNS) != 0) throw_errno("setns", "/proc/thread-self/ns/mnt");
        if (t < 0) throw_err(err, "open_tree", mntns + ":" + path + (under.empty() ? "" : "/" + under));
        UniqueFd tree(t);
        if (ro) set_ro(tree.get(), recursive, name);
        if (::move_mount(tree.get(), "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
            throw_errno("mount " + mntns + ":" + path + " on", name);
    }

    void bind_with_attrs(int source_fd, const std::string& source_name, int target_fd,
                         const std::string& name, bool recursive, const FsOptions& o) override {
        unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH;
        if (recursive) flags |= AT_RECURSIVE;
        UniqueFd tree(::open_tree(source_fd, "", flags));
        if (!tree) throw_errno("open_tree", source_name);
        apply_attrs(tree.get(), o, recursive, name);
        if (::move_mount(tree.get(), "", target_fd, "",
                         MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
            throw_errno("mount " + source_name + " on", name);
    }

    void mask_dir(int target_fd, const std::string& name) override {
        if (!mask_) {
            UniqueFd fs(::fsopen("tmpfs", FSOPEN_CLOEXEC));
            if (!fs) throw_errno("fsopen", "tmpfs");
            FsOptions o = mask_options();
            config(fs.get(), "source", "tmpfs", "tmpfs", name);
            for (auto& [k, v] : o.data) config(fs.get(), k, v, "tmpfs", name);
            mask_ = attach_new(fs.get(), attr_flags(o), target_fd, "tmpfs", name);
            return;
        }
        // A clone of the first one (attached in our namespace by now, so any kernel clones it),
        // which keeps its read-only, nosuid, nodev and noexec.
        UniqueFd tree(::open_tree(mask_.get(), "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH));
        if (!tree) throw_errno("open_tree", "masked directory's tmpfs");
        if (::move_mount(tree.get(), "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
            throw_errno("mount tmpfs on", name);
    }

    void remount_ro(int target_fd, const std::string& name) override {
        UniqueFd tree(::open_tree(target_fd, "",
                                  OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE));
        if (!tree) throw_errno("open_tree", name);
        set_ro(tree.get(), true, name);
        if (::move_mount(tree.get(), "", target_fd, "",
                         MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
            throw_errno("mount read-only on", name);
    }

private:
    static void config(int fs, const std::string& k, const std::string& v, const std::string& fstype,
                       const std::string& name) {
        int r = v.empty() ? ::fsconfig(fs, FSCONFIG_SET_FLAG, k.c_str(), nullptr, 0)
                          : ::fsconfig(fs, FSCONFIG_SET_STRING, k.c_str(), v.c_str(), 0);
        if (r != 0) throw_errno(("mount " + fstype + " option " + k + " on").c_str(), name);
    }
    static void set_ro(int tree, bool recursive, const std::string& name) {
        struct mount_attr attr {};
        attr.attr_set = MOUNT_ATTR_RDONLY;
        if (::mount_setattr(tree, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr,
                            sizeof attr) != 0)
            throw_errno("mount_setattr read-only", name);
    }
    // Returns the new mount (attached on `target_fd`).
    static UniqueFd attach_new(int fs, unsigned attrs, int target_fd, const std::string& fstype,
                               const std::string& name) {
        if (::fsconfig(fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0)
            throw_errno(("mount " + fstype + " on").c_str(), name);
        UniqueFd mnt(::fsmount(fs, FSMOUNT_CLOEXEC, attrs));
        if (!mnt) throw_errno(("fsmount " + fstype + " on").c_str(), name);
        if (::move_mount(mnt.get(), "", target_fd, "",
                         MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
            throw_errno(("mount " + fstype + " on").c_str(), name);
        return mnt;
    }

    UniqueFd mask_;  // the first masked directory's tmpfs (see mask_dir)
};

// After mounting on a path, an fd taken before still names what is underneath; the path it
// resolves to now (read back through /proc/self/fd) leads to the new mount on top.
UniqueFd reopen_top(int fd) {
    char buf[4096];
    ssize_t n = ::readlink(fd_path(fd).c_str(), buf, sizeof buf - 1);
    if (n < 0) throw_errno("readlink", fd_path(fd));
    buf[n] = '\0';
    return open_path(buf, O_PATH);
}

// mount(2), targets named through /proc/self/fd so we still act on the fd we resolved.
class LegacyMountApi : public MountApi {
public:
    void mount_fs(const std::string& fstype, const std::string& source, const FsOptions& o,
                  int target_fd, const std::string& name) override {
        std::string data = join_data(o.data);
        if (::mount(source.empty() ? fstype.c_str() : source.c_str(), fd_path(target_fd).c_str(),
                    fstype.c_str(), ms_flags(o), data.empty() ? nullptr : data.c_str()) != 0)
            throw_errno(("mount " + fstype + " on").c_str(), name);
    }

    void mount_overlay(const RootfsSpec& r, int target_fd, const std::string& name) override {
        // Relative lower dirs from their common parent keep the option string short.
        std::string base = common_parent(r.lower);
        UniqueFd oldcwd = open_path(".", O_PATH | O_DIRECTORY);
        if (!base.empty() && ::chdir(base.c_str()) != 0) throw_errno("chdir", base);
        std::string opts = legacy_overlay_options(r, base);
        unsigned long flags = r.readonly && r.upper.empty() ? MS_RDONLY : 0;
        int rc = ::mount("overlay", fd_path(target_fd).c_str(), "overlay", flags, opts.c_str());
        int e = errno;
        if (::fchdir(oldcwd.get()) != 0) {
        }
        if (rc != 0) throw_err(e, "mount overlay on", name);
    }

    void bind(int source_fd, const std::string& source_name, int target_fd,
              const std::string& name, bool recursive, bool ro) override {
        unsigned long f = MS_BIND | (recursive ? MS_REC : 0);
        if (::mount(fd_path(source_fd).c_str(), fd_path(target_fd).c_str(), nullptr, f, nullptr) != 0)
            throw_errno("mount " + source_name + " on", name);
        if (ro) {
            UniqueFd top = reopen_top(target_fd);
            if (::mount(nullptr, fd_path(top.get()).c_str(), nullptr,
                        MS_BIND | MS_REMOUNT | MS_RDONLY | (recursive ? MS_REC : 0), nullptr) != 0)
                throw_errno("remount read-only", name);
        }
    }

    void remount_ro(int target_fd, const std::string& name) override {
        std::string p = fd_path(target_fd);
        if (::mount(p.c_str(), p.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
            throw_errno("bind", name);
        UniqueFd top = reopen_top(target_fd);
        if (::mount(nullptr, fd_path(top.get()).c_str(), nullptr,
                    MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0)
            throw_errno("remount read-only", name);
    }

};

bool new_api_available() {
    static int known = -1;
    if (known < 0) {
        int fd = ::fsopen("tmpfs", FSOPEN_CLOEXEC);
        known = fd >= 0 || errno != ENOSYS;
        if (fd >= 0) ::close(fd);
    }
    return known == 1;
}

FsOptions fs_options(const MountOp& op) {
    FsOptions o;
    o.data = op.data;
    o.ro = op.ro;
    o.nosuid = op.nosuid;
    o.nodev = op.nodev;
    o.noexec = op.noexec;
    o.attrs = op.attrs;
    return o;
}

std::string flags_text(const FsOptions& o) {
    std::string s;
    if (o.ro) s += " ro";
    if (o.nosuid) s += " nosuid";
    if (o.nodev) s += " nodev";
    if (o.noexec) s += " noexec";
    std::string d = join_data(o.data);
    if (!d.empty()) s += " " + d;
    return s;
}

// A new volume (`source`, a host directory the engine chose) gets what the root holds at
// `target` when it is still empty; a target that is missing or not a directory gives nothing.
void copy_up(int rootfd, const std::string& source, const std::string& target, const std::string& name) {
    UniqueFd dst(::open(source.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dst) throw_errno("open", source);
    if (!dir_is_empty(dst.get())) return;
    UniqueFd from = try_open_in_root(rootfd, target, O_RDONLY | O_DIRECTORY);
    if (!from) {
        if (errno == ENOENT || errno == ENOTDIR) return;
        throw_errno("open", name);
    }
    copy_tree(from.get(), dst.get(), name);
}

}  // namespace

void RecordingMountApi::mount_fs(const std::string& fstype, const std::string& source,
                                 const FsOptions& o, int, const std::string& name) {
    calls.push_back("mount " + fstype + (source.empty() ? "" : "(" + source + ")") + " on " + name +
                    flags_text(o));
}

void RecordingMountApi::mount_overlay(const RootfsSpec& r, int, const std::string& name) {
    std::string s = "overlay on " + name + " lower=";
    for (size_t i = 0; i < r.lower.size(); ++i) s += (i ? ":" : "") + r.lower[i];
    if (!r.upper.empty()) s += " upper=" + r.upper + " work=" + r.work;
    if (r.readonly) s += " ro";
    calls.push_back(s);
}

void RecordingMountApi::bind(int, const std::string& source_name, int, const std::string& name,
                             bool recursive, bool ro) {
    calls.push_back(std::string(recursive ? "rbind " : "bind ") + source_name + " -> " + name +
                    (ro ? " ro" : ""));
}

void RecordingMountApi::bind_from_namespace(const std::string& mntns, const std::string& path, int,
                                            const std::string& name, bool recursive, bool ro,
                                            const std::string& under) {
    calls.push_back(std::string(recursive ? "rbind " : "bind ") + mntns + ":" + path +
                    (under.empty() ? "" : "/" + under) + " -> " + name +
                    (ro ? " ro" : ""));
}

void MountApi::bind_from_namespace(const std::string& mntns, const std::string& path, int,
                                   const std::string& name, bool, bool, const std::string&) {
    throw SysError(ENOTSUP, "mount", name,
                   "bind " + mntns + ":" + path + " on " + name + ": needs the new mount API (open_tree, "
                   "move_mount), which this kernel lacks");
}

void RecordingMountApi::remount_ro(int, const std::string& name) { calls.push_back("ro " + name); }

void MountApi::bind_with_attrs(int source_fd, const std::string& source_name, int target_fd,
                               const std::string& name, bool recursive, const FsOptions& o) {
    bind(source_fd, source_name, target_fd, name, recursive, o.ro);
    set_attrs(target_fd, name, o, recursive);
}

void MountApi::mask_dir(int target_fd, const std::string& name) {
    mount_fs("tmpfs", "tmpfs", mask_options(), target_fd, name);
}

void RecordingMountApi::set_root_propagation(unsigned long flags) {
    calls.push_back(flags == (MS_REC | MS_PRIVATE) ? "private /" : "propagation / " + std::to_string(flags));
}

void RecordingMountApi::make_mount_private(const std::string& path) { calls.push_back("private mount of " + path); }

void RecordingMountApi::set_attrs(int, const std::string& name, const FsOptions& o, bool recursive) {
    calls.push_back(std::string(recursive ? "rattrs " : "attrs ") + name + flags_text(o));
}

void RecordingMountApi::set_propagation(int, const std::string& name, unsigned long flags) {
    calls.push_back("propagation " + name + " " + std::to_string(flags));
}

void RecordingMountApi::set_hostname(const std::string& name) { calls.push_back("hostname " + name); }

void RecordingMountApi::pivot_into(int, const std::string& name, bool slave_old_root) {
    calls.push_back(std::string(slave_old_root ? "rslave old root, " : "") + "pivot_root " + name);
}

void RecordingMountApi::chroot_into(int, const std::string& name) { calls.push_back("chroot " + name); }

void RecordingMountApi::remount_root_ro() { calls.push_back("ro /"); }

void MountApi::set_hostname(const std::string& name) {
    if (::sethostname(name.data(), name.size()) != 0) throw_errno("sethostname", name);
}

void MountApi::pivot_into(int rootfd, const std::string& name, bool slave_old_root) {
    // pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only the
    // container's tree (the trick runc and lxc use, no put_old directory needed).
    UniqueFd old_root = slave_old_root ? open_path("/", O_PATH | O_DIRECTORY) : UniqueFd();
    if (::fchdir(rootfd) != 0) throw_errno("chdir", name);
    if (sys::pivot_root(".", ".") != 0) throw_errno("pivot_root", name);
    // (runc's order: "." by path is the new root under the old one; the old root by its fd.)
    if (old_root && (::fchdir(old_root.get()) != 0 || ::mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) != 0))
        throw_errno("make the old root rslave", name);
    if (::umount2(".", MNT_DETACH) != 0) throw_errno("umount", "old root");
    if (::chdir("/") != 0) throw_errno("chdir", "/");
}

void MountApi::chroot_into(int rootfd, const std::string& name) {
    if (::fchdir(rootfd) != 0) throw_errno("chdir", name);
    if (::chroot(".") != 0) throw_errno("chroot", name);
    if (::chdir("/") != 0) throw_errno("chdir", "/");
}

void MountApi::remount_root_ro() {
    if (::mount(nullptr, "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0)
        throw_errno("remount read-only", "/");
}

void MountApi::set_root_propagation(unsigned long flags) {
    if (::mount(nullptr, "/", nullptr, flags, nullptr) != 0) throw_errno("set mount propagation of", "/");
}

void MountApi::make_private_root() { set_root_propagation(MS_REC | MS_PRIVATE); }

void MountApi::make_mount_private(const std::string& path) {
    std::string p = path;
    // EINVAL: not a mount point; its parent directory may be.
    while (::mount(nullptr, p.c_str(), nullptr, MS_PRIVATE, nullptr) != 0) {
        if (errno != EINVAL || p == "/") throw_errno("make private the mount of", path);
        size_t slash = p.rfind('/');
        p = slash == 0 || slash == std::string::npos ? "/" : p.substr(0, slash);
    }
}

static unsigned long ns_propagation(const LaunchPlan& p) {
    return p.ns_propagation ? p.ns_propagation : MS_PRIVATE | MS_REC;
}

UniqueFd prepare_root(MountApi& api, const LaunchPlan& p, const ProcessSpec& proc) {
    bool own_ns = has_mount_namespace(p);
    if (own_ns) api.set_root_propagation(ns_propagation(p));
    if (own_ns && ns_propagation(p) != (MS_PRIVATE | MS_REC)) api.make_mount_private(p.rootfs.target);
    {
        UniqueFd target = open_path(p.rootfs.target, O_PATH | O_DIRECTORY);
        mount_rootfs(api, p.rootfs, target.get());
        if (!own_ns) api.set_propagation(target.get(), p.rootfs.target, MS_PRIVATE | MS_REC);
    }
    UniqueFd rootfd = open_path(p.rootfs.target, O_PATH | O_DIRECTORY);
    run_mount_ops(api, rootfd.get(), p.mounts);
    if (proc.create_cwd && !try_open_in_root(rootfd.get(), proc.cwd, O_PATH | O_DIRECTORY))
        mkdir_p_in_root(rootfd.get(), proc.cwd, 0755, proc.uid, proc.gid);
    return rootfd;
}

void enter_root(MountApi& api, const LaunchPlan& p, UniqueFd rootfd) {
    if (has_mount_namespace(p)) api.pivot_into(rootfd.get(), p.rootfs.target, ns_propagation(p) != (MS_PRIVATE | MS_REC));
    else api.chroot_into(rootfd.get(), p.rootfs.target);
    rootfd.reset();
    if (p.rootfs.readonly) api.remount_root_ro();
}

void MountApi::set_attrs(int target_fd, const std::string& name, const FsOptions& o, bool recursive) {
    UniqueFd top = reopen_top(target_fd);
    if (new_api_available()) return apply_attrs(top.get(), o, recursive, name);
    if (::mount(nullptr, fd_path(top.get()).c_str(), nullptr,
                MS_BIND | MS_REMOUNT | ms_flags(o) | (recursive ? MS_REC : 0), nullptr) != 0)
        throw_errno("remount", name);
}

void MountApi::set_propagation(int target_fd, const std::string& name, unsigned long flags) {
    UniqueFd top = reopen_top(target_fd);
    if (::mount(nullptr, fd_path(top.get()).c_str(), nullptr, flags, nullptr) != 0)
        throw_errno("set mount propagation of", name);
}

// A mount with overlayfs' "volatile" leaves work/work/incompat/volatile, and the kernel refuses
// any later mount of that upper and work dir while it is there (the upper dir may have lost
// writes in a crash). Ours are only on roots that do not outlive their container (plan.py's
// VOLATILE_OPTIONS), and a container's files are not made durable anyway (the next command
// reconciles after a crash), so a root mounted again (a build step's container kept with
// --rm=false and started later) simply drops the mark. Both dirs are overlayfs' own, opened
// without following links; nothing to do when they are not there.
void clear_volatile_mark(const std::string& work) {
    int w = ::open(work.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (w < 0) return;
    UniqueFd wfd(w);
    int ww = ::openat(wfd.get(), "work", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (ww < 0) return;
    UniqueFd wwfd(ww);
    // incompat/volatile/dirty (Linux 6.x); removed by fd, never following a link
    try {
        remove_tree_at(wwfd.get(), "incompat");
    } catch (const SysError& e) {
        throw SysError(e.err, e.syscall, work + "/work/incompat",
                       format_error(e.err, "remove overlay's volatile mark", work + "/work/incompat"));
    }
}

void mount_rootfs(MountApi& api, const RootfsSpec& r, int target_fd) {
    if (!r.bind_dir) {
        if (!r.upper.empty() && !r.work.empty()) clear_volatile_mark(r.work);
        return api.mount_overlay(r, target_fd, r.target);
    }
    api.bind(target_fd, r.target, target_fd, r.target, true, false);
}

std::unique_ptr<MountApi> make_new_mount_api() { return std::make_unique<NewMountApi>(); }
std::unique_ptr<MountApi> make_legacy_mount_api() { return std::make_unique<LegacyMountApi>(); }
std::unique_ptr<MountApi> make_best_mount_api() {
    if (new_api_available()) return make_new_mount_api();
    return make_legacy_mount_api();
}

std::string common_parent(const std::vector<std::string>& dirs) {
    if (dirs.empty()) return "";
    std::string p = dirs[0];
    for (auto& d : dirs) {
        size_t n = 0;
        while (n < p.size() && n < d.size() && p[n] == d[n]) ++n;
        p.resize(n);
    }
    size_t slash = p.rfind('/');
    if (slash == std::string::npos || slash == 0) return "";
    return p.substr(0, slash);
}

std::string legacy_overlay_options(const RootfsSpec& r, const std::string& chdir_to) {
    std::string lower;
    for (auto& l : r.lower) {
        std::string rel = l;
        if (!chdir_to.empty() && l.compare(0, chdir_to.size() + 1, chdir_to + "/") == 0)
            rel = l.substr(chdir_to.size() + 1);
        if (rel.find_first_of(":,") != std::string::npos)
            throw_invalid("a layer path holds ':' or ',' which mount(2) cannot pass", l);
        lower += (lower.empty() ? "" : ":") + rel;
    }
    std::string s = "lowerdir=" + lower;
    if (!r.upper.empty()) s += ",upperdir=" + r.upper + ",workdir=" + r.work;
    for (auto& [k, v] : r.options) {
        // mount(2) fails on an option the kernel lacks, where fsconfig is best effort; the
        // kernels this path is for (no fsopen, before 5.2) lack "volatile" (5.10).
        if (k == "volatile") continue;
        s += "," + k + (v.empty() ? "" : "=" + v);
    }
    if (s.size() >= 4096)
        throw SysError(E2BIG, "mount", r.target,
                       "mount overlay on " + r.target + ": " + std::to_string(r.lower.size()) +
                           " layers do not fit in one mount(2) option page; this kernel lacks "
                           "fsconfig \"lowerdir+\" (Linux 6.8)");
    return s;
}

void run_mount_ops(MountApi& api, int rootfd, const std::vector<MountOp>& ops) {
    // The directory the last Mknod or Symlink op made its entry in: the next such op in the
    // same directory (/dev's nodes and links come in a row) uses it again instead of resolving
    // the path once more. Forgotten at any other op, which may mount over it.
    std::string parent_path;
    UniqueFd parent_dir;
    auto parent_of = [&](const std::string& parent) -> int {
        if (!parent_dir || parent != parent_path) {
            parent_dir = mkdir_p_in_root(rootfd, parent);
            parent_path = parent;
        }
        return parent_dir.get();
    };
    UniqueFd null;  // /dev/null (the host's), for every masked file
    for (const MountOp& op : ops) {
        const std::string name = "/" + clean_relative(op.target);
        if (op.kind != MountOp::Kind::Mknod && op.kind != MountOp::Kind::Symlink) parent_dir.reset();
        switch (op.kind) {
            case MountOp::Kind::Fs: {
                UniqueFd t = ensure_mountpoint(rootfd, op.target, true);
                api.mount_fs(op.fstype, op.source, fs_options(op), t.get(), name);
                if (op.propagation) api.set_propagation(t.get(), name, op.propagation);
                break;
            }
            case MountOp::Kind::Bind: {
                if (!op.source_mntns.empty() && op.generated) {  // another container's /etc/hosts, ...
                    UniqueFd t = ensure_mountpoint(rootfd, op.target, false);
                    api.bind_from_namespace(op.source_mntns, "/dev", t.get(), name, false, op.ro,
                                            generated_file_path(op.source));
                    break;
                }
                if (!op.source_mntns.empty()) {  // another container's (its /dev/shm)
                    UniqueFd t = ensure_mountpoint(rootfd, op.target, true);
                    api.bind_from_namespace(op.source_mntns, op.source, t.get(), name, op.recursive, op.ro);
                    if (op.nosuid || op.nodev || op.noexec || op.attrs)
                        api.set_attrs(t.get(), name, fs_options(op), op.recursive);
                    break;
                }
                // The source is a host path the engine chose (a volume, /etc/hosts it wrote).
                UniqueFd src(::open(op.source.c_str(), O_PATH | O_CLOEXEC));
                if (!src) throw_errno("open", op.source);
                struct stat st;
                if (::fstat(src.get(), &st) != 0) throw_errno("stat", op.source);
                if (op.copy_up && S_ISDIR(st.st_mode)) copy_up(rootfd, op.source, op.target, name);
                UniqueFd t = ensure_mountpoint(rootfd, op.target, S_ISDIR(st.st_mode));
                if (op.nosuid || op.nodev || op.noexec || op.attrs)
                    api.bind_with_attrs(src.get(), op.source, t.get(), name, op.recursive, fs_options(op));
                else
                    api.bind(src.get(), op.source, t.get(), name, op.recursive, op.ro);
                if (op.propagation) api.set_propagation(t.get(), name, op.propagation);
                break;
            }
            case MountOp::Kind::Mknod: {
                auto [parent, leaf] = split_parent(op.target);
                int dir = parent_of(parent);
                // The node type from the mode (--device, --privileged, an OCI bundle's devices);
                // a character device when it gives none.
                mode_t type = (op.mode & S_IFMT) ? (op.mode & S_IFMT) : S_IFCHR;
                if (::mknodat(dir, leaf.c_str(), type | (op.mode & 07777),
                              makedev(op.major, op.minor)) != 0 && errno != EEXIST)
                    throw_errno("mknod", name);
                if ((op.uid >= 0 || op.gid >= 0) &&
                    ::fchownat(dir, leaf.c_str(), op.uid, op.gid, AT_SYMLINK_NOFOLLOW) != 0)
                    throw_errno("chown", name);
                break;
            }
            case MountOp::Kind::Symlink: {
                auto [parent, leaf] = split_parent(op.target);
                if (::symlinkat(op.source.c_str(), parent_of(parent), leaf.c_str()) != 0 && errno != EEXIST)
                    throw_errno("symlink", name);
                break;
            }
            case MountOp::Kind::File: {
                // A file the engine generates (/etc/hosts, /etc/hostname, /etc/resolv.conf):
                // written into the container's own /dev tmpfs and bound over its target. It
                // lives in memory, with the container, and leaves nothing on the host's disk to
                // create and delete for every container. Its name stays (the kernel binds no
                // unlinked file, and a container that joins this one's network binds these),
                // in /dev/pts before the plan mounts devpts there, so the container does not
                // see it (the plan puts these ops right after /dev's tmpfs).
                std::string rel = generated_file_path(op.target);
                auto [dir_rel, leaf] = split_parent(rel);
                UniqueFd dev = open_in_root(rootfd, "dev", O_PATH | O_DIRECTORY);
                UniqueFd dir = mkdir_p_in_root(dev.get(), dir_rel);
                int f = ::openat(dir.get(), leaf.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
                                 op.mode ? op.mode : 0644);
                if (f < 0) throw_errno("create", "/dev/" + rel);
                {
                    UniqueFd file(f);
                    write_all(file.get(), op.source, "/dev/" + rel);
                }
                UniqueFd src = open_at(dir.get(), leaf, O_PATH | O_NOFOLLOW);
                UniqueFd t = ensure_mountpoint(rootfd, op.target, false);
                api.bind(src.get(), "/dev/" + rel, t.get(), name, false, op.ro);
                break;
            }
            case MountOp::Kind::Mkdir: {
                mkdir_p_in_root(rootfd, op.target, op.mode ? op.mode : 0755);
                break;
            }
            case MountOp::Kind::MaskFile:
            case MountOp::Kind::MaskDir:
            case MountOp::Kind::ReadOnly: {
                UniqueFd t = try_open_in_root(rootfd, op.target, O_PATH);
                if (!t) {
                    if (errno == ENOENT && op.optional) break;
                    throw_errno("open", name);
                }
                struct stat st;
                if (::fstat(t.get(), &st) != 0) throw_errno("stat", name);
                if (op.kind == MountOp::Kind::ReadOnly && op.in_place) {
                    // Its flags kept (a mount(2) remount would drop the ones not given).
                    struct statvfs sv;
                    if (::fstatvfs(t.get(), &sv) != 0) throw_errno("statvfs", name);
                    FsOptions o;
                    o.ro = true;
                    o.nosuid = sv.f_flag & ST_NOSUID;
                    o.nodev = sv.f_flag & ST_NODEV;
                    o.noexec = sv.f_flag & ST_NOEXEC;
                    api.set_attrs(t.get(), name, o, true);
                } else if (op.kind == MountOp::Kind::ReadOnly) {
                    api.remount_ro(t.get(), name);
                } else if (S_ISDIR(st.st_mode)) {
                    api.mask_dir(t.get(), name);
                } else {
                    if (!null) null = UniqueFd(::open("/dev/null", O_PATH | O_CLOEXEC));
                    if (!null) throw_errno("open", "/dev/null");
                    api.bind(null.get(), "/dev/null", t.get(), name, false, false);
                }
                break;
            }
        }
    }
}

}  // namespace lb
