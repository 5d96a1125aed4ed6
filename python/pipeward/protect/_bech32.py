"""Bech32 (BIP 173) as age uses it for its keys: ``age1...`` recipients and
``AGE-SECRET-KEY-1...`` identities. age does not apply BIP 173's 90-character limit."""

from __future__ import annotations

__all__ = ["decode", "encode"]

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_VALUES = {c: i for i, c in enumerate(_CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = ((chk & 0x1FFFFFF) << 5) ^ v
        for i, g in enumerate(_GENERATOR):
            if (top >> i) & 1:
                chk ^= g
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _regroup(data: bytes | list[int], src: int, dst: int, pad: bool) -> list[int]:
    acc = bits = 0
    out = []
    for v in data:
        acc = (acc << src) | v
        bits += src
        while bits >= dst:
            bits -= dst
            out.append((acc >> bits) & ((1 << dst) - 1))
    if pad and bits:
        out.append((acc << (dst - bits)) & ((1 << dst) - 1))
    elif not pad and (bits >= src or (acc << (dst - bits)) & ((1 << dst) - 1)):
        raise ValueError("non-zero padding bits")
    return out


def encode(hrp: str, data: bytes) -> str:
    """Lower-case Bech32 string of ``data`` under the human-readable part ``hrp``."""
    words = _regroup(data, 8, 5, pad=True)
    check = _polymod(_hrp_expand(hrp) + words + [0] * 6) ^ 1
    words += [(check >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[w] for w in words)


def decode(text: str) -> tuple[str, bytes]:
    """``(hrp, data)`` of a Bech32 string (all upper or all lower case); ``ValueError`` if the
    checksum or the encoding is wrong."""
    if text.lower() != text and text.upper() != text:
        raise ValueError("mixed case")
    text = text.lower()
    sep = text.rfind("1")
    if sep < 1 or len(text) - sep < 7:
        raise ValueError("no separator or too short")
    hrp, rest = text[:sep], text[sep + 1:]
    if any(not 33 <= ord(c) <= 126 for c in hrp):
        raise ValueError("invalid character in the prefix")
    try:
        words = [_VALUES[c] for c in rest]
    except KeyError as exc:
        raise ValueError(f"invalid character {exc.args[0]!r}") from None
    if _polymod(_hrp_expand(hrp) + words) != 1:
        raise ValueError("bad checksum")
    return hrp, bytes(_regroup(words[:-6], 5, 8, pad=False))
