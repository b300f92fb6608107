"""Size hiding: envelope plaintexts are padded to a fixed bucket table, attachments with Padmé.

What an observer of ciphertext sizes learns is then the bucket, not the length: a one-line tip
and a half-page tip look the same, and an attachment's size is blurred to within a few percent.
"""

from __future__ import annotations

from gateway.crypto.errors import Malformed, TooLarge

KIB = 1024
MIB = 1024 * KIB

LENGTH_PREFIX_BYTES = 4

# Powers of two from 1 KiB to 1 MiB (overhead below 2x where texts are short and numerous),
# then whole MiB up to 4 MiB (overhead below 2x stops mattering, bandwidth starts to).
ENVELOPE_BUCKETS: tuple[int, ...] = (
    *(KIB << shift for shift in range(11)),
    2 * MIB,
    3 * MIB,
    4 * MIB,
)
MAX_ENVELOPE_PLAINTEXT = ENVELOPE_BUCKETS[-1] - LENGTH_PREFIX_BYTES


def envelope_bucket(length: int) -> int:
    """The smallest bucket that holds `length` bytes of plaintext plus the length prefix."""
    needed = length + LENGTH_PREFIX_BYTES
    for bucket in ENVELOPE_BUCKETS:
        if needed <= bucket:
            return bucket
    raise TooLarge(f"a message may have at most {MAX_ENVELOPE_PLAINTEXT} bytes")


def pad(plaintext: bytes) -> bytes:
    """u32be(len) || plaintext || zero bytes, up to the bucket size."""
    bucket = envelope_bucket(len(plaintext))
    prefix = len(plaintext).to_bytes(LENGTH_PREFIX_BYTES, "big")
    return prefix + plaintext + bytes(bucket - LENGTH_PREFIX_BYTES - len(plaintext))


def unpad(padded: bytes) -> bytes:
    """Undo `pad`, refusing anything `pad` would not have produced."""
    if len(padded) not in ENVELOPE_BUCKETS:
        raise Malformed("padded message is not one of the bucket sizes")
    length = int.from_bytes(padded[:LENGTH_PREFIX_BYTES], "big")
    end = LENGTH_PREFIX_BYTES + length
    if end > len(padded):
        raise Malformed("padded message declares more bytes than it holds")
    if envelope_bucket(length) != len(padded):
        raise Malformed("padded message is in a larger bucket than its length needs")
    if any(padded[end:]):
        raise Malformed("padding is not all zero bytes")
    return padded[LENGTH_PREFIX_BYTES:end]


def padme(length: int) -> int:
    """Padmé (Nikitin et al., PETS 2019): round up so that only O(log log n) bits of size leak.

    With E = floor(log2 n) and S = floor(log2 E) + 1, round n up to a multiple of 2**(E - S);
    the overhead is at most about 12 % and shrinks as n grows.
    """
    if length < 0:
        raise ValueError("a length is not negative")
    if length < 2:
        return length
    exponent = length.bit_length() - 1
    low_bits = exponent - exponent.bit_length()
    step = 1 << low_bits
    return -(-length // step) * step
