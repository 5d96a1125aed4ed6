# Type stubs for the private extension pipeward._core; tests/test_core_stubs.py checks that
# every name here exists in the module and vice versa.
import enum
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

__version__: str

def cpu_features() -> dict[str, bool]: ...
def enabled_isas() -> list[str]: ...
def set_isa_limit(name: str) -> None: ...
def isa_limit() -> str: ...
def omp_max_threads() -> int: ...
def cuda_kernels() -> dict[str, dict[str, tuple[str, ...]]]: ...

# --- sha256 ---
from typing_extensions import Buffer  # collections.abc.Buffer from Python 3.12

def sha256_digest(data: Buffer, /) -> bytes: ...
def sha256_selected_path() -> str: ...
def sha256_batch(messages: npt.NDArray[np.uint8] | Sequence[Buffer], /, *,
                 workers: int | None = None) -> npt.NDArray[np.uint8]: ...
def sha256_multibuffer_enabled() -> bool: ...

class Sha256Hasher:
    def __init__(self) -> None: ...
    def update(self, data: Buffer, /) -> None: ...
    def digest(self) -> bytes: ...
    def reset(self) -> None: ...
    def copy(self) -> Sha256Hasher: ...

class Sha256Progress:
    def __init__(self) -> None: ...
    @property
    def bytes_done(self) -> int: ...
    @property
    def files_done(self) -> int: ...
    def cancel(self) -> None: ...

class FileDigest(NamedTuple):
    digest: bytes
    size: int
    mtime_ns: int
    errno: int
    changed: bool

def sha256_hash_files(
    paths: Sequence[bytes],
    workers: int | None = None,
    progress: Sha256Progress | None = None,
    keep_going: bool = False,
    allow_special: bool = False,
) -> list[FileDigest]: ...

# --- drift ---
class KsAlternative(enum.IntEnum):
    two_sided = 0
    less = 1
    greater = 2

class KsMethod(enum.IntEnum):
    auto = 0
    exact = 1
    asymp = 2

class KsStatus(enum.IntEnum):
    ok = 0
    lcm_too_large = 1
    exact_failed = 2
    nan_input = 3
    empty = 4
    host_exact = 8
    host_asymp = 9

drift_ks_max_auto_n: int

class KsArrays(NamedTuple):
    statistic: Any
    pvalue: Any
    location: Any
    sign: Any
    n1: Any
    n2: Any
    status: Any

def drift_ks_2samp(
    x1: np.ndarray, x2: np.ndarray, alternative: KsAlternative | int, method: KsMethod | int,
    omit_nan: bool, workers: int | None = None, x1_sorted: bool = False,
    x2_sorted: bool = False,
    x1_buckets: KsReferenceBuckets | None = None,
) -> KsArrays: ...
def drift_ks_bucketed(n1: int, n2: int) -> bool: ...
class KsReferenceBuckets(NamedTuple):
    lo: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    eps_bits: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]

def drift_ks_reference_buckets(
    x1: np.ndarray, n2: int, workers: int | None = None,
) -> KsReferenceBuckets: ...
def drift_gather_rows(x: np.ndarray, workers: int | None = None) -> np.ndarray: ...
def drift_psi_counts(
    x: np.ndarray, edges: npt.NDArray[np.float64], workers: int | None = None
) -> npt.NDArray[np.int64]: ...
def drift_ks_exact_pvalue(n1: int, n2: int, h: int, alternative: KsAlternative | int) -> tuple[bool, float]: ...
def drift_ks_asymp_pvalue(n1: int, n2: int, d: float, alternative: KsAlternative | int) -> float: ...
def drift_kolmogn_sf(n: float, x: float) -> float: ...
def drift_smirnov_sf(n: int, x: float) -> float: ...
def drift_cell_counts(
    x: np.ndarray, edges: npt.NDArray[np.float64], workers: int | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def drift_cell_values(
    x: np.ndarray, edges: npt.NDArray[np.float64], wanted: npt.NDArray[np.uint8]
) -> tuple[np.ndarray, npt.NDArray[np.int64]]: ...
def drift_bucket_maps(
    sample: npt.NDArray[np.float64], buckets: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]: ...
def drift_bucket_edges(
    lo: npt.NDArray[np.float64], scale: npt.NDArray[np.float64],
    eps_bits: npt.NDArray[np.int64], buckets: int, workers: int | None = None,
) -> npt.NDArray[np.float64]: ...
def drift_bucket_counts(
    x: np.ndarray, lo: npt.NDArray[np.float64], scale: npt.NDArray[np.float64],
    eps_bits: npt.NDArray[np.int64], buckets: int,
) -> npt.NDArray[np.int32]: ...
def drift_cell_counts_by_bucket(
    x: np.ndarray, edges: npt.NDArray[np.float64], lo: npt.NDArray[np.float64],
    scale: npt.NDArray[np.float64], eps_bits: npt.NDArray[np.int64], buckets: int,
    bucket_cells: npt.NDArray[np.int32], *, extremes: bool = True,
) -> tuple[npt.NDArray[np.int64], ...]: ...
def drift_zoom_pass(
    x: np.ndarray, lo: npt.NDArray[np.float64], scale: npt.NDArray[np.float64],
    eps_bits: npt.NDArray[np.int64], buckets: int, zoom_base: npt.NDArray[np.int32], bits: int,
    zoom_cells: int, *, count: bool = True, wanted: npt.NDArray[np.uint8] | None = None,
) -> tuple[npt.NDArray[np.int32] | None, np.ndarray | None, npt.NDArray[np.int64] | None]: ...
def drift_zoom_edges(
    lo: npt.NDArray[np.float64], scale: npt.NDArray[np.float64],
    eps_bits: npt.NDArray[np.int64], buckets: int, bits: int, feature: npt.NDArray[np.int64],
    bucket: npt.NDArray[np.int64], sub: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]: ...
def drift_ks_from_stats(
    dplus: npt.NDArray[np.float64], dminus: npt.NDArray[np.float64],
    loc_plus: npt.NDArray[np.float64], loc_minus: npt.NDArray[np.float64],
    n1: npt.NDArray[np.int64], n2: npt.NDArray[np.int64], status: npt.NDArray[np.int32],
    alternative: int, method: int, workers: int | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64],
           npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64],
           npt.NDArray[np.int32]]: ...

