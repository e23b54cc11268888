#include "bind/bind.hpp"
#include "core/error.hpp"
#include "core/spawn.hpp"

namespace lb::bind {

namespace {

void raise_as(const char* cls_name, const lb::SysError& e, int exit_code) {
    py::object cls = py::module_::import("layerbox.errors").attr(cls_name);
    py::object exc = cls(e.err, std::string(e.what()),
                         e.path.empty() ? py::object(py::none()) : py::object(py::str(e.path)));
    exc.attr("syscall") = e.syscall;
    if (exit_code >= 0) exc.attr("exit_code") = exit_code;
    PyErr_SetObject(cls.ptr(), exc.ptr());
}

}  // namespace

// SysError -> layerbox.errors.KernelError (an OSError subclass) with errno, strerror (our
// message) and filename set, plus `syscall`; StartError -> layerbox.errors.StartError with
// docker's exit code. The Python classes are looked up only when an error happens.
// Module-local: _core and _layers each link their own C++ runtime, so each must translate only
// the exceptions it threw itself.
void bind_errors(py::module_& m) {
    py::register_local_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const lb::StartError& e) {
            raise_as("StartError", e, e.exit_code);
        } catch (const lb::SysError& e) {
            raise_as("KernelError", e, -1);
        }
    });
    (void)m;
}

}  // namespace lb::bind
