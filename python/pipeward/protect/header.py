"""The age v1 header: recipient stanzas that wrap the file key, and the header MAC.

Layout (https://age-encryption.org/v1, C2SP ``age.md``)::

    age-encryption.org/v1
    -> X25519 <base64 ephemeral share>
    <base64 wrapped file key, 64 columns a line, the last line shorter than 64>
    -> scrypt <base64 salt> <log2 N>
    ...
    --- <base64 HMAC-SHA256(HKDF(file key, "", "header"), header up to and including "---")>

Base64 is standard, unpadded and canonical. The same header, under another first line and with
AES-256-GCM where age has ChaCha20-Poly1305, is pipeward's AES-256-GCM variant (:data:`AES_GCM`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .keys import Identity, Recipient

__all__ = ["AES_GCM", "AGE", "DecryptError", "Format", "Stanza", "hkdf", "read_header",
           "unwrap_file_key", "write_header"]

FILE_KEY_SIZE = 16
MAX_HEADER = 1 << 20
MAX_WORK_FACTOR = 22  # age's own default limit for scrypt's log2 N when decrypting
ARMOR_BEGIN = b"-----BEGIN AGE ENCRYPTED FILE-----"


class DecryptError(ValueError):
    """The input cannot be decrypted: not this format, a wrong key or passphrase, or it was
    truncated, reordered or altered. Nothing unauthenticated was released."""


class NotEncryptedError(DecryptError):
    """The input is not an age-encrypted file at all (empty, or no ``age-encryption.org``
    first line): an input error, not evidence of tampering."""


@dataclass(frozen=True)
class Format:
    """One file format: its first line, its AEAD, and the HKDF/scrypt labels of its stanzas."""

    name: str
    intro: bytes
    aead: type[ChaCha20Poly1305] | type[AESGCM]

    @property
    def x25519_label(self) -> bytes:
        return self.intro + b"/X25519" if self is not AGE else b"age-encryption.org/v1/X25519"

    @property
    def scrypt_label(self) -> bytes:
        return self.intro + b"/scrypt" if self is not AGE else b"age-encryption.org/v1/scrypt"


AGE = Format("age", b"age-encryption.org/v1", ChaCha20Poly1305)
AES_GCM = Format("aes-256-gcm", b"pipeward.aes-256-gcm/v1", AESGCM)
FORMATS = {f.intro: f for f in (AGE, AES_GCM)}

_ZERO_NONCE = bytes(12)
_VCHAR_ARG = re.compile(rb"[\x21-\x7e]+")
_B64_LINE = re.compile(rb"[A-Za-z0-9+/]*")


def hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def b64(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def unb64(text: bytes, what: str) -> bytes:
    """Strict decoding: unpadded, canonical standard base64."""
    if not _B64_LINE.fullmatch(text) or len(text) % 4 == 1:
        raise DecryptError(f"malformed age header: {what} is not unpadded base64")
    try:
        data = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise DecryptError(f"malformed age header: {what} is not base64") from None
    if b64(data) != text:
        raise DecryptError(f"malformed age header: {what} is not canonical base64")
    return data


@dataclass(frozen=True)
class Stanza:
    type: bytes
    args: tuple[bytes, ...]
    body: bytes

    def encode(self) -> bytes:
        text = b64(self.body)
        lines = [text[i:i + 64] for i in range(0, len(text), 64)]
        if len(text) % 64 == 0:
            lines.append(b"")  # the last body line is always shorter than 64 columns
        return b"-> " + b" ".join((self.type, *self.args)) + b"\n" + b"".join(l + b"\n" for l in lines)


# ---------------------------------------------------------------------------- recipients
def x25519_stanza(fmt: Format, recipient: Recipient, file_key: bytes) -> Stanza:
    ephemeral = X25519PrivateKey.generate()
    share = ephemeral.public_key().public_bytes_raw()
    shared = ephemeral.exchange(recipient.key)
    wrap_key = hkdf(shared, share + recipient.raw(), fmt.x25519_label)
    return Stanza(b"X25519", (b64(share),), fmt.aead(wrap_key).encrypt(_ZERO_NONCE, file_key, None))


def scrypt_stanza(fmt: Format, passphrase: bytes, file_key: bytes, work_factor: int) -> Stanza:
    salt = os.urandom(16)
    key = _scrypt(fmt, passphrase, salt, work_factor)
    return Stanza(b"scrypt", (b64(salt), str(work_factor).encode()),
                  fmt.aead(key).encrypt(_ZERO_NONCE, file_key, None))


def _scrypt(fmt: Format, passphrase: bytes, salt: bytes, work_factor: int) -> bytes:
    # r=8, p=1 as age; memory is 128 * r * 2**work_factor bytes (256 MiB at the default 18).
    return Scrypt(salt=fmt.scrypt_label + salt, length=32, n=1 << work_factor, r=8, p=1,
                  ).derive(passphrase)


def _open(fmt: Format, key: bytes, body: bytes) -> bytes | None:
    try:
        return fmt.aead(key).decrypt(_ZERO_NONCE, body, None)
    except InvalidTag:
        return None


def unwrap_file_key(fmt: Format, stanzas: Sequence[Stanza], *,
                    identities: Sequence[Identity] = (), passphrase: bytes | None = None,
                    max_work_factor: int = MAX_WORK_FACTOR) -> bytes:
    """The file key from the first stanza one of the identities (or the passphrase) opens."""
    scrypts = [s for s in stanzas if s.type == b"scrypt"]
    if scrypts and len(stanzas) != 1:
        raise DecryptError("malformed age header: an scrypt stanza must be the only stanza")
    if passphrase is not None:
        if not scrypts:
            raise DecryptError("the file is encrypted to public keys, not a passphrase: use an "
                               "identity")
        s = scrypts[0]
        if len(s.args) != 2 or len(s.body) != FILE_KEY_SIZE + 16:
            raise DecryptError("malformed age header: bad scrypt stanza")
        salt = unb64(s.args[0], "the scrypt salt")
        if len(salt) != 16 or not re.fullmatch(rb"[1-9][0-9]?", s.args[1]):
            raise DecryptError("malformed age header: bad scrypt salt or work factor")
        work_factor = int(s.args[1])
        if work_factor > max_work_factor:
            raise DecryptError(f"the scrypt work factor {work_factor} exceeds the limit "
                               f"{max_work_factor} (raise max_work_factor if you trust the file)")
        key = _open(fmt, _scrypt(fmt, passphrase, salt, work_factor), s.body)
        if key is None:
            raise DecryptError("wrong passphrase (or the scrypt stanza was altered)")
        return key
    if scrypts:
        raise DecryptError("the file is encrypted with a passphrase: give the passphrase")
    x25519 = [s for s in stanzas if s.type == b"X25519"]
    for s in x25519:
        if len(s.args) != 1 or len(s.body) != FILE_KEY_SIZE + 16:
            raise DecryptError("malformed age header: bad X25519 stanza")
        share = unb64(s.args[0], "an X25519 share")
        if len(share) != 32:
            raise DecryptError("malformed age header: an X25519 share is not 32 bytes")
    for identity in identities:
        ours = identity.recipient.raw()
        for s in x25519:
            share = unb64(s.args[0], "an X25519 share")
            try:
                shared = identity.key.exchange(X25519PublicKey.from_public_bytes(share))
            except ValueError:  # all-zero shared secret: a low-order point
                raise DecryptError("malformed age header: X25519 share is a low-order point") from None
            key = _open(fmt, hkdf(shared, share + ours, fmt.x25519_label), s.body)
            if key is not None:
                return key
    raise DecryptError(f"no identity matched any of the {len(x25519)} recipient stanza(s): "
                       "wrong key")


# ------------------------------------------------------------------------------- header
def header_mac(file_key: bytes, header_to_dashes: bytes) -> bytes:
    return hmac.digest(hkdf(file_key, b"", b"header"), header_to_dashes, "sha256")


def write_header(fmt: Format, stanzas: Sequence[Stanza], file_key: bytes) -> bytes:
    head = fmt.intro + b"\n" + b"".join(s.encode() for s in stanzas) + b"---"
    return head + b" " + b64(header_mac(file_key, head)) + b"\n"


def split_header(data: bytes) -> tuple[bytes, bytes] | None:
    """``(header, rest)`` when ``data`` holds the whole header (through the MAC line)."""
    at = data.find(b"\n--- ")
    if at < 0:
        return None
    end = data.find(b"\n", at + 1)
    if end < 0:
        return None
    return data[:end + 1], data[end + 1:]


def parse_header(header: bytes) -> tuple[Format, list[Stanza], bytes, bytes]:
    """``(format, stanzas, bytes the MAC covers, MAC)`` of a complete header."""
    lines = header[:-1].split(b"\n")
    fmt = FORMATS.get(lines[0])
    if fmt is None:
        if lines[0].startswith(b"age-encryption.org/"):
            raise NotEncryptedError(f"unsupported age version {lines[0][:40]!r}")
        raise NotEncryptedError("not an age-encrypted file (no age-encryption.org/v1 line)")
    stanzas = []
    i = 1
    while i < len(lines) and lines[i].startswith(b"-> "):
        words = lines[i][3:].split(b" ")
        if not all(_VCHAR_ARG.fullmatch(w) for w in words):
            raise DecryptError("malformed age header: bad stanza arguments")
        i += 1
        body = []
        while True:
            if i >= len(lines):
                raise DecryptError("malformed age header: a stanza body is not terminated")
            line = lines[i]
            i += 1
            if len(line) > 64:
                raise DecryptError("malformed age header: a stanza body line is over 64 columns")
            body.append(line)
            if len(line) < 64:
                break
        stanzas.append(Stanza(words[0], tuple(words[1:]), unb64(b"".join(body), "a stanza body")))
    if i != len(lines) - 1 or not lines[i].startswith(b"--- "):
        raise DecryptError("malformed age header: expected a stanza or the '---' MAC line")
    if not stanzas:
        raise DecryptError("malformed age header: no recipient stanzas")
    mac = unb64(lines[i][4:], "the header MAC")
    if len(mac) != 32:
        raise DecryptError("malformed age header: the MAC is not 32 bytes")
    covered = header[:header.rfind(b"\n--- ") + 4]
    return fmt, stanzas, covered, mac


def read_header(first: bytes) -> tuple[Format, list[Stanza], bytes, bytes, bytes] | None:
    """Parse the header at the start of ``first``: ``(format, stanzas, covered, mac, rest)``,
    or None when more input is needed."""
    if first.startswith(ARMOR_BEGIN):
        raise DecryptError("ASCII-armored age files are not supported: decrypt with `age -d` or "
                           "encrypt without -a")
    if len(first) >= 64 and not any(first.startswith(f.intro[:16]) for f in FORMATS.values()):
        raise NotEncryptedError("not an age-encrypted file (no age-encryption.org/v1 line)")
    split = split_header(first)
    if split is None:
        if len(first) > MAX_HEADER:
            raise NotEncryptedError(f"not an age-encrypted file (no header end in {MAX_HEADER} bytes)")
        return None
    header, rest = split
    fmt, stanzas, covered, mac = parse_header(header)
    return fmt, stanzas, covered, mac, rest


def check_header_mac(file_key: bytes, covered: bytes, mac: bytes) -> None:
    if not hmac.compare_digest(header_mac(file_key, covered), mac):
        raise DecryptError("the header MAC does not match: the header was altered")
