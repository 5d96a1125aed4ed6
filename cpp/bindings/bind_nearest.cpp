// Bindings for the nearest-distance kernel family: argument checks, GIL release, nothing else.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

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

// A float64 vector of d values, contiguous (the query and the detector's scaling).
void require_vector(const py::array& a, const char* name, py::ssize_t d) {
  require<double>(a, name, 1);
  if (a.shape(0) != d) {
    throw py::value_error(std::string(name) + ": expected " + std::to_string(d) +
                          " values (the history's columns), got a " + describe(a));
  }
}

template <typename T>
double history_push(const py::array& x, const py::array& low, const py::array& scale,
                    py::array& history, py::ssize_t count, py::ssize_t slot) {
  const std::ptrdiff_t ldy = row_stride<T>(history, "history");
  const py::ssize_t capacity = history.shape(0), d = history.shape(1);
  if (d < 1) throw py::value_error("history: expected at least one column, got a " + describe(history));
  require_vector(x, "x", d);
  require_vector(low, "low", d);
  require_vector(scale, "scale", d);
  if (!history.writeable()) throw py::value_error("history: read-only array");
  if (count < 0 || count > capacity || slot < 0 || slot > count || slot >= capacity) {
    throw py::value_error("count, slot: expected 0 <= slot <= count <= " +
                          std::to_string(capacity) + " and slot < " + std::to_string(capacity) +
                          ", got count=" + std::to_string(count) + " slot=" + std::to_string(slot));
  }
  std::vector<T> row(static_cast<std::size_t>(d));
  if (!pipeward::nearest::scaled_row<T>(static_cast<const double*>(x.data()),
                                        static_cast<const double*>(low.data()),
                                        static_cast<const double*>(scale.data()),
                                        static_cast<std::size_t>(d), row.data())) {
    throw py::value_error("x: expected finite values that stay within " +
                          py::str(history.dtype()).cast<std::string>() +
                          " range once scaled, got NaN or infinity");
  }
  T* y = static_cast<T*>(history.mutable_data());
  py::gil_scoped_release release;
  return static_cast<double>(pipeward::nearest::nearest_then_store<T>(
      row.data(), y, static_cast<std::size_t>(count), ldy, static_cast<std::size_t>(d),
      static_cast<std::size_t>(slot)));
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
  m.def(
      "nearest_history_push",
      [](const py::array& x, const py::array& low, const py::array& scale, py::array history,
         py::ssize_t count, py::ssize_t slot) {
        if (history.ndim() != 2) {
          throw py::value_error("history: expected a 2-d array, got a " + describe(history));
        }
        if (has_dtype<double>(history)) {
          return history_push<double>(x, low, scale, history, count, slot);
        }
        if (has_dtype<float>(history)) {
          return history_push<float>(x, low, scale, history, count, slot);
        }
        throw py::type_error("history: expected a float32 or float64 array, got a " +
                             describe(history));
      },
      py::arg("x").noconvert(), py::arg("low").noconvert(), py::arg("scale").noconvert(),
      py::arg("history").noconvert(), py::arg("count"), py::arg("slot"),
      "row = (x - low) * scale in history's dtype; returns its squared distance to the nearest "
      "of history[:count] (inf when count == 0), then stores it as history[slot].");
}

}  // namespace pipeward::bind
