"""Attachment encryption with crypto_secretstream_xchacha20poly1305, in constant memory.

Wire layout: a 24-byte stream header, then one record per 64 KiB chunk of the padded plaintext
(chunk + 17 bytes), the last one tagged FINAL. The padded plaintext is u64be(content length) ||
content || zero bytes, padded with Padmé so that an attachment's size is blurred. Truncation,
reordering, tampering, a missing FINAL tag and data after it are all refused with `BadStream`.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

import nacl.bindings
import nacl.exceptions

from gateway.crypto.errors import BadStream, Malformed
from gateway.crypto.hashing import equal
from gateway.crypto.message import ATTACHMENT_KEY_BYTES, MAX_ATTACHMENT_BYTES, AttachmentRef
from gateway.crypto.padding import padme
from gateway.crypto.randomness import RandomBytes, system_random

CHUNK_BYTES = 64 * 1024
HEADER_BYTES = nacl.bindings.crypto_secretstream_xchacha20poly1305_HEADERBYTES  # 24
OVERHEAD_BYTES = nacl.bindings.crypto_secretstream_xchacha20poly1305_ABYTES  # 17
RECORD_BYTES = CHUNK_BYTES + OVERHEAD_BYTES
LENGTH_PREFIX_BYTES = 8

_TAG_MESSAGE = nacl.bindings.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
_TAG_FINAL = nacl.bindings.crypto_secretstream_xchacha20poly1305_TAG_FINAL


def new_attachment_key(random_bytes: RandomBytes = system_random) -> bytes:
    return random_bytes(ATTACHMENT_KEY_BYTES)


def padded_length(content_length: int) -> int:
    """Length of the padded plaintext: Padmé of (8 + content), and at least one whole chunk."""
    if not 0 <= content_length <= MAX_ATTACHMENT_BYTES:
        raise Malformed("attachment size is out of range")
    return max(CHUNK_BYTES, padme(LENGTH_PREFIX_BYTES + content_length))


def ciphertext_length(content_length: int) -> int:
    """Exact ciphertext size for a content size: for progress bars and upload limits."""
    padded = padded_length(content_length)
    records = -(-padded // CHUNK_BYTES)
    return HEADER_BYTES + padded + records * OVERHEAD_BYTES


class StreamEncryptor:
    """Push content in pieces; get the header, then records as soon as whole chunks are ready."""

    def __init__(self, key: bytes, content_length: int) -> None:
        if len(key) != ATTACHMENT_KEY_BYTES:
            raise Malformed(f"an attachment key is {ATTACHMENT_KEY_BYTES} bytes")
        self._total = padded_length(content_length)
        self._content_length = content_length
        self._received = 0
        self._emitted = 0
        self._buffer = bytearray(content_length.to_bytes(LENGTH_PREFIX_BYTES, "big"))
        self._sha256 = hashlib.sha256()
        self._state = nacl.bindings.crypto_secretstream_xchacha20poly1305_state()
        # libsodium draws the header's randomness itself; it cannot be injected.
        self.header = nacl.bindings.crypto_secretstream_xchacha20poly1305_init_push(
            self._state, key
        )

    def update(self, data: bytes) -> list[bytes]:
        if self._received + len(data) > self._content_length:
            raise Malformed("the attachment is longer than its declared size")
        self._received += len(data)
        self._sha256.update(data)
        self._buffer += data
        records = []
        while len(self._buffer) >= CHUNK_BYTES:
            records.append(self._push_chunk())
        return records

    def finish(self) -> Iterator[bytes]:
        """The remaining records: the rest of the content, then zero padding, chunk by chunk."""
        if self._received != self._content_length:
            raise Malformed("the attachment is shorter than its declared size")
        while self._emitted < self._total:
            missing = min(CHUNK_BYTES, self._total - self._emitted) - len(self._buffer)
            if missing > 0:
                self._buffer += bytes(missing)
            yield self._push_chunk()

    @property
    def sha256(self) -> bytes:
        """SHA-256 of the content pushed so far (for the envelope's AttachmentRef)."""
        return self._sha256.digest()

    def _push_chunk(self) -> bytes:
        chunk = bytes(self._buffer[:CHUNK_BYTES])
        del self._buffer[:CHUNK_BYTES]
        self._emitted += len(chunk)
        tag = _TAG_FINAL if self._emitted == self._total else _TAG_MESSAGE
        return nacl.bindings.crypto_secretstream_xchacha20poly1305_push(self._state, chunk, tag=tag)


class StreamDecryptor:
    """Feed ciphertext in pieces of any size; get authenticated content pieces back.

    Content comes out before the end is checked: treat it as provisional until `finish()`
    returns without raising (a truncated stream is only known to be truncated at its end).
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != ATTACHMENT_KEY_BYTES:
            raise Malformed(f"an attachment key is {ATTACHMENT_KEY_BYTES} bytes")
        self._key = key
        self._state: nacl.bindings.crypto_secretstream_xchacha20poly1305_state | None = None
        self._buffer = bytearray()
        self._final_seen = False
        self._offset = 0  # bytes of padded plaintext decrypted so far
        self._total: int | None = None
        self._content_length = 0
        self._sha256 = hashlib.sha256()

    @property
    def content_length(self) -> int | None:
        """The declared content length, once the first chunk is decrypted."""
        return None if self._total is None else self._content_length

    @property
    def sha256(self) -> bytes:
        return self._sha256.digest()

    def update(self, data: bytes) -> list[bytes]:
        if self._final_seen and data:
            raise BadStream("there is data after the final chunk", reason="extra_data")
        self._buffer += data
        pieces: list[bytes] = []
        if self._state is None:
            if len(self._buffer) < HEADER_BYTES:
                return pieces
            self._state = nacl.bindings.crypto_secretstream_xchacha20poly1305_state()
            nacl.bindings.crypto_secretstream_xchacha20poly1305_init_pull(
                self._state, bytes(self._buffer[:HEADER_BYTES]), self._key
            )
            del self._buffer[:HEADER_BYTES]
        while not self._final_seen and len(self._buffer) >= self._next_record_bytes():
            size = self._next_record_bytes()
            record = bytes(self._buffer[:size])
            del self._buffer[:size]
            pieces.extend(self._open(record))
        if self._final_seen and self._buffer:
            raise BadStream("there is data after the final chunk", reason="extra_data")
        return pieces

    def finish(self) -> None:
        """Raise unless the stream ended exactly after its FINAL chunk."""
        if not self._final_seen:
            raise BadStream("the stream ends before its final chunk", reason="truncated")

    def _next_record_bytes(self) -> int:
        # The first chunk reveals the padded length, so every later record's size is known:
        # framing needs no length fields, and a cut or an extension shows up as exactly that.
        if self._total is None:
            return RECORD_BYTES
        return min(CHUNK_BYTES, self._total - self._offset) + OVERHEAD_BYTES

    def _open(self, record: bytes) -> list[bytes]:
        assert self._state is not None
        try:
            chunk, tag = nacl.bindings.crypto_secretstream_xchacha20poly1305_pull(
                self._state, record
            )
        except nacl.exceptions.CryptoError as exc:
            raise BadStream(
                "a chunk does not authenticate: it was altered, reordered or cut",
                reason="tampered",
            ) from exc
        if tag == _TAG_FINAL:
            self._final_seen = True
        elif tag != _TAG_MESSAGE:
            raise BadStream("a chunk carries a tag this protocol never uses", reason="malformed")
        start = self._offset
        self._offset += len(chunk)
        if self._total is None:
            if len(chunk) < LENGTH_PREFIX_BYTES:
                raise BadStream("the first chunk is too short", reason="malformed")
            self._content_length = int.from_bytes(chunk[:LENGTH_PREFIX_BYTES], "big")
            try:
                self._total = padded_length(self._content_length)
            except Malformed as exc:
                raise BadStream("the declared size is out of range", reason="malformed") from exc
        if self._offset > self._total or (self._final_seen != (self._offset == self._total)):
            raise BadStream("the stream's length contradicts its declared size", reason="malformed")
        content_end = LENGTH_PREFIX_BYTES + self._content_length
        low = max(start, LENGTH_PREFIX_BYTES)
        high = min(self._offset, content_end)
        pieces = []
        if high > low:
            piece = chunk[low - start : high - start]
            self._sha256.update(piece)
            pieces.append(piece)
        if any(chunk[max(content_end, start) - start :]):
            raise BadStream("the padding is not all zero bytes", reason="malformed")
        return pieces


def encrypt_stream(key: bytes, content: Iterable[bytes], content_length: int) -> Iterator[bytes]:
    """Yield the ciphertext (header, then records) of content whose length is known up front."""
    encryptor = StreamEncryptor(key, content_length)
    yield encryptor.header
    for piece in content:
        yield from encryptor.update(piece)
    yield from encryptor.finish()


def decrypt_stream(key: bytes, ciphertext: Iterable[bytes]) -> Iterator[bytes]:
    """Yield the content; raises `BadStream` at the point the stream proves bad."""
    decryptor = StreamDecryptor(key)
    for piece in ciphertext:
        yield from decryptor.update(piece)
    decryptor.finish()


def open_attachment(ref: AttachmentRef, ciphertext: Iterable[bytes]) -> Iterator[bytes]:
    """`decrypt_stream` that also checks the size and SHA-256 the envelope promised."""
    decryptor = StreamDecryptor(ref.key)
    for piece in ciphertext:
        yield from decryptor.update(piece)
    decryptor.finish()
    _check_against_ref(decryptor, ref)


async def aencrypt_stream(
    key: bytes, content: AsyncIterable[bytes], content_length: int
) -> AsyncIterator[bytes]:
    encryptor = StreamEncryptor(key, content_length)
    yield encryptor.header
    async for piece in content:
        for record in encryptor.update(piece):
            yield record
    for record in encryptor.finish():
        yield record


async def adecrypt_stream(key: bytes, ciphertext: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    decryptor = StreamDecryptor(key)
    async for piece in ciphertext:
        for content in decryptor.update(piece):
            yield content
    decryptor.finish()


async def aopen_attachment(
    ref: AttachmentRef, ciphertext: AsyncIterable[bytes]
) -> AsyncIterator[bytes]:
    decryptor = StreamDecryptor(ref.key)
    async for piece in ciphertext:
        for content in decryptor.update(piece):
            yield content
    decryptor.finish()
    _check_against_ref(decryptor, ref)


def _check_against_ref(decryptor: StreamDecryptor, ref: AttachmentRef) -> None:
    if decryptor.content_length != ref.size or not equal(decryptor.sha256, ref.sha256):
        raise BadStream("the attachment is not the one the message describes", reason="mismatch")
