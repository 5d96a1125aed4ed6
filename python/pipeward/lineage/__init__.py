"""Signed lineage: each pipeline step as an in-toto Statement v1 in a DSSE envelope
(:func:`attest`), and the walk from a model back to trusted data (:func:`verify`)."""

from __future__ import annotations

from .attest import PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE, attest
from .dsse import EnvelopeError
from .verify import LineageReport, Step, verify

__all__ = ["PAYLOAD_TYPE", "PREDICATE_TYPE", "STATEMENT_TYPE", "EnvelopeError", "LineageReport",
           "Step", "attest", "verify"]
