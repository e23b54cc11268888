#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "bind/bind.hpp"
#include "layers/changes.hpp"
#include "layers/digest.hpp"
#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/rootpath.hpp"
#include "layers/tar_export.hpp"
#include "layers/tar_read.hpp"
#include "layers/tar_write.hpp"

namespace lb::bind {

namespace {

py::dict extract_dict(const ExtractResult& r) {
    py::dict d;
    d["diff_id"] = r.diff_id;
    d["digest"] = r.digest;
    d["size"] = r.size;
    d["compressed_size"] = r.compressed_size;
    d["unpacked_size"] = r.unpacked_size;
    d["compression"] = r.compression;
    d["entries"] = r.entries;
    return d;
}

// A result's JSON (see tar_export.hpp) as a dict, read by layerbox._jsonfast: Python's `json`
// imports `re` (5-10 ms), which a build's COPY or WORKDIR would pay for this dict alone.
py::object from_json(const std::string& s) { return py::module_::import("layerbox._jsonfast").attr("loads")(s); }

void set_chown(ExtractOptions& o, const std::optional<std::pair<int64_t, int64_t>>& chown) {
    if (!chown) return;
    if (chown->first < 0 || chown->second < 0 || chown->first > 0xfffffffe || chown->second > 0xfffffffe)
        throw_invalid("chown ids out of range", std::to_string(chown->first) + ":" + std::to_string(chown->second));
    o.chown = true;
    o.uid = static_cast<uid_t>(chown->first);
    o.gid = static_cast<gid_t>(chown->second);
}

// {"lower": [...], "upper": "", "work": "", "target": ""} -> PrivateOverlay; None -> nothing.
std::optional<PrivateOverlay> overlay_arg(const py::object& ov) {
    if (ov.is_none()) return std::nullopt;
    py::dict d = ov.cast<py::dict>();
    PrivateOverlay o;
    o.lower = d["lower"].cast<std::vector<std::string>>();
    if (d.contains("upper")) o.upper = d["upper"].cast<std::string>();
    if (d.contains("work")) o.work = d["work"].cast<std::string>();
    o.target = d["target"].cast<std::string>();
    if (d.contains("mounts")) {
        // The plan's mount operations (a bind each), as the launch plan carries them.
        std::string text = py::module_::import("json").attr("dumps")(d["mounts"]).cast<std::string>();
        try {
            for (auto& m : nlohmann::json::parse(text)) o.mounts.push_back(mount_op_from_json(m));
        } catch (const nlohmann::json::exception& e) {
            throw_invalid(std::string("bad mount operation: ") + e.what());
        }
    }
    return o;
}

// Runs fn on `root`, or, given an overlay, on that overlay mounted in a private helper (the
// result crosses back as JSON). The GIL is released by the caller.
std::string on_root(const std::optional<PrivateOverlay>& ov, const std::string& root,
                    const std::function<std::string(const std::string&)>& fn) {
    if (ov) return run_in_private_overlay(*ov, fn);
    return fn(root);
}

}  // namespace

// Layer tars: extraction, writing, digests and changes (csrc/layers/tar_*.cpp, digest.cpp,
// changes.cpp). Every call runs without the GIL for its whole duration.
void bind_layers(py::module_& m) {
    m.def("extract_layer",
          [](int src_fd, const std::string& dest_dir, int blob_fd, const std::string& whiteouts,
             bool allow_devices, uint64_t min_free, const py::bytes& src_prefix, int64_t src_limit,
             double src_timeout, const py::object& progress, int tee_fd, uint64_t tee_have) {
              ExtractOptions o;
              o.min_free = min_free;
              o.blob_fd = blob_fd;
              o.whiteouts = parse_whiteout_mode(whiteouts);
              o.allow_devices = allow_devices;
              o.src_prefix = std::string(src_prefix);
              o.src_limit = src_limit;
              o.src_timeout_ms = src_timeout < 0 ? -1 : static_cast<int>(src_timeout * 1000);
              o.tee_fd = tee_fd;
              o.tee_have = tee_have;
              if (!progress.is_none()) {
                  // Called from the reading thread, every 100 ms at most: the GIL only then.
                  // Held through a shared_ptr: the options are copied without the GIL, and
                  // the last reference (o's) goes with the GIL held.
                  auto cb = std::make_shared<py::object>(progress);
                  o.progress = [cb](uint64_t n) {
                      py::gil_scoped_acquire gil;
                      try {
                          (*cb)(n);
                      } catch (py::error_already_set& e) {
                          e.discard_as_unraisable("extract_layer progress");
                      }
                  };
              }
              ExtractResult r;
              {
                  py::gil_scoped_release nogil;
                  r = extract_layer(src_fd, dest_dir, o);
              }
              return extract_dict(r);
          },
          py::arg("src_fd"), py::arg("dest_dir"), py::kw_only(), py::arg("blob_fd") = -1,
          py::arg("whiteouts") = "overlay", py::arg("allow_devices") = false, py::arg("min_free") = 0,
          py::arg("src_prefix") = py::bytes(), py::arg("src_limit") = -1, py::arg("src_timeout") = 60.0,
          py::arg("progress") = py::none(), py::arg("tee_fd") = -1, py::arg("tee_have") = 0,
          "Extract a layer tar (plain, gzip or zstd, read from src_fd to EOF) into dest_dir, an\n"
          "existing empty directory, in one pass that also hashes the raw input (digest) and the\n"
          "uncompressed tar (diff_id) and, when blob_fd >= 0, copies the uncompressed tar there.\n"
          "whiteouts: 'overlay' (to overlay whiteouts), 'apply' (delete), 'none' (plain files).\n"
          "min_free: stop with ENOSPC once dest_dir's file system has fewer bytes free.\n"
          "src_prefix: bytes that come before src_fd's (what an HTTP client buffered of a body);\n"
          "src_limit: read exactly that many bytes from src_fd (a body's Content-Length; fewer\n"
          "is an unexpected end of data), never past them; src_timeout: seconds a non-blocking\n"
          "src_fd may stay silent; progress(raw bytes so far): every 100 ms at most.\n"
          "tee_fd: a file whose first tee_have bytes are read first (a partial download), and\n"
          "where every raw byte read after them is written too (to resume an interrupted one).\n"
          "Returns {diff_id, digest, size, compressed_size, unpacked_size, compression, entries}.");

    m.def("extract_tree",
          [](int src_fd, const std::string& root_dir, const std::string& dest_path, const std::string& whiteouts,
             std::optional<std::pair<int64_t, int64_t>> chown, bool no_overwrite_dir_non_dir, bool allow_devices,
             uint64_t min_free) {
              ExtractOptions o;
              o.min_free = min_free;
              o.whiteouts = parse_whiteout_mode(whiteouts);
              o.no_overwrite_dir_non_dir = no_overwrite_dir_non_dir;
              o.allow_devices = allow_devices;
              set_chown(o, chown);
              ExtractResult r;
              {
                  py::gil_scoped_release nogil;
                  r = extract_tree(src_fd, root_dir, dest_path, o);
              }
              return extract_dict(r);
          },
          py::arg("src_fd"), py::arg("root_dir"), py::arg("dest_path"), py::kw_only(),
          py::arg("whiteouts") = "none", py::arg("chown") = py::none(),
          py::arg("no_overwrite_dir_non_dir") = false, py::arg("allow_devices") = false,
          py::arg("min_free") = 0,
          "Extract a tar stream into dest_path resolved inside root_dir (symlinks on the way,\n"
          "in the tree or in the archive, resolve inside root_dir). chown=(uid, gid) overrides\n"
          "owners. Returns the same dict as extract_layer.");

    m.def("write_layer",
          [](const std::string& src_dir, int out_fd, const std::string& source, bool gzip, int level,
             const std::string& mirror_dir, const std::vector<std::string>& exclude, bool durable, bool hash) {
              WriteOptions o;
              o.source = parse_layer_source(source);
              o.gzip = gzip;
              o.level = level;
              o.mirror_dir = mirror_dir;
              o.exclude = exclude;
              o.durable = durable;
              o.hash = hash;
              WriteResult r;
              {
                  py::gil_scoped_release nogil;
                  r = write_layer(src_dir, out_fd, o);
              }
              py::dict d;
              d["diff_id"] = r.diff_id;
              d["digest"] = r.digest;
              d["size"] = r.size;
              d["compressed_size"] = r.compressed_size;
              d["files"] = r.files;
              d["content_size"] = r.content_size;
              return d;
          },
          py::arg("src_dir"), py::arg("out_fd") = -1, py::kw_only(), py::arg("source") = "dir",
          py::arg("gzip") = false, py::arg("level") = 6, py::arg("mirror_dir") = "",
          py::arg("exclude") = std::vector<std::string>{}, py::arg("durable") = false,
          py::arg("hash") = true,
          "Write src_dir as a deterministic layer tar to out_fd (-1: only hash), converting\n"
          "overlay whiteouts and opaque dirs to .wh. entries (source 'dir' or 'overlay-upper'; 'host':\n"
          "a build context's directory, every entry as it is and no xattrs); optionally gzip'd, optionally\n"
          "copied into mirror_dir (an empty dir) as an unpacked overlay layer in the same pass.\n"
          "durable=True: the caller fdatasyncs out_fd afterwards; writeback starts as bytes land.\n"
          "Returns {diff_id, digest, size, compressed_size, files, content_size (regular files'\n"
          "bytes, a multi-link file once)}.");

    m.def("export_overlay",
          [](const std::vector<std::string>& lower, const std::string& target, int out_fd) {
              PrivateOverlay ov;
              ov.lower = lower;
              ov.target = target;
              std::string res;
              {
                  py::gil_scoped_release nogil;
                  res = run_in_private_overlay(ov, [out_fd](const std::string& root) {
                      WriteOptions o;
                      o.hash = false;  // docker export's output carries no digest: do not compute one
                      return to_json(write_layer(root, out_fd, o));
                  });
              }
              return from_json(res);
          },
          py::arg("lower"), py::arg("target"), py::arg("out_fd"),
          "Write the merged view of the overlay of `lower` (top first) as one tar to out_fd: the\n"
          "overlay is mounted read-only on `target` only inside a helper thread's private mount\n"
          "namespace, so no mount ever shows on the host. Returns write_layer's dict.");

    m.def("path_stat",
          [](const std::string& root, const std::string& path, bool follow, const py::object& overlay) {
              auto ov = overlay_arg(overlay);
              std::string res;
              {
                  py::gil_scoped_release nogil;
                  res = on_root(ov, root, [&](const std::string& r) {
                      return to_json(stat_in_root(r, path, follow));
                  });
              }
              return from_json(res);
          },
          py::arg("root"), py::arg("path"), py::kw_only(), py::arg("follow") = false,
          py::arg("overlay") = py::none(),
          "lstat (stat with follow) of path resolved inside root, or inside `overlay`\n"
          "({lower, upper, work, target}) mounted in a private helper thread. Returns {exists, type\n"
          "('file'|'dir'|'symlink'|'other'), mode, size, mtime, link_target, name, resolved (where\n"
          "the path led inside the root), mount_root}.");

    m.def("archive_path",
          [](const std::string& root, const std::string& path, int out_fd, bool follow, bool contents_only,
             const py::object& overlay) {
              auto ov = overlay_arg(overlay);
              std::string res;
              {
                  py::gil_scoped_release nogil;
                  res = on_root(ov, root, [&](const std::string& r) {
                      return to_json(archive_in_root(r, path, follow, contents_only, out_fd));
                  });
              }
              return from_json(res);
          },
          py::arg("root"), py::arg("path"), py::arg("out_fd"), py::kw_only(), py::arg("follow") = false,
          py::arg("contents_only") = false, py::arg("overlay") = py::none(),
          "Tar of path (resolved inside root or the private overlay) to out_fd, named by its base\n"
          "name; contents_only: a directory's contents. follow: a final symlink is followed.");

    m.def("extract_path",
          [](int src_fd, const std::string& root, const std::string& dir, const std::string& rename_to,
             std::optional<std::pair<int64_t, int64_t>> chown, const py::object& overlay) {
              auto ov = overlay_arg(overlay);
              ExtractOptions o;
              o.whiteouts = WhiteoutMode::None;
              o.no_overwrite_dir_non_dir = true;
              set_chown(o, chown);
              std::string res;
              {
                  py::gil_scoped_release nogil;
                  res = on_root(ov, root, [&](const std::string& r) {
                      return to_json(extract_in_root(src_fd, r, dir, rename_to, o));
                  });
              }
              return from_json(res);
          },
          py::arg("src_fd"), py::arg("root"), py::arg("dir"), py::kw_only(), py::arg("rename_to") = "",
          py::arg("chown") = py::none(), py::arg("overlay") = py::none(),
          "Extract a tar (docker cp rules: no whiteouts, no dir/non-dir replacement) into dir\n"
          "resolved inside root or the private overlay; rename_to: the single top entry lands as\n"
          "that name in dir. chown=(uid, gid) overrides owners.");

    m.def("open_in_root",
          [](const std::string& root, const std::string& path) {
              UniqueFd r = open_path(root, O_PATH | O_DIRECTORY);
              return lb::open_in_root(r.get(), path, O_RDONLY).release();
          },
          py::arg("root"), py::arg("path"),
          "Open path for reading, resolved inside root (symlinks and '..' stay inside it); the\n"
          "caller owns (and closes) the returned fd. Raises KernelError when it is missing.");

    m.def("list_changes",
          [](const std::string& upper_dir, const std::vector<std::string>& lower_dirs) {
              py::gil_scoped_release nogil;
              return list_changes(upper_dir, lower_dirs);
          },
          py::arg("upper_dir"), py::arg("lower_dirs"),
          "docker diff of an overlay upper dir against its lower dirs (top first): a list of\n"
          "(kind, path) with kind 'A', 'C' or 'D', in docker's order.");

    m.def("sha256_fd",
          [](int fd) {
              py::gil_scoped_release nogil;
              return sha256_fd(fd);
          },
          py::arg("fd"), "sha256 of what fd holds from its current offset to EOF: 'sha256:<hex>'.");

    m.def("copy_verify",
          [](int src_fd, int dst_fd, const std::string& expected) {
              CopyResult r;
              {
                  py::gil_scoped_release nogil;
                  r = copy_verify(src_fd, dst_fd, expected);
              }
              py::dict d;
              d["digest"] = r.digest;
              d["size"] = r.size;
              return d;
          },
          py::arg("src_fd"), py::arg("dst_fd"), py::arg("expected") = "",
          "Copy src_fd to dst_fd while hashing; {digest, size}. Raises KernelError (EBADMSG)\n"
          "naming both digests when expected is given and differs.");
}

}  // namespace lb::bind
