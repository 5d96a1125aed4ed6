// Bindings for the aggregate kernel family: argument checks, GIL release, nothing else.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "checks.hpp"
#include "pipeward/aggregate.hpp"

namespace py = pybind11;

namespace pipeward::bind {
namespace {

namespace ag = pipeward::aggregate;

// K client rows: 1-d C-contiguous arrays of one float dtype and one length, read in place.
// The arrays stay referenced by `keep` while the GIL is released.
template <typename T>
std::vector<const T*> row_pointers(const py::list& rows, std::vector<py::array>& keep,
                                   std::size_t& p) {
  std::vector<const T*> ptrs;
  ptrs.reserve(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::string name = "rows[" + std::to_string(i) + "]";
    if (!py::isinstance<py::array>(rows[i])) {
      throw py::type_error(name + ": expected a NumPy array, got " +
                           std::string(py::str(py::type::of(rows[i]).attr("__name__"))));
    }
    py::array a = rows[i].cast<py::array>();
    require<T>(a, name.c_str(), 1);
    if (i == 0) p = static_cast<std::size_t>(a.shape(0));
    if (static_cast<std::size_t>(a.shape(0)) != p) {
      throw py::value_error(name + ": expected " + std::to_string(p) + " values like rows[0], got a " +
                            describe(a));
    }
    ptrs.push_back(static_cast<const T*>(a.data()));
    keep.push_back(std::move(a));
  }
  return ptrs;
}

bool is_f32(const py::list& rows) {
  if (rows.size() == 0) throw py::value_error("rows: expected at least one client update, got none");
  if (rows.size() > 32768) {
    throw py::value_error("rows: at most 32768 client updates, got " + std::to_string(rows.size()));
  }
  if (!py::isinstance<py::array>(rows[0])) {
    throw py::type_error("rows[0]: expected a NumPy array");
  }
  const py::array a = rows[0].cast<py::array>();
  if (has_dtype<float>(a)) return true;
  if (has_dtype<double>(a)) return false;
  throw py::type_error("rows[0]: expected a float32 or float64 array, got a " + describe(a));
}

template <typename T>
py::tuple rank_mean_typed(const py::list& rows, std::size_t lo, std::size_t hi, int threads) {
  std::vector<py::array> keep;
  std::size_t p = 0;
  const auto ptrs = row_pointers<T>(rows, keep, p);
  if (!(lo < hi && hi <= ptrs.size())) {
    throw py::value_error("ranks: expected 0 <= lo < hi <= " + std::to_string(ptrs.size()) +
                          ", got lo=" + std::to_string(lo) + ", hi=" + std::to_string(hi));
  }
  py::array_t<T> out(static_cast<py::ssize_t>(p));
  T* o = out.mutable_data();
  ag::Status s;
  {
    py::gil_scoped_release release;
    s = ag::rank_mean<T>(ptrs.data(), ptrs.size(), p, lo, hi, o, threads);
  }
  return py::make_tuple(out, static_cast<int>(s));
}

template <typename T>
py::tuple weighted_mean_typed(const py::list& rows, const py::object& weights, int threads) {
  std::vector<py::array> keep;
  std::size_t p = 0;
  const auto ptrs = row_pointers<T>(rows, keep, p);
  const double* w = nullptr;
  py::array wa;
  if (!weights.is_none()) {
    wa = weights.cast<py::array>();
    require<double>(wa, "weights", 1);
    if (static_cast<std::size_t>(wa.shape(0)) != ptrs.size()) {
      throw py::value_error("weights: expected " + std::to_string(ptrs.size()) +
                            " values (one per client), got a " + describe(wa));
    }
    w = static_cast<const double*>(wa.data());
  }
  py::array_t<T> out(static_cast<py::ssize_t>(p));
  T* o = out.mutable_data();
  ag::Status s;
  {
    py::gil_scoped_release release;
    s = ag::weighted_mean<T>(ptrs.data(), ptrs.size(), p, w, o, threads);
  }
  return py::make_tuple(out, static_cast<int>(s));
}

template <typename T>
py::tuple pairwise_typed(const py::list& rows, int threads) {
  std::vector<py::array> keep;
  std::size_t p = 0;
  const auto ptrs = row_pointers<T>(rows, keep, p);
  const auto k = static_cast<py::ssize_t>(ptrs.size());
  py::array_t<double> out({k, k});
  double* o = out.mutable_data();
  ag::Status s;
  {
    py::gil_scoped_release release;
    s = ag::pairwise_sq_distances<T>(ptrs.data(), ptrs.size(), p, o, threads);
  }
  return py::make_tuple(out, static_cast<int>(s));
}

}  // namespace

void bind_aggregate(py::module_& m) {
  m.def(
      "aggregate_rank_mean",
      [](const py::list& rows, std::size_t lo, std::size_t hi, const py::object& workers) {
        const int t = resolve_workers(workers);
        return is_f32(rows) ? rank_mean_typed<float>(rows, lo, hi, t)
                            : rank_mean_typed<double>(rows, lo, hi, t);
      },
      py::arg("rows"), py::arg("lo"), py::arg("hi"), py::kw_only(), py::arg("workers") = py::none(),
      "(out, status): per coordinate, the mean of the values ranked [lo, hi) among the rows.");
  m.def(
      "aggregate_weighted_mean",
      [](const py::list& rows, const py::object& weights, const py::object& workers) {
        const int t = resolve_workers(workers);
        return is_f32(rows) ? weighted_mean_typed<float>(rows, weights, t)
                            : weighted_mean_typed<double>(rows, weights, t);
      },
      py::arg("rows"), py::arg("weights") = py::none(), py::kw_only(),
      py::arg("workers") = py::none(), "(out, status): sum_i w_i rows[i] / sum_i w_i.");
  m.def(
      "aggregate_pairwise_sq_distances",
      [](const py::list& rows, const py::object& workers) {
        const int t = resolve_workers(workers);
        return is_f32(rows) ? pairwise_typed<float>(rows, t) : pairwise_typed<double>(rows, t);
      },
      py::arg("rows"), py::kw_only(), py::arg("workers") = py::none(),
      "(K x K float64, status): squared Euclidean distances between the rows.");
}

}  // namespace pipeward::bind
