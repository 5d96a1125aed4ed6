"""Data protection at ingestion: encryption at rest in the age v1 format (and an AES-256-GCM
variant), X25519 identities and recipients; keyed tokenization of personal data."""

from __future__ import annotations

from .encryption import (Cipher, DecryptError, EncryptResult, decrypt_file, decrypt_stream,
                         encrypt_file, encrypt_stream, plaintext_chunks)
from .header import NotEncryptedError
from .erase import ErasureReport, erase, models_derived_from
from .keys import Identity, Recipient, generate_identity, load_identities, load_recipients
from .mask import mask, mask_value
from .scan import PiiReport, scan
from .tokenize import tokenize
from .vault import TokenVault

__all__ = [
    "Cipher",
    "DecryptError",
    "EncryptResult",
    "ErasureReport",
    "Identity",
    "NotEncryptedError",
    "PiiReport",
    "Recipient",
    "TokenVault",
    "decrypt_file",
    "decrypt_stream",
    "encrypt_file",
    "encrypt_stream",
    "erase",
    "generate_identity",
    "load_identities",
    "load_recipients",
    "mask",
    "mask_value",
    "models_derived_from",
    "plaintext_chunks",
    "scan",
    "tokenize",
]
