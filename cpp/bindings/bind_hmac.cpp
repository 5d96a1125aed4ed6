// Bindings for batched HMAC-SHA256 tokens: argument checks, gathering Python strings into one
// buffer (with the GIL), then the kernel without it, overlapped block by block for sequences.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <array>
#include <future>
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


// One block of a sequence's messages: their UTF-8 gathered into one buffer, and their tokens.
struct Block {
  size_t lo = 0, m = 0;
  std::vector<int64_t> offsets;
  std::vector<uint8_t> data, missing;
  std::vector<char> hex;
};

// Copies block [lo, lo + m)'s UTF-8 (direct for ASCII, CPython's cached UTF-8 otherwise) into
// one buffer, with the GIL held, so the kernel never reads a Python object.
void gather(PyObject* fast, size_t lo, size_t m, Block& b) {
  b.lo = lo;
  b.m = m;
  b.offsets.assign(m + 1, 0);
  b.missing.assign(m, 0);
  b.data.clear();
  for (size_t i = 0; i < m; ++i) {
    PyObject* item = PySequence_Fast_GET_ITEM(fast, static_cast<Py_ssize_t>(lo + i));
    Py_ssize_t len = 0;
    if (item == Py_None) {
      b.missing[i] = 1;
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
      if (len > 0) b.data.insert(b.data.end(), utf8, utf8 + len);
    }
    b.offsets[i + 1] = b.offsets[i] + len;
  }
}

// Turns a hashed block's hex digits into str objects in out[lo, lo + m) (GIL held).
void emit(const Block& b, int width, PyObject* out) {
  const auto w = static_cast<size_t>(width);
  for (size_t i = 0; i < b.m; ++i) {
    PyObject* token = Py_None;
    if (b.missing[i]) {
      Py_INCREF(token);
    } else {
      token = PyUnicode_New(static_cast<Py_ssize_t>(width), 127);
      if (token == nullptr) throw py::error_already_set();
      std::memcpy(PyUnicode_1BYTE_DATA(token), b.hex.data() + i * w, w);
    }
    PyList_SET_ITEM(out, static_cast<Py_ssize_t>(b.lo + i), token);
  }
}

// Tokens of a sequence of str, block by block, in a pipeline: while block j is hashed off the
// GIL on a second thread, the calling thread (holding it) gathers block j + 1 and makes block j - 1's str objects,
// so the Python-object work, which only one thread may do, overlaps the hashing. With one
// worker the hash runs in the calling thread (deferred), one block after the other.
py::list tokens_of_sequence(const py::bytes& key, const py::object& values, int width,
                            const py::object& workers) {
  check_width(width);
  const py::object fast = py::reinterpret_steal<py::object>(
      PySequence_Fast(values.ptr(), "tokenize: expected a sequence of str"));
  if (!fast) throw py::error_already_set();
  const auto n = static_cast<size_t>(PySequence_Fast_GET_SIZE(fast.ptr()));
  const hm::Key k = key_of(key);
  const int threads = resolve_workers(workers);
  // One hashing thread is enough: the calling thread's Python side (~120 ns a value) is the
  // slower stage on every path, and one thread keeps no OpenMP team waking per block.
  const auto policy = threads > 1 ? std::launch::async : std::launch::deferred;
  py::list out(n);
  // Small enough that a block's bytes and hex digits stay in L2 between the stages.
  constexpr size_t kBlockMessages = size_t{1} << 14;
  std::array<Block, 2> blocks;  // one gathered then hashed while the other is emitted
  const auto hash = [&](Block* b) {
    b->hex.resize(b->m * static_cast<size_t>(width));
    hm::hex_tokens(k, b->data.data(), b->offsets.data(), b->m, width, b->hex.data(), 1);
  };
  const auto wait = [](std::future<void>& f) {
    if (!f.valid()) return;
    py::gil_scoped_release release;
    f.get();
  };
  std::future<void> hashing;  // destroyed (so waited for) before the blocks it reads
  Block* previous = nullptr;  // hashed, its str objects not made yet
  for (size_t lo = 0, j = 0; lo < n; lo += kBlockMessages, ++j) {
    Block& b = blocks[j % blocks.size()];
    gather(fast.ptr(), lo, std::min(n, lo + kBlockMessages) - lo, b);
    wait(hashing);                       // block j - 1 is hashed
    hashing = std::async(policy, hash, &b);
    if (previous != nullptr) emit(*previous, width, out.ptr());
    previous = &b;
    if (policy == std::launch::deferred) wait(hashing);
  }
  wait(hashing);
  if (previous != nullptr) emit(*previous, width, out.ptr());
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

  m.def("hmac_sha256_hex_list", &tokens_of_sequence, py::arg("key"), py::arg("values"),
        py::arg("width"), py::arg("workers") = py::none(),
        "HMAC-SHA256 hex tokens (first `width` digits) of the UTF-8 of each str of a sequence, "
        "as a list of str (None stays None).");

  m.def("hmac_selected_path", [] { return std::string(hm::selected_path()); },
        "Which path batched HMAC takes now: avx512x16, sha_ni or portable.");
}

}  // namespace pipeward::bind
