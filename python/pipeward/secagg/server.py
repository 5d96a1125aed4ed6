"""The server of a secure aggregation round: routes shares, sums masked inputs, and strips
the masks with the survivors' shares, learning the sum of the survivors' updates only."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from .client import UnmaskShares, check_id
from .keys import PublicKeys, agree, apply_mask
from .quantize import Quantizer
from .shamir import combine


class Server:
    """One round. Call ``collect_keys``, ``route_shares``, ``collect_masked``, ``unmask``."""

    def __init__(self, quantizer: Quantizer, threshold: int, dimension: int) -> None:
        if not isinstance(quantizer, Quantizer):
            raise TypeError(f"quantizer: expected a Quantizer, got {type(quantizer).__name__}")
        if not isinstance(threshold, int) or not 2 <= threshold <= quantizer.n_clients:
            raise ValueError(f"threshold: expected an integer in 2..{quantizer.n_clients}, got {threshold!r}")
        if not isinstance(dimension, int) or dimension < 1:
            raise ValueError(f"dimension: expected an integer >= 1, got {dimension!r}")
        self.quantizer, self.threshold, self.dimension = quantizer, threshold, dimension
        self.roster: dict[int, PublicKeys] = {}
        self.shared: list[int] = []     # U2: sent their shares
        self.survivors: list[int] = []  # U3: sent a masked input
        self.quantized_sum: npt.NDArray[np.uint32] | None = None
        self._total = np.zeros(dimension, np.uint32)

    def _enough(self, ids: object, what: str) -> None:
        if len(ids) < self.threshold:  # type: ignore[arg-type]
            raise ValueError(f"{what}: {len(ids)} clients, fewer than the threshold {self.threshold}")  # type: ignore[arg-type]

    def collect_keys(self, keys: Mapping[int, PublicKeys]) -> dict[int, PublicKeys]:
        """Round 0: the roster sent to every client."""
        if len(keys) > self.quantizer.n_clients:
            raise ValueError(f"keys: {len(keys)} clients, the quantizer is sized for {self.quantizer.n_clients}")
        self._enough(keys, "keys")
        for v, k in keys.items():
            check_id(v, "keys id")
            if not isinstance(k, PublicKeys):
                raise TypeError(f"keys[{v}]: expected PublicKeys, got {type(k).__name__}")
        if len({k.masking for k in keys.values()}) != len(keys):
            raise ValueError("keys: two clients advertise the same masking key")
        self.roster = dict(keys)
        return dict(self.roster)

    def route_shares(self, ciphertexts: Mapping[int, Mapping[int, bytes]]) -> dict[int, dict[int, bytes]]:
        """Round 1: the encrypted shares regrouped by recipient (for the clients that sent)."""
        for u, out in ciphertexts.items():
            if u not in self.roster:
                raise ValueError(f"ciphertexts: client {u!r} is not in the roster")
            if set(out) != set(self.roster) - {u}:
                raise ValueError(f"ciphertexts[{u}]: expected one ciphertext for every other client")
        self._enough(ciphertexts, "ciphertexts")
        self.shared = sorted(ciphertexts)
        return {v: {u: ciphertexts[u][v] for u in self.shared if u != v} for v in self.shared}

    def collect_masked(self, masked: Mapping[int, npt.NDArray[np.uint32]]) -> list[int]:
        """Round 2: add the masked inputs mod 2^32; the senders are the survivors."""
        if self.survivors:
            raise RuntimeError("collect_masked: already called for this round")
        for u, y in masked.items():
            if u not in self.shared:
                raise ValueError(f"masked: client {u!r} did not share its keys")
            if not isinstance(y, np.ndarray) or y.dtype != np.uint32 or y.shape != (self.dimension,):
                got = f"{y.dtype} array of shape {y.shape}" if isinstance(y, np.ndarray) else type(y).__name__
                raise TypeError(f"masked[{u}]: expected a uint32 array of shape ({self.dimension},), got {got}")
        self._enough(masked, "masked")
        self.survivors = sorted(masked)
        for u in self.survivors:
            self._total += masked[u]  # wraps mod 2^32 by design
        return list(self.survivors)

    def unmask(self, responses: Mapping[int, UnmaskShares]) -> npt.NDArray[np.float64]:
        """Round 3: the sum of the survivors' (clipped) updates, decoded to floats."""
        if any(u not in self.survivors for u in responses):
            raise ValueError("responses: only survivors answer the unmasking round")
        self._enough(responses, "responses")
        alive = set(self.survivors)
        dropped = [v for v in self.shared if v not in alive]
        for u, r in responses.items():
            if not isinstance(r, UnmaskShares):
                raise TypeError(f"responses[{u}]: expected UnmaskShares, got {type(r).__name__}")
            if set(r.self_mask) != alive or set(r.mask_key) != set(dropped):
                raise ValueError(f"responses[{u}]: expected self-mask shares of the survivors and "
                                 "mask-key shares of the dropped clients")
        total = self._total.copy()
        for v in self.survivors:
            seed = combine([r.self_mask[v] for r in responses.values()])
            apply_mask(total, seed, subtract=True)
        for v in dropped:
            key = X25519PrivateKey.from_private_bytes(combine([r.mask_key[v] for r in responses.values()]))
            for u in self.survivors:  # u added +PRG(s_uv) if u < v, -PRG(s_uv) if u > v: undo it
                apply_mask(total, agree(key, self.roster[u].masking, b"pairwise mask"), subtract=u < v)
        self.quantized_sum = total
        return self.quantizer.decode_sum(total)
