// What the registry client needs from the layer engine (csrc/layers/compress_stream.cpp).
#include "bind/bind.hpp"
#include "layers/compress_stream.hpp"

namespace lb::bind {

void bind_layers_registry(py::module_& m) {
    m.def("gzip_fd",
          [](int src_fd, int dst_fd, int level, const std::string& expected_diff_id) {
              GzipStreamResult r;
              {
                  py::gil_scoped_release nogil;
                  r = gzip_stream(src_fd, dst_fd, level, expected_diff_id);
              }
              py::dict d;
              d["digest"] = r.digest;
              d["size"] = r.size;
              d["diff_id"] = r.diff_id;
              d["input_size"] = r.input_size;
              return d;
          },
          py::arg("src_fd"), py::arg("dst_fd"), py::arg("level") = 6, py::kw_only(),
          py::arg("expected_diff_id") = "",
          "Gzip src_fd (to EOF) into dst_fd in one pass that hashes both sides; the gzip header\n"
          "is fixed, so equal input gives equal bytes. Returns {digest (of the gzip bytes), size,\n"
          "diff_id (of the input), input_size}. With expected_diff_id, an input that hashes\n"
          "differently raises KernelError (EBADMSG) naming both digests.");
}

}  // namespace lb::bind
