"""The reporter's client: every piece of cryptography happens here, none on the server.

It verifies the directory against the pinned organisation key, makes the pickup code,
derives the locator and the reporter's key pair from it (Argon2id, in a worker thread),
encrypts tips, replies and attachments for exactly the recipients the protocol names,
solves the proofs of work (in a worker thread) and reads the case back, refusing to show
an investigator's message whose signature does not verify against the vetted directory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from gateway.client.attachment_files import (
    AttachmentSource,
    EncryptedUpload,
    Progress,
    save_decrypted,
)
from gateway.client.directory_pin import OrganisationPin, VerifiedDirectory, verify_served_directory
from gateway.client.transport import Transport, raise_for_error
from gateway.crypto.directory import RECOVERY, TRIAGE, VettedSet
from gateway.crypto.encoding import b64encode, canonical_json
from gateway.crypto.envelope import (
    Envelope,
    open_as,
    parse_envelope,
    seal,
    verify_envelope_signature,
)
from gateway.crypto.errors import CryptoError
from gateway.crypto.message import INVESTIGATOR_KINDS, AttachmentRef, MessageContent
from gateway.crypto.pickup import Locator, PickupCode, ReporterKeys, derive_reporter_keys
from gateway.crypto.pow import parse_challenge, solve
from gateway.crypto.stream import new_attachment_key

VERSION: Final = 1
PROOF_HEADER: Final = "X-Tipline-Proof"
# A gateway asking for more work than this is broken or hostile: 2^26 hashes take minutes.
MAX_ACCEPTED_DIFFICULTY: Final = 26


class ReporterError(Exception):
    """The client refuses to go on; the message says why, in words for the reporter."""


@dataclass(frozen=True, slots=True)
class TipDraft:
    body: str = field(repr=False)
    fields: Mapping[str, str] = field(default_factory=dict, repr=False)
    attachments: Sequence[AttachmentSource] = ()
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class Submission:
    """A tip the gateway accepted. Show `code` once: it cannot be recovered."""

    code: PickupCode
    directory: VerifiedDirectory
    attachments: int


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    """A message the reporter may read: decrypted and, if an investigator wrote it, verified."""

    seq: int
    kind: str
    created: int
    content: MessageContent = field(repr=False)
    # "you" for the reporter's own messages, else the vetted author's name in the directory.
    author: str
    author_id: str | None


@dataclass(frozen=True, slots=True)
class WithheldMessage:
    """A message the client refused to show, and why (never its content)."""

    seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class CaseThread:
    case_id: str
    status: str
    messages: tuple[ThreadMessage, ...]
    withheld: tuple[WithheldMessage, ...]
    investigators: tuple[str, ...]
    directory: VerifiedDirectory
    keys: ReporterKeys = field(repr=False)

    @property
    def attachments(self) -> tuple[AttachmentRef, ...]:
        return tuple(ref for message in self.messages for ref in message.content.attachments)


class ReporterClient:
    def __init__(
        self,
        transport: Transport,
        org_key_pin: OrganisationPin | bytes | None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._transport = transport
        self._pin = (
            OrganisationPin.of_key(org_key_pin) if isinstance(org_key_pin, bytes) else org_key_pin
        )
        self._clock = clock

    async def directory(self) -> VerifiedDirectory:
        """The gateway's directory, verified (against the pin, when there is one)."""
        served = await self._transport.request_json("GET", "/api/v1/directory")
        try:
            return verify_served_directory(served, self._pin)
        except CryptoError as error:
            raise ReporterError(
                f"The gateway's directory does not verify ({error.code}); nothing was sent."
            ) from error

    async def unlock(
        self, code: PickupCode | str, directory: VerifiedDirectory | None = None
    ) -> tuple[ReporterKeys, VerifiedDirectory]:
        """The locator and key pair a code derives (Argon2id, off the event loop)."""
        pickup = code if isinstance(code, PickupCode) else PickupCode.parse(code)
        directory = directory or await self.directory()
        keys = await asyncio.to_thread(derive_reporter_keys, pickup, directory.org_public_key)
        return keys, directory

    async def submit(self, tip: TipDraft, *, progress: Progress | None = None) -> Submission:
        directory = await self.directory()
        vetted = self._vetted(directory)
        if not vetted.with_role(TRIAGE):
            raise ReporterError(
                "This hotline cannot receive reports yet: nobody is vetted to read them."
            )
        code = PickupCode.generate()
        keys, _ = await self.unlock(code, directory)
        references = [
            await self._upload(source, locator=None, progress=progress)
            for source in tip.attachments
        ]
        envelope = seal(
            self._content("tip", tip.body, tip.fields, references),
            recipients=[*vetted.new_tip_recipients(), keys.enc.public],
            case=None,
        )
        await self._transport.request_json(
            "POST",
            "/api/v1/cases",
            json={
                "v": VERSION,
                "locator": keys.locator.encoded(),
                "reporter_pk": b64encode(keys.enc.public),
                "urgent": tip.urgent,
                "envelope": envelope.to_json(),
                "attachments": [ref.id for ref in references],
            },
            headers=await paid_headers(self._transport, "submit"),
            expect=(201,),
        )
        return Submission(code=code, directory=directory, attachments=len(references))

    async def open_case(self, code: PickupCode | str) -> CaseThread:
        """The case as its reporter sees it: decrypted here, investigators' messages verified."""
        keys, directory = await self.unlock(code)
        answer = await self._transport.request_json(
            "GET",
            "/api/v1/reporter/case",
            headers=await paid_headers(self._transport, "lookup", keys.locator),
        )
        case_id = str(answer["case"])
        vetted = self._vetted(directory)
        shown: list[ThreadMessage] = []
        withheld: list[WithheldMessage] = []
        for item in answer["messages"]:
            seq = int(item["seq"])
            try:
                shown.append(_read(item["envelope"], seq, case_id, keys, vetted))
            except _Withheld as refusal:
                withheld.append(WithheldMessage(seq=seq, reason=refusal.reason))
        return CaseThread(
            case_id=case_id,
            status=str(answer["status"]),
            messages=tuple(shown),
            withheld=tuple(withheld),
            investigators=tuple(str(person) for person in answer["investigators"]),
            directory=directory,
            keys=keys,
        )

    async def reply(
        self,
        thread: CaseThread,
        body: str,
        *,
        fields: Mapping[str, str] | None = None,
        attachments: Sequence[AttachmentSource] = (),
        kind: str = "reply",
        progress: Progress | None = None,
    ) -> int:
        """Answer on the case: for its vetted investigators, the recovery key and yourself."""
        directory = await self.directory()
        vetted = self._vetted(directory)
        readers = [
            member.enc_pk
            for member in vetted.members
            if member.investigator_id in thread.investigators or RECOVERY in member.roles
        ]
        if not readers:
            raise ReporterError(
                "Nobody vetted can read a reply on this case at the moment; try again later."
            )
        references = [
            await self._upload(source, locator=thread.keys.locator, progress=progress)
            for source in attachments
        ]
        envelope = seal(
            self._content(kind, body, fields or {}, references),
            recipients=[*readers, thread.keys.enc.public],
            case=thread.case_id,
        )
        answer = await self._transport.request_json(
            "POST",
            "/api/v1/reporter/messages",
            json={
                "v": VERSION,
                "envelope": envelope.to_json(),
                "attachments": [ref.id for ref in references],
            },
            headers=await paid_headers(self._transport, "reply", thread.keys.locator),
            expect=(201,),
        )
        return int(answer["seq"])

    async def download_attachment(
        self,
        thread: CaseThread,
        ref: AttachmentRef,
        folder: Path,
        *,
        progress: Progress | None = None,
    ) -> Path:
        """Fetch, decrypt and check one attachment; returns where it was saved."""
        url = self._transport.url(f"/api/v1/cases/{thread.case_id}/attachments/{ref.id}")
        headers = await paid_headers(self._transport, "lookup", thread.keys.locator)
        async with self._transport.session.get(url, headers=headers) as response:
            await raise_for_error(response, (200,))
            return await save_decrypted(
                ref, response.content.iter_chunked(64 * 1024), folder, progress
            )

    async def withdraw(self, code: PickupCode | str | CaseThread) -> None:
        """Withdraw the case: the gateway deletes it and everything in it at once."""
        if isinstance(code, CaseThread):
            locator = code.keys.locator
        else:
            locator = (await self.unlock(code))[0].locator
        await self._transport.request_json(
            "DELETE",
            "/api/v1/reporter/case",
            headers=await paid_headers(self._transport, "lookup", locator),
            expect=(204,),
        )

    def _vetted(self, directory: VerifiedDirectory) -> VettedSet:
        return directory.directory.vetted(int(self._clock()))

    def _content(
        self,
        kind: str,
        body: str,
        fields: Mapping[str, str],
        attachments: Iterable[AttachmentRef],
    ) -> MessageContent:
        return MessageContent(
            kind=kind,
            body=body,
            created=int(self._clock()),
            fields=dict(fields),
            attachments=tuple(attachments),
        )

    async def _upload(
        self, source: AttachmentSource, *, locator: Locator | None, progress: Progress | None
    ) -> AttachmentRef:
        upload = EncryptedUpload(source, new_attachment_key(), progress)
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(upload.length),
            **await paid_headers(
                self._transport, "submit" if locator is None else "reply", locator
            ),
        }
        async with self._transport.session.post(
            self._transport.url("/api/v1/reporter/attachments"),
            data=upload.stream(),
            headers=headers,
        ) as response:
            await raise_for_error(response, (201,))
            answer = await response.json()
        return upload.reference(str(answer["id"]))


