"""The investigator's side in Python: enroll, log in, read the inbox, open a case and read its
thread, ask the reporter a question, write internal notes, move the status, watch live events.

Everything secret happens here and nowhere else: the passphrase is stretched with Argon2id (in
a worker thread), the key bundle is opened locally, messages are decrypted locally and every
investigator's signature is checked against the signed directory, itself verified against the
pinned organisation key. The server only ever sees the auth key, ciphertext and signatures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
from multidict import MultiDict

from gateway.client.transport import ApiError, Transport
from gateway.crypto import totp
from gateway.crypto.directory import RECOVERY, Directory, Member, VettedSet, parse_directory
from gateway.crypto.encoding import b64decode, b64encode
from gateway.crypto.envelope import (
    Envelope,
    open_as,
    parse_envelope,
    seal,
    verify_envelope_signature,
)
from gateway.crypto.errors import BadSignature, CryptoError, DecryptionFailed, Malformed
from gateway.crypto.kdf import KdfParams
from gateway.crypto.keybundle import (
    LOGIN_KDF_FLOOR,
    LoginKeys,
    derive_login_keys,
    new_salt,
    open_investigator_keys,
    parse_key_bundle,
    seal_investigator_keys,
)
from gateway.crypto.keys import InvestigatorKeys, key_id
from gateway.crypto.message import INVESTIGATOR_KINDS, MessageContent

SESSION_SCHEME: Final = "Session"
ISSUER: Final = "Tipline"


class ClientRefusal(Exception):
    """The client refuses to go on: something the server sent does not verify."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is logged in, with their secret keys (opened locally from the bundle)."""

    investigator_id: str
    username: str
    display_name: str
    roles: tuple[str, ...]
    keys: InvestigatorKeys = field(repr=False)


@dataclass(frozen=True, slots=True)
class EnrollmentDraft:
    """Everything an enrollment sends, prepared locally before the TOTP code is typed."""

    username: str
    keys: InvestigatorKeys = field(repr=False)
    login: LoginKeys = field(repr=False)
    key_bundle: Mapping[str, Any] = field(repr=False)
    totp_secret: bytes = field(repr=False)

    def provisioning_uri(self, gateway_url: str) -> str:
        """The `otpauth://` URI for an authenticator app (usually shown as a QR code)."""
        host = urlsplit(gateway_url).netloc or gateway_url
        issuer = f"{ISSUER} ({host})"
        label = quote(f"{issuer}:{self.username}", safe="")
        query = urlencode(
            {
                "secret": totp.secret_text(self.totp_secret),
                "issuer": issuer,
                "algorithm": "SHA1",
                "digits": totp.DIGITS,
                "period": totp.STEP_SECONDS,
            }
        )
        return f"otpauth://totp/{label}?{query}"


@dataclass(frozen=True, slots=True)
class InboxEntry:
    case_id: str
    status: str
    urgent: bool
    assignee_id: str | None
    unread: bool
    added_at: str
    last_activity_at: str


