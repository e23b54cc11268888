// Mounting: the container's overlay root and the list of mount operations inside it.
//
// Two kernel interfaces sit behind one small class: the new mount API (fsopen/fsconfig/fsmount/
// move_mount/open_tree/mount_setattr), which we use whenever the kernel has it because it
// attaches to an fd (no path races) and takes overlay lower layers one by one ("lowerdir+",
// so 200 layers mount where a mount(2) option page holds about 50); and mount(2) for older
// kernels. RecordingMountApi (tests) records what would be done.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/fd.hpp"
#include "core/plan.hpp"

namespace lb {

struct FsOptions {
    std::vector<std::pair<std::string, std::string>> data;  // key=value; value "" = flag
    bool ro = false, nosuid = false, nodev = false, noexec = false;
    unsigned attrs = 0;  // more MOUNT_ATTR_* bits (atime, nosymfollow); see MountOp::attrs
};

class MountApi {
public:
    virtual ~MountApi() = default;
    // A new filesystem `fstype` attached on the directory or file `target_fd` (`name` for
    // messages).
    virtual void mount_fs(const std::string& fstype, const std::string& source, const FsOptions& o,
                          int target_fd, const std::string& name) = 0;
    // overlayfs of `lower` (top first) + upper + work on `target_fd`. Options in `extra` are
    // best effort: one the kernel does not know is skipped.
    virtual void mount_overlay(const RootfsSpec& r, int target_fd, const std::string& name) = 0;
    // Bind `source_fd` (an O_PATH fd of a file or directory) on `target_fd`.
    virtual void bind(int source_fd, const std::string& source_name, int target_fd,
                      const std::string& name, bool recursive, bool ro) = 0;
    // Bind what `path` names inside the mount namespace `mntns` (a /proc/PID/ns/mnt file) on
    // `target_fd` in ours: `--ipc container:NAME` shares the other container's /dev/shm. The
    // kernel refuses to bind a mount of another namespace by path (open_tree and mount(2) both
    // say EINVAL), so the tree is cloned from inside that namespace and moved here, which only
    // the new mount API can do (mount(2): ENOTSUP). With `under`, what is bound is `under`
    // inside the (non-recursive) clone of `path`: a file below a mount of that namespace, which
    // no path reaches there.
    virtual void bind_from_namespace(const std::string& mntns, const std::string& path, int target_fd,
                                     const std::string& name, bool recursive, bool ro,
                                     const std::string& under = "");
    // bind(), then set_attrs() with `o` (its ro included) on what was bound. The new mount API
    // sets them on the detached tree before it is attached: one mount_setattr, and no lookup
    // of the mount on top again (a readlink of /proc/self/fd and a walk of the whole path).
    virtual void bind_with_attrs(int source_fd, const std::string& source_name, int target_fd,
                                 const std::string& name, bool recursive, const FsOptions& o);
    // An empty read-only tmpfs on the directory `target_fd` (a masked directory, as runc's).
    // The new mount API makes one per container and binds it on every further masked
    // directory: one superblock to set up and tear down instead of one each.
    virtual void mask_dir(int target_fd, const std::string& name);
    // Make the mount on `target_fd` read-only (bind it on itself first).
    virtual void remount_ro(int target_fd, const std::string& name) = 0;
    // mount(NULL, "/", NULL, `flags`): MS_REC|MS_PRIVATE (nothing we do propagates back to
    // the host), or an OCI config's propagation (see LaunchPlan::ns_propagation).
    virtual void set_root_propagation(unsigned long flags);
    void make_private_root();  // set_root_propagation(MS_REC | MS_PRIVATE)
    // MS_PRIVATE on the mount `path` is the root of, or else on the nearest mount point above
    // it (runc's rootfsParentMountPrivate): what is bound there next joins no peer group.
    virtual void make_mount_private(const std::string& path);
    // Sets the flags of `o` on the mount now on top of `target_fd` (after a bind: the mount
    // flags a bind takes from its options).
    virtual void set_attrs(int target_fd, const std::string& name, const FsOptions& o, bool recursive);
    // mount(NULL, target, NULL, `flags`) on the mount now on top of `target_fd`: MS_SHARED,
    // MS_SLAVE, MS_PRIVATE or MS_UNBINDABLE, with MS_REC.
    virtual void set_propagation(int target_fd, const std::string& name, unsigned long flags);
    // The rest of a container root's set-up goes through here too, so one recording double
    // sees every kernel call of it in order (youki's design): sethostname in the new UTS
    // namespace, pivot_root into `rootfd` (old root detached), and the whole root read-only.
    virtual void set_hostname(const std::string& name);
    // `slave_old_root`: the old root's tree is made rslave before it is detached, so the
    // unmounting reaches no peer of the host's (a namespace whose mounts were not private).
    virtual void pivot_into(int rootfd, const std::string& name, bool slave_old_root);
    // chroot into `rootfd`: the root of a container without a mount namespace of its own,
    // where pivot_root would move the root of every process of the launcher's namespace.
    virtual void chroot_into(int rootfd, const std::string& name);
    virtual void remount_root_ro();
};

// Records each call as one line ("bind /etc/hosts -> /etc/hosts ro") instead of mounting, so
// the mount plan (which operations, in which order, on which resolved targets) is tested
// without root. The targets are still resolved and created in the real root directory given
// to run_mount_ops: that part is ours, not the kernel's mount code, and is what the test checks.
class RecordingMountApi : public MountApi {
public:
    void mount_fs(const std::string& fstype, const std::string& source, const FsOptions& o,
                  int target_fd, const std::string& name) override;
    void mount_overlay(const RootfsSpec& r, int target_fd, const std::string& name) override;
    void bind(int source_fd, const std::string& source_name, int target_fd,
              const std::string& name, bool recursive, bool ro) override;
    void bind_from_namespace(const std::string& mntns, const std::string& path, int target_fd,
                             const std::string& name, bool recursive, bool ro,
                             const std::string& under = "") override;
    void remount_ro(int target_fd, const std::string& name) override;
    void set_root_propagation(unsigned long flags) override;
    void make_mount_private(const std::string& path) override;
    void set_attrs(int target_fd, const std::string& name, const FsOptions& o, bool recursive) override;
    void set_propagation(int target_fd, const std::string& name, unsigned long flags) override;
    void set_hostname(const std::string& name) override;
    void pivot_into(int rootfd, const std::string& name, bool slave_old_root) override;
    void chroot_into(int rootfd, const std::string& name) override;
    void remount_root_ro() override;

