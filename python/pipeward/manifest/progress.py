"""A one-line progress bar on stderr, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``Progress(total, "hashing")``; ``advance(k)`` after each batch; ``close()`` at the end."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total, self.label, self.done = total, label, 0
        self.stream = stream if stream is not None else sys.stderr
        self._last = 0.0

    @staticmethod
    def wanted(progress: bool, stream: TextIO | None = None) -> bool:
        stream = stream if stream is not None else sys.stderr
        return bool(progress) and hasattr(stream, "isatty") and stream.isatty()

    def advance(self, k: int) -> None:
        self.done += k
        now = time.monotonic()
        if now - self._last >= 0.1 or self.done >= self.total:
            self._last = now
            frac = self.done / self.total if self.total else 1.0
            bar = "#" * int(30 * frac)
            self.stream.write(f"\r{self.label} [{bar:<30}] {self.done}/{self.total}")
            self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()
