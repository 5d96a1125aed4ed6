"""One client of a secure aggregation round (Bonawitz et al., CCS 2017, semi-honest server).

Round 0 ``advertise_keys``: two fresh X25519 public keys. Round 1 ``share_keys``: Shamir shares
of the masking private key and of a fresh self-mask seed, each encrypted (ChaCha20-Poly1305)
for its recipient. Round 2 ``masked_input``: the quantized update plus the self mask and the
pairwise masks. Round 3 ``unmask``: for each survivor its self-mask share, for each dropped
client its masking-key share, never both for one client.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .keys import PublicKeys, agree, apply_mask
from .quantize import Quantizer
from .shamir import SHARE_BYTES, Share, split

MAX_CLIENTS = 2**16 - 1


@dataclass(frozen=True)
class UnmaskShares:
    """Round 3 answer: shares of survivors' self-mask seeds and of dropped clients' mask keys."""

    self_mask: dict[int, Share]
    mask_key: dict[int, Share]


def check_id(client_id: object, name: str = "client_id") -> int:
    if not isinstance(client_id, int) or isinstance(client_id, bool) or not 0 <= client_id < MAX_CLIENTS:
        raise ValueError(f"{name}: expected an integer in 0..{MAX_CLIENTS - 1}, got {client_id!r}")
    return client_id


def share_nonce(sender: int, recipient: int) -> bytes:
    # Both directions of a pair share one key; the nonce tells them apart.
    return sender.to_bytes(4, "big") + recipient.to_bytes(4, "big") + bytes(4)


class Client:
    """A client holding one update for one round; make a new one for every round."""

    def __init__(self, client_id: int, quantizer: Quantizer, threshold: int) -> None:
        self.id = check_id(client_id)
        if not isinstance(quantizer, Quantizer):
            raise TypeError(f"quantizer: expected a Quantizer, got {type(quantizer).__name__}")
        if not isinstance(threshold, int) or not 2 <= threshold <= quantizer.n_clients:
            raise ValueError(f"threshold: expected an integer in 2..{quantizer.n_clients}, got {threshold!r}")
        self.quantizer, self.threshold = quantizer, threshold
        self._encryption_key = X25519PrivateKey.generate()
        self._masking_key = X25519PrivateKey.generate()
        self._self_seed = os.urandom(32)
        self._roster: dict[int, PublicKeys] = {}
        self._held: dict[int, tuple[Share, Share]] = {}  # sender -> (mask-key share, self-mask share)
        self._unmasked = False
        self._sent_masked = False

    def advertise_keys(self) -> PublicKeys:
        return PublicKeys(self._encryption_key.public_key().public_bytes_raw(),
                          self._masking_key.public_key().public_bytes_raw())

    def share_keys(self, roster: Mapping[int, PublicKeys]) -> dict[int, bytes]:
        """Encrypted shares for every other client in ``roster`` (the server's round-0 list)."""
        if self._roster:
            raise RuntimeError("share_keys: already called for this round")
        if self.id not in roster:
            raise ValueError(f"roster: client {self.id} is not in it")
        if len(roster) < self.threshold:
            raise ValueError(f"roster: {len(roster)} clients, fewer than the threshold {self.threshold}")
        ids = sorted(check_id(v, "roster id") for v in roster)
        self._roster = dict(roster)
        xs = [v + 1 for v in ids]
        key_shares = split(self._masking_key.private_bytes_raw(), self.threshold, xs)
        seed_shares = split(self._self_seed, self.threshold, xs)
        out = {}
        for v, ks, ss in zip(ids, key_shares, seed_shares):
            if v == self.id:
                self._held[v] = (ks, ss)
                continue
            cipher = ChaCha20Poly1305(agree(self._encryption_key, roster[v].encryption, b"shares"))
            out[v] = cipher.encrypt(share_nonce(self.id, v), ks.to_bytes() + ss.to_bytes(), None)
        return out

    def masked_input(self, update: npt.ArrayLike, ciphertexts: Mapping[int, bytes]) -> npt.NDArray[np.uint32]:
        """The masked quantized update; ``ciphertexts`` are the shares sent to this client."""
        if not self._roster:
            raise RuntimeError("masked_input: call share_keys first")
        if self._sent_masked:  # two inputs under the same masks would reveal their difference
            raise RuntimeError("masked_input: already called for this round")
        for sender, ct in ciphertexts.items():
            if sender not in self._roster or sender == self.id:
                raise ValueError(f"ciphertexts: sender {sender!r} is not another client of the roster")
            cipher = ChaCha20Poly1305(agree(self._encryption_key, self._roster[sender].encryption, b"shares"))
            try:
                plain = cipher.decrypt(share_nonce(sender, self.id), ct, None)
            except InvalidTag:
                raise ValueError(f"ciphertexts: the shares from client {sender} fail authentication") from None
            half = 4 + SHARE_BYTES
            self._held[sender] = (Share.from_bytes(plain[:half]), Share.from_bytes(plain[half:]))
        if len(self._held) < self.threshold:
            raise ValueError(f"ciphertexts: shares from {len(self._held)} clients, fewer than the threshold")
        masked = self.quantizer.encode(update)
        self._sent_masked = True
        apply_mask(masked, self._self_seed)
        for v in self._held:
            if v != self.id:  # +PRG(s_uv) when u < v, -PRG(s_uv) when u > v: the pair cancels
                seed = agree(self._masking_key, self._roster[v].masking, b"pairwise mask")
                apply_mask(masked, seed, subtract=v < self.id)
        return masked

    def unmask(self, survivors: Collection[int]) -> UnmaskShares:
        """Shares that let the server strip the masks of ``survivors`` and of the dropped."""
        if self._unmasked:
            raise RuntimeError("unmask: already answered for this round")
        alive = set(survivors)
        if self.id not in alive or not alive <= set(self._held):
            raise ValueError("survivors: expected a subset of the clients that shared keys, this one included")
        if len(alive) < self.threshold:
            raise ValueError(f"survivors: {len(alive)} clients, fewer than the threshold {self.threshold}")
        self._unmasked = True
        return UnmaskShares(self_mask={v: self._held[v][1] for v in alive},
                            mask_key={v: self._held[v][0] for v in self._held if v not in alive})
