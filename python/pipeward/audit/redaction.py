"""The key that redacted fields are pseudonymised with, kept outside the log.

A redacted field is stored as ``"hmac-sha256:" + HMAC-SHA256(key, canonical_json(value))``. The
pseudonym hides the value only from those without the key: with it, trying every candidate value
finds a short or numeric one at once. So the key never goes into the database (which is
readable by whoever may read the log) but comes from the caller, a key file, or the
environment variable :data:`REDACTION_KEY_ENV` (hex), and a value that is easy to guess is
warned about.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Union

from .canonical import JSONValue, canonical_json, canonical_text

__all__ = ["MIN_KEY_BYTES", "PSEUDONYM_PREFIX", "REDACTION_KEY_ENV", "RedactionKey", "RedactionWarning",
           "load_redaction_key", "pseudonym", "warn_if_guessable"]

PSEUDONYM_PREFIX = "hmac-sha256:"
#: the environment variable read when no key is passed: the key as hex digits
REDACTION_KEY_ENV = "PIPEWARD_AUDIT_REDACTION_KEY"
MIN_KEY_BYTES = 16
#: shorter than this, or only digits and separators, a value is easy to guess
GUESSABLE_LENGTH = 8
_GUESSABLE = re.compile(r"[\d\s+\-.()/:,]*")

_HERE = os.path.dirname(os.path.abspath(__file__))

RedactionKey = Union[bytes, bytearray, str, "os.PathLike[str]"]


class RedactionWarning(UserWarning):
    """A redacted value is short or numeric: whoever holds the key can find it by guessing."""


def _from_hex(text: str, where: str) -> bytes:
    text = text.strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{where}: expected the key as hex digits (make one with "
                         "`python -c 'import secrets; print(secrets.token_hex(32))'`), got "
                         f"{len(text)} characters that are not hex") from None
    return _long_enough(key, where)


def _long_enough(key: bytes, where: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"{where}: expected a key of at least {MIN_KEY_BYTES} bytes (32 recommended), "
                         f"got {len(key)}")
    return key


def load_redaction_key(key: RedactionKey) -> bytes:
    """The key from raw bytes, or from a file holding it as hex digits (a path)."""
    if isinstance(key, (bytes, bytearray)):
        return _long_enough(bytes(key), "redaction_key")
    if isinstance(key, (str, os.PathLike)):
        path = Path(key)
        try:
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"redaction_key: cannot read the key file {path}: "
                             f"{getattr(exc, 'strerror', None) or exc}") from None
        return _from_hex(text, f"redaction key file {path}")
    raise TypeError(f"redaction_key: expected bytes or the path of a key file, got {type(key).__name__}")


def key_from_environment() -> bytes | None:
    """The key in :data:`REDACTION_KEY_ENV`, or None when it is not set."""
    value = os.environ.get(REDACTION_KEY_ENV)
    return None if value is None else _from_hex(value, REDACTION_KEY_ENV)


def pseudonym(key: bytes, value: JSONValue) -> str:
    return PSEUDONYM_PREFIX + hmac.new(key, canonical_json(value), hashlib.sha256).hexdigest()


def _outside_caller() -> int:
    """The ``stacklevel`` of the first frame outside this package: the line that asked."""
    frame, level = sys._getframe(2), 2
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == _HERE:
        frame, level = frame.f_back, level + 1
    return level


def warn_if_guessable(name: str, value: JSONValue) -> None:
    """Warn when ``value`` is short or numeric: its pseudonym falls to a few guesses."""
    text = value if isinstance(value, str) else canonical_text(value)
    if len(text) < GUESSABLE_LENGTH or _GUESSABLE.fullmatch(text):
        warnings.warn(f"redacting field {name!r}: a short or numeric value ({len(text)} characters) "
                      "can be guessed from its pseudonym by anyone who holds the redaction key; "
                      "redact a longer identifier or keep the key where few can read it",
                      RedactionWarning, stacklevel=_outside_caller())