# --- privacy ---
def privacy_sq_norms(per_sample_grads: np.ndarray, /, *, workers: int | None = None) -> npt.NDArray[np.float64]: ...
class NoiseKind(enum.IntEnum):
    none = 0
    philox = 1
    chacha20 = 2

class ClipSum(NamedTuple):
    sum: np.ndarray
    finite: bool

def privacy_clip_sum_noise(
    per_sample_grads: np.ndarray, scale: npt.NDArray[np.float64], /, *, noise_std: float,
    out_scale: float, seed: int | None = None, key: bytes | None = None,
    nonce: bytes | None = None, stream: int = 0, offset: int = 0, workers: int | None = None,
) -> ClipSum: ...
def privacy_normals(
    n: int, /, *, offset: int = 0, seed: int | None = None, key: bytes | None = None,
    nonce: bytes | None = None, stream: int = 0, workers: int | None = None,
) -> npt.NDArray[np.float32]: ...
def privacy_rdp_subsampled_gaussian(q: float, sigma: float, orders: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
def privacy_philox4x32_10(counter: Sequence[int], key: Sequence[int]) -> tuple[int, int, int, int]: ...
def privacy_chacha20_block(key: bytes, counter: int, nonce: bytes) -> bytes: ...

# --- mahalanobis ---
def mahalanobis_sq_distances(
    X: npt.NDArray[np.floating], location: npt.NDArray[np.floating],
    factor: npt.NDArray[np.floating], lower: bool, out: npt.NDArray[np.floating],
    workers: int | None = None,
) -> None: ...
class Comoment(NamedTuple):
    count: int
    mean: npt.NDArray[np.float64]
    m2: npt.NDArray[np.float64]

def mahalanobis_comoment(
    X: npt.NDArray[np.floating], rows: npt.NDArray[np.int64] | None = None,
    workers: int | None = None,
) -> Comoment: ...

# --- hmac (batched HMAC-SHA256 tokens) ---
def hmac_sha256_hex_offsets(
    key: bytes, data: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int32] | npt.NDArray[np.int64],
    width: int, workers: int | None = None,
) -> npt.NDArray[np.bytes_]: ...
def hmac_sha256_hex_list(
    key: bytes, values: Sequence[str | None], width: int, workers: int | None = None,
) -> list[str | None]: ...
def hmac_selected_path() -> str: ...

# --- aggregate (federated aggregation over K client rows) ---
def aggregate_rank_mean(
    rows: list[npt.NDArray[np.float32]] | list[npt.NDArray[np.float64]], lo: int, hi: int, *,
    workers: int | None = None,
) -> tuple[npt.NDArray[np.float32] | npt.NDArray[np.float64], int]: ...
def aggregate_weighted_mean(
    rows: list[npt.NDArray[np.float32]] | list[npt.NDArray[np.float64]],
    weights: npt.NDArray[np.float64] | None = None, *, workers: int | None = None,
) -> tuple[npt.NDArray[np.float32] | npt.NDArray[np.float64], int]: ...
def aggregate_rank_mean_layers(
    layers: list[list[npt.NDArray[np.float32]]] | list[list[npt.NDArray[np.float64]]], lo: int,
    hi: int, *, workers: int | None = None,
) -> tuple[list[npt.NDArray[np.float32]] | list[npt.NDArray[np.float64]], int]: ...
def aggregate_weighted_mean_layers(
    layers: list[list[npt.NDArray[np.float32]]] | list[list[npt.NDArray[np.float64]]],
    weights: npt.NDArray[np.float64] | None = None, *, workers: int | None = None,
) -> tuple[list[npt.NDArray[np.float32]] | list[npt.NDArray[np.float64]], int]: ...
def aggregate_pairwise_sq_distances(
    rows: list[npt.NDArray[np.float32]] | list[npt.NDArray[np.float64]], *,
    workers: int | None = None,
) -> tuple[npt.NDArray[np.float64], int]: ...
# --- nearest ---
def nearest_sq_distances(
    X: npt.NDArray[np.floating], Y: npt.NDArray[np.floating], d2: npt.NDArray[np.floating],
    index: npt.NDArray[np.int64], workers: int | None = None,
) -> None: ...
def nearest_history_push(
    x: npt.NDArray[np.float64], low: npt.NDArray[np.float64], scale: npt.NDArray[np.float64],
    history: npt.NDArray[np.floating], count: int, slot: int,
) -> float: ...

# --- secagg ---
def secagg_mask_accumulate(
    out: npt.NDArray[np.uint32], key: bytes, nonce: bytes, first_block: int = 0,
    subtract: bool = False, workers: int | None = None,
) -> None: ...

# vote
def vote_count(
    labels: np.ndarray, n_classes: int, workers: int | None = None
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
