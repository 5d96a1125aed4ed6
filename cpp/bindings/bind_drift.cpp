// Bindings for the drift kernel family: argument checks, GIL release, nothing else.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <string>

#include "checks.hpp"
#include "drift_views.hpp"
#include "pipeward/drift.hpp"

namespace py = pybind11;

namespace pipeward::bind {

namespace {

namespace dr = pipeward::drift;

// The named results (checks.hpp), made in bind_drift.
const NamedResult* ks_arrays = nullptr;          // per-feature ks_2samp arrays
const NamedResult* reference_buckets_of = nullptr;  // a fitted reference's bucket maps

// The (lo, scale, eps_bits, ends) tuple of drift_ks_reference_buckets, checked against x1 and
// the bucket count the kernel will use for these sample sizes.
dr::ReferenceBuckets reference_view(const py::object& buckets, py::ssize_t features,
                                    int64_t n1, int64_t n2) {
  const auto parts = buckets.cast<py::tuple>();
  if (parts.size() != 4) {
    throw py::value_error("x1_buckets: expected the 4-tuple from drift_ks_reference_buckets");
  }
  const auto lo = parts[0].cast<py::array>(), scale = parts[1].cast<py::array>(),
             eps = parts[2].cast<py::array>(), ends = parts[3].cast<py::array>();
  require<double>(lo, "x1_buckets lo", 1);
  require<double>(scale, "x1_buckets scale", 1);
  require<int64_t>(eps, "x1_buckets eps_bits", 1);
  require<int64_t>(ends, "x1_buckets ends", 2);
  const int64_t count = dr::ks_bucket_count(n1, n2);
  if (lo.shape(0) != features || scale.shape(0) != features || eps.shape(0) != features ||
      ends.shape(0) != features || ends.shape(1) != count) {
    throw py::value_error("x1_buckets: made for other sizes; these samples need " +
                          std::to_string(features) + " features x " + std::to_string(count) +
                          " buckets, got ends as a " + describe(ends));
  }
  return {count, static_cast<const double*>(lo.data()), static_cast<const double*>(scale.data()),
          static_cast<const int64_t*>(eps.data()), static_cast<const int64_t*>(ends.data())};
}

template <typename T>
py::object ks_typed(const py::array& x1, const py::array& x2, dr::Alternative alt,
                    dr::Method method, bool omit_nan,
                   int threads, bool x1_sorted, bool x2_sorted, const py::object& x1_buckets) {
  dr::Samples<T> a = samples_view<T>(x1), b = samples_view<T>(x2);
  for (auto* x : {&a, &b}) {
    const bool sorted = x == &a ? x1_sorted : x2_sorted;
    if (sorted && x->sample_stride != 1 && x->n > 1) {
      throw py::value_error("a presorted sample must have contiguous rows (C order)");
    }
    x->presorted = sorted;
  }
  const py::ssize_t F = a.n_features;
  py::array_t<double> stat(F), p(F), loc(F), sign(F);
  py::array_t<int64_t> n1(F), n2(F);
  py::array_t<int32_t> status(F);
  dr::KsOut out{stat.mutable_data(), p.mutable_data(), loc.mutable_data(), sign.mutable_data(),
                n1.mutable_data(), n2.mutable_data(), status.mutable_data()};
  dr::ReferenceBuckets reference{};
  const bool with_reference = !x1_buckets.is_none();
  if (with_reference) {
    if (!x1_sorted || x2_sorted || !dr::ks_bucketed_applies(a.n, b.n)) {
      throw py::value_error("x1_buckets: only for a sorted x1 against an unsorted x2 that the "
                            "bucketed statistic takes (see drift_ks_bucketed)");
    }
    reference = reference_view(x1_buckets, F, a.n, b.n);
  }
  {
    py::gil_scoped_release release;
    dr::ks_2samp<T>(a, b, alt, method, omit_nan, out, threads,
                    with_reference ? &reference : nullptr);
  }
  return (*ks_arrays)(py::arg("statistic") = stat, py::arg("pvalue") = p,
                          py::arg("location") = loc, py::arg("sign") = sign, py::arg("n1") = n1,
                          py::arg("n2") = n2, py::arg("status") = status);
}

// An enum made from an int is not checked by pybind11.
void require_known(dr::Alternative alternative) {
  if (static_cast<int>(alternative) < 0 || static_cast<int>(alternative) > 2) {
    throw py::value_error("alternative must be a KsAlternative (0, 1 or 2)");
  }
}

py::object ks_2samp(const py::array& x1, const py::array& x2, dr::Alternative alternative,
                    dr::Method method,
                   bool omit_nan, const py::object& workers, bool x1_sorted, bool x2_sorted,
                   const py::object& x1_buckets) {
  require_float_2d(x1, "x1");
  require_float_2d(x2, "x2");
  if (!x1.dtype().is(x2.dtype())) {
    throw py::type_error("x1 and x2 must share a dtype, got a " + describe(x1) + " and a " +
                         describe(x2));
  }
  if (x1.shape(0) != x2.shape(0)) {
    throw py::value_error("x1 and x2 must have the same number of features, got " + describe(x1) +
                          " and " + describe(x2));
  }
  require_known(alternative);
  if (static_cast<int>(method) < 0 || static_cast<int>(method) > 2) {
    throw py::value_error("method must be a KsMethod (0, 1 or 2)");
  }
  const int threads = resolve_workers(workers);
  if (has_dtype<float>(x1)) {
    return ks_typed<float>(x1, x2, alternative, method, omit_nan, threads, x1_sorted, x2_sorted,
                           x1_buckets);
  }
  return ks_typed<double>(x1, x2, alternative, method, omit_nan, threads, x1_sorted, x2_sorted,
                          x1_buckets);
}

template <typename T>
py::object reference_buckets_typed(const py::array& x1, int64_t buckets, int threads) {
  const dr::Samples<T> a = samples_view<T>(x1);
  const py::ssize_t F = a.n_features;
  py::array_t<double> lo(F), scale(F);
  py::array_t<int64_t> eps(F);
  py::array_t<int64_t> ends({F, static_cast<py::ssize_t>(buckets)});
  {
    py::gil_scoped_release release;
    dr::ks_reference_buckets<T>(a, buckets, lo.mutable_data(), scale.mutable_data(),
                                eps.mutable_data(), ends.mutable_data(), threads);
  }
  return (*reference_buckets_of)(py::arg("lo") = lo, py::arg("scale") = scale,
                                py::arg("eps_bits") = eps, py::arg("ends") = ends);
}

py::object reference_buckets(const py::array& x1, int64_t n2, const py::object& workers) {
  require_float_2d(x1, "x1");
  if (!is_c_contiguous(x1)) {
    throw py::value_error("x1: expected sorted rows in a C-contiguous array, got a " +
                          describe(x1));
  }
  if (!dr::ks_bucketed_applies(x1.shape(1), n2)) {
    throw py::value_error("drift_ks_reference_buckets: samples of " +
                          std::to_string(x1.shape(1)) + " and " + std::to_string(n2) +
                          " values are not bucketed (see drift_ks_bucketed)");
  }
  const int threads = resolve_workers(workers);
  const int64_t buckets = dr::ks_bucket_count(x1.shape(1), n2);
  if (has_dtype<float>(x1)) return reference_buckets_typed<float>(x1, buckets, threads);
  return reference_buckets_typed<double>(x1, buckets, threads);
}

template <typename T>
py::array gather_typed(const py::array& x, int threads) {
  const dr::Samples<T> s = samples_view<T>(x);
  py::array_t<T> out({s.n_features, s.n});
  T* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    dr::gather_rows<T>(s, o, threads);
  }
  return std::move(out);
}

py::array gather_rows(const py::array& x, const py::object& workers) {
  require_float_2d(x, "x");
  const int threads = resolve_workers(workers);
  return has_dtype<float>(x) ? gather_typed<float>(x, threads) : gather_typed<double>(x, threads);
}

template <typename T>
void psi_typed(const py::array& x, const double* e, int64_t k, int64_t* c, int threads) {
  const dr::Samples<T> s = samples_view<T>(x);
  py::gil_scoped_release release;
  dr::psi_counts<T>(s, e, k, k, c, threads);
}

py::array_t<int64_t> psi_counts(const py::array& x, const py::array& edges,
                                const py::object& workers) {
  require_float_2d(x, "x");
  require<double>(edges, "edges", 2);
  if (edges.shape(0) != x.shape(0)) {
    throw py::value_error("edges: expected one row of edges per feature (" +
                          std::to_string(x.shape(0)) + "), got a " + describe(edges));
  }
  const int64_t k = edges.shape(1);
  const double* e = static_cast<const double*>(edges.data());
  for (int64_t i = 0; i < edges.shape(0) * k; ++i) {
    if (std::isnan(e[i])) throw py::value_error("edges: contains NaN");
    if (i % k != 0 && !(e[i - 1] <= e[i])) {
      throw py::value_error("edges: each feature's edges must be non-decreasing");
    }
  }
  const int threads = resolve_workers(workers);
  py::array_t<int64_t> counts({static_cast<py::ssize_t>(x.shape(0)), static_cast<py::ssize_t>(k + 2)});
  std::fill(counts.mutable_data(), counts.mutable_data() + counts.size(), int64_t(0));
  int64_t* c = counts.mutable_data();
  if (has_dtype<float>(x)) psi_typed<float>(x, e, k, c, threads);
  else psi_typed<double>(x, e, k, c, threads);
  return counts;
}

}  // namespace

