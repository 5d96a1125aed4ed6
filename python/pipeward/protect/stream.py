"""The payload: STREAM (Hoang, Reyhanitabar, Rogaway, Vizár 2015) over 64 KiB chunks, as age v1.

``payload key = HKDF-SHA256(file key, salt=16-byte nonce, info="payload")``; chunk ``i`` is
sealed with the AEAD under the 12-byte nonce ``i`` (11 bytes, big-endian) ``|| last``, where
``last`` is 0x01 for the final chunk and 0x00 otherwise. Every chunk but the last holds exactly
64 KiB of plaintext; the last may be full, and is empty only when the whole plaintext is. A
chunk's plaintext is released only after its tag verifies; the final flag makes truncation at a
chunk boundary detectable, the counter makes reordering detectable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag

from .header import DecryptError

__all__ = ["BATCH", "CHUNK", "TAG", "Source", "open_batches", "seal_batches"]

CHUNK = 64 * 1024
TAG = 16
BATCH = 16  # chunks read, sealed or opened, and written per step
_MAX_COUNTER = 1 << 88


def chunk_nonce(counter: int, last: bool) -> bytes:
    if counter >= _MAX_COUNTER - 1:
        raise OverflowError("STREAM counter exhausted")
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class Source:
    """Reads a binary stream in full buffers, after first giving back ``pending`` bytes (what
    the header parser read past the header). ``on_read`` sees every byte read, in order."""

    __slots__ = ("_src", "_pending", "_readinto", "on_read")

    def __init__(self, src: BinaryIO, pending: bytes = b"",
                 on_read: Callable[[memoryview], Any] | None = None) -> None:
        self._src = src
        self._pending = pending
        self._readinto = getattr(src, "readinto", None)
        self.on_read = on_read

    def push_back(self, data: bytes) -> None:
        """Give ``data`` back: the next reads return it first."""
        self._pending = data + self._pending

    def read_some(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer only at the end of the stream), not passed to on_read."""
        if self._pending:
            data, self._pending = self._pending[:n], self._pending[n:]
            return data
        data = self._src.read(n)
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"expected a binary stream, whose read() gives bytes, got "
                            f"{type(data).__name__}")
        return bytes(data)

    def fill(self, buf: bytearray) -> int:
        """Fill ``buf`` as far as the stream goes; the count of bytes placed."""
        view = memoryview(buf)
        n = 0
        if self._pending:
            k = min(len(self._pending), len(buf))
            view[:k] = self._pending[:k]
            self._pending = self._pending[k:]
            n = k
        while n < len(buf):
            if self._readinto is not None:
                got = self._readinto(view[n:])
                if got is None:
                    raise ValueError("non-blocking streams are not supported")
            else:
                data = self._src.read(len(buf) - n)
                if not isinstance(data, (bytes, bytearray)):
                    raise TypeError("expected a binary stream, whose read() gives bytes, got "
                                    f"{type(data).__name__}")
                got = len(data)
                view[n:n + got] = data
            if not got:
                break
            n += got
        if self.on_read is not None and n:
            self.on_read(view[:n])
        return n


def _read_ahead(src: Source, block: int, lag: int = 0) -> Iterator[tuple[memoryview, bool]]:
    """``(batch, final)``: up to ``block`` bytes at a time, and whether the stream ends there
    (known by reading the next batch first). A view is valid until the next step, or ``lag``
    steps more (one buffer more each)."""
    bufs = [bytearray(block) for _ in range(2 + lag)]
    cur, n = 0, src.fill(bufs[0])
    while True:
        ahead = (cur + 1) % len(bufs)
        nxt = src.fill(bufs[ahead]) if n == block else 0
        yield memoryview(bufs[cur])[:n], nxt == 0
        if nxt == 0:
            return
        cur, n = ahead, nxt


def seal_batches(aead: Any, src: Source, *, lag: int = 0) -> Iterator[tuple[memoryview, memoryview]]:
    """``(plaintext, ciphertext)`` of up to :data:`BATCH` consecutive chunks at a time (both
    views valid until the next step, or ``lag`` steps more); batching keeps Python's per-call
    overhead off each 64 KiB chunk."""
    outs = [memoryview(bytearray(BATCH * (CHUNK + TAG))) for _ in range(1 + lag)]
    counter = 0
    for step, (plain, final) in enumerate(_read_ahead(src, CHUNK * BATCH, lag)):
        out = outs[step % len(outs)]
        chunks = max(1, -(-len(plain) // CHUNK))  # an empty stream is one empty final chunk
        pos = 0
        for j in range(chunks):
            piece = plain[j * CHUNK:(j + 1) * CHUNK]
            end = pos + len(piece) + TAG
            aead.encrypt_into(chunk_nonce(counter, final and j == chunks - 1), piece, None,
                              out[pos:end])
            pos, counter = end, counter + 1
        yield plain, out[:pos]


def _opens(aead: Any, counter: int, last: bool, chunk: memoryview, out: memoryview) -> bool:
    try:
        aead.decrypt_into(chunk_nonce(counter, last), chunk, None, out)
    except InvalidTag:
        return False
    return True


def open_batches(aead: Any, src: Source) -> Iterator[memoryview]:
    """The authenticated plaintext of up to :data:`BATCH` chunks at a time (a view valid until
    the next step). At the first chunk that does not authenticate, the chunks before it are
    given, then :class:`DecryptError` is raised: nothing of that chunk is ever released."""
    size = CHUNK + TAG
    out = memoryview(bytearray(CHUNK * BATCH))
    counter = 0
    for sealed, final in _read_ahead(src, size * BATCH):
        chunks = max(1, -(-len(sealed) // size))
        pos = 0
        for j in range(chunks):
            chunk = sealed[j * size:(j + 1) * size]
            last = final and j == chunks - 1
            plain = out[pos:pos + len(chunk) - TAG] if len(chunk) >= TAG else out[:0]
            if len(chunk) < TAG:
                error = ("the payload is truncated" if counter else
                         "the payload is missing (truncated after the header)")
            elif not _opens(aead, counter, last, chunk, plain):
                error = _why(aead, counter, last, chunk, plain)
            elif last and len(chunk) == TAG and counter:
                error = "the final chunk is empty: not a valid age v1 payload"
            else:
                pos, counter = pos + len(plain), counter + 1
                continue
            if pos:
                yield out[:pos]
            raise DecryptError(error)
        yield out[:pos]


def _why(aead: Any, counter: int, last: bool, chunk: memoryview, scratch: memoryview) -> str:
    """Name the failure of chunk ``counter`` (the scratch output is discarded either way)."""
    if _opens(aead, counter, not last, chunk, scratch):
        if last:
            return (f"the file is truncated: it ends after chunk {counter}, which is not the "
                    f"final chunk")
        return f"data follows the final chunk {counter}: the file was appended to"
    return (f"chunk {counter} does not authenticate: the payload was altered, reordered or "
            f"truncated")
