// Bindings for the sha256 kernel family: argument checks, GIL release, nothing else.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "checks.hpp"
#include "pipeward/sha256.hpp"

namespace py = pybind11;

namespace pipeward::bind {
namespace {

namespace sha = pipeward::sha256;

const NamedResult* file_digest_result = nullptr;  // made in bind_sha256

// Below this many bytes, dropping and retaking the GIL costs more than the hashing.
constexpr size_t kReleaseGilBytes = 4096;

std::string describe_object(py::handle obj) {
  if (py::hasattr(obj, "dtype") && py::hasattr(obj, "shape")) {
    return py::str(obj.attr("dtype")).cast<std::string>() + " array of shape " +
           py::str(obj.attr("shape")).cast<std::string>();
  }
  return py::str(py::type::handle_of(obj).attr("__name__")).cast<std::string>();
}

// True when a struct-module format string holds Python object pointers ('O'), skipping
// field names (":name:") of structured formats.
bool format_has_objects(const char* format) {
  if (format == nullptr) return false;
  bool in_name = false;
  for (const char* p = format; *p != '\0'; ++p) {
    if (*p == ':') in_name = !in_name;
    else if (!in_name && *p == 'O') return true;
  }
  return false;
}

// The raw bytes of a C-contiguous buffer (bytes, bytearray, memoryview, NumPy array of any
// dtype, ...). Held with the GIL; the export also stops a bytearray from being resized while
// the hashing runs without the GIL.
class ByteView {
 public:
  ByteView(py::handle obj, const char* who) {
    const std::string prefix = std::string(who) + ": expected a bytes-like object or a C-contiguous array, got ";
    if (PyUnicode_Check(obj.ptr())) {
      throw py::type_error(prefix + "str (encode text first, e.g. text.encode())");
    }
    if (!PyObject_CheckBuffer(obj.ptr())) throw py::type_error(prefix + describe_object(obj));
    if (PyObject_GetBuffer(obj.ptr(), &view_, PyBUF_RECORDS_RO) != 0) throw py::error_already_set();
    if (format_has_objects(view_.format)) {
      PyBuffer_Release(&view_);
      throw py::type_error(prefix + describe_object(obj) +
                           " holding Python objects (their bytes are pointers, not data)");
    }
    if (!PyBuffer_IsContiguous(&view_, 'C')) {
      PyBuffer_Release(&view_);
      throw py::value_error(prefix + "a non-contiguous " + describe_object(obj) +
                            " (make a contiguous copy first, e.g. numpy.ascontiguousarray)");
    }
  }
  ~ByteView() { PyBuffer_Release(&view_); }
  ByteView(const ByteView&) = delete;
  ByteView& operator=(const ByteView&) = delete;

  const uint8_t* data() const { return static_cast<const uint8_t*>(view_.buf); }
  size_t size() const { return static_cast<size_t>(view_.len); }

 private:
  Py_buffer view_{};
};

py::bytes to_bytes(const uint8_t (&digest)[sha::kDigestSize]) {
  return py::bytes(reinterpret_cast<const char*>(digest), sha::kDigestSize);
}

// A streaming hasher with its own lock, so concurrent update() calls never interleave inside
// the state (each update is atomic; their order is the order the lock is taken).
class Hasher {
 public:
  Hasher() { sha::init(state_); }
  Hasher(const Hasher& other) {
    std::lock_guard<std::mutex> lock(other.mu_);
    state_ = other.state_;
  }

  void update(py::handle data) {
    const ByteView view(data, "Sha256.update");
    if (view.size() >= kReleaseGilBytes) {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mu_);
      sha::update(state_, view.data(), view.size());
    } else {
      std::lock_guard<std::mutex> lock(mu_);
      sha::update(state_, view.data(), view.size());
    }
  }

  void reset() {
    std::lock_guard<std::mutex> lock(mu_);
    sha::init(state_);
  }

  py::bytes digest() const {
    sha::State copy;
    {
      std::lock_guard<std::mutex> lock(mu_);
      copy = state_;
    }
    uint8_t out[sha::kDigestSize];
    sha::finish(copy, out);
    return to_bytes(out);
  }

 private:
  mutable std::mutex mu_;
  sha::State state_;
};

// Digests of many messages: the rows of a 2-d uint8 array whose rows are contiguous, or the
// buffers of a sequence (each as sha256_digest takes it). (n, 32) uint8.
py::array_t<uint8_t> digest_batch(py::handle messages, const py::object& workers) {
  std::vector<const uint8_t*> data;
  std::vector<size_t> len;
  std::vector<std::unique_ptr<ByteView>> views;  // hold every buffer until the hashing ends
  if (py::isinstance<py::array>(messages)) {
    const auto rows = py::reinterpret_borrow<py::array>(messages);
    if (!has_dtype<uint8_t>(rows) || rows.ndim() != 2 ||
        (rows.shape(0) > 0 && rows.shape(1) > 1 && rows.strides(1) != 1)) {
      throw py::value_error("sha256_batch: expected a 2-d uint8 array with contiguous rows, got a " +
                            describe(rows));
    }
    const auto n = static_cast<size_t>(rows.shape(0));
    const auto* base = static_cast<const uint8_t*>(rows.data());
    data.resize(n);
    len.assign(n, static_cast<size_t>(rows.shape(1)));
    for (size_t i = 0; i < n; ++i) data[i] = base + static_cast<py::ssize_t>(i) * rows.strides(0);
  } else {
    if (!py::isinstance<py::sequence>(messages) || PyUnicode_Check(messages.ptr()) ||
        PyObject_CheckBuffer(messages.ptr())) {
      throw py::type_error("sha256_batch: expected a 2-d uint8 array or a sequence of "
                           "bytes-like objects, got " + describe_object(messages));
    }
    const auto seq = py::reinterpret_borrow<py::sequence>(messages);
    const auto n = static_cast<size_t>(py::len(seq));
    views.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      views.push_back(std::make_unique<ByteView>(seq[i], "sha256_batch"));
      data.push_back(views.back()->data());
      len.push_back(views.back()->size());
    }
  }
  const int threads = resolve_workers(workers);
  py::array_t<uint8_t> out({static_cast<py::ssize_t>(data.size()),
                            static_cast<py::ssize_t>(sha::kDigestSize)});
  uint8_t* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    sha::digest_many(data.data(), len.data(), data.size(), o, threads);
  }
  return out;
}

