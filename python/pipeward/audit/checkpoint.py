"""Signed checkpoints: an Ed25519 signature over the record count and the RFC 6962 Merkle root.

The Merkle tree's leaves are the record hashes (``leaf = SHA-256(0x00 || record_hash)``), so a
checkpoint of size n commits to records 0..n-1 exactly as Certificate Transparency's signed tree
heads commit to a log; :func:`pipeward.merkle.consistency_proof` then shows that a later
checkpoint extends an earlier one. The signed message is

    b"pipeward-audit-checkpoint-v1\\n" + canonical_json(
        {"log_id": str, "root": hex, "size": int, "ts": str})

so a signature cannot be replayed onto another log (``log_id`` is random per log).

A checkpoint saved to a file (:meth:`Checkpoint.save`) is the line an export would hold for it:
one canonical JSON object with ``"type": "checkpoint"``. Kept where whoever can rewrite the log
cannot (a *witness*), it lets :meth:`AuditLog.verify` catch a log rolled back to an older copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from .. import merkle, signing
from .canonical import canonical_json, canonical_text

__all__ = ["Checkpoint", "CheckpointLike", "MerkleFrontier", "as_checkpoint", "checkpoint_message",
           "verify_consistency"]

_DOMAIN = b"pipeward-audit-checkpoint-v1\n"
_FIELDS = ("log_id", "size", "root", "ts", "key_id", "public_key", "signature")
_HEX = {"root": 64, "key_id": 64, "public_key": 64, "signature": 128}
_HEX_DIGITS = re.compile(r"[0-9a-f]*")


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

    def problem(self) -> str | None:
        """What makes this checkpoint malformed (a field of the wrong type or form), or None.
        Read from a database or a file, any field can hold anything."""
        for name in _FIELDS:
            value = getattr(self, name)
            if name == "size":
                if type(value) is not int or not 0 <= value < 2**63:
                    return f"size is {value!r:.40}, not a record count"
            elif type(value) is not str:
                return f"{name} is a {type(value).__name__}, not text"
            elif name in _HEX and (len(value) != _HEX[name] or not _HEX_DIGITS.fullmatch(value)):
                return f"{name} is not {_HEX[name]} lowercase hex digits"
        if hashlib.sha256(bytes.fromhex(self.public_key)).hexdigest() != self.key_id:
            return "key_id does not name the public key stored with it"
        return None

    def signature_valid(self, public_key: signing.KeyLike | None = None) -> bool:
        """True when the checkpoint is well formed and its signature verifies under
        ``public_key`` (default: the key stored with it)."""
        if self.problem() is not None:
            return False
        try:
            key = public_key if public_key is not None else _raw_public_key(self.public_key)
            return signing.verify(key, self.message(), bytes.fromhex(self.signature))
        except ValueError:
            return False

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Checkpoint:
        try:
            return cls(**{k: d[k] for k in _FIELDS})
        except KeyError as exc:
            raise ValueError(f"checkpoint without the field {exc.args[0]!r}") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write this checkpoint to ``path`` (replacing it whole, never half-written) as the one
        canonical JSON line an export holds for it; keep the file where the log's writers
        cannot change it and pass it to :meth:`AuditLog.verify` as ``checkpoint=``."""
        problem = self.problem()
        if problem is not None:
            raise ValueError(f"cannot save a malformed checkpoint: {problem}")
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "x", encoding="utf-8") as f:
                f.write(canonical_text({**self.to_dict(), "type": "checkpoint"}) + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Checkpoint:
        """Read a checkpoint written by :meth:`save` (or a checkpoint line of an export);
        ``ValueError`` if the file is not one."""
        where = f"{os.fspath(path)} is not a saved pipeward checkpoint"
        data = Path(path).read_bytes()
        try:
            obj = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise ValueError(f"{where}: expected one JSON object") from None
        if not isinstance(obj, dict) or obj.get("type", "checkpoint") != "checkpoint":
            raise ValueError(f"{where}: expected a JSON object with the checkpoint's fields")
        cp = cls.from_dict(obj) if set(_FIELDS) <= set(obj) else None
        problem = "it lacks " + ", ".join(f for f in _FIELDS if f not in obj) if cp is None else cp.problem()
        if problem is not None:
            raise ValueError(f"{where}: {problem}")
        return cp


CheckpointLike = Union[Checkpoint, Mapping[str, Any], str, "os.PathLike[str]"]


def as_checkpoint(value: CheckpointLike) -> Checkpoint:
    """A :class:`Checkpoint` from itself, a dict of its fields, or the path of a saved one."""
    if isinstance(value, Checkpoint):
        return value
    if isinstance(value, Mapping):
        return Checkpoint.from_dict(value)
    if isinstance(value, (str, os.PathLike)):
        return Checkpoint.load(value)
    raise TypeError(f"checkpoint: expected a Checkpoint, a dict or the path of a saved checkpoint, "
                    f"got {type(value).__name__}")


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
