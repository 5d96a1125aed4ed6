"""The keys an audit log's checkpoints must be signed by: one public key, several (a key
rotation: each checkpoint signed by one of them), or a :class:`~pipeward.TrustStore` (a
checkpoint must be signed by a key the store trusts at the checkpoint's time)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Union

from .. import signing
from .checkpoint import Checkpoint

if TYPE_CHECKING:
    from ..trust import TrustStore

__all__ = ["PinnedKeys", "PublicKeys", "pin_keys"]

# What ``public_key=`` takes across pipeward.audit.
PublicKeys = Union[signing.KeyLike, Sequence[signing.KeyLike], "TrustStore"]


class PinnedKeys:
    """Answers, for each checkpoint, whether a pinned key signed it validly."""

    def __init__(self, keys: Sequence[signing.KeyLike] = (), store: TrustStore | None = None) -> None:
        self.store = store
        self.keys = {signing.key_id(k): k for k in map(signing.load_public_key, keys)}

    def describe(self) -> str:
        if self.store is not None:
            return "a key the trust store trusts"
        if len(self.keys) == 1:
            return f"the given key {next(iter(self.keys))[:16]}..."
        return f"one of the {len(self.keys)} given keys"

    def problem(self, cp: Checkpoint) -> str | None:
        """Why ``cp`` (well formed) is not signed by a pinned key, as the rest of a sentence
        that names the checkpoint; None when it is."""
        if self.store is not None:
            check = self.store.check(cp.key_id, cp.message(), bytes.fromhex(cp.signature), at=cp.ts)
            return None if check else f": not trusted: {check.reason}"
        key = self.keys.get(cp.key_id)
        if key is None:
            return f" is signed by key {cp.key_id[:16]}..., not {self.describe()}"
        if not cp.signature_valid(key):
            return ": the signature does not verify"
        return None


def pin_keys(public_key: PublicKeys | None) -> PinnedKeys | None:
    """``public_key`` as :class:`PinnedKeys` (None stays None: the stored keys are used)."""
    from ..trust import TrustStore  # noqa: PLC0415 - trust imports signing only, but lazily is cheap

    if public_key is None or isinstance(public_key, PinnedKeys):
        return public_key
    if isinstance(public_key, TrustStore):
        if not len(public_key):
            raise ValueError("the trust store holds no keys: no checkpoint could be trusted")
        return PinnedKeys(store=public_key)
    return PinnedKeys(signing.load_public_keys(public_key))
