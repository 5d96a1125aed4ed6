// Bindings for the secure aggregation masks: argument checks, GIL release, nothing else.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "checks.hpp"
#include "pipeward/secagg.hpp"

namespace py = pybind11;

namespace pipeward::bind {
namespace {

// `size` bytes as little-endian 32-bit words (RFC 8439 reads key and nonce this way).
void words_of(const py::object& b, std::size_t size, const char* name, uint32_t* words) {
  if (!py::isinstance<py::bytes>(b)) {
    throw py::type_error(std::string(name) + ": expected bytes, got " +
                         py::str(py::type::of(b).attr("__name__")).cast<std::string>());
  }
  const std::string s = b.cast<std::string>();
  if (s.size() != size) {
    throw py::value_error(std::string(name) + ": expected " + std::to_string(size) +
                          " bytes, got " + std::to_string(s.size()));
  }
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (std::size_t i = 0; i < size / 4; ++i) {
    words[i] = static_cast<uint32_t>(p[4 * i]) | static_cast<uint32_t>(p[4 * i + 1]) << 8 |
               static_cast<uint32_t>(p[4 * i + 2]) << 16 | static_cast<uint32_t>(p[4 * i + 3]) << 24;
  }
}

void mask_accumulate(py::array out, const py::object& key, const py::object& nonce,
                     uint32_t first_block, bool subtract, const py::object& workers) {
  require<uint32_t>(out, "out", 1);
  if (!out.writeable()) throw py::value_error("out: expected a writeable array");
  uint32_t k[8], n[3];
  words_of(key, 32, "key", k);
  words_of(nonce, 12, "nonce", n);
  const uint64_t size = static_cast<uint64_t>(out.shape(0));
  // The 32-bit block counter must not wrap: that would reuse keystream.
  if (static_cast<uint64_t>(first_block) + (size + 15) / 16 > (uint64_t{1} << 32)) {
    throw py::value_error("out: the mask would run past ChaCha20's 2^32 blocks (2^36 words) "
                          "from first_block " + std::to_string(first_block));
  }
  const int threads = resolve_workers(workers);
  auto* data = static_cast<uint32_t*>(out.mutable_data());
  py::gil_scoped_release release;
  secagg::mask_accumulate(data, size, k, n, first_block, subtract, threads);
}

}  // namespace

void bind_secagg(py::module_& m) {
  m.def("secagg_mask_accumulate", &mask_accumulate, py::arg("out").noconvert(), py::arg("key"),
        py::arg("nonce"), py::arg("first_block") = 0, py::arg("subtract") = false,
        py::arg("workers") = py::none(),
        "Add (or subtract) the ChaCha20 keystream, as little-endian uint32 words, to a uint32 "
        "vector in place, mod 2^32.");
}

}  // namespace pipeward::bind
