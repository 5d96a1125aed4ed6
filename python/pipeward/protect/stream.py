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

__all__ = ["CHUNK", "TAG", "Source", "open_chunks", "seal_chunks"]

CHUNK = 64 * 1024
TAG = 16
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


def seal_chunks(aead: Any, src: Source) -> Iterator[tuple[memoryview, memoryview]]:
    """``(plaintext, ciphertext)`` of each chunk in order; both views are valid until the next
    step. One chunk is read ahead, so the last one is known when it is sealed."""
    bufs = (bytearray(CHUNK), bytearray(CHUNK))
    out = bytearray(CHUNK + TAG)
    out_view = memoryview(out)
    cur, n = 0, src.fill(bufs[0])
    counter = 0
    while True:
        nxt = src.fill(bufs[1 - cur]) if n == CHUNK else 0
        last = nxt == 0
        plain = memoryview(bufs[cur])[:n]
        sealed = out_view[:n + TAG]
        aead.encrypt_into(chunk_nonce(counter, last), plain, None, sealed)
        yield plain, sealed
        if last:
            return
        cur, n, counter = 1 - cur, nxt, counter + 1


def _opens(aead: Any, counter: int, last: bool, chunk: memoryview, out: memoryview) -> bool:
    try:
        aead.decrypt_into(chunk_nonce(counter, last), chunk, None, out)
    except InvalidTag:
        return False
    return True


def open_chunks(aead: Any, src: Source) -> Iterator[memoryview]:
    """The authenticated plaintext of each chunk in order (a view valid until the next step).
    Raises :class:`DecryptError` at the first chunk that does not authenticate, before any of
    its bytes are released."""
    size = CHUNK + TAG
    bufs = (bytearray(size), bytearray(size))
    out = bytearray(CHUNK)
    out_view = memoryview(out)
    cur, n = 0, src.fill(bufs[0])
    counter = 0
    while True:
        nxt = src.fill(bufs[1 - cur]) if n == size else 0
        last = nxt == 0
        if n < TAG:
            raise DecryptError("the payload is truncated" if counter or n else
                               "the payload is missing (truncated after the header)")
        chunk = memoryview(bufs[cur])[:n]
        plain = out_view[:n - TAG]
        if not _opens(aead, counter, last, chunk, plain):
            raise DecryptError(_why(aead, counter, last, chunk, plain))
        if last and n == TAG and counter:
            raise DecryptError("the final chunk is empty: not a valid age v1 payload")
        yield plain
        if last:
            return
        cur, n, counter = 1 - cur, nxt, counter + 1


def _why(aead: Any, counter: int, last: bool, chunk: memoryview, scratch: memoryview) -> str:
    """Name the failure of chunk ``counter`` (the scratch output is discarded either way)."""
    if _opens(aead, counter, not last, chunk, scratch):
        if last:
            return (f"the file is truncated: it ends after chunk {counter}, which is not the "
                    f"final chunk")
        return f"data follows the final chunk {counter}: the file was appended to"
    return (f"chunk {counter} does not authenticate: the payload was altered, reordered or "
            f"truncated")
