"""Client updates in either form -- a (K, P) array or K lists of per-layer arrays (Flower's
NDArrays), NumPy or CuPy -- seen as layers of K flat rows, without stacking copies; and the
three kernels on them (``_core.aggregate_*`` on the host, ``_gpu.aggregate`` on the device)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _backend, _core

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class AggregationWarning(UserWarning):
    """Clients were dropped from an aggregate (``on_invalid="drop"``)."""


@dataclass
class Updates:
    """``layers[l][i]``: client i's layer l as a flat view; ``shapes[l]``: the layer's shape."""

    layers: list[list[np.ndarray]]
    shapes: list[tuple[int, ...]]
    stacked: bool  # a (K, P) array came in: the result is one (P,) array
    index: list[int]  # each client's position in what the caller passed
    matrix: Any = None  # that (K, P) array, while no client has been dropped

    @property
    def clients(self) -> int:
        return len(self.layers[0])

    @property
    def dtype(self) -> np.dtype:
        return self.layers[0][0].dtype

    @property
    def on_gpu(self) -> bool:
        return _backend.is_gpu_array(self.layers[0][0])

    @property
    def xp(self) -> Any:
        """numpy or cupy: where the updates live."""
        return _backend.array_module(self.layers[0][0])

    def take(self, keep: Sequence[int]) -> Updates:
        return Updates([[layer[i] for i in keep] for layer in self.layers], self.shapes,
                       self.stacked, [self.index[i] for i in keep])

    def client(self, i: int) -> list[np.ndarray]:
        return [layer[i] for layer in self.layers]

    def finish(self, flat_layers: list[np.ndarray]) -> Any:
        """Per-layer flat results in the form the updates came in."""
        if self.stacked:
            return flat_layers[0]
        return [f.reshape(s) for f, s in zip(flat_layers, self.shapes)]

    def non_finite_clients(self) -> list[int]:
        xp = _backend.array_module(self.layers[0][0])
        return [i for i in range(self.clients)
                if not all(bool(xp.isfinite(layer[i]).all()) for layer in self.layers)]


def _flat(a: Any, where: str, gpu: bool) -> Any:
    if _backend.is_gpu_array(a) != gpu or not (gpu or isinstance(a, np.ndarray)):
        want = "a CuPy array like client 0's" if gpu else "a NumPy array"
        raise TypeError(f"{where}: expected {want}, got {type(a).__name__}")
    if a.dtype not in _FLOATS:
        raise TypeError(f"{where}: expected float32 or float64, got {a.dtype} (integer or other "
                        "updates are not cast silently)")
    if not a.flags.c_contiguous:
        raise ValueError(f"{where}: expected a C-contiguous array, got a strided "
                         f"{a.dtype} array of shape {a.shape} (it would have to be copied)")
    return a.reshape(-1)


def as_updates(updates: Any) -> Updates:
    """Check the updates and view them as layers of K rows (no copies)."""
    if isinstance(updates, np.ndarray) or _backend.is_gpu_array(updates):
        gpu = _backend.is_gpu_array(updates)
        if gpu:
            updates = _backend.cupy().asarray(updates)
        if updates.ndim != 2:
            raise ValueError(f"updates: expected a (K, P) array, got shape {updates.shape}")
        if updates.shape[0] == 0 or updates.shape[1] == 0:
            raise ValueError(f"updates: expected at least one client and one parameter, got "
                             f"shape {updates.shape}")
        _flat(updates, "updates", gpu)
        return Updates([[updates[i] for i in range(updates.shape[0])]], [(updates.shape[1],)],
                       True, list(range(updates.shape[0])), updates)
    if not isinstance(updates, (list, tuple)) or not updates:
        raise TypeError("updates: expected a (K, P) array or a non-empty list of K clients' "
                        f"lists of per-layer arrays, got {type(updates).__name__}")
    first = updates[0]
    if not isinstance(first, (list, tuple)) or not first:
        raise TypeError("updates: expected each client's update as a non-empty list of arrays "
                        f"(Flower's NDArrays), got {type(first).__name__} for client 0")
    shapes = [np.shape(a) for a in first]
    gpu = _backend.is_gpu_array(first[0])
    layers: list[list[np.ndarray]] = [[] for _ in shapes]
    dtype = None
    for i, client in enumerate(updates):
        if not isinstance(client, (list, tuple)) or len(client) != len(shapes):
            raise ValueError(f"client {i}: expected {len(shapes)} layers like client 0, got "
                             f"{len(client) if isinstance(client, (list, tuple)) else type(client).__name__}")
        for l, a in enumerate(client):
            flat = _flat(a, f"client {i} layer {l}", gpu)
            if a.shape != shapes[l]:
                raise ValueError(f"client {i} layer {l}: expected shape {shapes[l]} like client 0, "
                                 f"got {a.shape}")
            if dtype is None:
                dtype = a.dtype
            elif a.dtype != dtype:
                raise TypeError(f"client {i} layer {l}: expected {dtype} like the others, got "
                                f"{a.dtype}")
            layers[l].append(flat)
    if all(len(layer[0]) == 0 for layer in layers):
        raise ValueError("updates: every layer is empty")
    return Updates(layers, [tuple(s) for s in shapes], False, list(range(len(updates))))


def client_weights(weights: Any, k: int) -> np.ndarray | None:
    if weights is None:
        return None
    w = np.asarray(weights)
    if w.dtype.kind not in "iuf" or w.shape != (k,):
        raise ValueError(f"weights: expected {k} non-negative numbers (one per client), got "
                         f"{w.dtype} array of shape {w.shape}")
    w = w.astype(np.float64)
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights: expected finite, non-negative numbers with a positive sum")
    return w


def run_checked(updates: Updates, on_invalid: str, compute: Any) -> tuple[Any, Updates]:
    """Run ``compute(updates)``; when a kernel saw a NaN or infinity, raise naming the clients,
    or (``on_invalid="drop"``) warn and run again without them. Returns (result, updates used)."""
    if on_invalid not in ("raise", "drop"):
        raise ValueError(f"on_invalid must be 'raise' or 'drop', got {on_invalid!r}")
    result = compute(updates)
    if result is not None:
        return result, updates
    bad = updates.non_finite_clients()
    if on_invalid == "raise":
        raise ValueError(f"updates of clients {bad} hold NaN or infinity (on_invalid='drop' "
                         "aggregates the others)")
    keep = [i for i in range(updates.clients) if i not in bad]
    if not keep:
        raise ValueError(f"every client's update holds NaN or infinity ({len(bad)} clients)")
    warnings.warn(f"dropped clients {bad}: their updates hold NaN or infinity",
                  AggregationWarning, stacklevel=3)
    kept = updates.take(keep)
    result = compute(kept)
    if result is None:  # the kept ones were checked finite
        raise RuntimeError("a kernel reported non-finite values in finite updates")
    return result, kept


def _empty(updates: Updates) -> Any:
    return _backend.array_module(updates.layers[0][0]).empty(0, updates.dtype)


def _per_layer(updates: Updates, host: Any, device: Any) -> list[Any] | None:
    """Run a kernel on every non-empty layer: ``host(layers)`` takes them all in one native
    call, ``device(layer)`` one at a time; None if a value was not finite."""
    full = [layer for layer in updates.layers if len(layer[0])]
    if not full:
        values: list[Any] = []
    elif updates.on_gpu:
        values = []
        for layer in full:
            v, status = device(layer)
            if status:
                return None
            values.append(v)
    else:
        values, status = host(full)
        if status:
            return None
    it = iter(values)
    return [next(it) if len(layer[0]) else _empty(updates) for layer in updates.layers]


def rank_mean(updates: Updates, lo: int, hi: int, workers: int | None) -> list[Any] | None:
    """Per layer, the coordinate-wise mean of ranks [lo, hi); None if a value was not finite."""
    return _per_layer(
        updates, lambda full: _core.aggregate_rank_mean_layers(full, lo, hi, workers=workers),
        lambda layer: _gpu_kernels().rank_mean(layer, lo, hi))


def weighted_mean(updates: Updates, weights: np.ndarray | None,
                  workers: int | None) -> list[Any] | None:
    return _per_layer(
        updates,
        lambda full: _core.aggregate_weighted_mean_layers(full, weights, workers=workers),
        lambda layer: _gpu_kernels().weighted_mean(layer, weights))


def sq_distances(updates: Updates, workers: int | None) -> np.ndarray | None:
    """K x K squared distances over all layers (float64); None if a value was not finite."""
    total = np.zeros((updates.clients, updates.clients))
    for layer in updates.layers:
        if len(layer[0]) == 0:
            continue
        if updates.on_gpu:
            d, status = _gpu_kernels().pairwise_sq_distances(layer)
        else:
            d, status = _core.aggregate_pairwise_sq_distances(layer, workers=workers)
        if status:
            return None
        total += d
    return total


def sq_norms(updates: Updates, workers: int | None) -> np.ndarray:
    """Each client's squared L2 norm over all its layers (float64, on the host), from the
    privacy family's norm kernel (``_core.privacy_sq_norms`` or its CUDA twin) on each row in
    place; NaN or infinity where a value is not finite or a square overflows."""
    if updates.matrix is not None:  # one call over the (K, P) array as passed
        return _row_sq_norms(updates.matrix, updates.on_gpu, workers)
    # Row by row, one thread each: a parallel region per row cost 10-30x more than it saved
    # (K x layers barriers, each waiting on a descheduled thread when the machine is busy).
    total = np.zeros(updates.clients)
    for layer in updates.layers:
        if len(layer[0]):
            total += [float(_row_sq_norms(row.reshape(1, -1), updates.on_gpu, 1)[0])
                      for row in layer]
    return total


def _row_sq_norms(rows: Any, gpu: bool, workers: int | None) -> np.ndarray:
    if gpu:
        from .._gpu import privacy  # noqa: PLC0415 - only when device updates arrive

        return _backend.cupy().asnumpy(privacy.sq_norms(rows))
    return _core.privacy_sq_norms(rows, workers=workers)


def _gpu_kernels() -> Any:
    from .._gpu import aggregate  # noqa: PLC0415 - only when device updates arrive

    return aggregate
