"""Encrypt and decrypt files and streams in the age v1 format (or pipeward's AES-256-GCM
variant of it), in bounded memory: a few 1 MiB batches of chunks at a time (11 MiB with both
digests), whatever the size."""

from __future__ import annotations

import os
import tempfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from .._logging import logged
from ..hashing import Sha256
from . import header as hdr
from .header import DecryptError, Format
from .keys import IdentityLike, RecipientLike, load_identities, load_recipients
from .stream import Source, open_batches, seal_batches

__all__ = ["Cipher", "DecryptError", "EncryptResult", "decrypt_file", "decrypt_stream",
           "encrypt_file", "encrypt_stream", "plaintext_chunks"]

Cipher = Literal["chacha20-poly1305", "aes-256-gcm"]
_FORMATS: dict[str, Format] = {"chacha20-poly1305": hdr.AGE, "aes-256-gcm": hdr.AES_GCM}
DEFAULT_WORK_FACTOR = 18  # age's default scrypt log2 N
# Batches (1 MiB each) a digest may run behind the sealing: slack for a hashing thread that
# lost its core to catch up without stalling the sealing (1.2x faster than 1 on a busy 2-core box).
_LAG = 4


@dataclass(frozen=True)
class EncryptResult:
    """Sizes of what was read and written; the SHA-256 digests (hex) when asked for."""

    plaintext_size: int
    ciphertext_size: int
    plaintext_sha256: str | None = None
    ciphertext_sha256: str | None = None


def _passphrase_bytes(passphrase: str | bytes) -> bytes:
    if isinstance(passphrase, str):
        passphrase = passphrase.encode("utf-8")
    if not isinstance(passphrase, bytes):
        raise TypeError(f"passphrase must be str or bytes, got {type(passphrase).__name__}")
    if not passphrase:
        raise ValueError("the passphrase is empty")
    return passphrase


def encrypt_stream(src: BinaryIO, dst: BinaryIO, *,
                   recipients: RecipientLike | Iterable[RecipientLike] | None = None,
                   passphrase: str | bytes | None = None, cipher: Cipher = "chacha20-poly1305",
                   work_factor: int = DEFAULT_WORK_FACTOR, digests: bool = False) -> EncryptResult:
    """Encrypt everything ``src`` holds to ``dst`` for ``recipients`` (``age1...`` keys) or
    under ``passphrase`` (scrypt, log2 N = ``work_factor``).

    ``cipher="chacha20-poly1305"`` writes age v1, which ``age -d`` reads;
    ``"aes-256-gcm"`` writes pipeward's variant with FIPS-approved AEADs (see docs/protect.md).
    With ``digests=True`` the SHA-256 of the plaintext and of the ciphertext are computed on
    the way, without a second read.
    """
    fmt = _FORMATS.get(cipher)  # type: ignore[arg-type]
    if fmt is None:
        raise ValueError(f"cipher must be one of {sorted(_FORMATS)}, got {cipher!r}")
    if (recipients is None) == (passphrase is None):
        raise ValueError("give exactly one of recipients= and passphrase=")
    file_key = os.urandom(hdr.FILE_KEY_SIZE)
    if passphrase is not None:
        if isinstance(work_factor, bool) or not isinstance(work_factor, int) or not 1 <= work_factor <= 30:
            raise ValueError(f"work_factor must be an integer in [1, 30], got {work_factor!r}")
        stanzas = [hdr.scrypt_stanza(fmt, _passphrase_bytes(passphrase), file_key, work_factor)]
    else:
        stanzas = [hdr.x25519_stanza(fmt, r, file_key) for r in load_recipients(recipients)]  # type: ignore[arg-type]
    nonce = os.urandom(16)
    head = hdr.write_header(fmt, stanzas, file_key) + nonce
    aead = fmt.aead(hdr.hkdf(file_key, nonce, b"payload"))
    dst.write(head)
    if not digests:
        size_in, size_out = 0, len(head)
        for plain, sealed in seal_batches(aead, Source(src)):
            dst.write(sealed)
            size_in += len(plain)
            size_out += len(sealed)
        return EncryptResult(size_in, size_out)
    return _encrypt_with_digests(aead, src, dst, head)


def _encrypt_with_digests(aead: object, src: BinaryIO, dst: BinaryIO, head: bytes) -> EncryptResult:
    # Each digest runs on a helper thread of its own (in order within its stream), up to _LAG
    # batches behind the sealing, so the two SHA-256 passes and the AEAD run side by side (the
    # hashing releases the GIL). The batches' views stay valid _LAG steps more, and a batch's
    # hashes are awaited before the step that reuses its buffers; the slack lets a hashing
    # thread that lost its core catch up without stalling the sealing.
    plain_hash, cipher_hash = Sha256(), Sha256(head)
    size_in, size_out = 0, len(head)
    pending: deque[tuple[Future, Future]] = deque()
    with ThreadPoolExecutor(1) as plain_pool, ThreadPoolExecutor(1) as cipher_pool:
        for plain, sealed in seal_batches(aead, Source(src), lag=_LAG):
            pending.append((plain_pool.submit(plain_hash.update, plain),
                            cipher_pool.submit(cipher_hash.update, sealed)))
            dst.write(sealed)
            size_in += len(plain)
            size_out += len(sealed)
            if len(pending) > _LAG:
                for done in pending.popleft():
                    done.result()
        for batch in pending:
            for done in batch:
                done.result()
    return EncryptResult(size_in, size_out, plain_hash.hexdigest(), cipher_hash.hexdigest())


