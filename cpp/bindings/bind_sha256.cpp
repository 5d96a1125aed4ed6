// Bindings for the sha256 kernel family: argument checks, GIL release, nothing else.
#include <pybind11/pybind11.h>

#include "checks.hpp"

namespace py = pybind11;

namespace pipeward::bind {

void bind_sha256(py::module_& m) {
  (void)m;  // filled in by the sha256 issue
}

}  // namespace pipeward::bind
