"""Attachment streams: constant memory, exact framing, and every cut, swap or addition refused."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from collections.abc import AsyncIterator, Iterable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.crypto.errors import BadStream, Malformed
from gateway.crypto.message import AttachmentRef
from gateway.crypto.stream import (
    CHUNK_BYTES,
    HEADER_BYTES,
    RECORD_BYTES,
    StreamDecryptor,
    StreamEncryptor,
    adecrypt_stream,
    aencrypt_stream,
    aopen_attachment,
    ciphertext_length,
    decrypt_stream,
    encrypt_stream,
    new_attachment_key,
    open_attachment,
    padded_length,
)

KEY = bytes(range(32))


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def encrypt(data: bytes, key: bytes = KEY) -> bytes:
    return b"".join(encrypt_stream(key, [data], len(data)))


def decrypt(ciphertext: bytes, key: bytes = KEY) -> bytes:
    return b"".join(decrypt_stream(key, [ciphertext]))


def records(ciphertext: bytes) -> tuple[bytes, list[bytes]]:
    body = ciphertext[HEADER_BYTES:]
    return ciphertext[:HEADER_BYTES], list(pieces(body, RECORD_BYTES))


THREE_RECORDS = os.urandom(2 * CHUNK_BYTES + 5000)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(min_value=0, max_value=3 * CHUNK_BYTES + 10),
    st.integers(min_value=1, max_value=100_000),
    st.integers(min_value=1, max_value=100_000),
)
def test_content_round_trips_whatever_the_piece_sizes(length: int, push: int, feed: int) -> None:
    data = os.urandom(length)
    ciphertext = b"".join(encrypt_stream(KEY, pieces(data, push), length))
    assert len(ciphertext) == ciphertext_length(length)
    assert b"".join(decrypt_stream(KEY, pieces(ciphertext, feed))) == data


@pytest.mark.parametrize(
    "length", [0, 1, CHUNK_BYTES - 8, CHUNK_BYTES - 7, CHUNK_BYTES, 2 * CHUNK_BYTES - 8]
)
def test_content_round_trips_at_every_chunk_boundary(length: int) -> None:
    data = os.urandom(length)
    assert decrypt(encrypt(data)) == data


def test_the_wire_layout_is_a_header_then_one_record_per_64_kib_chunk() -> None:
    ciphertext = encrypt(THREE_RECORDS)
    padded = padded_length(len(THREE_RECORDS))
    assert HEADER_BYTES == 24
    assert RECORD_BYTES == CHUNK_BYTES + 17
    assert len(ciphertext) == 24 + padded + 17 * -(-padded // CHUNK_BYTES)
    _, recs = records(ciphertext)
    assert [len(r) for r in recs[:-1]] == [RECORD_BYTES] * (len(recs) - 1)


def test_sizes_are_padded_so_similar_files_look_alike() -> None:
    assert ciphertext_length(0) == ciphertext_length(65_000)
    assert ciphertext_length(70_000) == ciphertext_length(70_500)
    assert ciphertext_length(10**8) <= 1.12 * 10**8


def test_every_stream_has_a_fresh_header_under_the_same_key() -> None:
    assert encrypt(b"same")[:HEADER_BYTES] != encrypt(b"same")[:HEADER_BYTES]


@pytest.mark.parametrize(
    ("transform", "reason"),
    [
        (lambda h, r: h + b"".join(r[:-1]), "truncated"),
        (lambda h, r: h + b"".join(r)[:-1], "truncated"),
        (lambda h, r: h + b"".join(r)[:RECORD_BYTES + 100], "truncated"),
        (lambda h, r: h[:10], "truncated"),
        (lambda h, r: b"", "truncated"),
        (lambda h, r: h, "truncated"),
        (lambda h, r: h + r[1] + r[0] + b"".join(r[2:]), "tampered"),
        (lambda h, r: h + r[0] + r[2] + r[1], "tampered"),
        (lambda h, r: h + r[0] + r[0] + b"".join(r[1:]), "tampered"),
        (lambda h, r: h + b"".join(r) + b"\x00", "extra_data"),
        (lambda h, r: h + b"".join(r) + r[-1], "extra_data"),
        (lambda h, r: bytes([h[0] ^ 1]) + h[1:] + b"".join(r), "tampered"),
        (lambda h, r: h + bytes([r[0][0] ^ 1]) + r[0][1:] + b"".join(r[1:]), "tampered"),
        (lambda h, r: h + b"".join(r)[:-1] + bytes([b"".join(r)[-1] ^ 1]), "tampered"),
    ],
    ids=["last record dropped", "last byte dropped", "cut mid-record", "header cut",
         "nothing", "header only", "first two swapped", "last two swapped", "record replayed",
         "byte appended", "record appended", "header changed", "first record changed",
         "final tag byte changed"],
)  # fmt: skip
def test_a_stream_that_was_cut_reordered_extended_or_altered_is_refused(
    transform: object, reason: str
) -> None:
    header, recs = records(encrypt(THREE_RECORDS))
    assert len(recs) == 3
    with pytest.raises(BadStream) as refusal:
        decrypt(transform(header, recs))  # type: ignore[operator]
    assert refusal.value.reason == reason
    assert refusal.value.code == "bad_stream"


def test_a_stream_does_not_open_under_another_key() -> None:
    with pytest.raises(BadStream, match="does not authenticate"):
        decrypt(encrypt(b"secret"), key=new_attachment_key())


def test_records_from_another_stream_under_the_same_key_are_refused() -> None:
    first_header, first = records(encrypt(THREE_RECORDS))
    _, second = records(encrypt(THREE_RECORDS))
    with pytest.raises(BadStream):
        decrypt(first_header + first[0] + second[1] + first[2])


def test_content_before_a_bad_record_is_handed_out_but_the_stream_still_fails() -> None:
    header, recs = records(encrypt(THREE_RECORDS))
    decryptor = StreamDecryptor(KEY)
    out = decryptor.update(header + recs[0])
    assert b"".join(out) == THREE_RECORDS[: CHUNK_BYTES - 8]
    with pytest.raises(BadStream, match="final chunk"):
        decryptor.finish()


def test_the_encryptor_holds_the_content_to_its_declared_length() -> None:
    encryptor = StreamEncryptor(KEY, 10)
    with pytest.raises(Malformed, match="longer"):
        encryptor.update(b"x" * 11)
    short = StreamEncryptor(KEY, 10)
    short.update(b"x" * 9)
    with pytest.raises(Malformed, match="shorter"):
        list(short.finish())


def test_keys_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(Malformed):
        StreamEncryptor(bytes(16), 1)
    with pytest.raises(Malformed):
        StreamDecryptor(bytes(33))


def _ref(data: bytes, **changes: object) -> AttachmentRef:
    fields: dict[str, object] = {
        "id": "att1",
        "key": KEY,
        "name": "foto.jpg",
        "size": len(data),
        "sha256": hashlib.sha256(data).digest(),
    }
    fields.update(changes)
    return AttachmentRef(**fields)  # type: ignore[arg-type]


def test_an_attachment_is_checked_against_the_size_and_hash_its_message_promised() -> None:
    data = b"photo bytes" * 1000
    ciphertext = encrypt(data)
    assert b"".join(open_attachment(_ref(data), [ciphertext])) == data
    with pytest.raises(BadStream, match="not the one the message describes"):
        b"".join(open_attachment(_ref(data, sha256=bytes(32)), [ciphertext]))
    with pytest.raises(BadStream, match="not the one the message describes"):
        b"".join(open_attachment(_ref(data, size=len(data) + 1), [ciphertext]))


def test_the_encryptor_reports_the_sha256_for_the_envelope() -> None:
    encryptor = StreamEncryptor(KEY, 6)
    encryptor.update(b"abc")
    encryptor.update(b"def")
    assert encryptor.sha256 == hashlib.sha256(b"abcdef").digest()


def test_encryption_and_decryption_run_in_constant_memory() -> None:
    size = 24 * 1024 * 1024
    block = os.urandom(1024 * 1024)

    def content() -> Iterator[bytes]:
        for _ in range(size // len(block)):
            yield block

    def ciphertext() -> Iterable[bytes]:
        return encrypt_stream(KEY, content(), size)

    tracemalloc.start()
    try:
        total = sum(len(piece) for piece in decrypt_stream(KEY, ciphertext()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    # A few 1 MiB blocks and 64 KiB chunks in flight, never the 24 MiB file.
    assert peak < 6 * 1024 * 1024


async def _aiter(items: Iterable[bytes]) -> AsyncIterator[bytes]:
    for item in items:
        yield item


async def test_the_async_wrappers_round_trip_and_refuse_the_same_way() -> None:
    data = os.urandom(CHUNK_BYTES + 123)
    ciphertext = b"".join(
        [piece async for piece in aencrypt_stream(KEY, _aiter([data]), len(data))]
    )
    assert ciphertext_length(len(data)) == len(ciphertext)
    plain = b"".join(
        [piece async for piece in adecrypt_stream(KEY, _aiter(pieces(ciphertext, 999)))]
    )
    assert plain == data
    opened = [piece async for piece in aopen_attachment(_ref(data), _aiter([ciphertext]))]
    assert b"".join(opened) == data
    with pytest.raises(BadStream) as refusal:
        [piece async for piece in adecrypt_stream(KEY, _aiter([ciphertext[:-17]]))]
    assert refusal.value.reason == "truncated"
