"""The demo organisation: on the embedded profile with `[demo] enabled`, a newcomer gets an
organisation key, a vetted admin, triage investigator and liaison, and a file that says how to
log in as each, so both sides of the tip line can be tried within a minute.

NOT SECURE, on purpose: the organisation key's passphrase and every demo passphrase and TOTP
secret are written in clear to `<data_dir>/demo/`. The people are enrolled and vetted through
the same code paths as real ones (invite, enrollment, a directory entry signed with the
organisation key). The production profile refuses to run it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from gateway.config import ConfigError, Settings
from gateway.crypto import totp
from gateway.crypto.directory import sign_entry
from gateway.crypto.encoding import b64decode, b64encode
from gateway.crypto.kdf import V1_PARAMS
from gateway.crypto.keybundle import (
    derive_login_keys,
    new_salt,
    open_organisation_key,
    parse_key_bundle,
    seal_investigator_keys,
    seal_organisation_key,
)
from gateway.crypto.keys import Ed25519KeyPair, InvestigatorKeys, fingerprint
from gateway.domain.enrollment import EnrollmentForm, create_invite, enroll
from gateway.domain.hotline import Hotline
from gateway.domain.sessions import SessionBook
from gateway.domain.vetting import record_entry
from gateway.store.records import Investigator, InvestigatorStatus

logger = logging.getLogger("gateway.demo")

ORGANISATION_PASSPHRASE: Final = "demo-organisation-NOT-SECRET"  # noqa: S105 - public on purpose
DEMO_VALIDITY_SECONDS: Final = 365 * 86_400
CREDENTIALS_TEXT: Final = "CREDENTIALS.txt"
_CREDENTIALS_JSON: Final = "credentials.json"
_KEY_FILE: Final = "organisation-key.json"
_PUBLIC_KEY_FILE: Final = "organisation-public-key.txt"


@dataclass(frozen=True, slots=True)
class DemoPerson:
    username: str
    display_name: str
    roles: tuple[str, ...]
    passphrase: str


PEOPLE: Final = (
    DemoPerson("demo-admin", "Demo Admin", ("admin",), "demo-admin-passphrase-NOT-SECRET"),
    DemoPerson(
        "demo-triage",
        "Demo Triage",
        ("investigator", "triage"),
        "demo-triage-passphrase-NOT-SECRET",
    ),
    DemoPerson(
        "demo-liaison",
        "Demo Liaison",
        ("investigator", "liaison"),
        "demo-liaison-passphrase-NOT-SECRET",
    ),
)


def demo_folder(settings: Settings) -> Path:
    return settings.data_dir / "demo"


def _refuse_outside_embedded(settings: Settings) -> None:
    if settings.profile == "production":
        raise ConfigError(
            "TIPLINE_DEMO ([demo] enabled): the demo organisation writes its keys and "
            "passphrases in clear; the production profile never runs it"
        )
    if settings.workers > 1:
        raise ConfigError("TIPLINE_DEMO ([demo] enabled): the demo runs with one worker only")


def _write_private(path: Path, data: bytes) -> None:
    """Create a 0600 file once; an existing one is left alone (another start made it)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def demo_organisation_key(settings: Settings) -> bytes:
    """The demo organisation's public key, making the organisation the first time.

    Called by the app factory when demo mode is on and no organisation key is pinned.
    """
    _refuse_outside_embedded(settings)
    folder = demo_folder(settings)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    public_file = folder / _PUBLIC_KEY_FILE
    if not public_file.exists():
        key = Ed25519KeyPair.generate()
        salt = new_salt()
        login = derive_login_keys(ORGANISATION_PASSPHRASE, salt, V1_PARAMS)
        bundle = seal_organisation_key(key, login, salt=salt, kdf=V1_PARAMS)
        _write_private(folder / _KEY_FILE, bundle.encode() + b"\n")
        _write_private(public_file, (b64encode(key.public) + "\n").encode())
    return b64decode(public_file.read_text().strip(), what="demo organisation key", length=32)


def _open_organisation_key(folder: Path) -> Ed25519KeyPair:
    bundle = parse_key_bundle((folder / _KEY_FILE).read_bytes().strip())
    login = derive_login_keys(ORGANISATION_PASSPHRASE, bundle.salt, bundle.kdf)
    return open_organisation_key(bundle, login)


def _credentials(folder: Path, settings: Settings, org_public_key: bytes) -> dict[str, str]:
    """The demo people's TOTP secrets (base32), made once and kept in the demo folder."""
    path = folder / _CREDENTIALS_JSON
    if not path.exists():
        secrets = {person.username: totp.secret_text(totp.new_secret()) for person in PEOPLE}
        _write_private(path, json.dumps(secrets, indent=2).encode())
        _write_private(
            folder / CREDENTIALS_TEXT, _credentials_text(settings, org_public_key, secrets)
        )
    loaded: dict[str, str] = json.loads(path.read_text())
    return loaded


