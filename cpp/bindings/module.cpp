// pipeward._core: the private extension. Each kernel family binds itself from its own file.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <omp.h>

#include <stdexcept>

#include "checks.hpp"
#include "pipeward/cpu_features.hpp"

namespace py = pybind11;

namespace pipeward::bind {

void bind_sha256(py::module_& m);
void bind_drift(py::module_& m);
void bind_drift_cells(py::module_& m);
void bind_privacy(py::module_& m);
void bind_mahalanobis(py::module_& m);
void bind_hmac(py::module_& m);
void bind_aggregate(py::module_& m);
void bind_nearest(py::module_& m);
void bind_secagg(py::module_& m);
void bind_vote(py::module_& m);
void bind_cuda_kernels(py::module_& m);

int resolve_workers(const py::object& workers) {
  if (workers.is_none()) return omp_get_max_threads();
  const long n = workers.cast<long>();
  // The Python layer's rule (_validate.workers_arg): 0 is not "the default", None is.
  if (n <= 0) throw py::value_error("workers must be None or a positive integer, got " + std::to_string(n));
  return static_cast<int>(n > 4096 ? 4096 : n);
}

}  // namespace pipeward::bind

PYBIND11_MODULE(_core, m) {
  m.doc() = "pipeward's native kernels (private: use the functions in `pipeward`)";
  m.attr("__version__") = PIPEWARD_VERSION;

  py::register_exception<std::invalid_argument>(m, "_InvalidArgument", PyExc_ValueError);

  m.def("cpu_features", [] {
    const auto& f = pipeward::cpu_features();
    py::dict d;
    d["sse41"] = f.sse41;
    d["ssse3"] = f.ssse3;
    d["sha_ni"] = f.sha_ni;
    d["avx2"] = f.avx2;
    d["fma"] = f.fma;
    d["avx512"] = f.avx512;
    return d;
  }, "Instruction sets the processor and OS support.");
  m.def("enabled_isas", &pipeward::enabled_isas,
        "Kernel variants usable now (after the PIPEWARD_ISA cap), best first.");
  m.def("set_isa_limit", &pipeward::set_isa_limit, py::arg("name"),
        "Cap the kernel variants: auto, portable, sha_ni, avx2 or avx512.");
  m.def("isa_limit", &pipeward::isa_limit, "The current cap.");
  m.def("omp_max_threads", [] { return omp_get_max_threads(); },
        "OpenMP's thread count now (threadpoolctl and OMP_NUM_THREADS change it).");

  pipeward::bind::bind_sha256(m);
  pipeward::bind::bind_drift(m);
  pipeward::bind::bind_drift_cells(m);
  pipeward::bind::bind_privacy(m);
  pipeward::bind::bind_mahalanobis(m);
  pipeward::bind::bind_hmac(m);
  pipeward::bind::bind_aggregate(m);
  pipeward::bind::bind_nearest(m);
  pipeward::bind::bind_secagg(m);
  pipeward::bind::bind_vote(m);
  pipeward::bind::bind_cuda_kernels(m);
}
