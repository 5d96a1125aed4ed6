"""Key agreement and mask expansion: X25519 + HKDF-SHA256 seeds, ChaCha20 keystream masks.

Every seed is fresh per round (new X25519 keys, a new self-mask seed), so the ChaCha20 nonce
can stay fixed at zero: no (key, nonce) pair is ever used for two different masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .. import _core

MASK_NONCE = bytes(12)


@dataclass(frozen=True)
class PublicKeys:
    """What a client advertises: one X25519 key for share encryption, one for masks."""

    encryption: bytes
    masking: bytes


def agree(private: X25519PrivateKey, peer_public: bytes, purpose: bytes) -> bytes:
    """A 32-byte seed that only the two key holders can compute, bound to ``purpose``."""
    if not isinstance(peer_public, bytes) or len(peer_public) != 32:
        raise ValueError(f"public key: expected 32 bytes, got {peer_public!r:.40}")
    shared = private.exchange(X25519PublicKey.from_public_bytes(peer_public))
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"pipeward secagg " + purpose).derive(shared)


def apply_mask(vector: npt.NDArray[np.uint32], seed: bytes, *, subtract: bool = False) -> None:
    """Add (or subtract) the ChaCha20(seed) mask to ``vector`` in place, mod 2^32."""
    _core.secagg_mask_accumulate(vector, seed, MASK_NONCE, subtract=subtract)