std::vector<std::string> path_list(const py::sequence& paths) {
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(py::len(paths)));
  for (py::handle p : paths) {
    if (!PyBytes_Check(p.ptr())) {
      throw py::type_error("sha256_hash_files: expected paths as bytes (os.fsencode), got " +
                           describe_object(p));
    }
    std::string s = p.cast<std::string>();
    if (s.find('\0') != std::string::npos) {
      throw py::value_error("sha256_hash_files: path contains a NUL byte: " +
                            py::repr(p).cast<std::string>());
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

void bind_sha256(py::module_& m) {
  static const NamedResult file_digest_type(
      m, "FileDigest", {"digest", "size", "mtime_ns", "errno", "changed"},
      "One file of sha256_hash_files: the 32-byte digest, the bytes hashed, st_mtime_ns after "
      "reading, an errno value (0: success; ECANCELED: skipped or cancelled), and whether the "
      "file changed while it was read.");
  file_digest_result = &file_digest_type;
  m.def(
      "sha256_digest",
      [](py::handle data) {
        const ByteView view(data, "sha256");
        uint8_t out[sha::kDigestSize];
        if (view.size() >= kReleaseGilBytes) {
          py::gil_scoped_release release;
          sha::digest(view.data(), view.size(), out);
        } else {
          sha::digest(view.data(), view.size(), out);
        }
        return to_bytes(out);
      },
      py::arg("data"), py::pos_only(),
      "SHA-256 digest (32 bytes) of a C-contiguous buffer's raw bytes.");

  m.def("sha256_batch", &digest_batch, py::arg("messages"), py::pos_only(), py::kw_only(),
        py::arg("workers") = py::none(),
        "SHA-256 digests of many messages, (n, 32) uint8: the rows of a 2-d uint8 array with\n"
        "contiguous rows, or each buffer of a sequence; 16 at a time in lock-step where the CPU\n"
        "has AVX-512 (sha256_multibuffer_enabled), one at a time (SHA-NI) otherwise.");

  m.def("sha256_selected_path", [] { return std::string(sha::selected_path()); },
        "The SHA-256 block function in use now: 'sha_ni' or 'portable'.");

  m.def("sha256_multibuffer_enabled", &sha::multibuffer_enabled,
        "Whether sha256_hash_files and sha256_batch hash 16 streams at once per thread (AVX-512) now.");

  py::class_<Hasher>(m, "Sha256Hasher", "Streaming SHA-256 state with its own lock.")
      .def(py::init<>())
      .def("update", &Hasher::update, py::arg("data"), py::pos_only(),
           "Absorb a buffer's bytes (the GIL is released for large buffers).")
      .def("digest", &Hasher::digest, "Digest of everything absorbed so far (state unchanged).")
      .def("reset", &Hasher::reset, "Back to the empty message's state.")
      .def("copy", [](const Hasher& h) { return Hasher(h); }, "An independent copy of the state.");

  py::class_<sha::Progress>(m, "Sha256Progress",
                            "Counters a running sha256_hash_files job updates, and its stop flag.")
      .def(py::init<>())
      .def_property_readonly("bytes_done", [](const sha::Progress& p) { return p.bytes_done.load(); })
      .def_property_readonly("files_done", [](const sha::Progress& p) { return p.files_done.load(); })
      .def("cancel", [](sha::Progress& p) { p.cancelled.store(true); },
           "Ask the job to stop: unstarted and running files end with errno ECANCELED.");

  m.def(
      "sha256_hash_files",
      [](const py::sequence& paths, const py::object& workers, sha::Progress* progress,
         bool keep_going, bool allow_special) {
        if (PyUnicode_Check(paths.ptr()) || PyBytes_Check(paths.ptr())) {
          throw py::type_error("sha256_hash_files: expected a sequence of paths, got " +
                               describe_object(paths));
        }
        const std::vector<std::string> list = path_list(paths);
        const int threads = resolve_workers(workers);
        std::vector<sha::FileDigest> results;
        {
          py::gil_scoped_release release;
          results = sha::hash_paths(list, threads, progress, keep_going, allow_special);
        }
        py::list out(results.size());
        for (size_t i = 0; i < results.size(); ++i) {
          const sha::FileDigest& r = results[i];
          out[i] = (*file_digest_result)(py::arg("digest") = to_bytes(r.digest),
                                         py::arg("size") = r.size, py::arg("mtime_ns") = r.mtime_ns,
                                         py::arg("errno") = r.error, py::arg("changed") = r.changed);
        }
        return out;
      },
      py::arg("paths"), py::arg("workers") = py::none(), py::arg("progress") = py::none(),
      py::arg("keep_going") = false, py::arg("allow_special") = false,
      "Hash files (paths as bytes) in parallel; per file a FileDigest.\n"
      "errno is 0 on success; ECANCELED marks files skipped after a failure (unless keep_going)\n"
      "or a cancel; ESPIPE a FIFO or device (unless allow_special: then read, and a\n"
      "read waiting for a writer stops on progress.cancel()).");
}

}  // namespace pipeward::bind
