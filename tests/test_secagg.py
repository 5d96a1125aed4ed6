"""pw.secagg: the mask kernel against RFC 8439 and OpenSSL, Shamir sharing, and whole rounds
of the protocol with and without dropouts."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import isa_fixture
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from pipeward import _core, secagg
from pipeward.reference import secagg as ref
from pipeward.secagg import shamir

isa = isa_fixture(skip=("sha_ni",))
per_isa = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None,
                   max_examples=40)


# ---- the native mask kernel ----------------------------------------------------------------

@pytest.mark.native
def test_mask_matches_rfc8439_block_vector(isa):
    # RFC 8439 section 2.3.2: key 00..1f, nonce 000000090000004a00000000, block counter 1.
    key = bytes(range(32))
    nonce = bytes.fromhex("000000090000004a00000000")
    expected = bytes.fromhex(
        "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
        "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e")
    out = np.zeros(16, np.uint32)
    _core.secagg_mask_accumulate(out, key, nonce, first_block=1)
    assert out.astype("<u4").tobytes() == expected


@pytest.mark.native
@per_isa
@given(n=st.integers(0, 3000), first_block=st.integers(0, 2**32 - 200), subtract=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_mask_matches_openssl_keystream(isa, n, first_block, subtract, seed):
    rng = np.random.default_rng(seed)
    key, nonce = rng.bytes(32), rng.bytes(12)
    start = rng.integers(0, 2**32, n, dtype=np.uint32)
    out = start.copy()
    _core.secagg_mask_accumulate(out, key, nonce, first_block=first_block, subtract=subtract,
                                 workers=int(rng.integers(1, 3)))
    expected = ref.mask_accumulate(start, key, nonce, first_block=first_block, subtract=subtract)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.native
def test_mask_is_threaded_consistently():
    key = os.urandom(32)
    one, many = np.zeros(100_003, np.uint32), np.zeros(100_003, np.uint32)
    _core.secagg_mask_accumulate(one, key, bytes(12), workers=1)
    _core.secagg_mask_accumulate(many, key, bytes(12), workers=4)
    np.testing.assert_array_equal(one, many)
    np.testing.assert_array_equal(one, ref.mask_words(key, bytes(12), one.shape[0]))


@pytest.mark.native
def test_mask_bad_inputs_are_clear_errors():
    key, nonce = bytes(32), bytes(12)
    with pytest.raises(TypeError, match="uint32"):
        _core.secagg_mask_accumulate(np.zeros(4, np.int32), key, nonce)
    with pytest.raises(ValueError, match="1-d"):
        _core.secagg_mask_accumulate(np.zeros((2, 2), np.uint32), key, nonce)
    with pytest.raises(ValueError, match="contiguous"):
        _core.secagg_mask_accumulate(np.zeros(8, np.uint32)[::2], key, nonce)
    with pytest.raises(ValueError, match="32 bytes"):
        _core.secagg_mask_accumulate(np.zeros(4, np.uint32), bytes(31), nonce)
    with pytest.raises(TypeError, match="bytes"):
        _core.secagg_mask_accumulate(np.zeros(4, np.uint32), "k" * 32, nonce)
    with pytest.raises(ValueError, match="12 bytes"):
        _core.secagg_mask_accumulate(np.zeros(4, np.uint32), key, bytes(8))
    with pytest.raises(ValueError, match="2\\^32 blocks"):  # the block counter must not wrap
        _core.secagg_mask_accumulate(np.zeros(17, np.uint32), key, nonce, first_block=2**32 - 1)
    frozen = np.zeros(4, np.uint32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        _core.secagg_mask_accumulate(frozen, key, nonce)


# ---- Shamir ----------------------------------------------------------------------------------

@settings(deadline=None, max_examples=30)
@given(n=st.integers(2, 20), data=st.data())
def test_shamir_any_threshold_subset_recovers(n, data):
    t = data.draw(st.integers(1, n))
    secret = os.urandom(32)
    shares = shamir.split(secret, t, list(range(1, n + 1)))
    subset = data.draw(st.permutations(shares)).__getitem__(slice(0, data.draw(st.integers(t, n))))
    assert shamir.combine(list(subset)) == secret
    assert all(shamir.Share.from_bytes(s.to_bytes()) == s for s in shares)


def test_shamir_fewer_than_threshold_recover_nothing():
    t, n = 4, 7
    secret = os.urandom(32)
    shares = shamir.split(secret, t, list(range(1, n + 1)))
    with pytest.raises(ValueError, match="threshold is 4"):
        shamir.combine(shares[: t - 1])
    # Perfect secrecy: t - 1 shares fit a degree t-1 polynomial through ANY secret, so they are
    # equally likely under every secret. Build that polynomial for another secret and check it
    # passes through the same t - 1 points.
    other = os.urandom(32)
    points = [(0, int.from_bytes(other, "big"))] + [(s.x, s.y) for s in shares[: t - 1]]
    fake = [shamir.Share(x, y, t) for x, y in points[1:]]
    extra = 100  # a point of that polynomial, found by interpolating at x = extra via a shift
    shifted = [(x - extra, y) for x, y in points]
    y_extra = shamir.interpolate_at_zero(shifted)
    assert shamir.combine(fake + [shamir.Share(extra, y_extra, t)]) == other
    assert shamir.combine(shares[: t - 1] + [shamir.Share(extra, y_extra, t)]) == other


def test_shamir_bad_inputs():
    with pytest.raises(ValueError, match="32 bytes"):
        shamir.split(b"short", 2, [1, 2])
    with pytest.raises(ValueError, match="threshold"):
        shamir.split(bytes(32), 3, [1, 2])
    with pytest.raises(ValueError, match="distinct"):
        shamir.split(bytes(32), 2, [1, 1])
    with pytest.raises(ValueError, match="distinct"):
        shamir.split(bytes(32), 2, [0, 1])
    a = shamir.split(bytes(32), 2, [1, 2])
    b = shamir.split(bytes(32), 3, [1, 2, 3])
    with pytest.raises(ValueError, match="different thresholds"):
        shamir.combine([a[0], b[1]])
    with pytest.raises(ValueError, match="bytes"):
        shamir.Share.from_bytes(b"\x00" * 5)


# ---- whole rounds ----------------------------------------------------------------------------

def run_round(updates, threshold, *, drop_before_sharing=(), drop_after_sharing=(), clip=1.0):
    n, p = updates.shape
    quantizer = secagg.Quantizer(clip, n)
    clients = [secagg.Client(i, quantizer, threshold) for i in range(n)]
    server = secagg.Server(quantizer, threshold, p)
    roster = server.collect_keys({c.id: c.advertise_keys() for c in clients})
    sharing = [c for c in clients if c.id not in drop_before_sharing]
    inbox = server.route_shares({c.id: c.share_keys(roster) for c in sharing})
    masking = [c for c in sharing if c.id not in drop_after_sharing]
    masked = {c.id: c.masked_input(updates[c.id], inbox[c.id]) for c in masking}
    survivors = server.collect_masked(masked)
    total = server.unmask({c.id: c.unmask(survivors) for c in masking})
    return server, quantizer, masked, survivors, total


@settings(deadline=None, max_examples=12)
@given(n=st.integers(3, 9), p=st.integers(1, 600), data=st.data())
def test_recovered_sum_is_the_quantized_sum_exactly(n, p, data):
    threshold = data.draw(st.integers(2, n))
    dropped = data.draw(st.lists(st.integers(0, n - 1), unique=True, max_size=n - threshold))
    split = data.draw(st.integers(0, len(dropped)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    updates = rng.uniform(-1.5, 1.5, (n, p))  # some coordinates past the clip: they are clipped
    server, quantizer, _, survivors, total = run_round(
        updates, threshold, drop_before_sharing=dropped[:split], drop_after_sharing=dropped[split:])
    assert survivors == sorted(set(range(n)) - set(dropped))
    expected = np.zeros(p, np.uint32)
    for u in survivors:
        expected += quantizer.encode(updates[u])
    np.testing.assert_array_equal(server.quantized_sum, expected)
    clipped = np.clip(updates[survivors], -1.0, 1.0).sum(axis=0)
    np.testing.assert_allclose(total, clipped, rtol=0, atol=len(survivors) * 0.5 / quantizer.scale)


def test_every_client_at_the_clip_does_not_wrap():
    # Regression: with scale (2^31 - 1) / (n * clip), rounding 536870911.75 up made 4 clients at
    # +clip sum to 2^31, which wrapped to -4.0.
    updates = np.vstack([np.full((4, 3), 1.0), np.full((4, 3), -1.0)])
    for rows in (updates[:4], updates[4:]):
        server, quantizer, _, _, total = run_round(rows, 3)
        np.testing.assert_allclose(total, rows.sum(axis=0), atol=4 * 0.5 / quantizer.scale)


def test_more_dropouts_than_the_threshold_allows_fail_clearly():
    updates = np.random.default_rng(1).uniform(-1, 1, (6, 10))
    with pytest.raises(ValueError, match="fewer than the threshold 4"):
        run_round(updates, 4, drop_after_sharing=(0, 1, 2))


def test_one_masked_vector_looks_uniform():
    # Only a client's own zero update: anything but uniform words would show in the masked vector.
    updates = np.zeros((5, 200_000))
    _, _, masked, _, _ = run_round(updates, 3)
    for y in masked.values():
        counts = np.bincount(y >> np.uint32(24), minlength=256)  # the top byte, 256 bins
        assert stats.chisquare(counts).pvalue > 1e-4
        low = np.bincount(y & np.uint32(255), minlength=256)
        assert stats.chisquare(low).pvalue > 1e-4
    assert stats.chisquare(np.bincount(np.zeros(200_000, np.uint32) >> 24, minlength=256)).pvalue < 1e-4


def test_protocol_bad_inputs_are_clear_errors():
    q = secagg.Quantizer(1.0, 4)
    with pytest.raises(ValueError, match="clip"):
        secagg.Quantizer(float("nan"), 4)
    with pytest.raises(ValueError, match="n_clients"):
        secagg.Quantizer(1.0, 0)
    with pytest.raises(TypeError, match="1-d float"):
        q.encode(np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="NaN"):
        q.encode(np.array([np.nan]))
    with pytest.raises(ValueError, match="threshold"):
        secagg.Client(0, q, 1)
    with pytest.raises(ValueError, match="client_id"):
        secagg.Client(-1, q, 2)
    with pytest.raises(TypeError, match="Quantizer"):
        secagg.Server(1.0, 2, 3)  # type: ignore[arg-type]
    clients = [secagg.Client(i, q, 3) for i in range(4)]
    server = secagg.Server(q, 3, 5)
    with pytest.raises(ValueError, match="fewer than the threshold"):
        server.collect_keys({c.id: c.advertise_keys() for c in clients[:2]})
    roster = server.collect_keys({c.id: c.advertise_keys() for c in clients})
    with pytest.raises(RuntimeError, match="share_keys first"):
        clients[0].masked_input(np.zeros(5), {})
    shares = {c.id: c.share_keys(roster) for c in clients}
    with pytest.raises(RuntimeError, match="share_keys: already called"):
        clients[0].share_keys(roster)
    inbox = server.route_shares(shares)
    tampered = dict(inbox[1])
    tampered[0] = bytes([tampered[0][0] ^ 1]) + tampered[0][1:]
    with pytest.raises(ValueError, match="fail authentication"):
        clients[1].masked_input(np.zeros(5), tampered)
    masked = {c.id: c.masked_input(np.zeros(5), inbox[c.id]) for c in clients}
    with pytest.raises(RuntimeError, match="masked_input: already called"):
        clients[0].masked_input(np.ones(5), inbox[0])
    with pytest.raises(TypeError, match="uint32 array of shape \\(5,\\)"):
        server.collect_masked({**masked, 0: masked[0][:4]})
    survivors = server.collect_masked(masked)
    with pytest.raises(RuntimeError, match="already called"):
        server.collect_masked(masked)
    answer = clients[0].unmask(survivors)
    with pytest.raises(RuntimeError, match="already answered"):
        clients[0].unmask(survivors)
    with pytest.raises(ValueError, match="fewer than the threshold"):
        server.unmask({0: answer})
    partial = secagg.UnmaskShares(self_mask=dict(list(answer.self_mask.items())[:2]), mask_key={})
    with pytest.raises(ValueError, match="self-mask shares of the survivors"):
        server.unmask({0: answer, 1: clients[1].unmask(survivors), 2: partial})