def plaintext_chunks(src: BinaryIO, *, identity: IdentityLike | Iterable[IdentityLike] | None = None,
                     passphrase: str | bytes | None = None,
                     max_work_factor: int = hdr.MAX_WORK_FACTOR,
                     source: Source | None = None) -> Iterator[memoryview]:
    """The authenticated plaintext of an age (or AES-256-GCM variant) stream, in pieces of up to
    1 MiB, each a view valid until the next is asked for. The header is read and its MAC checked before the
    first chunk; a chunk that does not authenticate raises :class:`DecryptError` instead."""
    if (identity is None) == (passphrase is None):
        raise ValueError("give exactly one of identity= and passphrase=")
    identities = load_identities(identity) if identity is not None else []
    secret = _passphrase_bytes(passphrase) if passphrase is not None else None
    reader = source if source is not None else Source(src)
    first = b""
    while True:
        more = reader.read_some(4096)
        first += more
        parsed = hdr.read_header(first)
        if parsed is not None:
            break
        if not more:
            if not first:
                raise hdr.NotEncryptedError("not an age-encrypted file (empty)")
            raise DecryptError("the header is truncated, or this is not an age-encrypted file")
    fmt, stanzas, covered, mac, rest = parsed
    file_key = hdr.unwrap_file_key(fmt, stanzas, identities=identities, passphrase=secret,
                                   max_work_factor=max_work_factor)
    hdr.check_header_mac(file_key, covered, mac)
    if reader.on_read is not None:  # the hashing hook sees the header bytes too
        reader.on_read(memoryview(first[:len(first) - len(rest)]))
    reader.push_back(rest)
    nonce = bytearray(16)
    if reader.fill(nonce) != 16:
        raise DecryptError("the payload is missing (truncated after the header)")
    aead = fmt.aead(hdr.hkdf(file_key, bytes(nonce), b"payload"))
    yield from open_batches(aead, reader)


def decrypt_stream(src: BinaryIO, dst: BinaryIO, *,
                   identity: IdentityLike | Iterable[IdentityLike] | None = None,
                   passphrase: str | bytes | None = None,
                   max_work_factor: int = hdr.MAX_WORK_FACTOR) -> int:
    """Decrypt ``src`` to ``dst``; returns the plaintext size. The format (age v1 or the
    AES-256-GCM variant) is read from the header.

    Each 64 KiB chunk is written only once its tag verifies; if a later chunk fails, a
    :class:`DecryptError` is raised and what was written so far must be discarded (as with
    ``age -d``). :func:`decrypt_file` does that for you.
    """
    n = 0
    for plain in plaintext_chunks(src, identity=identity, passphrase=passphrase,
                                  max_work_factor=max_work_factor):
        dst.write(plain)
        n += len(plain)
    return n


class _AtomicOutput:
    """A temporary file beside ``dst`` (mode 0600) that becomes ``dst`` only on success."""

    def __init__(self, dst: str | os.PathLike[str]) -> None:
        self.dst = Path(dst)
        fd, self.tmp = tempfile.mkstemp(dir=self.dst.parent or ".", prefix=f".{self.dst.name}.",
                                        suffix=".partial")
        self.file = os.fdopen(fd, "wb")

    def __enter__(self) -> BinaryIO:
        return self.file  # type: ignore[return-value]

    def __exit__(self, kind: object, *_: object) -> None:
        self.file.close()
        if kind is None:
            os.replace(self.tmp, self.dst)
        else:
            os.unlink(self.tmp)


def _distinct(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    if os.path.exists(dst) and os.path.samefile(src, dst):
        raise ValueError(f"the output {os.fspath(dst)!r} is the input file")


@logged("pipeward.protect", "encrypt file", lambda r: f"{r.plaintext_size} bytes")
def encrypt_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
                 recipients: RecipientLike | Iterable[RecipientLike] | None = None,
                 passphrase: str | bytes | None = None, cipher: Cipher = "chacha20-poly1305",
                 work_factor: int = DEFAULT_WORK_FACTOR, digests: bool = False,
                 audit: Any = None, dataset: str | None = None) -> EncryptResult:
    """:func:`encrypt_stream` from file ``src`` to file ``dst``; ``dst`` appears only once the
    whole file is encrypted. With ``audit`` a ``data.encrypted`` record names ``dst``."""
    _distinct(src, dst)
    with open(src, "rb") as f, _AtomicOutput(dst) as out:
        result = encrypt_stream(f, out, recipients=recipients, passphrase=passphrase,
                                cipher=cipher, work_factor=work_factor, digests=digests)
    if audit is not None:
        from .records import record_encrypted  # noqa: PLC0415

        record_encrypted(audit, dst, result, dataset=dataset,
                         scheme=f"{cipher}/{'passphrase' if passphrase is not None else 'x25519'}")
    return result


@logged("pipeward.protect", "decrypt file", lambda n: f"{n} bytes")
def decrypt_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
                 identity: IdentityLike | Iterable[IdentityLike] | None = None,
                 passphrase: str | bytes | None = None,
                 max_work_factor: int = hdr.MAX_WORK_FACTOR) -> int:
    """:func:`decrypt_stream` from file ``src`` to file ``dst``; ``dst`` appears (mode 0600)
    only once every chunk authenticated, so a tampered file leaves no plaintext behind."""
    _distinct(src, dst)
    with open(src, "rb") as f, _AtomicOutput(dst) as out:
        return decrypt_stream(f, out, identity=identity, passphrase=passphrase,
                              max_work_factor=max_work_factor)
