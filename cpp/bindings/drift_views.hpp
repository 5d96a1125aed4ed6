// What the drift bindings (bind_drift.cpp, bind_drift_cells.cpp) share: the check of a
// (features, samples) float array and the no-copy Samples view of it.
#pragma once

#include <pybind11/numpy.h>

#include <string>

#include "checks.hpp"
#include "pipeward/drift.hpp"

namespace pipeward::bind {

// Samples view of a 2-d (features, samples) array of any strides; no copy.
template <typename T>
drift::Samples<T> samples_view(const pybind11::array& a) {
  drift::Samples<T> s;
  s.data = static_cast<const T*>(a.data());
  s.n_features = a.shape(0);
  s.n = a.shape(1);
  s.feature_stride = a.strides(0) / static_cast<pybind11::ssize_t>(sizeof(T));
  s.sample_stride = a.strides(1) / static_cast<pybind11::ssize_t>(sizeof(T));
  return s;
}

// TypeError/ValueError unless `a` is a 2-d float32/float64 array of whole-element strides.
inline void require_float_2d(const pybind11::array& a, const char* name) {
  if (!has_dtype<float>(a) && !has_dtype<double>(a)) {
    throw pybind11::type_error(std::string(name) + ": expected a float32 or float64 array, got a " +
                               describe(a));
  }
  if (a.ndim() != 2) {
    throw pybind11::value_error(std::string(name) +
                                ": expected a 2-d (features, samples) array, got a " + describe(a));
  }
  if (a.strides(0) % static_cast<pybind11::ssize_t>(a.itemsize()) != 0 ||
      a.strides(1) % static_cast<pybind11::ssize_t>(a.itemsize()) != 0) {
    throw pybind11::value_error(std::string(name) + ": strides must be whole elements, got a " +
                                describe(a));
  }
}

}  // namespace pipeward::bind
