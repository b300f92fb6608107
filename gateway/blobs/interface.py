"""What the gateway needs from blob storage: stream in with a limit, stream out, delete.

Blobs hold ciphertext only (attachments are encrypted on the client), so the store needs
no cryptography of its own; it must never hold a whole file in memory and must leave
nothing behind when an upload breaks off.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Protocol


class BlobError(Exception):
    """Base of the blob store's own errors."""


class BlobTooLarge(BlobError):
    """More bytes arrived than the caller allowed; nothing was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"blob exceeds {limit} bytes")
        self.limit = limit


class BlobNotFound(BlobError):
    """No complete blob under this key."""


class InvalidBlobKey(BlobError):
    """A key that could escape the store's folder or is otherwise malformed."""


class BlobStore(Protocol):
    async def write(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int) -> int:
        """Store the stream under `key` and return its size.

        The blob becomes visible only once complete and durable. On any failure,
        including `BlobTooLarge` and a cancelled upload, no trace of it remains.
        """
        ...

    def read(self, key: str, *, chunk_size: int = 1024 * 1024) -> AsyncIterator[bytes]:
        """Stream a complete blob; raises `BlobNotFound` on first iteration if missing."""
        ...

    async def size(self, key: str) -> int: ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove the blob; deleting a missing blob is not an error (purges are retried)."""
        ...

    async def sweep_partial(self, older_than_seconds: float) -> int:
        """Remove leftovers of uploads that a crash interrupted; returns how many."""
        ...
