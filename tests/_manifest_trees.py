"""Shared by the manifest tests: write a tree of files given as {relative path bytes: data}."""

from __future__ import annotations

import os


def make_tree(base, files: dict[bytes, bytes]) -> bytes:
    root = os.fsencode(base)
    os.makedirs(root, exist_ok=True)
    for rel, data in files.items():
        full = os.path.join(root, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
    return root


def spy_on_hashing(monkeypatch) -> list[bytes]:
    """Record every path the manifest code hands to the native hasher (the files it reads)."""
    from pipeward.manifest import _hashing

    seen: list[bytes] = []
    real = _hashing.hash_files_raw

    def spy(paths, workers=None, **kwargs):
        seen.extend(paths)
        return real(paths, workers, **kwargs)

    monkeypatch.setattr(_hashing, "hash_files_raw", spy)
    return seen
