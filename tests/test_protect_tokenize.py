"""tokenize: batched native HMAC-SHA256 tokens equal to Python's hmac and to the RFC 2104
reference, on every CPU path, for every container kind."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pipeward import _core, protect
from pipeward.reference.hmac import hmac_sha256
from pipeward.reference.hmac import tokens as reference_tokens

KEY = b"\x00secret key\xff"
ISAS = list(_core.enabled_isas())


def peer(values, key=KEY, length=64):
    return [None if v is None else hmac.new(key, v.encode(), hashlib.sha256).hexdigest()[:length]
            for v in values]


# Lengths around the block edges: 55/56 bytes change the padding, 64 is a whole block.
EDGE = ["", "a", "x" * 55, "y" * 56, "z" * 63, "w" * 64, "v" * 119, "u" * 120, "é" * 28,
        "\x00", "tail\x00", "日本語テキスト", "🙂" * 20, "a" * 1000]


def test_the_reference_is_rfc_2104():
    for key in (b"", b"k", b"K" * 64, b"L" * 65, b"M" * 300):
        for msg in (b"", b"abc", b"q" * 200):
            assert hmac_sha256(key, msg) == hmac.digest(key, msg, "sha256")


def test_rfc_4231_vector():
    """RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"."""
    got = protect.tokenize(["what do ya want for nothing?"], b"Jefe")
    assert got == ["5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"]


@pytest.mark.native
@pytest.mark.parametrize("key", [b"k", KEY, b"K" * 64, b"L" * 65, b"M" * 300])
def test_every_path_matches_hmac_at_the_block_edges(isa, key):
    values = EDGE * 5  # more than 16 lanes, mixed lengths
    assert protect.tokenize(values, key) == peer(values, key)
    assert protect.tokenize(values[:7], key, backend="reference") == peer(values[:7], key)


@pytest.mark.native
@pytest.mark.parametrize("path", ISAS)
@given(values=st.lists(st.one_of(st.none(), st.text(max_size=150)), max_size=60),
       length=st.integers(1, 64), key=st.binary(min_size=1, max_size=100))
@example(values=[], length=64, key=b"k")
def test_random_unicode_matches_hmac(path, values, length, key):
    want = peer(values, key, length)
    before = _core.isa_limit()
    _core.set_isa_limit(path)
    try:
        assert protect.tokenize(values, key, length=length) == want
        assert protect.tokenize(np.array(values, dtype=object), key, length=length).tolist() == want
    finally:
        _core.set_isa_limit(before)


@pytest.mark.native
@given(values=st.lists(st.text(max_size=40), min_size=1, max_size=40))
def test_the_reference_backend_agrees(values):
    assert protect.tokenize(values, KEY, length=20) == reference_tokens(values, KEY, 20)


@pytest.mark.native
def test_many_values_on_threads(isa):
    rng = np.random.default_rng(7)
    values = ["".join(map(chr, rng.integers(32, 0x2FF, size=int(n)))) for n in rng.integers(0, 90, 20_000)]
    got = protect.tokenize(values, KEY, workers=2)
    assert got == peer(values)
    assert protect.tokenize(values, KEY, workers=1) == got


@pytest.mark.native
@pytest.mark.parametrize("workers", [1, 2])
def test_lists_are_tokenized_block_by_block_in_order(workers):
    # Lists are hashed in blocks of 16,384 while the next block is gathered and the previous
    # one made into str objects: results stay in order across block edges, None stays None,
    # and a bad value in a later block (while a block is being hashed) is still a clear error.
    n = 3 * 16384 + 5
    values = [None if i % 4099 == 0 else f"id-{i}" for i in range(n)]
    got = protect.tokenize(values, KEY, length=16, workers=workers)
    assert got == peer(values, length=16)
    bad = list(values)
    bad[2 * 16384 + 3] = 7
    with pytest.raises(TypeError, match=f"int at index {2 * 16384 + 3}"):
        protect.tokenize(bad, KEY, workers=workers)
    bad[2 * 16384 + 3] = "lone \ud800"
    with pytest.raises(UnicodeEncodeError):
        protect.tokenize(bad, KEY, workers=workers)


