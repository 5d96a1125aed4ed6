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

# --- privacy ---

# --- mahalanobis ---
def mahalanobis_sq_distances(
    X: npt.NDArray[np.floating], location: npt.NDArray[np.floating],
    factor: npt.NDArray[np.floating], lower: bool, out: npt.NDArray[np.floating],
    workers: int | None = None,
) -> None: ...
def mahalanobis_comoment(
    X: npt.NDArray[np.floating], rows: npt.NDArray[np.int64] | None = None,
    workers: int | None = None,
) -> tuple[int, npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