    std::vector<std::string> calls;
};

std::unique_ptr<MountApi> make_new_mount_api();     // fsopen & co.
std::unique_ptr<MountApi> make_legacy_mount_api();  // mount(2)
// The new API when the kernel has it, else mount(2).
std::unique_ptr<MountApi> make_best_mount_api();

// The container's root on `target_fd`: the overlay, or with r.bind_dir the directory bound on
// itself (recursively), as an OCI bundle's rootfs is.
void mount_rootfs(MountApi& api, const RootfsSpec& r, int target_fd);
// Removes what a "volatile" overlay mount left in work dir `work` (work/incompat/volatile),
// without which the kernel refuses to mount that upper and work dir again; see mount.cpp.
void clear_volatile_mark(const std::string& work);

// Runs the plan's mount operations, in order, inside `rootfd`.
void run_mount_ops(MountApi& api, int rootfd, const std::vector<MountOp>& ops);

struct LaunchPlan;
struct ProcessSpec;
// A container's root, before pivot_root: / made private, the rootfs mounted on its target, the
// plan's mount operations run, and the process's working directory made when the plan asks.
// Without a mount namespace of the container's own, / is not ours to change: the rootfs's own
// bind is made private instead, so what is mounted under it reaches no other namespace.
// Returns an O_PATH fd of the new root. The caller may still work inside it (a pty) before
// enter_root.
UniqueFd prepare_root(MountApi& api, const LaunchPlan& p, const ProcessSpec& proc);
// pivot_root into `rootfd` (chroot without a mount namespace of the container's own), the old
// root detached, cwd "/", then / read-only if the plan says.
void enter_root(MountApi& api, const LaunchPlan& p, UniqueFd rootfd);

// The mount(2) option string for an overlay (exposed for tests): lower dirs relative to
// `chdir_to` when that is not empty. Throws E2BIG when it cannot fit in a page.
std::string legacy_overlay_options(const RootfsSpec& r, const std::string& chdir_to);
// The directory every lower dir shares (the store's layers dir), or "" when none.
std::string common_parent(const std::vector<std::string>& dirs);

}  // namespace lb
