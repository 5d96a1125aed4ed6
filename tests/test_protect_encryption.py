"""pipeward.protect encryption: round trips at every chunk edge, the exact age v1 layout,
every tampering a clear DecryptError with nothing unauthenticated released, bounded memory."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc

import pytest

from pipeward import protect
from pipeward.protect import DecryptError, Identity, Recipient
from pipeward.protect.stream import BATCH

CHUNK = 64 * 1024
SIZES = [0, 1, 2, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK, 3 * CHUNK + 17]
CIPHERS = ["chacha20-poly1305", "aes-256-gcm"]


@pytest.fixture(scope="module")
def alice():
    return Identity.generate()


def seal(data: bytes, **kw) -> bytes:
    out = io.BytesIO()
    protect.encrypt_stream(io.BytesIO(data), out, **kw)
    return out.getvalue()


def unseal(blob: bytes, **kw) -> bytes:
    out = io.BytesIO()
    n = protect.decrypt_stream(io.BytesIO(blob), out, **kw)
    assert n == len(out.getvalue())
    return out.getvalue()


def payload_start(blob: bytes) -> int:
    """Offset of the first chunk: after the MAC line and the 16-byte nonce."""
    return blob.index(b"\n", blob.index(b"\n--- ") + 1) + 1 + 16


@pytest.mark.parametrize("cipher", CIPHERS)
@pytest.mark.parametrize("size", SIZES)
def test_round_trip_to_a_recipient(alice, size, cipher):
    data = os.urandom(size)
    blob = seal(data, recipients=[alice.recipient], cipher=cipher)
    assert unseal(blob, identity=alice) == data
    # STREAM layout: every chunk is its plaintext plus a 16-byte tag; an empty file is one chunk
    chunks = max(1, -(-size // CHUNK))
    assert len(blob) == payload_start(blob) + size + 16 * chunks


@pytest.mark.parametrize("cipher", CIPHERS)
@pytest.mark.parametrize("size", [0, 1, CHUNK, 2 * CHUNK + 3])
def test_round_trip_with_a_passphrase(size, cipher):
    data = os.urandom(size)
    blob = seal(data, passphrase="correct horse battery staple", work_factor=4, cipher=cipher)
    assert b"\n-> scrypt " in blob and blob.count(b"\n-> ") == 1
    assert unseal(blob, passphrase=b"correct horse battery staple") == data


def test_the_header_is_age_v1_and_the_variant_is_named_apart(alice):
    age = seal(b"x", recipients=alice.recipient)
    gcm = seal(b"x", recipients=alice.recipient, cipher="aes-256-gcm")
    assert age.startswith(b"age-encryption.org/v1\n-> X25519 ")
    assert gcm.startswith(b"pipeward.aes-256-gcm/v1\n-> X25519 ")


def test_many_recipients_each_decrypt():
    ids = [Identity.generate() for _ in range(5)]
    data = os.urandom(70_000)
    blob = seal(data, recipients=[i.recipient for i in ids])
    assert blob.count(b"\n-> X25519 ") == 5
    for i in ids:
        assert unseal(blob, identity=i) == data
    assert unseal(blob, identity=[Identity.generate(), ids[3]]) == data  # any one of a list


def test_digests_in_the_same_pass_match_hashlib(alice):
    data = os.urandom(3 * CHUNK + 5)
    out = io.BytesIO()
    r = protect.encrypt_stream(io.BytesIO(data), out, recipients=alice.recipient, digests=True)
    assert r.plaintext_sha256 == hashlib.sha256(data).hexdigest()
    assert r.ciphertext_sha256 == hashlib.sha256(out.getvalue()).hexdigest()
    assert (r.plaintext_size, r.ciphertext_size) == (len(data), len(out.getvalue()))
    bare = protect.encrypt_stream(io.BytesIO(data), io.BytesIO(), recipients=alice.recipient)
    assert bare.plaintext_sha256 is None and bare.ciphertext_sha256 is None


@pytest.mark.parametrize("batches", [1, 2, 5, 9])
@pytest.mark.parametrize("extra", [-1, 0, 7])
def test_digests_over_many_batches_match_hashlib(alice, batches, extra):
    # The digests run up to four batches behind the sealing, on buffers kept four steps
    # longer: every batch edge, the reuse of each buffer (9 batches) and a short last batch
    # must still hash exactly what was read and written.
    data = os.urandom(batches * BATCH * CHUNK + extra)
    out = io.BytesIO()
    r = protect.encrypt_stream(io.BytesIO(data), out, recipients=alice.recipient, digests=True)
    assert r.plaintext_sha256 == hashlib.sha256(data).hexdigest()
    assert r.ciphertext_sha256 == hashlib.sha256(out.getvalue()).hexdigest()
    back = io.BytesIO()
    protect.decrypt_stream(io.BytesIO(out.getvalue()), back, identity=alice)
    assert back.getvalue() == data


class _Trickle(io.RawIOBase):
    """A stream that returns at most 7 bytes a read, as a pipe may."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        n = min(7, len(buf), len(self._data))
        buf[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


def test_short_reads_are_handled(alice):
    data = os.urandom(CHUNK + 100)
    blob = seal(data, recipients=alice.recipient)
    out = io.BytesIO()
    protect.encrypt_stream(_Trickle(data), out, recipients=alice.recipient)
    assert unseal(out.getvalue(), identity=alice) == data
    back = io.BytesIO()
    protect.decrypt_stream(_Trickle(blob), back, identity=alice)
    assert back.getvalue() == data


# --- tampering -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sealed(alice):
    data = os.urandom(4 * CHUNK + 1000)  # chunks 0-3 full, chunk 4 short and final
    return data, seal(data, recipients=alice.recipient)


def _chunk(blob: bytes, i: int) -> slice:
    start = payload_start(blob) + i * (CHUNK + 16)
    return slice(start, start + CHUNK + 16)


def _released(blob: bytes, identity) -> tuple[bytes, DecryptError]:
    out = io.BytesIO()
    with pytest.raises(DecryptError) as err:
        protect.decrypt_stream(io.BytesIO(blob), out, identity=identity)
    return out.getvalue(), err.value


@pytest.mark.parametrize("chunk", [0, 2, 4])
def test_a_flipped_payload_byte_stops_at_that_chunk(alice, sealed, chunk):
    data, blob = sealed
    bad = bytearray(blob)
    bad[_chunk(blob, chunk).start + 100] ^= 0x01
    got, err = _released(bytes(bad), alice)
    assert got == data[:chunk * CHUNK]  # the chunks before it, nothing of it
    assert f"chunk {chunk} does not authenticate" in str(err)


def test_a_flipped_tag_byte_is_caught(alice, sealed):
    data, blob = sealed
    bad = bytearray(blob)
    bad[_chunk(blob, 1).stop - 1] ^= 0x80
    got, err = _released(bytes(bad), alice)
    assert got == data[:CHUNK] and "chunk 1" in str(err)


def test_reordered_chunks_are_caught(alice, sealed):
    data, blob = sealed
    a, b = _chunk(blob, 1), _chunk(blob, 2)
    swapped = blob[:a.start] + blob[b] + blob[a] + blob[b.stop:]
    got, err = _released(swapped, alice)
    assert got == data[:CHUNK] and "chunk 1 does not authenticate" in str(err)


def test_truncation_at_a_chunk_boundary_is_caught(alice, sealed):
    data, blob = sealed
    got, err = _released(blob[:_chunk(blob, 3).stop], alice)  # chunk 4, the final one, is gone
    assert got == data[:3 * CHUNK]
    assert "truncated" in str(err) and "not the final chunk" in str(err)


@pytest.mark.parametrize("cut", [1, 15, 16, 17, 1000])
def test_truncation_inside_the_last_chunk_is_caught(alice, sealed, cut):
    data, blob = sealed
    got, err = _released(blob[:-cut], alice)
    assert got == data[:4 * CHUNK] and "chunk 4" in str(err)


def test_appended_data_is_caught(alice):
    data = os.urandom(CHUNK)
    blob = seal(data, recipients=alice.recipient)
    got, err = _released(blob + blob[-(CHUNK + 16):], alice)
    assert got == b"" and "follows the final chunk" in str(err)


def test_truncation_in_the_header_or_before_the_payload(alice, sealed):
    _, blob = sealed
    for cut in (10, 40, payload_start(blob) - 16, payload_start(blob) - 3, payload_start(blob)):
        with pytest.raises(DecryptError, match="truncated|missing"):
            unseal(blob[:cut], identity=alice)


def test_altered_header_fields(alice, sealed):
    _, blob = sealed
    mac_at = blob.index(b"\n--- ") + 5
    bad_mac = bytearray(blob)
    bad_mac[mac_at + 3] = ord("A") if blob[mac_at + 3] != ord("A") else ord("B")
    with pytest.raises(DecryptError, match="header MAC does not match"):
        unseal(bytes(bad_mac), identity=alice)
    bad_nonce = bytearray(blob)
    bad_nonce[payload_start(blob) - 5] ^= 1  # a new nonce: a new payload key
    got, err = _released(bytes(bad_nonce), alice)
    assert got == b"" and "chunk 0" in str(err)
    # A second X25519 stanza that no one can open changes what the MAC covers.
    extra = blob.replace(b"\n---", b"\n-> X25519 " + b"A" * 43 + b"\n" + b"B" * 43 + b"\n---", 1)
    with pytest.raises(DecryptError):
        unseal(extra, identity=alice)


def test_wrong_key_and_wrong_passphrase(alice, sealed):
    _, blob = sealed
    with pytest.raises(DecryptError, match="wrong key"):
        unseal(blob, identity=Identity.generate())
    with pytest.raises(DecryptError, match="encrypted to public keys"):
        unseal(blob, passphrase="guess")
    locked = seal(b"secret", passphrase="right", work_factor=4)
    with pytest.raises(DecryptError, match="wrong passphrase"):
        unseal(locked, passphrase="wrong")
    with pytest.raises(DecryptError, match="encrypted with a passphrase"):
        unseal(locked, identity=alice)
    heavy = seal(b"x", passphrase="p", work_factor=12)
    with pytest.raises(DecryptError, match="work factor 12 exceeds the limit 10"):
        unseal(heavy, passphrase="p", max_work_factor=10)


@pytest.mark.parametrize("junk", [b"", b"hello world\n" * 20, b"-----BEGIN AGE ENCRYPTED FILE-----\n",
                                  b"age-encryption.org/v2\n-> X25519 a\nb\n--- c\n"])
def test_not_an_age_file(alice, junk):
    with pytest.raises(DecryptError) as err:
        unseal(junk, identity=alice)
    assert "age" in str(err.value)


def test_decrypt_file_leaves_no_plaintext_when_tampered(alice, sealed, tmp_path):
    data, blob = sealed
    bad = bytearray(blob)
    bad[_chunk(blob, 3).start] ^= 1
    (tmp_path / "bad.age").write_bytes(bytes(bad))
    with pytest.raises(DecryptError):
        protect.decrypt_file(tmp_path / "bad.age", tmp_path / "out.bin", identity=alice)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.age"]
    (tmp_path / "good.age").write_bytes(blob)
    assert protect.decrypt_file(tmp_path / "good.age", tmp_path / "out.bin", identity=alice) == len(data)
    assert (tmp_path / "out.bin").read_bytes() == data
    assert (tmp_path / "out.bin").stat().st_mode & 0o777 == 0o600


def test_encrypt_file_round_trip_and_refuses_to_overwrite_its_input(alice, tmp_path):
    src = tmp_path / "plain.bin"
    src.write_bytes(os.urandom(1000))
    r = protect.encrypt_file(src, tmp_path / "x.age", recipients=[str(alice.recipient)], digests=True)
    assert r.plaintext_sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    assert r.ciphertext_sha256 == hashlib.sha256((tmp_path / "x.age").read_bytes()).hexdigest()
    with pytest.raises(ValueError, match="is the input file"):
        protect.encrypt_file(src, src, recipients=alice.recipient)


# --- arguments and keys -----------------------------------------------------------------------

def test_bad_arguments_are_clear(alice):
    with pytest.raises(ValueError, match="exactly one of recipients= and passphrase="):
        seal(b"x")
    with pytest.raises(ValueError, match="exactly one of recipients= and passphrase="):
        seal(b"x", recipients=alice.recipient, passphrase="p")
    with pytest.raises(ValueError, match="cipher must be one of"):
        seal(b"x", recipients=alice.recipient, cipher="rot13")
    with pytest.raises(ValueError, match="not an age X25519 recipient"):
        seal(b"x", recipients="age1notarecipient")
    with pytest.raises(TypeError, match="recipient"):
        seal(b"x", recipients=[42])
    with pytest.raises(ValueError, match="the passphrase is empty"):
        seal(b"x", passphrase="")
    with pytest.raises(ValueError, match="work_factor"):
        seal(b"x", passphrase="p", work_factor=0)
    with pytest.raises(ValueError, match="exactly one of identity= and passphrase="):
        unseal(b"x")


def test_keys_round_trip_through_their_text(alice, tmp_path):
    assert str(alice).startswith("AGE-SECRET-KEY-1") and str(alice) == str(alice).upper()
    assert str(alice.recipient).startswith("age1")
    assert Identity.from_string(str(alice)).recipient == alice.recipient
    assert Recipient.from_string(str(alice.recipient)) == alice.recipient
    assert "SECRET" not in repr(alice)
    path = tmp_path / "key.txt"
    made = protect.generate_identity(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert protect.load_identities(path)[0].recipient == made.recipient
    with pytest.raises(FileExistsError):
        protect.generate_identity(path)
    path.write_text("# comment\nAGE-SECRET-KEY-1NOTAKEY\n")
    with pytest.raises(ValueError, match="line 2"):
        protect.load_identities(path)
    flipped = str(alice)[:-1] + ("Q" if str(alice)[-1] != "Q" else "P")
    with pytest.raises(ValueError, match="checksum"):
        Identity.from_string(flipped)


def test_bech32_matches_the_bip173_vectors():
    from pipeward.protect import _bech32

    for valid in ("A12UEL5L", "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
                  "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w"):
        hrp, data = _bech32.decode(valid)
        assert _bech32.encode(hrp, data) == valid.lower()
    for invalid in ("A1G7SGD8", "10a06t8", "1qzzfhee", "a12UEL5L", "x1b4n0q5v"):
        with pytest.raises(ValueError):
            _bech32.decode(invalid)


# --- bounded memory ------------------------------------------------------------------------

class _Zeros(io.RawIOBase):
    """``size`` bytes of a repeating pattern, generated on demand; counts what it hands out."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        n = min(len(buf), self.left)
        buf[:n] = b"\x5a" * n
        self.left -= n
        return n


class _Sink(io.RawIOBase):
    def __init__(self) -> None:
        self.n = 0
        self.hash = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        self.hash.update(data)
        self.n += len(data)
        return len(data)


def _stream_round_trip_peak(alice, size: int) -> int:
    """Encrypt ``size`` generated bytes into a pipe on one thread while the other decrypts
    from it (nothing touches the disk); the peak of Python's memory meanwhile."""
    import threading

    read_fd, write_fd = os.pipe()
    sink = _Sink()
    tracemalloc.start()
    try:
        def produce() -> None:
            with open(write_fd, "wb") as pipe_in:
                protect.encrypt_stream(_Zeros(size), pipe_in, recipients=alice.recipient)

        writer = threading.Thread(target=produce)
        writer.start()
        with open(read_fd, "rb") as pipe_out:
            protect.decrypt_stream(pipe_out, sink, identity=alice)
        writer.join()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sink.n == size
    want = hashlib.sha256()
    block = b"\x5a" * 2**20
    for _ in range(size // len(block)):
        want.update(block)
    want.update(block[:size % len(block)])
    assert sink.hash.hexdigest() == want.hexdigest()
    return peak


def test_memory_stays_bounded_on_a_large_stream(alice):
    peak = _stream_round_trip_peak(alice, 48 * 2**20 + 123)
    assert peak < 8 * 2**20, f"peak {peak} bytes for a 48 MiB stream"


@pytest.mark.slow
def test_a_3_gib_stream_round_trips_in_bounded_memory(alice):
    peak = _stream_round_trip_peak(alice, 3 * 2**30)
    assert peak < 8 * 2**20, f"peak {peak} bytes for a 3 GiB stream"
