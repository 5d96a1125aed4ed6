"""RFC 6962 / RFC 9162 Merkle trees: roots, inclusion proofs and consistency proofs.

Leaves are hashed as ``SHA-256(0x00 || data)`` and interior nodes as
``SHA-256(0x01 || left || right)``; a tree of n leaves splits at k, the largest power of two
below n. The root of an empty tree is ``SHA-256(b"")``. These are the Certificate
Transparency definitions, so proofs can be checked with any RFC 9162 verifier.

Manifests bind file entries this way and the audit log binds its records; both need only
the leaf hashes (32-byte digests) here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = [
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
]

_EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _check_leaves(leaves: Sequence[bytes]) -> None:
    for i, h in enumerate(leaves):
        if not isinstance(h, (bytes, bytearray)) or len(h) != 32:
            raise TypeError(f"leaf hash {i}: expected 32 bytes, got {type(h).__name__} "
                            f"of length {len(h) if hasattr(h, '__len__') else '?'}")


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Root over leaf hashes (already ``leaf_hash``-ed), computed level by level.

    Carrying an unpaired last node up a level unchanged gives exactly RFC 6962's recursive
    split at the largest power of two, in O(n) hashes and without recursion.
    """
    _check_leaves(leaves)
    if not leaves:
        return _EMPTY_ROOT
    level = [bytes(h) for h in leaves]
    sha = hashlib.sha256
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _split(n: int) -> int:
    """Largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Audit path for leaf ``index`` (RFC 6962 section 2.1.1), leaf-side first."""
    _check_leaves(leaves)
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError(f"leaf index {index} outside a tree of {n} leaves")
    proof: list[bytes] = []
    lo, hi = 0, n  # the subtree [lo, hi) containing index
    stack: list[bytes] = []
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            stack.append(merkle_root(leaves[lo + k:hi]))
            hi = lo + k
        else:
            stack.append(merkle_root(leaves[lo:lo + k]))
            lo = lo + k
    proof.extend(reversed(stack))
    return proof


def _all_digests(*hashes: bytes) -> bool:
    """Every value is a 32-byte SHA-256 digest (a shorter or longer one proves nothing)."""
    return all(len(h) == 32 for h in hashes)


def verify_inclusion(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes],
                     root: bytes) -> bool:
    """Check an inclusion proof (RFC 9162 section 2.1.3.2). ``leaf`` is the leaf hash.

    The leaf, the root and every proof node must be 32-byte digests; anything else is
    rejected, as the transparency-dev/merkle reference verifier does.
    """
    if not 0 <= index < tree_size or not _all_digests(leaf, root, *proof):
        return False
    fn, sn = index, tree_size - 1
    r = bytes(leaf)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(bytes(p), r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, bytes(p))
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == bytes(root)


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """Proof that the first ``old_size`` leaves are a prefix of ``leaves`` (RFC 6962 2.1.2)."""
    _check_leaves(leaves)
    n = len(leaves)
    if not 0 <= old_size <= n:
        raise ValueError(f"old tree size {old_size} outside 0..{n}")
    if old_size in (0, n):
        return []

    def subproof(m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        size = hi - lo
        if m == size:
            return [] if complete else [merkle_root(leaves[lo:hi])]
        k = _split(size)
        if m <= k:
            return subproof(m, lo, lo + k, complete) + [merkle_root(leaves[lo + k:hi])]
        return subproof(m - k, lo + k, hi, False) + [merkle_root(leaves[lo:lo + k])]

    return subproof(old_size, 0, n, True)


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """Check a consistency proof (RFC 9162 section 2.1.4.2).

    Equal sizes need an empty proof and equal roots. A proof from the empty tree
    (``old_size == 0``) proves nothing and is rejected, as the transparency-dev/merkle
    reference verifier does; otherwise the roots and proof nodes must be 32-byte digests.
    """
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and bytes(old_root) == bytes(new_root)
    if not proof or not _all_digests(old_root, new_root, *proof):
        return False
    path = [bytes(p) for p in proof]
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn & 1 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == bytes(old_root) and sr == bytes(new_root)
