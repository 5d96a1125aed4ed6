// Bindings for the nearest-distance kernel family: argument checks, GIL release, nothing else.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "checks.hpp"
#include "pipeward/nearest.hpp"

namespace py = pybind11;

namespace pipeward::bind {
namespace {

// Rows any (element-aligned) stride apart, columns contiguous.
template <typename T>
std::ptrdiff_t row_stride(const py::array& A, const char* name) {
  const auto item = static_cast<py::ssize_t>(sizeof(T));
  if (A.ndim() != 2) {
    throw py::value_error(std::string(name) + ": expected a 2-d array, got a " + describe(A));
  }
  if ((A.shape(1) > 1 && A.strides(1) != item) || A.strides(0) % item != 0) {
    throw py::value_error(std::string(name) + ": expected contiguous columns and element-aligned "
                          "rows, got a " + describe(A));
  }
  return A.strides(0) / item;
}

template <typename T>
void nearest_typed(const py::array& X, const py::array& Y, py::array& d2, py::array& index,
                   int threads) {
  if (!has_dtype<T>(Y)) {
    throw py::type_error("Y: expected the dtype of X (" + describe(X) + "), got a " + describe(Y));
  }
  const std::ptrdiff_t ldx = row_stride<T>(X, "X"), ldy = row_stride<T>(Y, "Y");
  if (X.shape(1) != Y.shape(1)) {
    throw py::value_error("X and Y must have the same number of columns, got a " + describe(X) +
                          " and a " + describe(Y));
  }
  if (Y.shape(0) < 1) throw py::value_error("Y: expected at least one row, got a " + describe(Y));
  require<T>(d2, "d2", 1);
  require<std::int64_t>(index, "index", 1);
  if (d2.shape(0) != X.shape(0) || index.shape(0) != X.shape(0)) {
    throw py::value_error("d2 and index: expected shape (" + std::to_string(X.shape(0)) +
                          ",), got a " + describe(d2) + " and a " + describe(index));
  }
  if (!d2.writeable() || !index.writeable()) throw py::value_error("d2, index: read-only output");
  const T* x = static_cast<const T*>(X.data());
  const T* y = static_cast<const T*>(Y.data());
  const auto m = static_cast<std::size_t>(X.shape(0)), n = static_cast<std::size_t>(Y.shape(0));
  const auto d = static_cast<std::size_t>(X.shape(1));
  T* out = static_cast<T*>(d2.mutable_data());
  auto* idx = static_cast<std::int64_t*>(index.mutable_data());
  py::gil_scoped_release release;
  pipeward::nearest::nearest_sq_distances<T>(x, m, ldx, y, n, ldy, d, out, idx, threads);
}

}  // namespace

void bind_nearest(py::module_& m) {
  m.def(
      "nearest_sq_distances",
      [](const py::array& X, const py::array& Y, py::array d2, py::array index,
         const py::object& workers) {
        const int threads = resolve_workers(workers);
        if (has_dtype<double>(X)) {
          nearest_typed<double>(X, Y, d2, index, threads);
        } else if (has_dtype<float>(X)) {
          nearest_typed<float>(X, Y, d2, index, threads);
        } else {
          throw py::type_error("X: expected a float32 or float64 array, got a " + describe(X));
        }
      },
      py::arg("X").noconvert(), py::arg("Y").noconvert(), py::arg("d2").noconvert(),
      py::arg("index").noconvert(), py::arg("workers") = py::none(),
      "d2[i] = min_j ||X[i] - Y[j]||^2 and index[i] = the first j attaining it.");
}

}  // namespace pipeward::bind