def _credentials_text(settings: Settings, org_public_key: bytes, secrets: dict[str, str]) -> bytes:
    url = settings.public_url or f"http://{settings.host}:{settings.port}"
    lines = [
        "Tipline Gateway DEMO organisation -- NOT SECURE.",
        "Every key and passphrase of this demo is written in clear to this folder so that",
        "you can try both sides of the tip line. Never take real reports with it.",
        "",
        f"Gateway:                  {url}",
        f"Organisation public key:  {b64encode(org_public_key)}",
        f"Organisation fingerprint: {fingerprint(org_public_key)}",
        f"Organisation key file:    {demo_folder(settings) / _KEY_FILE}",
        f"  its passphrase:         {ORGANISATION_PASSPHRASE}",
        "",
    ]
    for person in PEOPLE:
        lines += [
            f"{person.display_name} ({', '.join(person.roles)})",
            f"  username:     {person.username}",
            f"  passphrase:   {person.passphrase}",
            f"  TOTP secret:  {secrets[person.username]}  (add it to any authenticator app)",
            "",
        ]
    lines += [
        "Log in from the command line (the code comes from the authenticator app):",
        f"  tipline login --gateway {url} --username demo-triage \\",
        f"      --org-key {fingerprint(org_public_key)} --totp-code CODE",
        "  tipline inbox",
        "Report as a member of the public:",
        f"  tipline report submit --gateway {url} --org-key {fingerprint(org_public_key)}",
        "",
    ]
    return "\n".join(lines).encode()


async def prepare_demo(hotline: Hotline, settings: Settings) -> Path:
    """Make sure every demo person exists, enrolled and vetted; returns the credentials file."""
    _refuse_outside_embedded(settings)
    folder = demo_folder(settings)
    org_public_key = hotline.directory.org_public_key
    secrets = _credentials(folder, settings, org_public_key)
    async with hotline.database.transaction(read_only=True) as tx:
        accounts = {
            person.username: await tx.investigators.find_by_username(person.username)
            for person in PEOPLE
        }
    vetted = await hotline.directory.vetted()
    missing = [
        person
        for person in PEOPLE
        if (account := accounts[person.username]) is None or vetted.by_id(str(account.id)) is None
    ]
    if missing:
        org_key = await asyncio.to_thread(_open_organisation_key, folder)
        if org_key.public != org_public_key:
            raise ConfigError(
                "TIPLINE_ORG_PUBLIC_KEY ([organisation] public_key): the demo needs its own "
                "organisation key; unset the pinned key or turn the demo off"
            )
        sessions = SessionBook(
            hotline.broker,
            hotline.database,
            hotline.directory,
            idle_seconds=settings.session_idle_seconds,
            absolute_seconds=settings.session_absolute_seconds,
        )
        for person in missing:
            account = accounts[person.username]
            if account is None:
                account = await _enroll(
                    hotline, person, totp.parse_secret_text(secrets[person.username])
                )
            if account.status is InvestigatorStatus.PENDING:
                await _vet(hotline, sessions, org_key, account)
    credentials = folder / CREDENTIALS_TEXT
    logger.warning("demo_organisation_ready_not_secure", extra={"credentials": str(credentials)})
    return credentials


async def _enroll(hotline: Hotline, person: DemoPerson, secret: bytes) -> Investigator:
    """The path a real person takes: an invite, then an enrollment with keys made here."""
    invite = await create_invite(hotline, roles=person.roles, created_by=None)
    keys = InvestigatorKeys.generate()
    salt = new_salt()
    login = await asyncio.to_thread(derive_login_keys, person.passphrase, salt, V1_PARAMS)
    # The previous step's code (still valid) confirms the secret, leaving the current and
    # next steps free for a first login straight after start-up.
    code = totp.code_for_step(secret, totp.step_at(time.time()) - 1)
    enrolled = await enroll(
        hotline,
        EnrollmentForm(
            invite_token=invite.token,
            username=person.username,
            display_name=person.display_name,
            enc_public_key=keys.enc.public,
            sig_public_key=keys.sig.public,
            key_bundle=seal_investigator_keys(keys, login, salt=salt, kdf=V1_PARAMS),
            auth_key=login.auth_key,
            totp_secret=secret,
            totp_code=code,
        ),
    )
    return enrolled.investigator


async def _vet(
    hotline: Hotline, sessions: SessionBook, org_key: Ed25519KeyPair, account: Investigator
) -> None:
    """The admin's step: an `add` entry for the enrolled keys, signed with the org key."""
    directory = await hotline.directory.current()
    entry = directory.add_entry(
        investigator_id=str(account.id),
        name=account.display_name,
        roles=account.roles,
        enc_pk=account.enc_public_key,
        sig_pk=account.sig_public_key,
        not_after=int(time.time()) + DEMO_VALIDITY_SECONDS,
    )
    await record_entry(hotline, sessions, sign_entry(org_key, entry))
