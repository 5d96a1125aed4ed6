// Bindings for the mahalanobis kernel family: argument checks, GIL release, nothing else.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "checks.hpp"
#include "pipeward/mahalanobis.hpp"

namespace py = pybind11;

namespace pipeward::bind {
namespace {

const NamedResult* comoment_result = nullptr;  // (count, mean, m2), made in bind_mahalanobis

namespace mh = pipeward::mahalanobis;

// A 2-d float array of any (element-aligned) strides, read in place.
template <typename T>
mh::MatrixView<T> matrix_view(const py::array& X, const char* name) {
  const auto item = static_cast<py::ssize_t>(sizeof(T));
  if (X.strides(0) % item != 0 || X.strides(1) % item != 0) {
    throw py::value_error(std::string(name) + ": strides must be multiples of the item size, got a " +
                          describe(X));
  }
  return {static_cast<const T*>(X.data()), static_cast<std::size_t>(X.shape(0)),
          static_cast<std::size_t>(X.shape(1)), X.strides(0) / item, X.strides(1) / item};
}

void require_2d_float(const py::array& X, const char* name) {
  if (!has_dtype<double>(X) && !has_dtype<float>(X)) {
    throw py::type_error(std::string(name) + ": expected a float32 or float64 array, got a " +
                         describe(X));
  }
  if (X.ndim() != 2) {
    throw py::value_error(std::string(name) + ": expected a 2-d array, got a " + describe(X));
  }
}

template <typename T>
void distances_typed(const py::array& X, const py::array& location, const py::array& factor,
                     bool lower, py::array& out, int threads) {
  const auto view = matrix_view<T>(X, "X");
  const auto d = static_cast<py::ssize_t>(view.cols);
  require<T>(location, "location", 1);
  require<T>(factor, "factor", 2);
  require<T>(out, "out", 1);
  if (location.shape(0) != d) {
    throw py::value_error("location: expected shape (" + std::to_string(d) + ",), got a " +
                          describe(location));
  }
  if (factor.shape(0) != d || factor.shape(1) != d) {
    throw py::value_error("factor: expected shape (" + std::to_string(d) + ", " +
                          std::to_string(d) + "), got a " + describe(factor));
  }
  if (out.shape(0) != X.shape(0)) {
    throw py::value_error("out: expected shape (" + std::to_string(X.shape(0)) + ",), got a " +
                          describe(out));
  }
  if (!out.writeable()) throw py::value_error("out: the array is read-only");
  const T* mu = static_cast<const T*>(location.data());
  const T* w = static_cast<const T*>(factor.data());
  T* o = static_cast<T*>(out.mutable_data());
  py::gil_scoped_release release;
  mh::squared_distances<T>(view, mu, w, lower, o, threads);
}

template <typename T>
py::object comoment_typed(const py::array& X, const py::object& rows, int threads) {
  const auto view = matrix_view<T>(X, "X");
  const std::int64_t* idx = nullptr;
  std::size_t n_rows = 0;
  py::array rows_arr;
  if (!rows.is_none()) {
    rows_arr = py::reinterpret_borrow<py::array>(rows);
    require<std::int64_t>(rows_arr, "rows", 1);
    idx = static_cast<const std::int64_t*>(rows_arr.data());
    n_rows = static_cast<std::size_t>(rows_arr.shape(0));
    for (std::size_t r = 0; r < n_rows; ++r) {
      if (idx[r] < 0 || static_cast<std::size_t>(idx[r]) >= view.rows) {
        throw py::value_error("rows: index " + std::to_string(idx[r]) + " is out of range for " +
                              std::to_string(view.rows) + " rows");
      }
    }
  }
  const auto d = static_cast<py::ssize_t>(view.cols);
  py::array_t<double> mean(d);
  py::array_t<double> m2({d, d});
  double* mp = mean.mutable_data();
  double* m2p = m2.mutable_data();
  std::size_t count = 0;
  {
    py::gil_scoped_release release;
    count = mh::comoment<T>(view, idx, n_rows, mp, m2p, threads);
  }
  return (*comoment_result)(py::arg("count") = count, py::arg("mean") = mean, py::arg("m2") = m2);
}

}  // namespace

void bind_mahalanobis(py::module_& m) {
  static const NamedResult comoment_type(
      m, "Comoment", {"count", "mean", "m2"},
      "Covariance sufficient statistics of mahalanobis_comoment: rows counted, mean (d,), and "
      "M2 (d, d), the sum of outer products of the centred rows.");
  comoment_result = &comoment_type;
  m.def(
      "mahalanobis_sq_distances",
      [](const py::array& X, const py::array& location, const py::array& factor, bool lower,
         py::array out, const py::object& workers) {
        require_2d_float(X, "X");
        const int threads = resolve_workers(workers);
        if (has_dtype<double>(X)) {
          distances_typed<double>(X, location, factor, lower, out, threads);
        } else {
          distances_typed<float>(X, location, factor, lower, out, threads);
        }
      },
      py::arg("X").noconvert(), py::arg("location").noconvert(), py::arg("factor").noconvert(),
      py::arg("lower"), py::arg("out").noconvert(), py::arg("workers") = py::none(),
      "out[i] = ||(X[i] - location) @ factor||^2 (factor lower-triangular when `lower`).");
  m.def(
      "mahalanobis_comoment",
      [](const py::array& X, const py::object& rows, const py::object& workers) {
        require_2d_float(X, "X");
        const int threads = resolve_workers(workers);
        return has_dtype<double>(X) ? comoment_typed<double>(X, rows, threads)
                                    : comoment_typed<float>(X, rows, threads);
      },
      py::arg("X").noconvert(), py::arg("rows") = py::none(), py::arg("workers") = py::none(),
      "(count, mean, M2) of the rows of X (or X[rows]) in float64, M2 = sum (x-mean)(x-mean)^T.");
}

}  // namespace pipeward::bind
