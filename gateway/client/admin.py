"""The organisation's admin side: the offline organisation key file, and the requests it signs
(invites, enrollments to vet, directory entries to add or revoke).

The key never leaves the admin's machine: it signs each request (method, path, body hash,
time, nonce) and each directory entry locally. The key file is a passphrase-encrypted key
bundle of kind `organisation`; opening it costs one Argon2id run (done in a thread).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from gateway.client.transport import Transport, raise_for_error
from gateway.crypto.directory import (
    RECOVERY,
    Directory,
    DirectoryEntry,
    SignedEntry,
    parse_directory,
    sign_entry,
)
from gateway.crypto.encoding import b64decode
from gateway.crypto.errors import DecryptionFailed
from gateway.crypto.keybundle import (
    LOGIN_KDF_FLOOR,
    derive_login_keys,
    new_salt,
    open_organisation_key,
    parse_key_bundle,
    seal_investigator_keys,
    seal_organisation_key,
)
from gateway.crypto.keys import Ed25519KeyPair, InvestigatorKeys, fingerprint
from gateway.crypto.organisation_request import SCHEME, sign_organisation_request

DEFAULT_VALIDITY: Final = timedelta(days=365)


class OrganisationKeyError(Exception):
    """The organisation key file cannot be made or opened; the message says why."""


def create_organisation_key_file(path: Path, passphrase: str) -> Ed25519KeyPair:
    """A fresh organisation key, sealed under the passphrase, written once (never overwritten).

    Argon2id runs here: call it from a thread in async code.
    """
    key = Ed25519KeyPair.generate()
    salt = new_salt()
    login = derive_login_keys(passphrase, salt, LOGIN_KDF_FLOOR)
    bundle = seal_organisation_key(key, login, salt=salt, kdf=LOGIN_KDF_FLOOR)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: an existing organisation key is never replaced by accident.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise OrganisationKeyError(f"{path} exists already; it is not overwritten") from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(bundle.encode() + b"\n")
    return key


def open_organisation_key_file(path: Path, passphrase: str) -> Ed25519KeyPair:
    """The organisation key from its file (Argon2id: call it from a thread in async code)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise OrganisationKeyError(f"cannot read {path} ({error.strerror})") from None
    bundle = parse_key_bundle(data.strip())
    try:
        return open_organisation_key(bundle, derive_login_keys(passphrase, bundle.salt, bundle.kdf))
    except DecryptionFailed:
        raise OrganisationKeyError("the passphrase does not open the organisation key") from None


@dataclass(frozen=True, slots=True)
class Enrollment:
    """A pending enrollment as the gateway reports it, with the keys to vet."""

    enrollment_id: str
    investigator_id: str
    username: str
    display_name: str
    roles_requested: tuple[str, ...]
    enc_pk: bytes
    sig_pk: bytes
    status: str

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Enrollment:
        return cls(
            enrollment_id=str(value["enrollment_id"]),
            investigator_id=str(value["investigator_id"]),
            username=str(value["username"]),
            display_name=str(value["display_name"]),
            roles_requested=tuple(value["roles_requested"]),
            enc_pk=b64decode(value["enc_pk"], what="enc_pk", length=32),
            sig_pk=b64decode(value["sig_pk"], what="sig_pk", length=32),
            status=str(value["status"]),
        )

    @property
    def enc_fingerprint(self) -> str:
        # Computed here from the keys, not taken from the server's text.
        return fingerprint(self.enc_pk)

    @property
    def sig_fingerprint(self) -> str:
        return fingerprint(self.sig_pk)


