"""Progress by bytes for long hashing jobs: a one-line bar on stderr (drawn only on a
terminal), or a callback ``(bytes_done, bytes_total)`` that the library calls instead."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO, Union

__all__ = ["ProgressArg", "ProgressBar", "reporter"]

Callback = Callable[[int, int], None]
# What ``progress=`` takes: False (nothing), True (a bar on a terminal), or a callback.
ProgressArg = Union[bool, Callback]


class ProgressBar:
    """``[#####.....]  42.0%  3/12 files  1.85 GB/s`` on ``stream``, redrawn at most every 0.1 s."""

    def __init__(self, total: int, label: str = "hashing", files: int | None = None,
                 stream: TextIO | None = None) -> None:
        self.total, self.label, self.files = total, label, files
        self.stream = stream if stream is not None else sys.stderr
        self._start = time.monotonic()
        self._last = 0.0

    def __call__(self, done: int, total: int | None = None, files_done: int | None = None) -> None:
        now = time.monotonic()
        total = self.total if total is None else total
        if now - self._last < 0.1 and done < total:
            return
        self._last = now
        frac = min(1.0, done / total) if total else 1.0
        filled = int(30 * frac)
        elapsed = now - self._start
        rate = done / elapsed / 1e9 if elapsed > 0 else 0.0
        count = f" {files_done}/{self.files} files" if files_done is not None and self.files else ""
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {frac:6.1%}"
                          f"{count} {rate:.2f} GB/s")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\r\033[K")
        self.stream.flush()


def reporter(progress: ProgressArg, total: int, files: int, label: str = "hashing",
             ) -> tuple[Callback | None, Callable[[], None]]:
    """``(report, close)`` for a job of ``total`` bytes in ``files`` files:
    ``report(bytes_done, files_done)``, None when nobody asked for progress (or ``True`` and
    stderr is not a terminal)."""
    if callable(progress) and not isinstance(progress, bool):
        user = progress
        return (lambda done, _files: user(done, total)), (lambda: None)
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or a callable (bytes_done, bytes_total), "
                        f"got {type(progress).__name__}")
    if progress and hasattr(sys.stderr, "isatty") and sys.stderr.isatty():
        bar = ProgressBar(total, label, files)
        return (lambda done, files_done: bar(done, files_done=files_done)), bar.close
    return None, (lambda: None)
