// Bindings for batched HMAC-SHA256 tokens: argument checks, gathering Python strings into one
// buffer (with the GIL), then the kernel without it.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "checks.hpp"
#include "pipeward/hmac.hpp"

namespace py = pybind11;

namespace pipeward::bind {
namespace {

namespace hm = pipeward::hmac;

hm::Key key_of(const py::bytes& key) {
  char* p = nullptr;
  Py_ssize_t len = 0;
  if (PyBytes_AsStringAndSize(key.ptr(), &p, &len) != 0) throw py::error_already_set();
  return hm::prepare_key(reinterpret_cast<const uint8_t*>(p), static_cast<size_t>(len));
}

void check_width(int width) {
  if (width < 1 || width > 64) {
    throw py::value_error("hmac tokens: length must be 1..64 hex digits, got " + std::to_string(width));
  }
}

py::array tokens_array(size_t n, int width) {
  return py::array(py::dtype("S" + std::to_string(width)),
                   std::vector<py::ssize_t>{static_cast<py::ssize_t>(n)});
}

template <typename Off>
py::array from_offsets(const py::bytes& key, const py::array& data, const py::array& offsets,
                       int width, const py::object& workers) {
  const auto n1 = static_cast<size_t>(offsets.shape(0));
  const auto* off = static_cast<const Off*>(offsets.data());
  const auto size = static_cast<int64_t>(data.shape(0));
  if (n1 == 0) throw py::value_error("hmac tokens: offsets must hold n + 1 entries, got none");
  for (size_t i = 0; i < n1; ++i) {
    if (off[i] < 0 || off[i] > size || (i > 0 && off[i] < off[i - 1])) {
      throw py::value_error("hmac tokens: offsets must be non-decreasing and inside the data "
                            "buffer; entry " + std::to_string(i) + " is " + std::to_string(off[i]));
    }
  }
  const hm::Key k = key_of(key);
  const int threads = resolve_workers(workers);
  py::array out = tokens_array(n1 - 1, width);
  char* dst = static_cast<char*>(out.mutable_data());
  const auto* bytes = static_cast<const uint8_t*>(data.data());
  {
    py::gil_scoped_release release;
    hm::hex_tokens(k, bytes, off, n1 - 1, width, dst, threads);
  }
  return out;
}

}  // namespace

void bind_hmac(py::module_& m) {
  m.def(
      "hmac_sha256_hex_offsets",
      [](const py::bytes& key, const py::array& data, const py::array& offsets, int width,
         const py::object& workers) {
        check_width(width);
        require<uint8_t>(data, "data", 1);
        if (has_dtype<int64_t>(offsets)) {
          require<int64_t>(offsets, "offsets", 1);
          return from_offsets<int64_t>(key, data, offsets, width, workers);
        }
        require<int32_t>(offsets, "offsets", 1);
        return from_offsets<int32_t>(key, data, offsets, width, workers);
      },
      py::arg("key"), py::arg("data").noconvert(), py::arg("offsets").noconvert(), py::arg("width"),
      py::arg("workers") = py::none(),
      "HMAC-SHA256 hex tokens (first `width` digits) of messages data[offsets[i]:offsets[i+1]], "
      "as an (n,) bytes array of dtype S<width>.");

  m.def(
      "hmac_sha256_hex_list",
      [](const py::bytes& key, const py::object& values, int width, const py::object& workers) {
        check_width(width);
        const py::object fast = py::reinterpret_steal<py::object>(
            PySequence_Fast(values.ptr(), "tokenize: expected a sequence of str"));
        if (!fast) throw py::error_already_set();
        const auto n = static_cast<size_t>(PySequence_Fast_GET_SIZE(fast.ptr()));
        const hm::Key k = key_of(key);
        const int threads = resolve_workers(workers);
        py::list out(n);
        // Blocks of messages small enough that the gathered bytes and the hex digits are still
        // in cache when the kernel reads them and the result strings are made from them.
        constexpr size_t kBlockMessages = size_t{1} << 18;
        std::vector<int64_t> offsets;
        std::vector<uint8_t> data, missing;
        std::vector<char> hex;
        for (size_t lo = 0; lo < n; lo += kBlockMessages) {
          const size_t m = std::min(n, lo + kBlockMessages) - lo;
          offsets.assign(m + 1, 0);
          missing.assign(m, 0);
          data.clear();
          // Each str's UTF-8 (cached by CPython; direct for ASCII) is copied into one buffer
          // with the GIL held, so the kernel never reads a Python object.
          for (size_t i = 0; i < m; ++i) {
            PyObject* item = PySequence_Fast_GET_ITEM(fast.ptr(), lo + i);
            Py_ssize_t len = 0;
            if (item == Py_None) {
              missing[i] = 1;
            } else {
              if (!PyUnicode_Check(item)) {
                throw py::type_error("tokenize: expected str values (or None), got " +
                                     std::string(Py_TYPE(item)->tp_name) + " at index " +
                                     std::to_string(lo + i));
              }
              const char* utf8;
              if (PyUnicode_IS_COMPACT_ASCII(item)) {  // ASCII is its own UTF-8: read in place
                utf8 = static_cast<const char*>(PyUnicode_DATA(item));
                len = PyUnicode_GET_LENGTH(item);
              } else {
                utf8 = PyUnicode_AsUTF8AndSize(item, &len);
                if (utf8 == nullptr) throw py::error_already_set();  // e.g. a lone surrogate
              }
              if (len > 0) data.insert(data.end(), utf8, utf8 + len);
            }
            offsets[i + 1] = offsets[i] + len;
          }
          hex.resize(m * static_cast<size_t>(width));
          {
            py::gil_scoped_release release;
            hm::hex_tokens(k, data.data(), offsets.data(), m, width, hex.data(), threads);
          }
          for (size_t i = 0; i < m; ++i) {
            PyObject* token = Py_None;
            if (missing[i]) {
              Py_INCREF(token);
            } else {
              token = PyUnicode_New(static_cast<Py_ssize_t>(width), 127);
              if (token == nullptr) throw py::error_already_set();
              std::memcpy(PyUnicode_1BYTE_DATA(token), hex.data() + i * static_cast<size_t>(width),
                          static_cast<size_t>(width));
            }
            PyList_SET_ITEM(out.ptr(), static_cast<Py_ssize_t>(lo + i), token);
          }
        }
        return out;
      },
      py::arg("key"), py::arg("values"), py::arg("width"), py::arg("workers") = py::none(),
      "HMAC-SHA256 hex tokens (first `width` digits) of the UTF-8 of each str of a sequence, "
      "as a list of str (None stays None).");

  m.def("hmac_selected_path", [] { return std::string(hm::selected_path()); },
        "Which path batched HMAC takes now: avx512x16, sha_ni or portable.");
}

}  // namespace pipeward::bind
