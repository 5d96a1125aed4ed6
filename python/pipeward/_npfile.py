"""NumPy ``.npy``/``.npz`` files read without pickle, a damaged file being a ``ValueError``."""

from __future__ import annotations

import os
import zipfile
import zlib

import numpy as np

__all__ = ["load_npy", "load_npz"]


def load_npy(path: str | os.PathLike[str]) -> np.ndarray:
    """The array in an ``.npy`` file (no pickle)."""
    with open(path, "rb") as fh:
        try:
            return np.load(fh, allow_pickle=False)
        except EOFError as exc:
            raise ValueError(f"{os.fspath(path)}: not a readable .npy file (empty or "
                             f"truncated: {exc})") from None
        except ValueError as exc:
            raise ValueError(f"{os.fspath(path)}: not a readable .npy file: {exc}") from None


def load_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every array in an ``.npz`` archive by name, in the archive's order (no pickle); the
    archive is read whole here, so a truncated or corrupted one (bad CRC) fails now."""
    with open(path, "rb") as fh:  # np.load leaks the file it opened when the zip is bad
        try:
            archive = np.load(fh, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("it holds one .npy array, not an archive")
            with archive as z:
                return {k: z[k] for k in z.files}
        except (EOFError, zipfile.BadZipFile, zlib.error, ValueError) as exc:
            raise ValueError(f"{os.fspath(path)}: not a readable .npz archive: {exc}") from None
