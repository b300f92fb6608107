"""Attachments on the client: encrypted while they stream up, decrypted while they stream down.

Neither direction holds a whole file in memory. A download is written to a temporary file
next to its destination and renamed only once the stream authenticated to its end and its
size and SHA-256 match what the message promised.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from gateway.crypto.errors import BadStream
from gateway.crypto.hashing import equal
from gateway.crypto.message import AttachmentRef
from gateway.crypto.stream import StreamDecryptor, StreamEncryptor, ciphertext_length

READ_CHUNK_BYTES: Final = 64 * 1024

# (attachment name, bytes sent or received so far, total bytes)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class AttachmentSource:
    """Something to attach: its file name, its size, and a way to read it piece by piece."""

    name: str
    size: int
    read: Callable[[], AsyncIterator[bytes]] = field(repr=False)

    @classmethod
    def from_path(cls, path: Path) -> AttachmentSource:
        size = path.stat().st_size

        async def read() -> AsyncIterator[bytes]:
            handle = await asyncio.to_thread(path.open, "rb")
            try:
                while piece := await asyncio.to_thread(handle.read, READ_CHUNK_BYTES):
                    yield piece
            finally:
                handle.close()

        return cls(name=path.name, size=size, read=read)

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> AttachmentSource:
        async def read() -> AsyncIterator[bytes]:
            for start in range(0, len(data), READ_CHUNK_BYTES):
                yield data[start : start + READ_CHUNK_BYTES]

        return cls(name=name, size=len(data), read=read)


class EncryptedUpload:
    """The ciphertext stream of one source under a fresh key, with its length known up front."""

    def __init__(self, source: AttachmentSource, key: bytes, progress: Progress | None) -> None:
        self.source = source
        self.key = key
        self.length = ciphertext_length(source.size)
        self._encryptor = StreamEncryptor(key, source.size)
        self._progress = progress
        self._sent = 0

    @property
    def sha256(self) -> bytes:
        """The content's SHA-256; complete once the stream has been read to its end."""
        return self._encryptor.sha256

    async def stream(self) -> AsyncIterator[bytes]:
        yield self._counted(self._encryptor.header)
        async for content in self.source.read():
            for record in self._encryptor.update(content):
                yield self._counted(record)
        for record in self._encryptor.finish():
            yield self._counted(record)

    def _counted(self, piece: bytes) -> bytes:
        self._sent += len(piece)
        if self._progress is not None:
            self._progress(self.source.name, self._sent, self.length)
        return piece

    def reference(self, attachment_id: str) -> AttachmentRef:
        return AttachmentRef(
            id=attachment_id,
            key=self.key,
            name=self.source.name,
            size=self.source.size,
            sha256=self.sha256,
        )


def free_name(folder: Path, name: str) -> Path:
    """`folder/name`, or `name (2)`, `name (3)`, … if taken: a download never overwrites."""
    candidate = folder / name
    stem, suffix = Path(name).stem, Path(name).suffix
    number = 2
    while candidate.exists():
        candidate = folder / f"{stem} ({number}){suffix}"
        number += 1
    return candidate


async def save_decrypted(
    ref: AttachmentRef,
    ciphertext: AsyncIterable[bytes],
    folder: Path,
    progress: Progress | None = None,
) -> Path:
    """Decrypt into a private temporary file; keep it under its name only if it checks out."""
    temporary = folder / f".{ref.id}.part"
    descriptor = await asyncio.to_thread(
        os.open, temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
    )
    decryptor = StreamDecryptor(ref.key)
    received = 0
    try:
        with os.fdopen(descriptor, "wb") as handle:
            async for piece in ciphertext:
                received += len(piece)
                for content in decryptor.update(piece):
                    await asyncio.to_thread(handle.write, content)
                if progress is not None:
                    progress(ref.name, received, ciphertext_length(ref.size))
            decryptor.finish()
            if decryptor.content_length != ref.size or not equal(decryptor.sha256, ref.sha256):
                raise BadStream(
                    "the attachment is not the one the message describes", reason="mismatch"
                )
            await asyncio.to_thread(handle.flush)
            await asyncio.to_thread(os.fsync, handle.fileno())
        destination = free_name(folder, ref.name)
        await asyncio.to_thread(os.replace, temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return destination
