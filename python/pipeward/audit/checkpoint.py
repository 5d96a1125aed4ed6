"""Signed checkpoints: an Ed25519 signature over the record count and the RFC 6962 Merkle root.

The Merkle tree's leaves are the record hashes (``leaf = SHA-256(0x00 || record_hash)``), so a
checkpoint of size n commits to records 0..n-1 exactly as Certificate Transparency's signed tree
heads commit to a log; :func:`pipeward.merkle.consistency_proof` then shows that a later
checkpoint extends an earlier one. The signed message is

    b"pipeward-audit-checkpoint-v1\\n" + canonical_json(
        {"log_id": str, "root": hex, "size": int, "ts": str})

so a signature cannot be replayed onto another log (``log_id`` is random per log).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import merkle, signing
from .canonical import canonical_json

__all__ = ["Checkpoint", "MerkleFrontier", "checkpoint_message", "verify_consistency"]

_DOMAIN = b"pipeward-audit-checkpoint-v1\n"


def checkpoint_message(log_id: str, size: int, root: bytes, ts: str) -> bytes:
    """The exact bytes a checkpoint signs."""
    return _DOMAIN + canonical_json({"log_id": log_id, "root": root.hex(), "size": size, "ts": ts})


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head: ``size`` records with Merkle root ``root`` (hex)."""

    log_id: str
    size: int
    root: str
    ts: str
    key_id: str
    public_key: str  # raw 32-byte Ed25519 public key, hex
    signature: str  # 64 bytes, hex

    def message(self) -> bytes:
        return checkpoint_message(self.log_id, self.size, bytes.fromhex(self.root), self.ts)

    def signature_valid(self, public_key: signing.KeyLike | None = None) -> bool:
        """True when the signature verifies under ``public_key`` (default: the key stored with it)."""
        key = public_key if public_key is not None else _raw_public_key(self.public_key)
        try:
            return signing.verify(key, self.message(), bytes.fromhex(self.signature))
        except ValueError:
            return False

    def to_dict(self) -> dict[str, Any]:
        return {"log_id": self.log_id, "size": self.size, "root": self.root, "ts": self.ts,
                "key_id": self.key_id, "public_key": self.public_key, "signature": self.signature}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Checkpoint:
        try:
            return cls(**{k: d[k] for k in ("log_id", "size", "root", "ts", "key_id",
                                            "public_key", "signature")})
        except KeyError as exc:
            raise ValueError(f"checkpoint without the field {exc.args[0]!r}") from None


def _raw_public_key(hex_key: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey  # noqa: PLC0415

    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(hex_key))


def verify_consistency(old: Checkpoint, new: Checkpoint, proof: Sequence[bytes]) -> bool:
    """True when ``proof`` shows the log signed by ``new`` extends the one signed by ``old``
    (RFC 9162 section 2.1.4.2). Check the two signatures separately."""
    return merkle.verify_consistency(old.size, new.size, bytes.fromhex(old.root),
                                     bytes.fromhex(new.root), proof)


class MerkleFrontier:
    """RFC 6962 root of a growing list of leaves in O(log n) memory (a "compact range").

    Holds the roots of the perfect subtrees that make up the leaves so far, largest first;
    adding leaf number n merges as many subtrees as n has trailing zero bits, so the root of
    every prefix is available without rebuilding the tree.
    """

    __slots__ = ("_nodes", "size")

    def __init__(self) -> None:
        self._nodes: list[bytes] = []
        self.size = 0

    def add(self, record_hash: bytes) -> None:
        sha = hashlib.sha256
        node = sha(b"\x00" + record_hash).digest()
        self.size += 1
        n = self.size
        nodes = self._nodes
        while not n & 1:
            node = sha(b"\x01" + nodes.pop() + node).digest()
            n >>= 1
        nodes.append(node)

    def root(self) -> bytes:
        """Merkle root of the leaves added so far (``SHA-256(b"")`` when none)."""
        if not self._nodes:
            return hashlib.sha256(b"").digest()
        root = self._nodes[-1]
        for node in reversed(self._nodes[:-1]):
            root = merkle.node_hash(node, root)
        return root