class AdminClient:
    """Requests signed with the organisation key. Use as `async with AdminClient(...)`."""

    def __init__(
        self, base_url: str, org_key: Ed25519KeyPair, *, transport: Transport | None = None
    ) -> None:
        self._transport = transport or Transport(base_url)
        self._org_key = org_key

    async def _signed(
        self, method: str, path: str, payload: Any = None, *, expect: tuple[int, ...] = (200,)
    ) -> Any:
        body = b"" if payload is None else json.dumps(payload).encode()
        credential = sign_organisation_request(
            self._org_key, method=method, target=path, body=body, now=int(time.time())
        )
        headers = {"Authorization": f"{SCHEME} {credential}"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        async with self._transport.session.request(
            method, self._transport.url(path), data=body or None, headers=headers
        ) as response:
            await raise_for_error(response, expect)
            return await response.json()

    async def create_invite(
        self, roles: Iterable[str], *, valid_for: timedelta | None = None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"roles": sorted(set(roles))}
        if valid_for is not None:
            payload["valid_for_seconds"] = int(valid_for.total_seconds())
        answer: dict[str, Any] = await self._signed(
            "POST", "/api/v1/admin/invites", payload, expect=(201,)
        )
        return answer

    async def enrollments(self) -> list[Enrollment]:
        answer = await self._signed("GET", "/api/v1/admin/enrollments")
        return [Enrollment.from_json(item) for item in answer["enrollments"]]

    async def enrollment(self, enrollment_id: str) -> Enrollment:
        return Enrollment.from_json(
            await self._signed("GET", f"/api/v1/admin/enrollments/{enrollment_id}")
        )

    async def directory(self) -> Directory:
        served = await self._transport.request_json("GET", "/api/v1/directory")
        return parse_directory(served, org_public_key=self._org_key.public)

    def vetting_entry(
        self,
        directory: Directory,
        enrollment: Enrollment,
        *,
        roles: Iterable[str] | None = None,
        valid_for: timedelta = DEFAULT_VALIDITY,
    ) -> DirectoryEntry:
        """The `add` entry that vets this enrollment's keys, ready to show and sign."""
        return directory.add_entry(
            investigator_id=enrollment.investigator_id,
            name=enrollment.display_name,
            roles=tuple(roles) if roles is not None else enrollment.roles_requested,
            enc_pk=enrollment.enc_pk,
            sig_pk=enrollment.sig_pk,
            not_after=int(time.time() + valid_for.total_seconds()),
        )

    async def record(self, entry: DirectoryEntry) -> dict[str, Any]:
        """Sign an entry with the organisation key and record it on the gateway."""
        signed: SignedEntry = sign_entry(self._org_key, entry)
        answer: dict[str, Any] = await self._signed(
            "POST", "/api/v1/admin/directory", signed.to_json(), expect=(201,)
        )
        return answer

    def recovery_entry(
        self,
        directory: Directory,
        keys: InvestigatorKeys,
        *,
        name: str = "Recovery key",
        valid_for: timedelta = timedelta(days=10 * 365),
    ) -> DirectoryEntry:
        """The `add` entry making `keys` the recovery recipient of every message."""
        return directory.add_entry(
            investigator_id=str(uuid.uuid4()),
            name=name,
            roles=(RECOVERY,),
            enc_pk=keys.enc.public,
            sig_pk=keys.sig.public,
            not_after=int(time.time() + valid_for.total_seconds()),
        )

    async def revocation_entry(self, investigator_id: str) -> DirectoryEntry:
        directory = await self.directory()
        return directory.revoke_entry(investigator_id, now=int(time.time()))

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


def create_recovery_key_file(path: Path, passphrase: str) -> InvestigatorKeys:
    """A fresh recovery key pair (encryption + signing), sealed in a key bundle of kind
    `recovery` and written once. Keep it offline like the organisation key: it can read every
    case. Argon2id runs here: call it from a thread in async code."""
    keys = InvestigatorKeys.generate()
    salt = new_salt()
    login = derive_login_keys(passphrase, salt, LOGIN_KDF_FLOOR)
    bundle = seal_investigator_keys(keys, login, salt=salt, kdf=LOGIN_KDF_FLOOR, kind=RECOVERY)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise OrganisationKeyError(f"{path} exists already; it is not overwritten") from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(bundle.encode() + b"\n")
    return keys


async def open_key_file(path: Path, passphrase: str) -> Ed25519KeyPair:
    """`open_organisation_key_file` off the event loop."""
    return await asyncio.to_thread(open_organisation_key_file, path, passphrase)
