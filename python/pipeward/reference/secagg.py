"""Reference for the secure aggregation mask kernel: the ChaCha20 keystream from the
``cryptography`` package (OpenSSL), read as little-endian uint32 words, added mod 2^32."""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms


def mask_words(key: bytes, nonce: bytes, n: int, *, first_block: int = 0) -> np.ndarray:
    """Words first_block * 16 ... of ChaCha20(key, nonce), as ``n`` uint32 values."""
    full_nonce = first_block.to_bytes(4, "little") + nonce  # cryptography: counter || nonce
    enc = Cipher(algorithms.ChaCha20(key, full_nonce), mode=None).encryptor()
    return np.frombuffer(enc.update(bytes(4 * n)), dtype="<u4").astype(np.uint32)


def mask_accumulate(out: np.ndarray, key: bytes, nonce: bytes, *, first_block: int = 0,
                    subtract: bool = False) -> np.ndarray:
    """``out`` plus (or minus) the mask, mod 2^32, as a new array."""
    words = mask_words(key, nonce, out.shape[0], first_block=first_block)
    return out - words if subtract else out + words
