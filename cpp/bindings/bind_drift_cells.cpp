// Bindings for the distributed drift building blocks (pipeward.dask): value cells per
// partition and the KS p-value stage for statistics merged from partitions. Argument checks,
// GIL release, nothing else.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <limits>
#include <string>
#include <utility>
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

// Values gathered per feature, as (all of them concatenated, how many each feature gave).
template <typename T>
std::pair<py::array_t<T>, py::array_t<int64_t>> concatenated(
    const std::vector<std::vector<T>>& per_feature) {
  py::array_t<int64_t> sizes(static_cast<py::ssize_t>(per_feature.size()));
  py::ssize_t total = 0;
  for (size_t f = 0; f < per_feature.size(); ++f) {
    sizes.mutable_data()[f] = static_cast<int64_t>(per_feature[f].size());
    total += sizes.mutable_data()[f];
  }
  py::array_t<T> values(total);
  T* out = values.mutable_data();
  for (const auto& v : per_feature) out = std::copy(v.begin(), v.end(), out);
  return {values, sizes};
}

template <typename T>
py::tuple cell_values_typed(const py::array& x, const double* e, int64_t m, const uint8_t* w) {
  const py::ssize_t F = x.shape(0);
  std::vector<std::vector<T>> per_feature(static_cast<size_t>(F));
  {
    py::gil_scoped_release release;
    dr::cell_values<T>(samples_view<T>(x), e, m, w, per_feature.data());
  }
  const auto [values, sizes] = concatenated(per_feature);
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

// A feature's bucket map as the bucketed statistic fits it: lo, scale > 0, eps_bits >= -1,
// one each per feature, finite; 2 <= buckets <= 65535 (16-bit bucket ids, NaN included).
struct Maps {
  const double* lo;
  const double* scale;
  const int64_t* eps_bits;
};

void check_buckets(int64_t buckets) {
  if (buckets < 2 || buckets > 65535) {
    throw py::value_error("buckets: expected 2 to 65535, got " + std::to_string(buckets));
  }
}

void check_bits(int bits) {
  if (bits < 0 || bits > 16) throw py::value_error("bits: expected 0 to 16, got " + std::to_string(bits));
}

Maps check_maps(const py::array& lo, const py::array& scale, const py::array& eps_bits,
                int64_t features, int64_t buckets) {
  require<double>(lo, "lo", 1);
  require<double>(scale, "scale", 1);
  require<int64_t>(eps_bits, "eps_bits", 1);
  if (lo.shape(0) != features || scale.shape(0) != features || eps_bits.shape(0) != features) {
    throw py::value_error("lo, scale, eps_bits: expected one per feature (" +
                          std::to_string(features) + "), got " + describe(lo) + ", " +
                          describe(scale) + ", " + describe(eps_bits));
  }
  check_buckets(buckets);
  Maps maps{static_cast<const double*>(lo.data()), static_cast<const double*>(scale.data()),
            static_cast<const int64_t*>(eps_bits.data())};
  for (int64_t f = 0; f < features; ++f) {
    if (!std::isfinite(maps.lo[f]) || !std::isfinite(maps.scale[f]) || !(maps.scale[f] > 0.0) ||
        maps.eps_bits[f] < -1) {
      throw py::value_error("lo, scale, eps_bits: feature " + std::to_string(f) +
                            " is not a bucket map (finite lo, finite scale > 0, eps_bits >= -1)");
    }
  }
  return maps;
}

py::tuple bucket_maps(const py::array& sample, int64_t buckets) {
  require<double>(sample, "sample", 2);
  if (!(sample.flags() & py::array::c_style)) {
    throw py::value_error("sample: expected a C-contiguous (features, n) array, got a " +
                          describe(sample));
  }
  const py::ssize_t F = sample.shape(0), n = sample.shape(1);
  if (n >= 65536) throw py::value_error("sample: at most 65535 values a feature, got " + std::to_string(n));
  check_buckets(buckets);
  py::array_t<double> lo(F), scale(F);
  py::array_t<int64_t> eps(F);
  dr::bucket_maps(static_cast<const double*>(sample.data()), F, n, buckets, lo.mutable_data(),
                  scale.mutable_data(), eps.mutable_data());
  return py::make_tuple(lo, scale, eps);
}

py::array_t<double> bucket_edges(const py::array& lo, const py::array& scale,
                                 const py::array& eps_bits, int64_t buckets,
                                 const py::object& workers) {
  const py::ssize_t F = lo.ndim() == 1 ? lo.shape(0) : 0;
  const Maps maps = check_maps(lo, scale, eps_bits, F, buckets);
  const int threads = resolve_workers(workers);
  py::array_t<double> edges({F, static_cast<py::ssize_t>(buckets - 1)});
  {
    py::gil_scoped_release release;
    dr::bucket_edges(maps.lo, maps.scale, maps.eps_bits, F, buckets, edges.mutable_data(),
                     threads);
  }
  return edges;
}

py::array_t<int32_t> bucket_counts(const py::array& x, const py::array& lo,
                                   const py::array& scale, const py::array& eps_bits,
                                   int64_t buckets) {
  require_float_2d(x, "x");
  const py::ssize_t F = x.shape(0);
  const Maps maps = check_maps(lo, scale, eps_bits, F, buckets);
  if (x.shape(1) >= (py::ssize_t{1} << 31)) {  // the counts are int32
    throw py::value_error("x: at most 2^31 - 1 samples a call, got a " + describe(x));
  }
  py::array_t<int32_t> counts({F, static_cast<py::ssize_t>(buckets + 1)});
  {
    py::gil_scoped_release release;
    if (has_dtype<float>(x)) {
      dr::bucket_counts<float>(samples_view<float>(x), maps.lo, maps.scale, maps.eps_bits,
                               buckets, counts.mutable_data());
    } else {
      dr::bucket_counts<double>(samples_view<double>(x), maps.lo, maps.scale, maps.eps_bits,
                                buckets, counts.mutable_data());
    }
  }
  return counts;
}

py::tuple cell_counts_by_bucket(const py::array& x, const py::array& edges, const py::array& lo,
                                const py::array& scale, const py::array& eps_bits,
                                int64_t buckets, const py::array& bucket_cell, bool extremes) {
  check_cells(x, edges);
  const py::ssize_t F = x.shape(0), m = edges.shape(1);
  const Maps maps = check_maps(lo, scale, eps_bits, F, buckets);
  require<int32_t>(bucket_cell, "bucket_cells", 3);
  if (bucket_cell.shape(0) != F || bucket_cell.shape(1) != buckets + 1 ||
      bucket_cell.shape(2) != 2) {
    throw py::value_error("bucket_cells: expected (features, buckets + 1, 2) = (" +
                          std::to_string(F) + ", " + std::to_string(buckets + 1) + ", 2), got a " +
                          describe(bucket_cell));
  }
  const auto* table = static_cast<const int32_t*>(bucket_cell.data());
  for (py::ssize_t i = 0; i < bucket_cell.size(); i += 2) {
    const int64_t first = table[i], last = table[i + 1];
    const bool settled = last < 0 && first >= 0 && first <= m + 1;
    const bool searched = first >= 0 && first <= last && last <= m;
    if (!settled && !searched) {
      throw py::value_error("bucket_cells: each entry must be {cell 0 .. m + 1, -1} or "
                            "{first, last} with 0 <= first <= last <= m (" + std::to_string(m) +
                            "), got {" + std::to_string(first) + ", " + std::to_string(last) +
                            "}");
    }
  }
  py::array_t<int64_t> counts({F, m + 2});
  const py::ssize_t width = extremes ? m + 1 : 0;
  py::array_t<double> vlo({F, width}), vhi({F, width});
  std::fill(counts.mutable_data(), counts.mutable_data() + counts.size(), int64_t{0});
  std::fill(vlo.mutable_data(), vlo.mutable_data() + vlo.size(), std::numeric_limits<double>::infinity());
  std::fill(vhi.mutable_data(), vhi.mutable_data() + vhi.size(), -std::numeric_limits<double>::infinity());
  const double* e = static_cast<const double*>(edges.data());
  double* l = extremes ? vlo.mutable_data() : nullptr;
  double* h = extremes ? vhi.mutable_data() : nullptr;
  {
    py::gil_scoped_release release;
    if (has_dtype<float>(x)) {
      dr::cell_counts_by_bucket<float>(samples_view<float>(x), e, m, maps.lo, maps.scale,
                                       maps.eps_bits, buckets, table, counts.mutable_data(), l, h);
    } else {
      dr::cell_counts_by_bucket<double>(samples_view<double>(x), e, m, maps.lo, maps.scale,
                                        maps.eps_bits, buckets, table, counts.mutable_data(), l,
                                        h);
    }
  }
  if (!extremes) return py::make_tuple(counts);
  return py::make_tuple(counts, vlo, vhi);
}

// zoom_base: (features, buckets + 1) int32, each -1 or the first of 2^bits zoomed cells inside
// [0, zoom_cells); the NaN bucket's -1.
const int32_t* check_zoom(const py::array& zoom_base, py::ssize_t F, int64_t buckets, int bits,
                          int64_t zoom_cells) {
  require<int32_t>(zoom_base, "zoom_base", 2);
  if (zoom_base.shape(0) != F || zoom_base.shape(1) != buckets + 1) {
    throw py::value_error("zoom_base: expected (features, buckets + 1) = (" + std::to_string(F) +
                          ", " + std::to_string(buckets + 1) + "), got a " + describe(zoom_base));
  }
  check_bits(bits);
  const auto* zb = static_cast<const int32_t*>(zoom_base.data());
  for (py::ssize_t f = 0; f < F; ++f) {
    for (int64_t k = 0; k <= buckets; ++k) {
      const int64_t b = zb[f * (buckets + 1) + k];
      const bool ok = b == -1 || (k < buckets && b >= 0 && b + (int64_t{1} << bits) <= zoom_cells);
      if (!ok) {
        throw py::value_error("zoom_base: entries must be -1 or a first zoomed cell with 2^bits "
                              "cells inside zoom_cells (" + std::to_string(zoom_cells) +
                              "), the NaN bucket's -1; got " + std::to_string(b) +
                              " for bucket " + std::to_string(k));
      }
    }
  }
  return zb;
}

template <typename T>
py::tuple zoom_pass_typed(const py::array& x, const Maps& maps, int64_t buckets,
                          const int32_t* zb, int bits, int64_t zoom_cells, bool count,
                          const uint8_t* wanted) {
  const py::ssize_t F = x.shape(0);
  py::object counts = py::none();
  int32_t* c = nullptr;
  if (count) {  // int32: a call's values number below 2^31
    py::array_t<int32_t> arr({F, static_cast<py::ssize_t>(zoom_cells)});
    std::fill(arr.mutable_data(), arr.mutable_data() + arr.size(), int32_t{0});
    c = arr.mutable_data();
    counts = arr;
  }
  std::vector<std::vector<T>> per_feature(static_cast<size_t>(F));
  {
    py::gil_scoped_release release;
    dr::zoom_pass<T>(samples_view<T>(x), maps.lo, maps.scale, maps.eps_bits, buckets, zb, bits,
                     zoom_cells, c, wanted, per_feature.data());
  }
  if (wanted == nullptr) return py::make_tuple(counts, py::none(), py::none());
  const auto [values, sizes] = concatenated(per_feature);
  return py::make_tuple(counts, values, sizes);
}

py::tuple zoom_pass(const py::array& x, const py::array& lo, const py::array& scale,
                    const py::array& eps_bits, int64_t buckets, const py::array& zoom_base,
                    int bits, int64_t zoom_cells, bool count, const py::object& wanted) {
  require_float_2d(x, "x");
  const py::ssize_t F = x.shape(0);
  const Maps maps = check_maps(lo, scale, eps_bits, F, buckets);
  if (zoom_cells < 0) throw py::value_error("zoom_cells: expected >= 0");
  if (x.shape(1) >= (py::ssize_t{1} << 31)) {
    throw py::value_error("x: at most 2^31 - 1 samples a call, got a " + describe(x));
  }
  const int32_t* zb = check_zoom(zoom_base, F, buckets, bits, zoom_cells);
  const uint8_t* w = nullptr;
  py::array wanted_array;
  if (!wanted.is_none()) {
    wanted_array = wanted.cast<py::array>();
    require<uint8_t>(wanted_array, "wanted", 2);
    if (wanted_array.shape(0) != F || wanted_array.shape(1) != zoom_cells) {
      throw py::value_error("wanted: expected (features, zoom_cells) flags, got a " +
                            describe(wanted_array));
    }
    w = static_cast<const uint8_t*>(wanted_array.data());
  }
  if (has_dtype<float>(x)) return zoom_pass_typed<float>(x, maps, buckets, zb, bits, zoom_cells, count, w);
  return zoom_pass_typed<double>(x, maps, buckets, zb, bits, zoom_cells, count, w);
}

py::array_t<double> zoom_edges(const py::array& lo, const py::array& scale,
                               const py::array& eps_bits, int64_t buckets, int bits,
                               const py::array& feature, const py::array& bucket,
                               const py::array& sub) {
  const py::ssize_t F = lo.ndim() == 1 ? lo.shape(0) : 0;
  const Maps maps = check_maps(lo, scale, eps_bits, F, buckets);
  check_bits(bits);
  require<int64_t>(feature, "feature", 1);
  require<int64_t>(bucket, "bucket", 1);
  require<int64_t>(sub, "sub", 1);
  const py::ssize_t n = feature.shape(0);
  if (bucket.shape(0) != n || sub.shape(0) != n) {
    throw py::value_error("feature, bucket, sub: expected equal lengths");
  }
  const auto* fv = static_cast<const int64_t*>(feature.data());
  const auto* bv = static_cast<const int64_t*>(bucket.data());
  const auto* sv = static_cast<const int64_t*>(sub.data());
  for (py::ssize_t q = 0; q < n; ++q) {
    if (fv[q] < 0 || fv[q] >= F || bv[q] < 0 || bv[q] >= buckets || sv[q] < 0 ||
        sv[q] >= (int64_t{1} << bits)) {
      throw py::value_error("feature, bucket, sub: entry " + std::to_string(q) + " out of range");
    }
  }
  py::array_t<double> edges(n);
  dr::zoom_edges(maps.lo, maps.scale, maps.eps_bits, buckets, bits, fv, bv, sv, n,
                 edges.mutable_data());
  return edges;
}

}  // namespace

