// Bindings for the privacy kernel family: argument checks, GIL release, nothing else.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cmath>
#include <cstring>
#include <string>
#include <tuple>

#include "checks.hpp"
#include "pipeward/privacy.hpp"

namespace py = pybind11;

namespace pipeward::bind {
namespace {

using privacy::Dtype;
using privacy::NoiseKind;
using privacy::NoiseSource;

const NamedResult* clip_sum_result = nullptr;  // (sum, finite), made in bind_privacy

// Per-sample gradients: a C-contiguous 2-d float16/float32/float64 array.
Dtype grads_dtype(const py::array& g) {
  const char* name = "per_sample_grads";
  Dtype d;
  if (has_dtype<float>(g)) {
    d = Dtype::f32;
  } else if (has_dtype<double>(g)) {
    d = Dtype::f64;
  } else if (g.dtype().is(py::dtype("float16"))) {
    d = Dtype::f16;
  } else {
    throw py::type_error(std::string(name) + ": expected a float16, float32 or float64 array, got a " +
                         describe(g));
  }
  if (g.ndim() != 2) {
    throw py::value_error(std::string(name) + ": expected a 2-d (batch, params) array, got a " +
                          describe(g));
  }
  if (!is_c_contiguous(g)) {
    throw py::value_error(std::string(name) + ": expected a C-contiguous array, got a non-contiguous " +
                          describe(g));
  }
  return d;
}

std::string bytes_of(const py::object& b, std::size_t size, const char* name) {
  if (!py::isinstance<py::bytes>(b)) {
    throw py::type_error(std::string(name) + ": expected bytes, got " +
                         py::str(py::type::of(b).attr("__name__")).cast<std::string>());
  }
  std::string s = b.cast<std::string>();
  if (s.size() != size) {
    throw py::value_error(std::string(name) + ": expected " + std::to_string(size) + " bytes, got " +
                          std::to_string(s.size()));
  }
  return s;
}

void load_words(const std::string& bytes, uint32_t* words, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {  // little-endian words, as RFC 8439 reads them
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + 4 * i;
    words[i] = static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
               static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
  }
}

// ChaCha20's block counter is 32 bits: past 2^32 blocks (2^36 elements) the keystream would
// repeat, so such a request is refused rather than wrapped.
void check_chacha_range(const NoiseSource& src, uint64_t offset, uint64_t n) {
  if (src.kind == NoiseKind::chacha20 && (offset + n + 15) / 16 > (uint64_t{1} << 32)) {
    throw py::value_error("secure noise covers at most 2^36 elements per key (ChaCha20's 32-bit block counter)");
  }
}

// seed -> Philox; key + nonce -> ChaCha20; neither -> no noise.
NoiseSource noise_source(const py::object& seed, const py::object& key, const py::object& nonce,
                         uint32_t stream) {
  NoiseSource src;
  if (!key.is_none()) {
    if (!seed.is_none()) throw py::value_error("give either seed (Philox) or key (ChaCha20), not both");
    load_words(bytes_of(key, 32, "key"), src.key, 8);
    load_words(bytes_of(nonce, 12, "nonce"), src.nonce, 3);
    src.kind = NoiseKind::chacha20;
  } else if (!seed.is_none()) {
    src.seed = seed.cast<uint64_t>();
    src.stream = stream;
    src.kind = NoiseKind::philox;
  }
  return src;
}

py::array_t<double> sq_norms(const py::array& g, const py::object& workers) {
  const Dtype d = grads_dtype(g);
  const int threads = resolve_workers(workers);
  const auto rows = static_cast<std::size_t>(g.shape(0)), cols = static_cast<std::size_t>(g.shape(1));
  py::array_t<double> out(static_cast<py::ssize_t>(rows));
  const void* gp = g.data();
  double* op = out.mutable_data();
  {
    py::gil_scoped_release release;
    privacy::sq_norms(gp, d, rows, cols, op, threads);
  }
  return out;
}

py::object clip_sum_noise(const py::array& g, const py::array& scale, double noise_std,
                         double out_scale, const py::object& seed, const py::object& key,
                         const py::object& nonce, uint32_t stream, uint64_t offset,
                         const py::object& workers) {
  const Dtype d = grads_dtype(g);
  require<double>(scale, "scale", 1);
  if (scale.shape(0) != g.shape(0)) {
    throw py::value_error("scale: expected one factor per sample (" + std::to_string(g.shape(0)) +
                          "), got a " + describe(scale));
  }
  if (!(noise_std >= 0.0) || !std::isfinite(noise_std)) {
    throw py::value_error("noise_std must be a finite non-negative number, got " + std::to_string(noise_std));
  }
  const NoiseSource src = noise_source(seed, key, nonce, stream);
  const int threads = resolve_workers(workers);
  const auto rows = static_cast<std::size_t>(g.shape(0)), cols = static_cast<std::size_t>(g.shape(1));
  check_chacha_range(src, offset, cols);
  const bool f64 = d == Dtype::f64;
  py::array out = f64 ? py::array(py::array_t<double>(static_cast<py::ssize_t>(cols)))
                      : py::array(py::array_t<float>(static_cast<py::ssize_t>(cols)));
  const void* gp = g.data();
  const double* sp = static_cast<const double*>(scale.data());
  void* op = out.mutable_data();
  bool ok;
  {
    py::gil_scoped_release release;
    ok = privacy::clip_sum_noise(gp, d, rows, cols, sp, noise_std, out_scale, src, offset, op, f64,
                                 threads);
  }
  return (*clip_sum_result)(py::arg("sum") = out, py::arg("finite") = ok);
}

py::array_t<float> normals(std::size_t n, uint64_t offset, const py::object& seed,
                           const py::object& key, const py::object& nonce, uint32_t stream,
                           const py::object& workers) {
  const NoiseSource src = noise_source(seed, key, nonce, stream);
  if (src.kind == NoiseKind::none) throw py::value_error("normals needs a seed or a key");
  check_chacha_range(src, offset, n);
  const int threads = resolve_workers(workers);
  py::array_t<float> out(static_cast<py::ssize_t>(n));
  float* op = out.mutable_data();
  {
    py::gil_scoped_release release;
    privacy::normals(src, offset, n, op, threads);
  }
  return out;
}

py::array_t<double> rdp(double q, double sigma, const py::array& orders) {
  require<double>(orders, "orders", 1);
  if (!(q >= 0.0 && q <= 1.0)) throw py::value_error("q must be in [0, 1], got " + std::to_string(q));
  if (!(sigma >= 0.0)) throw py::value_error("sigma must be >= 0, got " + std::to_string(sigma));
  const auto n = static_cast<std::size_t>(orders.shape(0));
  const double* o = static_cast<const double*>(orders.data());
  for (std::size_t k = 0; k < n; ++k) {
    if (!(o[k] > 1.0)) throw py::value_error("orders must all be > 1, got " + std::to_string(o[k]));
  }
  py::array_t<double> out(static_cast<py::ssize_t>(n));
  double* op = out.mutable_data();
  {
    py::gil_scoped_release release;
    privacy::rdp_subsampled_gaussian(q, sigma, o, n, op);
  }
  return out;
}

}  // namespace

void bind_privacy(py::module_& m) {
  static const NamedResult clip_sum_type(
      m, "ClipSum", {"sum", "finite"},
      "privacy_clip_sum_noise's result: the scaled noisy sum (P,), and False when the sum met a "
      "NaN or infinity.");
  clip_sum_result = &clip_sum_type;
  py::enum_<NoiseKind>(m, "NoiseKind", "Where DP noise comes from (pipeward/privacy.hpp).")
      .value("none", NoiseKind::none)
      .value("philox", NoiseKind::philox)
      .value("chacha20", NoiseKind::chacha20);
  m.def("privacy_sq_norms", &sq_norms, py::arg("per_sample_grads").noconvert(), py::kw_only(),
        py::arg("workers") = py::none(),
        "Per-sample squared L2 norms of a (B, P) array, float64 accumulation.");
  m.def("privacy_clip_sum_noise", &clip_sum_noise, py::arg("per_sample_grads").noconvert(),
        py::arg("scale").noconvert(), py::kw_only(), py::arg("noise_std"), py::arg("out_scale"),
        py::arg("seed") = py::none(), py::arg("key") = py::none(), py::arg("nonce") = py::none(),
        py::arg("stream") = 0, py::arg("offset") = 0, py::arg("workers") = py::none(),
        "out[j] = out_scale * (sum_i scale[i] g[i, j] + noise_std * N(offset + j)); returns "
        "ClipSum(sum, finite) where finite is False when the sum had a NaN or infinity.");
  m.def("privacy_normals", &normals, py::arg("n"), py::kw_only(), py::arg("offset") = 0,
        py::arg("seed") = py::none(), py::arg("key") = py::none(), py::arg("nonce") = py::none(),
        py::arg("stream") = 0, py::arg("workers") = py::none(),
        "The noise stream alone: N(offset + j) for j < n, float32.");
  m.def("privacy_rdp_subsampled_gaussian", &rdp, py::arg("q"), py::arg("sigma"),
        py::arg("orders").noconvert(),
        "RDP of one step of the Poisson-subsampled Gaussian mechanism at each order.");
  m.def("privacy_philox4x32_10",
        [](std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key) {
          const privacy::U32x4 r = privacy::philox4x32_10(
              privacy::U32x4{{counter[0], counter[1], counter[2], counter[3]}}, key[0], key[1]);
          return std::make_tuple(r.v[0], r.v[1], r.v[2], r.v[3]);
        },
        py::arg("counter"), py::arg("key"), "One Philox4x32-10 block (known-answer tests).");
  m.def("privacy_chacha20_block",
        [](const py::object& key, uint32_t counter, const py::object& nonce) {
          uint32_t k[8], n[3], out[16];
          load_words(bytes_of(key, 32, "key"), k, 8);
          load_words(bytes_of(nonce, 12, "nonce"), n, 3);
          privacy::chacha20_block(k, counter, n, out);
          unsigned char bytes[64];
          for (int i = 0; i < 16; ++i)
            for (int b = 0; b < 4; ++b) bytes[4 * i + b] = static_cast<unsigned char>(out[i] >> (8 * b));
          return py::bytes(reinterpret_cast<const char*>(bytes), 64);
        },
        py::arg("key"), py::arg("counter"), py::arg("nonce"),
        "One ChaCha20 keystream block (RFC 8439), 64 bytes.");
}

}  // namespace pipeward::bind
