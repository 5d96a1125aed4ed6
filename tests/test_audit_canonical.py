"""Canonical JSON and record bodies: the exact bytes a record hashes as."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeward.audit import canonical_json, canonical_text
from pipeward.audit.chain import GENESIS, Record, body_bytes, format_timestamp, record_hash

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def test_documented_examples():
    assert canonical_json({"b": 1, "a": [1.0, 0.1, 1e-07, 1e16, True, None, "é\n\"\\"]}) == (
        '{"a":[1.0,0.1,1e-07,1e+16,true,null,"é\\n\\"\\\\"],"b":1}'.encode())
    assert canonical_json({"\u00e9": 1, "z": 2, "A": 3}) == '{"A":3,"z":2,"é":1}'.encode()
    assert canonical_json(2**70) == b"1180591620717411303424"
    assert canonical_json("\x01") == b'"\\u0001"'


@given(json_values)
def test_round_trip_and_agreement_with_json_module(value):
    text = canonical_text(value)
    assert json.loads(text) == json.loads(json.dumps(value))  # same value back
    assert canonical_text(json.loads(text)) == text  # parsing and re-serialising is stable
    assert text == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("bad, error", [
    (float("nan"), ValueError), (math.inf, ValueError), ({"x": [1, -math.inf]}, ValueError),
    ({1: "int key"}, TypeError), ({"s": {1, 2}}, TypeError), (b"bytes", TypeError),
    (np.float64(1.5), TypeError), ({"x": np.int64(3)}, TypeError), ("\ud800", ValueError),
])
def test_values_outside_the_subset_are_refused(bad, error):
    with pytest.raises(error):
        canonical_json(bad)


def test_numpy_values_get_a_hint():
    with pytest.raises(TypeError, match="NumPy value"):
        canonical_json({"x": np.float32(1)})


@given(seq=st.integers(0, 2**62), ts=st.text(), actor=st.text(), action=st.text(),
       subject=st.text(), payload=st.dictionaries(st.text(max_size=6), json_values, max_size=3))
def test_body_template_is_the_canonical_json_of_the_record(seq, ts, actor, action, subject, payload):
    obj = {"action": action, "actor": actor, "payload": payload, "seq": seq, "subject": subject, "ts": ts}
    try:
        expected = canonical_json(obj)
    except ValueError:  # lone surrogates: refused on append before any body is built
        return
    assert body_bytes(seq, ts, actor, action, subject, canonical_text(payload)) == expected


def test_record_hash_is_sha256_of_prev_and_body():
    r = Record(3, "2026-01-01T00:00:00.000000Z", "alice", "x.y", "s", {"k": 1}, "ab" * 32, "")
    body = r.body()
    assert record_hash(bytes.fromhex("ab" * 32), body) == hashlib.sha256(bytes.fromhex("ab" * 32) + body).digest()
    assert r.computed_hash() == record_hash(bytes.fromhex("ab" * 32), body).hex()
    assert body.endswith(b'"ts":"2026-01-01T00:00:00.000000Z"}')  # the verifier reads ts from here
    assert GENESIS == bytes(32)


def test_timestamps_are_utc_fixed_width():
    from datetime import datetime, timedelta, timezone

    plus2 = timezone(timedelta(hours=2))
    assert format_timestamp(datetime(2026, 3, 1, 12, 0, 0, tzinfo=plus2)) == "2026-03-01T10:00:00.000000Z"
    assert format_timestamp(datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=timezone.utc)) == "2026-03-01T12:00:00.000005Z"
    with pytest.raises(ValueError, match="naive"):
        format_timestamp(datetime(2026, 3, 1))
    with pytest.raises(TypeError, match="datetime"):
        format_timestamp("2026-03-01")  # type: ignore[arg-type]
