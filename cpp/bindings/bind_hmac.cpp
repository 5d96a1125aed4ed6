// Bindings for batched HMAC-SHA256 tokens: argument checks, gathering Python strings into one
// buffer (with the GIL), then the kernel without it, overlapped block by block for sequences.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
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

// The buffer is plain heap memory, not NumPy's: NumPy advises the kernel to back large arrays
// with transparent huge pages, and where the kernel then compacts memory at the first touch
// (defrag=madvise, as on this project's VMs) a fresh 640 MB token buffer stalled 1-1.5 s.
// The kernel writes every byte, so the buffer is not cleared first.
py::array tokens_array(size_t n, int width) {
  const size_t bytes = std::max<size_t>(n * static_cast<size_t>(width), 1);
  char* buffer = new char[bytes];
  py::capsule owner(buffer, [](void* p) { delete[] static_cast<char*>(p); });
  return py::array(py::dtype("S" + std::to_string(width)),
                   std::vector<py::ssize_t>{static_cast<py::ssize_t>(n)},
                   std::vector<py::ssize_t>{static_cast<py::ssize_t>(width)}, buffer, owner);
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
// one buffer, with the GIL held, so the kernel never reads a Python object. The sequence may be
// the caller's own list, which other threads could resize while the GIL was released: its size
// is checked again first.
void gather(PyObject* fast, size_t n, size_t lo, size_t m, int width, Block& b) {
  if (static_cast<size_t>(PySequence_Fast_GET_SIZE(fast)) != n) {
    throw std::runtime_error("tokenize: the list changed size while it was being tokenized");
  }
  b.lo = lo;
  b.m = m;
  b.offsets.resize(m + 1);
  b.missing.assign(m, 0);
  b.hex.resize(m * static_cast<size_t>(width));
  b.data.clear();
  b.offsets[0] = 0;
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

// Hashes one published block at a time, in chunks that the calling thread and an optional
// helper thread claim in turn: the helper hashes while the calling thread does the Python-side
// work, and the calling thread joins in as soon as that is done, so neither waits while the
// other still has work. One helper lives for the whole call (a thread started per block was
// often scheduled behind the calling thread, and the stages then ran one after the other).
class BlockHasher {
 public:
  BlockHasher(const hm::Key& key, int width, bool helper) : key_(key), width_(width) {
    if (helper) helper_ = std::thread([this] { serve(); });
  }
  BlockHasher(const BlockHasher&) = delete;
  BlockHasher& operator=(const BlockHasher&) = delete;
  ~BlockHasher() {  // also on an exception: the helper finishes its chunk, then stops
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    work_.notify_all();
    if (helper_.joinable()) helper_.join();
  }

  // Publishes b (gathered, not hashed) for hashing; the previous block must be finished.
  void start(Block* b) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      block_ = b;
      next_ = done_ = 0;
      chunks_ = (b->m + kChunk - 1) / kChunk;
    }
    work_.notify_one();
  }

  // Hashes what is left of the published block, then waits for the helper's last chunk.
  void finish() {
    if (block_ == nullptr) return;
    hash_chunks();
    std::unique_lock<std::mutex> lock(mu_);
    finished_.wait(lock, [this] { return done_ == chunks_; });
    block_ = nullptr;
  }

 private:
  // Large enough for 16 AVX-512 lanes and the lock to cost nothing, small enough to share.
  static constexpr size_t kChunk = 1024;

  void serve() {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        work_.wait(lock, [this] { return stop_ || (block_ != nullptr && next_ < chunks_); });
        if (stop_) return;
      }
      hash_chunks();
    }
  }

  void hash_chunks() {
    for (;;) {
      Block* b = nullptr;
      size_t c = 0;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stop_ || block_ == nullptr || next_ == chunks_) return;
        b = block_;
        c = next_++;
      }
      const size_t lo = c * kChunk, m = std::min(kChunk, b->m - lo);
      hm::hex_tokens(key_, b->data.data(), b->offsets.data() + lo, m, width_,
                     b->hex.data() + lo * static_cast<size_t>(width_), 1);
      bool last = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        last = ++done_ == chunks_;
      }
      if (last) finished_.notify_all();
    }
  }

  const hm::Key& key_;
  const int width_;
  std::mutex mu_;
  std::condition_variable work_, finished_;
  Block* block_ = nullptr;  // the published block, until finish()
  size_t next_ = 0, done_ = 0, chunks_ = 0;
  bool stop_ = false;
  std::thread helper_;
};

// Tokens of a sequence of str, block by block, in a pipeline: while block j is hashed off the
// GIL (by the helper thread), the calling thread, holding the GIL, makes block j - 1's str
// objects and gathers block j + 1, then helps finish block j. Only one thread may do the
// Python-object work, so that is what the calling thread does first.
py::list tokens_of_sequence(const py::bytes& key, const py::object& values, int width,
                            const py::object& workers) {
  check_width(width);
  const py::object fast = py::reinterpret_steal<py::object>(
      PySequence_Fast(values.ptr(), "tokenize: expected a sequence of str"));
  if (!fast) throw py::error_already_set();
  const auto n = static_cast<size_t>(PySequence_Fast_GET_SIZE(fast.ptr()));
  const hm::Key k = key_of(key);
  const int threads = resolve_workers(workers);
  py::list out(n);
  // Small enough that a block's bytes and hex digits stay in L2 between the stages.
  constexpr size_t kBlockMessages = size_t{1} << 14;
  std::array<Block, 2> blocks;  // one gathered then hashed while the other is emitted
  // One helper is enough: the calling thread's share of the hashing balances the two.
  BlockHasher hasher(k, width, threads > 1 && n > kBlockMessages);
  const auto finish = [&] {
    py::gil_scoped_release release;
    hasher.finish();
  };
  Block* previous = nullptr;  // hashed, its str objects not made yet
  for (size_t lo = 0, j = 0; lo < n; lo += kBlockMessages, ++j) {
    Block& b = blocks[j % blocks.size()];
    gather(fast.ptr(), n, lo, std::min(n, lo + kBlockMessages) - lo, width, b);
    finish();  // block j - 1
    hasher.start(&b);
    if (previous != nullptr) emit(*previous, width, out.ptr());
    previous = &b;
  }
  finish();
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
