# Type stubs for the private extension pipeward._core; tests/test_core_stubs.py checks that
# every name here exists in the module and vice versa.
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__version__: str

def cpu_features() -> dict[str, bool]: ...
def enabled_isas() -> list[str]: ...
def set_isa_limit(name: str) -> None: ...
def isa_limit() -> str: ...
def omp_max_threads() -> int: ...

# --- sha256 ---

# --- drift ---
def drift_ks_2samp(
    x1: np.ndarray, x2: np.ndarray, alternative: int, method: int, omit_nan: bool,
    workers: int | None = None, x1_sorted: bool = False, x2_sorted: bool = False,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64],
           npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64],
           npt.NDArray[np.int32]]: ...
def drift_psi_counts(
    x: np.ndarray, edges: npt.NDArray[np.float64], workers: int | None = None
) -> npt.NDArray[np.int64]: ...
def drift_ks_exact_pvalue(n1: int, n2: int, h: int, alternative: int) -> tuple[bool, float]: ...
def drift_kolmogn_sf(n: float, x: float) -> float: ...
def drift_smirnov_sf(n: int, x: float) -> float: ...

# --- privacy ---

# --- mahalanobis ---