@pytest.mark.native
def test_a_list_resized_by_another_thread_is_a_clear_error():
    # A list is read in place, block by block, and the GIL is released while a block is hashed:
    # another thread may shrink the list meanwhile. That must be a RuntimeError (never a read
    # past the list's end), and tokens made before it must still be right.
    import threading  # noqa: PLC0415
    import time  # noqa: PLC0415

    n = 400_000
    for _ in range(5):
        values = [f"id-{i}" for i in range(n)]
        done = threading.Event()

        def shrink(values=values, done=done):
            while not done.is_set() and values:
                values.pop()
                time.sleep(0.0002)

        thread = threading.Thread(target=shrink)
        thread.start()
        try:
            got = protect.tokenize(values, KEY, length=16, workers=2)
        except RuntimeError as e:
            assert "changed size" in str(e)
            return
        finally:
            done.set()
            thread.join()
        assert got == peer([f"id-{i}" for i in range(len(got))], length=16)
    pytest.fail("the list never shrank during a call in 5 tries")


def test_every_container_keeps_its_kind_and_its_missing_values():
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    values = ["alice@example.com", None, "bob", "émile", ""]
    want = peer(values, length=12)
    assert protect.tokenize(values, KEY, length=12) == want
    obj = protect.tokenize(np.array(values, dtype=object), KEY, length=12)
    assert obj.dtype == object and obj.tolist() == want
    sdt = np.dtypes.StringDType(na_object=None)
    got = protect.tokenize(np.array(values, dtype=sdt), KEY, length=12)
    assert got.dtype == sdt and got.tolist() == want
    fixed = protect.tokenize(np.array(["ab", "c"]), KEY, length=12)
    assert fixed.dtype == np.dtype("U12") and fixed.tolist() == peer(["ab", "c"], length=12)
    arrow = protect.tokenize(pa.array(values), KEY, length=12)
    assert isinstance(arrow, pa.Array) and arrow.to_pylist() == want
    sliced = protect.tokenize(pa.array(values, pa.large_string()).slice(2), KEY, length=12)
    assert sliced.type == pa.large_string() and sliced.to_pylist() == want[2:]
    chunked = protect.tokenize(pa.chunked_array([values[:2], values[2:]]), KEY, length=12)
    assert chunked.to_pylist() == want
    series = pd.Series(values, index=list("vwxyz"), name="email")
    out = protect.tokenize(series, KEY, length=12)
    assert list(out.index) == list("vwxyz") and out.name == "email"
    assert [None if pd.isna(v) else v for v in out] == want
    objs = protect.tokenize(series.astype(object), KEY, length=12)
    assert objs.dtype == object and objs.tolist() == want


def test_bad_input_is_a_clear_error():
    with pytest.raises(TypeError, match="key must be bytes"):
        protect.tokenize(["a"], "key")
    with pytest.raises(ValueError, match="key is empty"):
        protect.tokenize(["a"], b"")
    with pytest.raises(ValueError, match="length must be"):
        protect.tokenize(["a"], KEY, length=65)
    with pytest.raises(TypeError, match=r"use tokenize\(\[value\], key\)\[0\]"):
        protect.tokenize("alice", KEY)
    with pytest.raises(TypeError, match="expected str values.*int at index 1"):
        protect.tokenize(["a", 3], KEY)
    with pytest.raises(TypeError, match="StringDType, object or str"):
        protect.tokenize(np.arange(3), KEY)
    with pytest.raises(ValueError, match="1-d"):
        protect.tokenize(np.array([["a"]], dtype=object), KEY)
    with pytest.raises(UnicodeEncodeError):
        protect.tokenize(["lone \ud800 surrogate"], KEY)  # as str.encode() refuses it


@pytest.mark.native
def test_the_native_offsets_entry_checks_its_buffers():
    data = np.frombuffer(b"abcdef", dtype=np.uint8)
    with pytest.raises(ValueError, match="inside the data"):
        _core.hmac_sha256_hex_offsets(KEY, data, np.array([0, 3, 9], dtype=np.int64), 64)
    with pytest.raises(ValueError, match="non-decreasing"):
        _core.hmac_sha256_hex_offsets(KEY, data, np.array([0, 4, 2], dtype=np.int32), 64)
    with pytest.raises(TypeError, match="int32"):
        _core.hmac_sha256_hex_offsets(KEY, data, np.array([0, 3], dtype=np.float64), 64)
    out = _core.hmac_sha256_hex_offsets(KEY, data, np.array([0, 3, 6], dtype=np.int64), 64)
    assert [t.decode() for t in out] == peer(["abc", "def"])