@dataclass(frozen=True, slots=True)
class InboxPage:
    entries: tuple[InboxEntry, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    """One message as the investigator may see it. `body` is None when it cannot be shown
    (not wrapped for this key, or it failed to decrypt or verify); `problem` says why."""

    seq: int
    kind: str
    created_at: str
    author: str
    visible_to_reporter: bool
    body: str | None = field(repr=False)
    fields: Mapping[str, str] = field(repr=False)
    attachments: tuple[str, ...]
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class CaseThread:
    case_id: str
    status: str
    urgent: bool
    assignee_id: str | None
    consent: str | None
    reporter_public_key: bytes
    investigators: Mapping[str, str]  # investigator id -> display name
    messages: tuple[ThreadMessage, ...]


def prepare_enrollment(
    username: str, passphrase: str, *, totp_secret: bytes | None = None
) -> EnrollmentDraft:
    """New keys, sealed under the passphrase (Argon2id: run it in a thread), and a TOTP secret."""
    keys = InvestigatorKeys.generate()
    salt = new_salt()
    kdf = LOGIN_KDF_FLOOR
    login = derive_login_keys(passphrase, salt, kdf)
    bundle = seal_investigator_keys(keys, login, salt=salt, kdf=kdf)
    return EnrollmentDraft(
        username=username,
        keys=keys,
        login=login,
        key_bundle=bundle.to_json(),
        totp_secret=totp_secret if totp_secret is not None else totp.new_secret(),
    )


async def submit_enrollment(
    transport: Transport,
    draft: EnrollmentDraft,
    *,
    invite: str,
    display_name: str,
    totp_code: str,
) -> dict[str, Any]:
    """Upload the public keys, the sealed bundle, the auth key and the confirmed TOTP secret."""
    answer: dict[str, Any] = await transport.request_json(
        "POST",
        "/api/v1/enroll",
        json={
            "invite": invite,
            "username": draft.username,
            "display_name": display_name,
            "enc_pk": b64encode(draft.keys.enc.public),
            "sig_pk": b64encode(draft.keys.sig.public),
            "key_bundle": dict(draft.key_bundle),
            "auth_key": b64encode(draft.login.auth_key),
            "totp_secret": b64encode(draft.totp_secret),
            "totp_code": totp_code,
        },
        expect=(201,),
    )
    return answer


class InvestigatorClient:
    """One investigator talking to one gateway. Use as `async with InvestigatorClient(...)`."""

    def __init__(
        self,
        base_url: str,
        *,
        org_public_key: bytes,
        session_token: str | None = None,
        known_directory: tuple[int, bytes] | None = None,
        transport: Transport | None = None,
    ) -> None:
        self._transport = transport or Transport(base_url)
        self._org_public_key = org_public_key
        self.session_token = session_token
        # The last (seq, head) verified: a server that rolls the chain back is refused.
        self.known_directory = known_directory
        self.identity: Identity | None = None

    # ------------------------------------------------------------------ plumbing

    def _auth(self) -> dict[str, str]:
        if self.session_token is None:
            raise ClientRefusal("not logged in")
        return {"Authorization": f"{SESSION_SCHEME} {self.session_token}"}

    async def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return await self._transport.request_json("GET", path, params=params, headers=self._auth())

    def _keys(self) -> InvestigatorKeys:
        if self.identity is None:
            raise ClientRefusal("unlock the key bundle first (log in with the passphrase)")
        return self.identity.keys

    # ------------------------------------------------------------------ login

    async def login_keys(self, username: str, passphrase: str) -> LoginKeys:
        """Prelogin, then Argon2id in a worker thread (refusing weak parameters from the server)."""
        answer = await self._transport.request_json(
            "POST", "/api/v1/auth/prelogin", json={"username": username}
        )
        salt = b64decode(answer.get("salt"), what="prelogin salt", length=16)
        params = KdfParams.from_json(answer.get("kdf"), what="prelogin kdf")
        return await asyncio.to_thread(derive_login_keys, passphrase, salt, params)

    async def login(self, username: str, passphrase: str, totp_code: str) -> Identity:
        """Log in (auth key + TOTP code), then open the key bundle with the same passphrase."""
        login = await self.login_keys(username, passphrase)
        answer = await self._transport.request_json(
            "POST",
            "/api/v1/auth/login",
            json={
                "username": username,
                "auth_key": b64encode(login.auth_key),
                "totp": totp_code,
                "token_in_body": True,
            },
        )
        self.session_token = str(answer["session"])
        return await self._unlock_with(login)

    async def unlock(self, username: str, passphrase: str) -> Identity:
        """Open the key bundle of an existing session (a CLI resuming a saved session)."""
        return await self._unlock_with(await self.login_keys(username, passphrase))

    async def _unlock_with(self, login: LoginKeys) -> Identity:
        answer = await self._get("/api/v1/me/key-bundle")
        try:
            keys = open_investigator_keys(parse_key_bundle(answer["key_bundle"]), login)
        except DecryptionFailed:
            raise ClientRefusal("the passphrase does not open this account's key bundle") from None
        member = (await self.vetted()).by_id(str(answer["investigator_id"]))
        # The directory, not the server's word, says these are this investigator's keys.
        if member is None or (member.enc_pk, member.sig_pk) != (keys.enc.public, keys.sig.public):
            raise ClientRefusal("the signed directory does not vouch for this account's keys")
        self.identity = Identity(
            investigator_id=str(answer["investigator_id"]),
            username=str(answer["username"]),
            display_name=str(answer["display_name"]),
            roles=tuple(sorted(member.roles)),
            keys=keys,
        )
        return self.identity

    async def logout(self) -> None:
        if self.session_token is not None:
            await self._transport.request_json(
                "POST", "/api/v1/auth/logout", headers=self._auth(), expect=(204,)
            )
        self.session_token = None
        self.identity = None

    async def me(self) -> dict[str, Any]:
        answer: dict[str, Any] = await self._get("/api/v1/me")
        return answer

    # ------------------------------------------------------------------ directory

    async def directory(self) -> Directory:
        """The signed directory, verified against the pinned key and never older than before."""
        served = await self._transport.request_json("GET", "/api/v1/directory")
        directory = parse_directory(served, org_public_key=self._org_public_key)
        if self.known_directory is not None and not directory.extends(*self.known_directory):
            raise ClientRefusal("the server's directory is older than one seen before (rollback)")
        self.known_directory = (directory.next_seq - 1, directory.head)
        return directory

    async def vetted(self) -> VettedSet:
        return (await self.directory()).vetted(int(time.time()))

    async def colleagues(self) -> list[dict[str, Any]]:
        answer = await self._get("/api/v1/investigators")
        people: list[dict[str, Any]] = answer["investigators"]
        return people

    # ------------------------------------------------------------------ inbox and cases

    async def inbox(
        self,
        *,
        statuses: Sequence[str] = (),
        urgent: bool | None = None,
        assigned_to_me: bool = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> InboxPage:
        params: list[tuple[str, str]] = [("limit", str(limit))]
        params += [("status", status) for status in statuses]
        if urgent is not None:
            params.append(("urgent", "true" if urgent else "false"))
        if assigned_to_me:
            params.append(("assigned", "me"))
        if cursor:
            params.append(("cursor", cursor))
        answer = await self._transport.request_json(
            "GET", "/api/v1/inbox", params=MultiDict(params), headers=self._auth()
        )
        return InboxPage(
            entries=tuple(
                InboxEntry(
                    case_id=item["case_id"],
                    status=item["status"],
                    urgent=item["urgent"],
                    assignee_id=item["assignee_id"],
                    unread=item["unread"],
                    added_at=item["added_at"],
                    last_activity_at=item["last_activity_at"],
                )
                for item in answer["cases"]
            ),
            next_cursor=answer["next_cursor"],
        )

    async def _case_json(self, case_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self._get(f"/api/v1/cases/{case_id}")
        return answer

    async def open_case(self, case_id: str) -> CaseThread:
        """The case with every message decrypted and every signature checked, locally."""
        keys = self._keys()
        answer = await self._case_json(case_id)
        directory = await self.directory()
        names = {p["investigator_id"]: p["display_name"] for p in answer["investigators"]}
        messages = tuple(_read_message(item, keys, directory) for item in answer["messages"])
        return CaseThread(
            case_id=answer["case_id"],
            status=answer["status"],
            urgent=answer["urgent"],
            assignee_id=answer["assignee_id"],
            consent=answer["consent"],
            reporter_public_key=b64decode(answer["reporter_pk"], what="reporter_pk", length=32),
            investigators=names,
            messages=messages,
        )

    async def _write(self, case_id: str, kind: str, text: str) -> dict[str, Any]:
        keys = self._keys()
        answer = await self._case_json(case_id)
        vetted = await self.vetted()
        reporter_pk = b64decode(answer["reporter_pk"], what="reporter_pk", length=32)
        _check_reporter_key(answer, reporter_pk)
        on_case = {person["investigator_id"] for person in answer["investigators"]}
        recipients = [
            member.enc_pk
            for member in vetted.members
            if member.investigator_id in on_case or RECOVERY in member.roles
        ]
        if kind != "note":
            recipients.append(reporter_pk)
        envelope = seal(
            MessageContent(kind=kind, body=text, created=int(time.time())),
            recipients=recipients,
            case=case_id,
            signer=keys.sig,
        )
        result: dict[str, Any] = await self._transport.request_json(
            "POST",
            f"/api/v1/cases/{case_id}/messages",
            json={"envelope": envelope.to_json()},
            headers=self._auth(),
            expect=(201,),
        )
        return result

    async def ask(self, case_id: str, text: str) -> dict[str, Any]:
        """A follow-up question: for the reporter and every vetted investigator on the case."""
        return await self._write(case_id, "followup", text)

    async def note(self, case_id: str, text: str) -> dict[str, Any]:
        """An internal note: for the case's investigators (and recovery), never the reporter."""
        return await self._write(case_id, "note", text)

    async def request_consent(self, case_id: str, text: str) -> dict[str, Any]:
        return await self._write(case_id, "consent_request", text)

    async def set_status(self, case_id: str, status: str) -> dict[str, Any]:
        return await self._patch(case_id, {"status": status})

    async def assign(self, case_id: str, investigator_id: str | None) -> dict[str, Any]:
        return await self._patch(case_id, {"assignee_id": investigator_id})

    async def _patch(self, case_id: str, change: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = await self._transport.request_json(
            "PATCH", f"/api/v1/cases/{case_id}", json=change, headers=self._auth()
        )
        return answer

    # ------------------------------------------------------------------ live events

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Live events until the server closes the socket (then re-read the inbox)."""
        url = self._transport.url("/api/v1/events")
        async with self._transport.session.ws_connect(url, headers=self._auth()) as socket:
            async for message in socket:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                event: dict[str, Any] = message.json()
                yield event
        if socket.close_code == 4001:
            raise ApiError(401, "session_ended", "the session ended; log in again")

    # ------------------------------------------------------------------ lifecycle

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


def _check_reporter_key(answer: Mapping[str, Any], reporter_pk: bytes) -> None:
    """The reporter key the server names must be one the tip itself was wrapped for."""
    kid = key_id(reporter_pk)
    for item in answer["messages"]:
        if item["kind"] == "tip":
            if kid not in parse_envelope(item["envelope"]).recipient_kids:
                raise ClientRefusal("the case's reporter key is not the one its tip names")
            return


def _signer(envelope: Envelope, directory: Directory) -> tuple[Member | None, str]:
    """Who signed an investigator's message, by the directory, and whether they still count."""
    kid = envelope.header.signer_kid
    if kid is None:
        raise BadSignature("an investigator's message without a signer")
    entry = directory.added_entry_for_sig_kid(kid)
    if entry is None:
        raise BadSignature("signed by a key the directory never listed")
    verify_envelope_signature(envelope, entry.sig_pk)
    member = directory.vetted(int(time.time())).by_sig_kid(kid)
    return member, entry.name if member is not None else f"{entry.name} (no longer vetted)"


def _read_message(
    item: Mapping[str, Any], keys: InvestigatorKeys, directory: Directory
) -> ThreadMessage:
    """Decrypt and check one message; an author's name comes from the directory entry that
    signed it, never from the server."""
    base: dict[str, Any] = {
        "seq": item["seq"],
        "kind": item["kind"],
        "created_at": item["created_at"],
        "visible_to_reporter": item["visible_to_reporter"],
        "author": "reporter",
        "body": None,
        "fields": {},
        "attachments": (),
    }
    try:
        envelope = parse_envelope(item["envelope"])
        if envelope.kind in INVESTIGATOR_KINDS:
            _, base["author"] = _signer(envelope, directory)
        if not item["wrapped_for_me"] or key_id(keys.enc.public) not in envelope.recipient_kids:
            return ThreadMessage(**base, problem="written before you were on the case")
        content = open_as(envelope, keys.enc)
    except BadSignature as refusal:
        return ThreadMessage(**base, problem=f"signature does not verify: {refusal.message}")
    except (DecryptionFailed, Malformed) as refusal:
        return ThreadMessage(**base, problem=f"cannot be read: {refusal.message}")
    except CryptoError as refusal:
        return ThreadMessage(**base, problem=refusal.message)
    base.update(
        body=content.body,
        fields=dict(content.fields),
        attachments=tuple(ref.name for ref in content.attachments),
    )
    return ThreadMessage(**base)
