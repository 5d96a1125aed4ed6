// Input checks shared by every binding. The rule (STYLE.md 5-6): take py::array without
// conversion, check dtype, shape and layout here with a message that says what arrived and
// what was wanted, and only then release the GIL around the pure C++ loop.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

namespace pipeward::bind {

namespace py = pybind11;

// "float16 array of shape (3,)"
inline std::string describe(const py::array& a) {
  std::ostringstream s;
  s << py::str(a.dtype()).cast<std::string>() << " array of shape (";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    s << a.shape(i);
    if (a.ndim() == 1 || i + 1 < a.ndim()) s << (a.ndim() == 1 ? "," : ", ");
  }
  s << ")";
  return s.str();
}

// A named result type: collections.namedtuple(name, fields), made once when the module loads
// and set as a module attribute (so Python and the stubs can name it). Results are built by
// calling it with keywords; being a tuple, a result also unpacks positionally. The type is
// held by a deliberately leaked reference: these live in statics, and a static py::object
// would be released after the interpreter has finalised.
class NamedResult {
 public:
  NamedResult(py::module_& m, const char* name, std::vector<const char*> fields, const char* doc) {
    py::list names;
    for (const char* f : fields) names.append(f);
    py::object type = py::module_::import("collections").attr("namedtuple")(name, names);
    type.attr("__module__") = m.attr("__name__");
    type.attr("__doc__") = doc;
    m.attr(name) = type;
    type_ = type.release();
  }
  template <typename... Args>
  py::object operator()(Args&&... args) const {
    return type_(std::forward<Args>(args)...);
  }

 private:
  py::handle type_;
};

// By type number and byte order, not object identity: arrays that come back from pickle or a
// memory map carry an equal but distinct dtype object, and a byte-swapped array must not pass.
template <typename T>
inline bool has_dtype(const py::array& a) {
  const py::dtype d = a.dtype();
  if (d.num() != py::dtype::of<T>().num()) return false;
  const char order = d.byteorder();
  if (order == '=' || order == '|') return true;
  const std::uint16_t probe = 1;
  const bool little = *reinterpret_cast<const unsigned char*>(&probe) == 1;
  return order == (little ? '<' : '>');
}

inline bool is_c_contiguous(const py::array& a) {
  return (a.flags() & py::array::c_style) != 0;
}

// Throws TypeError unless `a` is a C-contiguous array of dtype T with `ndim` dimensions.
template <typename T>
inline void require(const py::array& a, const char* name, py::ssize_t ndim) {
  if (!has_dtype<T>(a)) {
    throw py::type_error(std::string(name) + ": expected a " +
                         py::str(py::dtype::of<T>()).cast<std::string>() + " array, got a " +
                         describe(a));
  }
  if (a.ndim() != ndim) {
    throw py::value_error(std::string(name) + ": expected a " + std::to_string(ndim) +
                          "-d array, got a " + describe(a));
  }
  if (!is_c_contiguous(a)) {
    throw py::value_error(std::string(name) + ": expected a C-contiguous array, got a " +
                          "non-contiguous " + describe(a));
  }
}

// Number of OpenMP threads for `workers` (None / 0 -> the OpenMP default, which honours
// threadpoolctl and OMP_NUM_THREADS).
int resolve_workers(const py::object& workers);

}  // namespace pipeward::bind