void bind_drift(py::module_& m) {
  // The family's definitions (pipeward/drift.hpp), for Python to read rather than retype. The
  // enums also take their int values, as the CUDA kernels do.
  py::enum_<dr::Alternative>(m, "KsAlternative", "ks_2samp's alternative hypotheses.")
      .value("two_sided", dr::Alternative::two_sided)
      .value("less", dr::Alternative::less)
      .value("greater", dr::Alternative::greater);
  py::enum_<dr::Method>(m, "KsMethod", "ks_2samp's p-value methods.")
      .value("auto", dr::Method::automatic)
      .value("exact", dr::Method::exact)
      .value("asymp", dr::Method::asymp);
  py::enum_<dr::KsStatus>(m, "KsStatus", "Why a feature's KS p-value is not what was asked.")
      .value("ok", dr::KsStatus::ok)
      .value("lcm_too_large", dr::KsStatus::lcm_too_large)
      .value("exact_failed", dr::KsStatus::exact_failed)
      .value("nan_input", dr::KsStatus::nan_input)
      .value("empty", dr::KsStatus::empty)
      .value("host_exact", dr::KsStatus::host_exact)
      .value("host_asymp", dr::KsStatus::host_asymp);
  py::implicitly_convertible<py::int_, dr::Alternative>();
  py::implicitly_convertible<py::int_, dr::Method>();
  m.attr("drift_ks_max_auto_n") = dr::kMaxAutoN;
  static const NamedResult ks_arrays_type(
      m, "KsArrays", {"statistic", "pvalue", "location", "sign", "n1", "n2", "status"},
      "Per-feature ks_2samp arrays: statistic, pvalue, location, sign (+1/-1), n1, n2 (sizes "
      "used), status (KsStatus codes, int32).");
  static const NamedResult buckets_type(
      m, "KsReferenceBuckets", {"lo", "scale", "eps_bits", "ends"},
      "A fitted reference's bucket maps (per feature) and run ends (features x buckets), from "
      "drift_ks_reference_buckets: pass as x1_buckets.");
  ks_arrays = &ks_arrays_type;
  reference_buckets_of = &buckets_type;

  m.def("drift_ks_2samp", &ks_2samp, py::arg("x1").noconvert(), py::arg("x2").noconvert(),
        py::arg("alternative"), py::arg("method"), py::arg("omit_nan"), py::arg("workers") = py::none(),
        py::arg("x1_sorted") = false, py::arg("x2_sorted") = false,
        py::arg("x1_buckets") = py::none(),
        "Batched two-sample KS over (features, samples) views; alternative and method are "
        "KsAlternative / KsMethod (or their ints); xi_sorted: rows already ascending with "
        "NaNs last (np.sort order); x1_buckets: drift_ks_reference_buckets(x1, n2) for a fitted "
        "x1. Returns KsArrays.");
  m.def("drift_ks_reference_buckets", &reference_buckets, py::arg("x1").noconvert(),
        py::arg("n2"), py::arg("workers") = py::none(),
        "For sorted rows x1 (a fitted reference) and windows of n2 values: each feature's "
        "bucket map and run ends, KsReferenceBuckets(lo, scale, eps_bits, ends), to pass as "
        "x1_buckets.");
  m.def("drift_ks_bucketed", &dr::ks_bucketed_applies, py::arg("n1"), py::arg("n2"),
        "Whether drift_ks_2samp takes samples of these sizes unsorted (its bucketed statistic); "
        "otherwise it sorts them itself, more slowly than NumPy.");
  m.def("drift_gather_rows", &gather_rows, py::arg("x").noconvert(), py::arg("workers") = py::none(),
        "Copy a (features, samples) view of any strides into a C-ordered array, in cache tiles.");
  m.def("drift_psi_counts", &psi_counts, py::arg("x").noconvert(), py::arg("edges").noconvert(),
        py::arg("workers") = py::none(),
        "Histogram each feature row into k+1 bins cut at its k interior edges, plus a NaN bin.");
  m.def("drift_ks_exact_pvalue", [](int64_t n1, int64_t n2, int64_t h, dr::Alternative alternative) {
        if (n1 <= 0 || n2 <= 0 || h < 0) throw py::value_error("need n1, n2 > 0 and h >= 0");
        require_known(alternative);
        double p;
        bool ok;
        {
          py::gil_scoped_release release;
          ok = dr::ks_exact_pvalue(n1, n2, h, alternative, &p);
        }
        return py::make_tuple(ok, p);
      }, py::arg("n1"), py::arg("n2"), py::arg("h"), py::arg("alternative"),
      "Exact P(D >= h / lcm(n1, n2)); returns (success, p) as scipy's attempt does.");
  m.def("drift_ks_asymp_pvalue",
        [](int64_t n1, int64_t n2, double d, dr::Alternative alternative) {
          if (n1 <= 0 || n2 <= 0) throw py::value_error("need n1, n2 > 0");
          require_known(alternative);
          return dr::ks_asymp_pvalue(n1, n2, d, alternative);
        },
        py::arg("n1"), py::arg("n2"), py::arg("d"), py::arg("alternative"),
        "scipy's asymptotic ks_2samp p-value in [0, 1] (NaN stays NaN).");
  m.def("drift_kolmogn_sf", [](double n, double x) { return dr::kolmogn_sf(n, x); },
        py::arg("n"), py::arg("x"), "scipy.stats.kstwo.sf(x, n).");
  m.def("drift_smirnov_sf", [](int64_t n, double x) { return dr::smirnov_sf(n, x); },
        py::arg("n"), py::arg("x"), "scipy.special.smirnov(n, x).");
}

}  // namespace pipeward::bind