void bind_drift_cells(py::module_& m) {
  m.def("drift_zoom_pass", &zoom_pass, py::arg("x").noconvert(), py::arg("lo").noconvert(),
        py::arg("scale").noconvert(), py::arg("eps_bits").noconvert(), py::arg("buckets"),
        py::arg("zoom_base").noconvert(), py::arg("bits"), py::arg("zoom_cells"),
        py::kw_only(), py::arg("count") = true, py::arg("wanted") = py::none(),
        "Zoomed bucket cells (open buckets split into 2^bits sub-buckets; zoom_base "
        "(features, buckets + 1) int32: each bucket's first zoomed cell or -1): the counts of "
        "the zoomed cells (features, zoom_cells) when count, and the values of the cells "
        "flagged in wanted (uint8, (features, zoom_cells)) feature by feature. Returns "
        "(counts (int32) or None, values or None, sizes or None). One thread.");
  m.def("drift_zoom_edges", &zoom_edges, py::arg("lo").noconvert(), py::arg("scale").noconvert(),
        py::arg("eps_bits").noconvert(), py::arg("buckets"), py::arg("bits"),
        py::arg("feature").noconvert(), py::arg("bucket").noconvert(), py::arg("sub").noconvert(),
        "The lower edge (smallest double) of each zoomed cell (feature, bucket, sub-bucket).");
  m.def("drift_cell_counts_by_bucket", &cell_counts_by_bucket, py::arg("x").noconvert(),
        py::arg("edges").noconvert(), py::arg("lo").noconvert(), py::arg("scale").noconvert(),
        py::arg("eps_bits").noconvert(), py::arg("buckets"), py::arg("bucket_cells").noconvert(),
        py::kw_only(), py::arg("extremes") = true,
        "drift_cell_counts for cells refining the maps' buckets: bucket_cells (features, "
        "buckets + 1, 2) int32 gives each bucket's {first, last} cells; {cell, -1}: all its "
        "values are counted there (no extremes), else each is searched among edges "
        "first .. last - 1 only. The NaN bucket's entry is {m + 1, -1}. One thread.");
  m.def("drift_bucket_maps", &bucket_maps, py::arg("sample").noconvert(), py::arg("buckets"),
        "Each feature's bucket map, fitted to a (features, n) float64 sample (NaNs skipped) as "
        "the bucketed KS statistic fits it: (lo, scale, eps_bits).");
  m.def("drift_bucket_edges", &bucket_edges, py::arg("lo").noconvert(),
        py::arg("scale").noconvert(), py::arg("eps_bits").noconvert(), py::arg("buckets"),
        py::arg("workers") = py::none(),
        "The maps' buckets as cells: (features, buckets - 1) edges, the smallest double of "
        "buckets 1 .. buckets - 1, so that drift_cell_counts with them gives drift_bucket_counts.");
  m.def("drift_bucket_counts", &bucket_counts, py::arg("x").noconvert(),
        py::arg("lo").noconvert(), py::arg("scale").noconvert(), py::arg("eps_bits").noconvert(),
        py::arg("buckets"),
        "Per feature row of x (features, samples < 2^31): its values counted into the map's "
        "buckets, NaN last (features, buckets + 1) int32, by the bucketed statistic's vector "
        "sweep; one thread.");
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
