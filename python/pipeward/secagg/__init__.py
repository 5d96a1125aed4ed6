"""Secure aggregation (Bonawitz et al., CCS 2017): the server learns the sum of the clients'
updates, not any one of them, and survives clients dropping out up to a threshold.

Pairwise masks come from X25519 key agreement expanded by the native ChaCha20 kernel; updates
are quantized into Z_2^32 (:class:`Quantizer`); Shamir shares (:mod:`.shamir`) of the mask keys
and self-mask seeds let the survivors unmask the sum. See docs/federated.md for the threat model.
"""

from __future__ import annotations

from .client import Client, UnmaskShares
from .keys import PublicKeys
from .quantize import Quantizer
from .server import Server
from .shamir import Share

__all__ = ["Client", "PublicKeys", "Quantizer", "Server", "Share", "UnmaskShares"]
