#include "layers/changes.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_set>

#include "core/error.hpp"
#include "core/fd.hpp"
#include "layers/tar_common.hpp"
#include "layers/whiteout.hpp"

namespace lb {

namespace {

// Where a directory of the upper is visible in the lowers: (layer, path in that layer) for each
// layer that contributes to the merged directory, top first. Every path here was checked to be
// a chain of real directories (no symlink), so path-based *at() calls on it stay in the layer.
struct Visible {
    size_t layer;
    std::string path;
};
using Context = std::vector<Visible>;

class ChangeWalker {
public:
    ChangeWalker(const std::string& upper, const std::vector<std::string>& lowers) : upper_(upper) {
        for (auto& l : lowers) {
            lowers_.push_back(open_path(l, O_PATH | O_DIRECTORY));
            lower_names_.push_back(l);
        }
    }

    std::vector<std::pair<std::string, std::string>> run() {
        UniqueFd up = open_path(upper_, O_RDONLY | O_DIRECTORY);
        Context top;
        for (size_t i = 0; i < lowers_.size(); ++i) {
            top.push_back({i, ""});
            if (opaque(lowers_[i].get(), "")) break;
        }
        walk(up.get(), "", top);
        return std::move(out_);
    }

private:
    static std::string join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "/" + b; }

    bool opaque(int rootfd, const std::string& path) {
        // The fd's /proc link is followed to the directory itself; below it nothing is.
        char v[2];
        ssize_t n = path.empty() ? ::getxattr(fd_path(rootfd).c_str(), kOverlayOpaqueXattr, v, sizeof v)
                                 : ::lgetxattr((fd_path(rootfd) + "/" + path).c_str(), kOverlayOpaqueXattr, v,
                                               sizeof v);
        return n == 1 && v[0] == 'y';
    }

    // fstatat in a lower; false when absent.
    bool stat_lower(const Visible& v, const std::string& name, struct stat* st) {
        std::string p = join(v.path, name);
        if (::fstatat(lowers_[v.layer].get(), p.c_str(), st, AT_SYMLINK_NOFOLLOW) == 0) return true;
        if (errno == ENOENT || errno == ENOTDIR) return false;
        throw_errno("stat", lower_names_[v.layer] + "/" + p);
    }

    // Is `name` (in the directory `ctx` describes) part of the image?
    bool in_image(const Context& ctx, const std::string& name, struct stat* st) {
        for (auto& v : ctx) {
            if (!stat_lower(v, name, st)) continue;
            return !is_overlay_whiteout(st->st_mode, st->st_rdev);
        }
        return false;
    }

    Context child_context(const Context& ctx, const std::string& name) {
        Context out;
        for (auto& v : ctx) {
            struct stat st;
            if (!stat_lower(v, name, &st)) continue;
            if (!S_ISDIR(st.st_mode)) break;  // a whiteout or a file hides what is below
            out.push_back({v.layer, join(v.path, name)});
            if (opaque(lowers_[v.layer].get(), out.back().path)) break;
        }
        return out;
    }

    void record(const std::string& kind, const std::string& path) {
        if (kind == "A" || kind == "D") {
            // Parents first, outermost first, each once (moby pull 13590: permissions of the
            // directories must travel with the change).
            std::vector<std::string> parents;
            for (size_t s = path.rfind('/'); s != std::string::npos && s > 0; s = path.rfind('/', s - 1)) {
                std::string parent = path.substr(0, s);
                if (changed_dirs_.insert(parent).second) parents.push_back(parent);
            }
            for (auto it = parents.rbegin(); it != parents.rend(); ++it) out_.emplace_back("C", *it);
        }
        out_.emplace_back(kind, path);
    }

    void walk(int dirfd, const std::string& path, const Context& ctx) {
        std::string shown = upper_ + path;
        for (const auto& [name, dtype] : list_dir(dirfd, shown)) {
            std::string cpath = path + "/" + name;
            struct stat st;
            if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno == ENOENT) continue;
                throw_errno("stat", upper_ + cpath);
            }
            bool is_dir = S_ISDIR(st.st_mode);
            if (is_overlay_whiteout(st.st_mode, st.st_rdev)) {
                record("D", cpath);
                continue;
            }
            UniqueFd child;
            if (is_dir) {
                int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) throw_errno("open", upper_ + cpath);
                child.reset(fd);
            }
            struct stat lst;
            bool existed = in_image(ctx, name, &lst);
            bool listed = true;
            std::string kind = existed ? "C" : "A";
            if (existed && is_dir && opaque(child.get(), "")) {
                kind = "D";  // the image's directory was removed and made again (docker says D)
            } else if (existed && is_dir && S_ISDIR(lst.st_mode) && st.st_mode == lst.st_mode &&
                       st.st_size == lst.st_size && st.st_mtim.tv_sec == lst.st_mtim.tv_sec &&
                       (st.st_mtim.tv_nsec == lst.st_mtim.tv_nsec || st.st_mtim.tv_nsec == 0 ||
                        lst.st_mtim.tv_nsec == 0)) {
                listed = false;  // only a copy-up parent: unchanged itself
            }
            if (listed) {
                if (is_dir) changed_dirs_.insert(cpath);
                record(kind, cpath);
            }
            if (is_dir) walk(child.get(), cpath, child_context(ctx, name));
        }
    }

    std::string upper_;
    std::vector<UniqueFd> lowers_;
    std::vector<std::string> lower_names_;
    std::unordered_set<std::string> changed_dirs_;
    std::vector<std::pair<std::string, std::string>> out_;
};

}  // namespace

std::vector<std::pair<std::string, std::string>> list_changes(const std::string& upper_dir,
                                                              const std::vector<std::string>& lower_dirs) {
    return ChangeWalker(upper_dir, lower_dirs).run();
}

}  // namespace lb
