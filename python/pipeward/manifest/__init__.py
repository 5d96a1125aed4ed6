"""Manifests of directory trees: SHA-256 of every file, an RFC 6962 Merkle root over the
sorted entries, Ed25519 signatures, verification that names exactly what changed, GNU
``sha256sum`` check files, and a digest cache for incremental re-builds."""

from __future__ import annotations

from ._hashing import FileChangedError
from .checkfile import format_checkfile, parse_checkfile, verify_checkfile
from .entries import Entry, ManifestError
from .manifest import InclusionProof, Manifest, verify_inclusion
from .verify import NotTheTreeError, Verification
from .walk import ManifestWarning

__all__ = [
    "Entry",
    "FileChangedError",
    "InclusionProof",
    "Manifest",
    "ManifestError",
    "ManifestWarning",
    "NotTheTreeError",
    "Verification",
    "format_checkfile",
    "parse_checkfile",
    "verify_checkfile",
    "verify_inclusion",
]
