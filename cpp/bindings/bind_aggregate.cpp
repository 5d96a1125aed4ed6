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

// L layers of K client rows each (every layer checked like one row list), flattened to the
// kernels' Layers view, with one output array per layer.
template <typename T>
struct LayerTables {
  std::vector<py::array> keep;
  std::vector<const T*> rows;
  std::vector<std::size_t> p;
  std::vector<T*> outs;
  py::list results;

  explicit LayerTables(const py::list& layers) {
    if (layers.size() == 0) throw py::value_error("layers: expected at least one layer, got none");
    std::size_t k = 0;
    for (std::size_t l = 0; l < layers.size(); ++l) {
      if (!py::isinstance<py::list>(layers[l])) {
        throw py::type_error("layers[" + std::to_string(l) + "]: expected a list of client rows");
      }
      const py::list layer = layers[l].cast<py::list>();
      if (l == 0) k = layer.size();
      if (layer.size() != k) {
        throw py::value_error("layers[" + std::to_string(l) + "]: expected " + std::to_string(k) +
                              " client rows like layers[0], got " + std::to_string(layer.size()));
      }
      std::size_t n = 0;
      for (const T* r : row_pointers<T>(layer, keep, n)) rows.push_back(r);
      p.push_back(n);
      py::array_t<T> out(static_cast<py::ssize_t>(n));
      outs.push_back(out.mutable_data());
      results.append(out);
    }
  }

  ag::Layers<T> view() const { return {rows.data(), p.data(), p.size(), rows.size() / p.size()}; }
};

template <typename T>
py::tuple rank_mean_typed(const py::list& layers, std::size_t lo, std::size_t hi, int threads) {
  LayerTables<T> t(layers);
  const std::size_t k = t.rows.size() / t.p.size();
  if (!(lo < hi && hi <= k)) {
    throw py::value_error("ranks: expected 0 <= lo < hi <= " + std::to_string(k) +
                          ", got lo=" + std::to_string(lo) + ", hi=" + std::to_string(hi));
  }
  ag::Status s;
  {
    py::gil_scoped_release release;
    s = ag::rank_mean<T>(t.view(), lo, hi, t.outs.data(), threads);
  }
  return py::make_tuple(t.results, static_cast<int>(s));
}

template <typename T>
py::tuple weighted_mean_typed(const py::list& layers, const py::object& weights, int threads) {
  LayerTables<T> t(layers);
  const std::size_t k = t.rows.size() / t.p.size();
  const double* w = nullptr;
  py::array wa;
  if (!weights.is_none()) {
    wa = weights.cast<py::array>();
    require<double>(wa, "weights", 1);
    if (static_cast<std::size_t>(wa.shape(0)) != k) {
      throw py::value_error("weights: expected " + std::to_string(k) +
                            " values (one per client), got a " + describe(wa));
    }
    w = static_cast<const double*>(wa.data());
  }
  ag::Status s;
  {
    py::gil_scoped_release release;
    s = ag::weighted_mean<T>(t.view(), w, t.outs.data(), threads);
  }
  return py::make_tuple(t.results, static_cast<int>(s));
}

// The first layer's dtype decides (every row is then checked against it).
bool layers_f32(const py::list& layers) {
  if (layers.size() == 0 || !py::isinstance<py::list>(layers[0])) {
    throw py::type_error("layers: expected a non-empty list of lists of client rows");
  }
  return is_f32(layers[0].cast<py::list>());
}

// One layer through the layers entry: (out, status).
py::tuple first_layer(const py::tuple& r) {
  return py::make_tuple(r[0].cast<py::list>()[0], r[1]);
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
      "aggregate_rank_mean_layers",
      [](const py::list& layers, std::size_t lo, std::size_t hi, const py::object& workers) {
        const int t = resolve_workers(workers);
        return layers_f32(layers) ? rank_mean_typed<float>(layers, lo, hi, t)
                                  : rank_mean_typed<double>(layers, lo, hi, t);
      },
      py::arg("layers"), py::arg("lo"), py::arg("hi"), py::kw_only(),
      py::arg("workers") = py::none(),
      "([out per layer], status): per coordinate of each layer (a list of K client rows), the "
      "mean of the values ranked [lo, hi); all layers in one parallel pass.");
  m.def(
      "aggregate_rank_mean",
      [](const py::list& rows, std::size_t lo, std::size_t hi, const py::object& workers) {
        const int t = resolve_workers(workers);
        py::list layers;
        layers.append(rows);
        return first_layer(is_f32(rows) ? rank_mean_typed<float>(layers, lo, hi, t)
                                        : rank_mean_typed<double>(layers, lo, hi, t));
      },
      py::arg("rows"), py::arg("lo"), py::arg("hi"), py::kw_only(), py::arg("workers") = py::none(),
      "(out, status): per coordinate, the mean of the values ranked [lo, hi) among the rows.");
  m.def(
      "aggregate_weighted_mean_layers",
      [](const py::list& layers, const py::object& weights, const py::object& workers) {
        const int t = resolve_workers(workers);
        return layers_f32(layers) ? weighted_mean_typed<float>(layers, weights, t)
                                  : weighted_mean_typed<double>(layers, weights, t);
      },
      py::arg("layers"), py::arg("weights") = py::none(), py::kw_only(),
      py::arg("workers") = py::none(),
      "([out per layer], status): sum_i w_i rows[i] / sum_i w_i for each layer, in one pass.");
  m.def(
      "aggregate_weighted_mean",
      [](const py::list& rows, const py::object& weights, const py::object& workers) {
        const int t = resolve_workers(workers);
        py::list layers;
        layers.append(rows);
        return first_layer(is_f32(rows) ? weighted_mean_typed<float>(layers, weights, t)
                                        : weighted_mean_typed<double>(layers, weights, t));
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
