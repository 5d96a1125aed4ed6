"""DSSE envelopes (github.com/secure-systems-lab/dsse, v1.0) signed with Ed25519.

The signature covers the pre-authentication encoding of the payload, never the JSON around it::

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

with LEN the ASCII decimal byte length. An envelope is
``{"payloadType": type, "payload": base64(body), "signatures": [{"keyid": id, "sig": base64}]}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Any

from .. import signing

__all__ = ["EnvelopeError", "load_envelope", "pae", "sign_envelope"]


class EnvelopeError(ValueError):
    """Not a well-formed DSSE envelope."""


def pae(payload_type: str, body: bytes) -> bytes:
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def sign_envelope(payload_type: str, body: bytes, private_key: signing.KeyLike) -> dict[str, Any]:
    key = signing.load_private_key(private_key)
    return {"payloadType": payload_type, "payload": base64.b64encode(body).decode("ascii"),
            "signatures": [{"keyid": signing.key_id(key),
                            "sig": base64.b64encode(signing.sign(key, pae(payload_type, body))).decode("ascii")}]}


def load_envelope(source: dict[str, Any] | str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    """``(envelope, where)`` from a dict or a JSON file; checks the shape, not the signature."""
    where = "envelope"
    if isinstance(source, (str, os.PathLike)):
        where = os.fspath(source)
        try:
            source = json.loads(Path(source).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise EnvelopeError(f"{where}: not JSON ({exc})") from None
    if not isinstance(source, dict):
        raise EnvelopeError(f"{where}: expected a DSSE envelope object, got {type(source).__name__}")
    sigs = source.get("signatures")
    if (not isinstance(source.get("payloadType"), str) or not isinstance(source.get("payload"), str)
            or not isinstance(sigs, list) or not sigs
            or not all(isinstance(s, dict) and isinstance(s.get("sig"), str) for s in sigs)):
        raise EnvelopeError(f"{where}: not a DSSE envelope (payloadType, payload, signatures)")
    return source, where


def payload_bytes(envelope: dict[str, Any], where: str) -> bytes:
    try:
        return base64.b64decode(envelope["payload"], validate=True)
    except binascii.Error:
        raise EnvelopeError(f"{where}: the payload is not base64") from None


def signature_bytes(sig: dict[str, Any]) -> bytes | None:
    try:
        return base64.b64decode(sig["sig"], validate=True)
    except binascii.Error:
        return None
