"""The folder blob store: whole blobs or nothing, limits enforced while bytes arrive."""

from __future__ import annotations

import asyncio
import os
import time
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.blobs import BlobNotFound, BlobTooLarge, FolderBlobStore, InvalidBlobKey

KEY = "0123456789abcdef0123456789abcdef"


async def stream(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def generated(count: int, size: int) -> AsyncIterator[bytes]:
    for index in range(count):
        yield bytes([index % 256]) * size


def files_in(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


@pytest.fixture
def store(tmp_path: Path) -> FolderBlobStore:
    return FolderBlobStore(tmp_path / "blobs")


async def test_a_blob_reads_back_exactly_as_written(store: FolderBlobStore) -> None:
    size = await store.write(KEY, stream(b"abc", b"", b"defg"), max_bytes=100)

    assert size == 7
    assert await store.size(KEY) == 7
    assert b"".join([chunk async for chunk in store.read(KEY, chunk_size=3)]) == b"abcdefg"


async def test_more_bytes_than_allowed_are_refused_and_nothing_is_kept(
    store: FolderBlobStore,
) -> None:
    with pytest.raises(BlobTooLarge):
        await store.write(KEY, stream(b"x" * 60, b"x" * 60), max_bytes=100)

    assert not await store.exists(KEY)
    assert files_in(store.root) == []


async def test_a_cancelled_upload_leaves_nothing_behind(store: FolderBlobStore) -> None:
    started = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield b"first chunk"
        started.set()
        await asyncio.sleep(3600)
        yield b"never"

    upload = asyncio.create_task(store.write(KEY, stalls(), max_bytes=1000))
    await started.wait()
    upload.cancel()
    with pytest.raises(asyncio.CancelledError):
        await upload

    assert files_in(store.root) == []


async def test_a_failing_source_leaves_nothing_behind(store: FolderBlobStore) -> None:
    async def breaks() -> AsyncIterator[bytes]:
        yield b"part"
        raise ConnectionResetError

    with pytest.raises(ConnectionResetError):
        await store.write(KEY, breaks(), max_bytes=1000)
    assert files_in(store.root) == []


@pytest.mark.parametrize(
    "key", ["../../etc/passwd", "ABCDEF0123456789ABCD", "short", "0123456789abcdef/x", ""]
)
async def test_keys_that_could_escape_the_folder_are_refused(
    store: FolderBlobStore, key: str
) -> None:
    with pytest.raises(InvalidBlobKey):
        await store.write(key, stream(b"x"), max_bytes=10)


async def test_reading_or_sizing_a_missing_blob_says_so(store: FolderBlobStore) -> None:
    with pytest.raises(BlobNotFound):
        await store.size(KEY)
    with pytest.raises(BlobNotFound):
        _ = [chunk async for chunk in store.read(KEY)]


async def test_deleting_is_idempotent(store: FolderBlobStore) -> None:
    await store.write(KEY, stream(b"data"), max_bytes=10)
    await store.delete(KEY)
    await store.delete(KEY)
    assert not await store.exists(KEY)


async def test_blob_files_are_private_to_the_gateway_user(store: FolderBlobStore) -> None:
    await store.write(KEY, stream(b"data"), max_bytes=10)
    (path,) = files_in(store.root)
    assert path.stat().st_mode & 0o077 == 0


async def test_leftovers_of_a_crashed_upload_are_swept(store: FolderBlobStore) -> None:
    await store.write(KEY, stream(b"data"), max_bytes=10)
    leftover = store.root / KEY[:2] / KEY[2:4] / f".partial-{KEY}-deadbeef"
    leftover.write_bytes(b"half")
    old = time.time() - 3600
    os.utime(leftover, (old, old))

    assert await store.sweep_partial(older_than_seconds=60) == 1
    assert not leftover.exists()
    assert await store.exists(KEY)


async def test_a_large_blob_streams_in_and_out_in_constant_memory(
    store: FolderBlobStore,
) -> None:
    chunk, count = 64 * 1024, 512  # 32 MiB
    tracemalloc.start()
    try:
        await store.write(KEY, generated(count, chunk), max_bytes=chunk * count)
        total = 0
        async for piece in store.read(KEY):
            total += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == chunk * count
    assert peak < 4 * 2**20, f"peak {peak} bytes: the blob was held in memory"