async def paid_headers(
    transport: Transport, purpose: str, locator: Locator | None = None
) -> dict[str, str]:
    """A fresh proof of work for `purpose`, solved off the event loop, as the
    `X-Tipline-Proof` header (with the case's `Authorization: Locator` when given)."""
    answer = await transport.request_json("GET", "/api/v1/pow", params={"purpose": purpose})
    challenge = parse_challenge(answer)
    if challenge.purpose != purpose or challenge.difficulty > MAX_ACCEPTED_DIFFICULTY:
        raise ReporterError("The gateway asks for an unreasonable proof of work.")
    solution = await asyncio.to_thread(solve, challenge)
    headers = {PROOF_HEADER: b64encode(canonical_json(solution.to_json()))}
    if locator is not None:
        headers["Authorization"] = f"Locator {locator.encoded()}"
    return headers


class _Withheld(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _read(
    wire: Any, seq: int, case_id: str, keys: ReporterKeys, vetted: VettedSet
) -> ThreadMessage:
    """Decrypt one message, verifying an investigator's signature against the vetted set."""
    try:
        envelope: Envelope = parse_envelope(wire)
    except CryptoError:
        raise _Withheld("malformed") from None
    if envelope.kind != "tip" and envelope.header.case != case_id:
        raise _Withheld("belongs to another case")
    author, author_id = "you", None
    if envelope.kind in INVESTIGATOR_KINDS:
        signer_kid = envelope.header.signer_kid
        member = None if signer_kid is None else vetted.by_sig_kid(signer_kid)
        if member is None:
            raise _Withheld("its author is not a vetted investigator")
        try:
            verify_envelope_signature(envelope, member.sig_pk)
        except CryptoError:
            raise _Withheld("its signature does not verify") from None
        author, author_id = member.name, member.investigator_id
    try:
        content = open_as(envelope, keys.enc)
    except CryptoError:
        raise _Withheld("it cannot be decrypted with this code") from None
    return ThreadMessage(
        seq=seq,
        kind=envelope.kind,
        created=envelope.header.created,
        content=content,
        author=author,
        author_id=author_id,
    )
