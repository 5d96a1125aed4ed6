// Bindings for the vote kernel family: argument checks, GIL release, nothing else.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>

#include "checks.hpp"
#include "pipeward/vote.hpp"

namespace py = pybind11;

namespace pipeward::bind {
namespace {

template <typename L>
std::size_t run(const py::array& labels, std::size_t n, std::size_t k, std::size_t c,
                py::array_t<std::int32_t>& counts, py::array_t<std::int64_t>& pred,
                py::array_t<std::int64_t>& radius, int threads) {
  const L* data = static_cast<const L*>(labels.data());
  std::int32_t* cp = counts.mutable_data();
  std::int64_t* pp = pred.mutable_data();
  std::int64_t* rp = radius.mutable_data();
  py::gil_scoped_release release;
  return vote::count_votes<L>(data, n, k, c, cp, pp, rp, threads);
}

py::tuple count_votes(const py::array& labels, py::ssize_t n_classes, const py::object& workers) {
  if (labels.ndim() != 2) {
    throw py::value_error("labels: expected a 2-d array (rows x partitions), got a " + describe(labels));
  }
  if (!is_c_contiguous(labels)) {
    throw py::value_error("labels: expected a C-contiguous array, got a non-contiguous " + describe(labels));
  }
  if (n_classes < 1 || n_classes > (1 << 24)) {
    throw py::value_error("n_classes: expected 1 to 2**24, got " + std::to_string(n_classes));
  }
  const auto n = static_cast<std::size_t>(labels.shape(0));
  const auto k = static_cast<std::size_t>(labels.shape(1));
  const auto c = static_cast<std::size_t>(n_classes);
  const int threads = resolve_workers(workers);
  py::array_t<std::int32_t> counts({labels.shape(0), n_classes});
  py::array_t<std::int64_t> pred(labels.shape(0));
  py::array_t<std::int64_t> radius(labels.shape(0));
  std::size_t bad;
  if (has_dtype<std::uint8_t>(labels)) {
    bad = run<std::uint8_t>(labels, n, k, c, counts, pred, radius, threads);
  } else if (has_dtype<std::int16_t>(labels)) {
    bad = run<std::int16_t>(labels, n, k, c, counts, pred, radius, threads);
  } else if (has_dtype<std::int32_t>(labels)) {
    bad = run<std::int32_t>(labels, n, k, c, counts, pred, radius, threads);
  } else if (has_dtype<std::int64_t>(labels)) {
    bad = run<std::int64_t>(labels, n, k, c, counts, pred, radius, threads);
  } else {
    throw py::type_error("labels: expected a uint8, int16, int32 or int64 array, got a " + describe(labels));
  }
  if (bad != 0) {
    throw py::value_error("labels: " + std::to_string(bad) + " labels are outside [0, " +
                          std::to_string(n_classes) + ")");
  }
  return py::make_tuple(counts, pred, radius);
}

}  // namespace

void bind_vote(py::module_& m) {
  m.def("vote_count", &count_votes, py::arg("labels").noconvert(), py::arg("n_classes"),
        py::arg("workers") = py::none(),
        "Per row of an n x k label matrix: vote counts (n x n_classes int32), the plurality label "
        "(ties to the smaller) and the DPA certified radius.");
}

}  // namespace pipeward::bind
