"""The signed directory as the server keeps it: verified whenever it is loaded, extended one
signed entry at a time, and the source of the vetted set every other rule consults.

The server trusts nothing it stored: the chain is re-verified against the pinned
organisation key whenever another process (or a restore) changed it, so a row edited in
the database cannot vet anyone.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable

from gateway.crypto.directory import Directory, SignedEntry, VettedSet, verify_directory
from gateway.crypto.directory import DirectoryEntry as SignedDirectoryEntry
from gateway.crypto.directory import entry_hash as hash_entry
from gateway.crypto.errors import CryptoError
from gateway.domain.clock import Clock, unix_seconds
from gateway.domain.errors import Conflict, InvalidInput, ServiceUnavailable
from gateway.store import Database, DirectorySequenceRefused, Transaction
from gateway.store.records import DirectoryEntry as StoredEntry
from gateway.store.records import DirectoryEntryKind

logger = logging.getLogger("gateway.domain.directory")

# Extra writes that must commit together with a new entry (account status, inbox, audit).
EntryHook = Callable[[Transaction, SignedDirectoryEntry], Awaitable[None]]


class OrganisationNotConfigured(ServiceUnavailable):
    code = "organisation_not_configured"
    default_message = "This hotline has no organisation key configured yet."


class DirectoryCorrupt(ServiceUnavailable):
    code = "directory_corrupt"
    default_message = "The stored directory does not verify; the operators have been alerted."


class DirectoryBook:
    def __init__(self, database: Database, org_public_key: bytes | None, clock: Clock) -> None:
        self._database = database
        self._org_public_key = org_public_key
        self._clock = clock
        self._cached: Directory | None = None
        self._lock = asyncio.Lock()

    @property
    def org_public_key(self) -> bytes:
        if self._org_public_key is None:
            raise OrganisationNotConfigured
        return self._org_public_key

    async def current(self, tx: Transaction | None = None) -> Directory:
        """The verified directory; reloaded only when the stored chain's head moved.

        With `tx` the head is read in the caller's unit of work: a request that needs the
        directory and the database anyway saves a unit of its own (and sees both at once).
        """
        org_public_key = self.org_public_key  # refuse before reading when none is configured
        if tx is None:
            async with self._database.transaction(read_only=True) as own:
                stored = await self._rows_if_moved(own)
        else:
            stored = await self._rows_if_moved(tx)
        if stored is None:
            assert self._cached is not None
            return self._cached
        try:
            directory = verify_directory(
                org_public_key,
                [
                    SignedEntry(
                        entry_bytes=row.entry_bytes,
                        entry=SignedDirectoryEntry.decode(row.entry_bytes),
                        signature=row.signature,
                    )
                    for row in stored
                ],
            )
        except CryptoError as error:
            logger.error("directory_does_not_verify", extra={"code": error.code})
            raise DirectoryCorrupt from error
        self._cached = directory
        return directory

    async def _rows_if_moved(self, tx: Transaction) -> list[StoredEntry] | None:
        """None while the cached directory is at the stored head, else every stored entry."""
        head = await tx.directory.head()
        cached = self._cached
        if cached is not None and _is_at(cached, head):
            return None
        return await tx.directory.list_all()

    async def vetted(self, tx: Transaction | None = None) -> VettedSet:
        """Who is vetted now (the head read in `tx` when given, see `current`)."""
        return (await self.current(tx)).vetted(unix_seconds(self._clock.now()))

    async def append(self, signed: SignedEntry, *, hook: EntryHook | None = None) -> Directory:
        """Verify one signed entry against the chain and store it (with `hook`'s writes)."""
        async with self._lock:
            directory = await self.current()
            extended = directory.extend(signed)  # BadDirectory names what is wrong
            entry = signed.entry
            try:
                investigator_id = uuid.UUID(entry.investigator_id)
            except ValueError:
                raise InvalidInput(
                    "investigator_id must be the investigator's account id (a UUID)"
                ) from None
            try:
                async with self._database.transaction() as tx:
                    await tx.directory.append(
                        seq=entry.seq,
                        entry_bytes=signed.entry_bytes,
                        signature=signed.signature,
                        entry_hash=hash_entry(signed.entry_bytes),
                        kind=DirectoryEntryKind(entry.kind),
                        investigator_id=investigator_id,
                        at=self._clock.now(),
                    )
                    if hook is not None:
                        await hook(tx, entry)
            except DirectorySequenceRefused:
                self._cached = None
                raise Conflict(
                    "Another directory entry was recorded first; fetch the directory and sign "
                    "the entry again."
                ) from None
            self._cached = extended
            return extended


def _is_at(directory: Directory, head: tuple[int, bytes] | None) -> bool:
    """Whether a verified directory is exactly the stored chain whose last entry has
    `head`'s sequence number and hash."""
    if head is None:
        return not directory.entries
    seq, entry_hash = head
    return directory.next_seq - 1 == seq and entry_hash == directory.head
