// Seccomp programs (and, later, other security set-up) for Python.
#include "bind/bind.hpp"
#include "core/seccomp.hpp"

namespace lb::bind {

void bind_security(py::module_& m) {
    m.def("seccomp_compile",
          [](const std::string& profile) {
              std::string bpf;
              {
                  py::gil_scoped_release nogil;
                  bpf = seccomp_compile(profile);
              }
              return py::bytes(bpf);
          },
          py::arg("profile"),
          "The BPF program (struct sock_filter array) of a resolved seccomp profile (JSON text), "
          "compiled with libseccomp.");
}

}  // namespace lb::bind
