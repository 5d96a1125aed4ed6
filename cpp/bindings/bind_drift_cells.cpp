// Bindings for the distributed drift building blocks (pipeward.dask): value cells per
// partition and the KS p-value stage for statistics merged from partitions. Argument checks,
// GIL release, nothing else.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "checks.hpp"
#include "drift_views.hpp"
#include "pipeward/drift_cells.hpp"

namespace py = pybind11;

namespace pipeward::bind {

namespace {

namespace dr = pipeward::drift;

// x: a (features, samples) float view of whole-element strides; edges: float64 (features, m),
// C order, rows non-decreasing without NaN.
void check_cells(const py::array& x, const py::array& edges) {
  require_float_2d(x, "x");
  require<double>(edges, "edges", 2);
  if (edges.shape(0) != x.shape(0)) {
    throw py::value_error("edges: expected one row per feature (" + std::to_string(x.shape(0)) +
                          "), got a " + describe(edges));
  }
  const int64_t m = edges.shape(1);
  const double* e = static_cast<const double*>(edges.data());
  for (int64_t i = 0; i < edges.shape(0) * m; ++i) {
    if (std::isnan(e[i])) throw py::value_error("edges: contains NaN");
    if (i % m != 0 && !(e[i - 1] <= e[i])) {
      throw py::value_error("edges: each feature's edges must be non-decreasing");
    }
  }
}

py::tuple cell_counts(const py::array& x, const py::array& edges, const py::object& workers,
                      bool extremes) {
  check_cells(x, edges);
  const int threads = resolve_workers(workers);
  const py::ssize_t F = x.shape(0), m = edges.shape(1);
  py::array_t<int64_t> counts({F, m + 2});
  const py::ssize_t width = extremes ? m + 1 : 0;
  py::array_t<double> lo({F, width}), hi({F, width});
  std::fill(counts.mutable_data(), counts.mutable_data() + counts.size(), int64_t{0});
  std::fill(lo.mutable_data(), lo.mutable_data() + lo.size(), std::numeric_limits<double>::infinity());
  std::fill(hi.mutable_data(), hi.mutable_data() + hi.size(), -std::numeric_limits<double>::infinity());
  const double* e = static_cast<const double*>(edges.data());
  int64_t* c = counts.mutable_data();
  double* l = extremes ? lo.mutable_data() : nullptr;
  double* h = extremes ? hi.mutable_data() : nullptr;
  {
    py::gil_scoped_release release;
    if (has_dtype<float>(x)) dr::cell_counts<float>(samples_view<float>(x), e, m, c, l, h, threads);
    else dr::cell_counts<double>(samples_view<double>(x), e, m, c, l, h, threads);
  }
  if (!extremes) return py::make_tuple(counts);
  return py::make_tuple(counts, lo, hi);
}

template <typename T>
py::tuple cell_values_typed(const py::array& x, const double* e, int64_t m, const uint8_t* w) {
  const py::ssize_t F = x.shape(0);
  std::vector<std::vector<T>> per_feature(static_cast<size_t>(F));
  {
    py::gil_scoped_release release;
    dr::cell_values<T>(samples_view<T>(x), e, m, w, per_feature.data());
  }
  py::array_t<int64_t> sizes(F);
  py::ssize_t total = 0;
  for (py::ssize_t f = 0; f < F; ++f) {
    sizes.mutable_data()[f] = static_cast<int64_t>(per_feature[static_cast<size_t>(f)].size());
    total += sizes.mutable_data()[f];
  }
  py::array_t<T> values(total);
  T* out = values.mutable_data();
  for (const auto& v : per_feature) out = std::copy(v.begin(), v.end(), out);
  return py::make_tuple(values, sizes);
}

py::tuple cell_values(const py::array& x, const py::array& edges, const py::array& wanted) {
  check_cells(x, edges);
  require<uint8_t>(wanted, "wanted", 2);
  if (wanted.shape(0) != x.shape(0) || wanted.shape(1) != edges.shape(1) + 1) {
    throw py::value_error("wanted: expected a (features, m + 1) flag per cell, got a " +
                          describe(wanted));
  }
  const double* e = static_cast<const double*>(edges.data());
  const auto* w = static_cast<const uint8_t*>(wanted.data());
  if (has_dtype<float>(x)) return cell_values_typed<float>(x, e, edges.shape(1), w);
  return cell_values_typed<double>(x, e, edges.shape(1), w);
}

py::tuple ks_from_stats(const py::array& dplus, const py::array& dminus, const py::array& loc_plus,
                        const py::array& loc_minus, const py::array& n1, const py::array& n2,
                        const py::array& status, int alternative, int method,
                        const py::object& workers) {
  require<double>(dplus, "dplus", 1);
  const py::ssize_t F = dplus.shape(0);
  require<double>(dminus, "dminus", 1);
  require<double>(loc_plus, "loc_plus", 1);
  require<double>(loc_minus, "loc_minus", 1);
  require<int64_t>(n1, "n1", 1);
  require<int64_t>(n2, "n2", 1);
  require<int32_t>(status, "status", 1);
  for (const py::array* a : {&dminus, &loc_plus, &loc_minus, &n1, &n2, &status}) {
    if (a->shape(0) != F) throw py::value_error("every per-feature array must have " +
                                                std::to_string(F) + " entries, got a " + describe(*a));
  }
  if (alternative < 0 || alternative > 2) throw py::value_error("alternative must be 0, 1 or 2");
  if (method < 0 || method > 2) throw py::value_error("method must be 0, 1 or 2");
  const auto* dp = static_cast<const double*>(dplus.data());
  const auto* dm = static_cast<const double*>(dminus.data());
  const auto* lp = static_cast<const double*>(loc_plus.data());
  const auto* lm = static_cast<const double*>(loc_minus.data());
  const auto* s1 = static_cast<const int64_t*>(n1.data());
  const auto* s2 = static_cast<const int64_t*>(n2.data());
  const auto* st = static_cast<const int32_t*>(status.data());
  std::vector<dr::KsStat> stats(static_cast<size_t>(F));
  for (py::ssize_t f = 0; f < F; ++f) {
    dr::KsStat& s = stats[static_cast<size_t>(f)];
    s.dplus = dp[f];
    s.dminus = dm[f];
    s.loc_plus = lp[f];
    s.loc_minus = lm[f];
    s.n1 = s1[f];
    s.n2 = s2[f];
    const int32_t code = st[f];
    if (code < 0 || code > 4) throw py::value_error("status: codes are 0..4");
    s.status = static_cast<dr::KsStatus>(code);
    if (s.status == dr::KsStatus::ok && (s.n1 <= 0 || s.n2 <= 0)) {
      throw py::value_error("n1 and n2 must be positive where the status is ok");
    }
  }
  const int threads = resolve_workers(workers);
  py::array_t<double> stat(F), p(F), loc(F), sign(F);
  py::array_t<int64_t> o1(F), o2(F);
  py::array_t<int32_t> ost(F);
  dr::KsOut out{stat.mutable_data(), p.mutable_data(), loc.mutable_data(), sign.mutable_data(),
                o1.mutable_data(), o2.mutable_data(), ost.mutable_data()};
  {
    py::gil_scoped_release release;
    dr::ks_finish(stats.data(), F, static_cast<dr::Alternative>(alternative),
                  static_cast<dr::Method>(method), out, threads);
  }
  return py::make_tuple(stat, p, loc, sign, o1, o2, ost);
}

}  // namespace

void bind_drift_cells(py::module_& m) {
  m.def("drift_cell_counts", &cell_counts, py::arg("x").noconvert(), py::arg("edges").noconvert(),
        py::arg("workers") = py::none(), py::kw_only(), py::arg("extremes") = true,
        "Per feature row of x (features, samples) and its m edges: the count of values in "
        "each cell (-inf, e0), [e0, e1), ..., [e_{m-1}, inf) and NaN, and each cell's smallest "
        "and largest value (+inf / -inf when empty). Returns (counts (F, m+2), min, max (F, m+1)); "
        "with extremes=False only (counts,), a leaner pass.");
  m.def("drift_cell_values", &cell_values, py::arg("x").noconvert(), py::arg("edges").noconvert(),
        py::arg("wanted").noconvert(),
        "The values of the cells flagged in wanted (uint8, (F, m+1)), feature by feature in "
        "the order met: (values, per-feature sizes).");
  m.def("drift_ks_from_stats", &ks_from_stats, py::arg("dplus").noconvert(),
        py::arg("dminus").noconvert(), py::arg("loc_plus").noconvert(),
        py::arg("loc_minus").noconvert(), py::arg("n1").noconvert(), py::arg("n2").noconvert(),
        py::arg("status").noconvert(), py::arg("alternative"), py::arg("method"),
        py::arg("workers") = py::none(),
        "drift_ks_2samp's p-value stage for per-feature D+, D-, their locations, sizes and "
        "status (0 ok, 3 NaN, 4 empty): the same (statistic, pvalue, location, sign, n1, n2, "
        "status).");
}

}  // namespace pipeward::bind
