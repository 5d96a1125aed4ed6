"""Data protection at ingestion: encryption at rest in the age v1 format (and an AES-256-GCM
variant), X25519 identities and recipients; keyed tokenization of personal data."""

from __future__ import annotations

from .encryption import (Cipher, DecryptError, EncryptResult, decrypt_file, decrypt_stream,
                         encrypt_file, encrypt_stream, plaintext_chunks)
from .keys import Identity, Recipient, generate_identity, load_identities, load_recipients
from .tokenize import tokenize

__all__ = [
    "Cipher",
    "DecryptError",
    "EncryptResult",
    "Identity",
    "Recipient",
    "decrypt_file",
    "decrypt_stream",
    "encrypt_file",
    "encrypt_stream",
    "generate_identity",
    "load_identities",
    "load_recipients",
    "plaintext_chunks",
    "tokenize",
]
