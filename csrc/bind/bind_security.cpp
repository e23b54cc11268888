// Seccomp programs (and, later, other security set-up) for Python.
#include "bind/bind.hpp"
#include "core/seccomp.hpp"

namespace lb::bind {

void bind_security(py::module_& m) {
    m.def("seccomp_program",
          [](const std::string& profile, const std::string& cache_dir) {
              std::string bpf;
              {
                  py::gil_scoped_release nogil;
                  bpf = seccomp_program(profile, cache_dir);
              }
              return py::bytes(bpf);
          },
          py::arg("profile"), py::arg("cache_dir") = "",
          "The BPF program of a resolved seccomp profile (JSON text), compiled with libseccomp or "
          "taken from cache_dir where it was compiled before.");
}

}  // namespace lb::bind
