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
    // Make the mount on `target_fd` read-only (bind it on itself first).
    virtual void remount_ro(int target_fd, const std::string& name) = 0;
    // mount(NULL, "/", NULL, MS_REC|MS_PRIVATE): nothing we do propagates back to the host.
    virtual void make_private_root() = 0;
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
    void remount_ro(int target_fd, const std::string& name) override;
    void make_private_root() override;

    std::vector<std::string> calls;
};

std::unique_ptr<MountApi> make_new_mount_api();     // fsopen & co.
std::unique_ptr<MountApi> make_legacy_mount_api();  // mount(2)
// The new API when the kernel has it, else mount(2).
std::unique_ptr<MountApi> make_best_mount_api();

// Runs the plan's mount operations, in order, inside `rootfd`.
void run_mount_ops(MountApi& api, int rootfd, const std::vector<MountOp>& ops);

// The mount(2) option string for an overlay (exposed for tests): lower dirs relative to
// `chdir_to` when that is not empty. Throws E2BIG when it cannot fit in a page.
std::string legacy_overlay_options(const RootfsSpec& r, const std::string& chdir_to);
// The directory every lower dir shares (the store's layers dir), or "" when none.
std::string common_parent(const std::vector<std::string>& dirs);

}  // namespace lb
