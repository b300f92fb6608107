"""`tipline admin`: the organisation key and what it signs, from the admin's own machine.

    tipline admin init-org --out org-key.json
    tipline admin invite --gateway URL --org-key-file org-key.json --roles triage,investigator
    tipline admin enrollments --gateway URL --org-key-file org-key.json
    tipline admin vet ENROLLMENT_ID --gateway URL --org-key-file org-key.json
    tipline admin revoke INVESTIGATOR_ID --gateway URL --org-key-file org-key.json
    tipline admin add-recovery --out recovery-key.json --gateway URL --org-key-file org-key.json

Every command that talks to the gateway signs its request with the organisation key, so no
admin session is needed (that is how the first admin is invited). The key file's passphrase
comes from --passphrase-file, $TIPLINE_ADMIN_PASSPHRASE or a hidden prompt.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from gateway.cli.common import CommandError
from gateway.cli.prompts import ask, confirm
from gateway.client.admin import (
    AdminClient,
    OrganisationKeyError,
    create_organisation_key_file,
    create_recovery_key_file,
    open_key_file,
)
from gateway.client.transport import ApiError
from gateway.crypto.directory import DirectoryEntry
from gateway.crypto.encoding import b64encode
from gateway.crypto.errors import CryptoError
from gateway.crypto.keys import Ed25519KeyPair, fingerprint

PASSPHRASE_ENV: Final = "TIPLINE_ADMIN_PASSPHRASE"  # noqa: S105 - a variable name
GATEWAY_ENV: Final = "TIPLINE_GATEWAY_URL"
KEY_FILE_ENV: Final = "TIPLINE_ORG_KEY_FILE"
RECOVERY_PASSPHRASE_ENV: Final = "TIPLINE_RECOVERY_PASSPHRASE"  # noqa: S105 - a variable name
MIN_PASSPHRASE_CHARS: Final = 12


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "admin", help="the organisation key: invites, vetting, revocation"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    init = actions.add_parser("init-org", help="make the organisation key file (offline)")
    init.add_argument("--out", type=Path, required=True, metavar="FILE", help="key file to write")
    _passphrase_option(init)
    init.set_defaults(run=_init_org)

    invite = actions.add_parser("invite", help="a one-time invite for a new investigator")
    _gateway_options(invite)
    invite.add_argument(
        "--roles",
        default="investigator",
        help="comma-separated roles asked for: investigator, triage, liaison, admin",
    )
    invite.add_argument("--valid-hours", type=float, default=72.0, help="how long it works")
    invite.set_defaults(run=_invite)

    listing = actions.add_parser("enrollments", help="enrollments waiting to be vetted")
    _gateway_options(listing)
    listing.set_defaults(run=_enrollments)

    vet = actions.add_parser("vet", help="check an enrollment's fingerprints and vet it")
    vet.add_argument("enrollment_id", metavar="ENROLLMENT_ID")
    _gateway_options(vet)
    vet.add_argument("--roles", default=None, help="roles to give (default: those asked for)")
    vet.add_argument("--valid-days", type=float, default=365.0, help="vetted for how long")
    vet.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    vet.set_defaults(run=_vet)

    recovery = actions.add_parser(
        "add-recovery", help="make the offline recovery key and list it in the directory"
    )
    recovery.add_argument("--out", type=Path, required=True, metavar="FILE", help="key file")
    recovery.add_argument(
        "--recovery-passphrase-file",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"the recovery key's own passphrase (else ${RECOVERY_PASSPHRASE_ENV}, else a prompt)",
    )
    _gateway_options(recovery)
    recovery.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    recovery.set_defaults(run=_add_recovery)

    revoke = actions.add_parser("revoke", help="end an investigator's vetting at once")
    revoke.add_argument("investigator_id", metavar="INVESTIGATOR_ID")
    _gateway_options(revoke)
    revoke.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    revoke.set_defaults(run=_revoke)


def _passphrase_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--passphrase-file",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"the key file's passphrase (else ${PASSPHRASE_ENV}, else a prompt)",
    )


def _gateway_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gateway", default=None, metavar="URL", help=f"(else ${GATEWAY_ENV})")
    parser.add_argument(
        "--org-key-file", type=Path, default=None, metavar="FILE", help=f"(else ${KEY_FILE_ENV})"
    )
    _passphrase_option(parser)


def _init_org(arguments: argparse.Namespace) -> int:
    out: Path = arguments.out
    if out.exists():
        raise CommandError(f"{out} exists already; an organisation key is never overwritten")
    passphrase = ask(
        "passphrase for the new organisation key",
        file=arguments.passphrase_file,
        env=PASSPHRASE_ENV,
        secret=True,
        confirm=True,
    )
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise CommandError(f"use a passphrase of at least {MIN_PASSPHRASE_CHARS} characters")
    try:
        key = create_organisation_key_file(out, passphrase)
    except OrganisationKeyError as error:
        raise CommandError(str(error)) from None
    print(f"Organisation key written to {out} (keep it offline, with its passphrase apart).")
    print(
        f"Public key (TIPLINE_ORG_PUBLIC_KEY / [organisation] public_key): {b64encode(key.public)}"
    )
    print(f"Fingerprint (compare it by voice or on paper): {fingerprint(key.public)}")
    return 0


async def _with_admin(
    arguments: argparse.Namespace, work: Callable[[AdminClient], Awaitable[int]]
) -> int:
    gateway = arguments.gateway or os.environ.get(GATEWAY_ENV)
    key_file = arguments.org_key_file or (
        Path(os.environ[KEY_FILE_ENV]) if os.environ.get(KEY_FILE_ENV) else None
    )
    if not gateway or key_file is None:
        raise CommandError("give --gateway URL and --org-key-file FILE")
    passphrase = ask(
        "organisation key passphrase",
        file=arguments.passphrase_file,
        env=PASSPHRASE_ENV,
        secret=True,
    )
    try:
        key: Ed25519KeyPair = await open_key_file(key_file, passphrase)
    except OrganisationKeyError as error:
        raise CommandError(str(error)) from None
    try:
        async with AdminClient(gateway, key) as admin:
            return await work(admin)
    except ApiError as error:
        raise CommandError(f"the gateway refused: {error.code}: {error.message}") from None
    except CryptoError as error:
        raise CommandError(f"refused: {error.message}") from None
    except OSError as error:
        raise CommandError(f"cannot reach {gateway}: {error}") from None


def _roles(text: str) -> list[str]:
    return [role.strip() for role in text.split(",") if role.strip()]


def _invite(arguments: argparse.Namespace) -> int:
    async def work(admin: AdminClient) -> int:
        invite = await admin.create_invite(
            _roles(arguments.roles), valid_for=timedelta(hours=arguments.valid_hours)
        )
        print(f"Invite for roles {', '.join(invite['roles'])}, valid until {invite['expires_at']}.")
        print("Give it to the person through a channel you trust; it works once:")
        print(invite["token"])
        return 0

    return asyncio.run(_with_admin(arguments, work))


def _enrollments(arguments: argparse.Namespace) -> int:
    async def work(admin: AdminClient) -> int:
        pending = await admin.enrollments()
        if not pending:
            print("No enrollments are waiting.")
        for item in pending:
            print(
                f"{item.enrollment_id}  {item.username}  {item.display_name!r}  "
                f"asks for {', '.join(item.roles_requested)}"
            )
            print(f"    account        {item.investigator_id}")
            print(f"    encryption key {item.enc_fingerprint}")
            print(f"    signing key    {item.sig_fingerprint}")
        return 0

    return asyncio.run(_with_admin(arguments, work))


def _show_entry(entry: DirectoryEntry) -> None:
    print(f"  directory entry #{entry.seq}: {entry.kind} {entry.investigator_id}")
    print(f"  name            {entry.name}")
    print(f"  roles           {', '.join(entry.roles) or '-'}")
    print(f"  encryption key  {fingerprint(entry.enc_pk)}")
    print(f"  signing key     {fingerprint(entry.sig_pk)}")


def _vet(arguments: argparse.Namespace) -> int:
    async def work(admin: AdminClient) -> int:
        enrollment = await admin.enrollment(arguments.enrollment_id)
        if enrollment.status != "pending":
            raise CommandError(f"this enrollment is {enrollment.status} already")
        directory = await admin.directory()
        roles = _roles(arguments.roles) if arguments.roles else None
        entry = admin.vetting_entry(
            directory, enrollment, roles=roles, valid_for=timedelta(days=arguments.valid_days)
        )
        print(f"Vetting {enrollment.username} ({enrollment.display_name}):")
        _show_entry(entry)
        print("Compare both fingerprints with the ones the person reads out to you.")
        confirm("Sign this entry with the organisation key?", assume_yes=arguments.yes)
        recorded = await admin.record(entry)
        print(f"Vetted: directory entry #{recorded['seq']} recorded; the account is active.")
        return 0

    return asyncio.run(_with_admin(arguments, work))


def _add_recovery(arguments: argparse.Namespace) -> int:
    out: Path = arguments.out
    if out.exists():
        raise CommandError(f"{out} exists already; a key file is never overwritten")
    recovery_passphrase = ask(
        "passphrase for the new recovery key",
        file=arguments.recovery_passphrase_file,
        env=RECOVERY_PASSPHRASE_ENV,
        secret=True,
        confirm=True,
    )
    if len(recovery_passphrase) < MIN_PASSPHRASE_CHARS:
        raise CommandError(f"use a passphrase of at least {MIN_PASSPHRASE_CHARS} characters")

    async def work(admin: AdminClient) -> int:
        directory = await admin.directory()
        if directory.vetted(int(time.time())).with_role("recovery"):
            raise CommandError("the directory has a recovery key already; revoke it first")
        keys = await asyncio.to_thread(create_recovery_key_file, out, recovery_passphrase)
        entry = admin.recovery_entry(directory, keys)
        print(f"Recovery key written to {out}: it can read every case from now on.")
        print("Keep it offline, like the organisation key, with its passphrase apart.")
        _show_entry(entry)
        confirm("Sign this entry with the organisation key?", assume_yes=arguments.yes)
        recorded = await admin.record(entry)
        print(f"Recorded as directory entry #{recorded['seq']}; clients include it from now on.")
        return 0

    return asyncio.run(_with_admin(arguments, work))


def _revoke(arguments: argparse.Namespace) -> int:
    async def work(admin: AdminClient) -> int:
        try:
            entry = await admin.revocation_entry(arguments.investigator_id)
        except CryptoError:
            raise CommandError("that investigator is not in the directory") from None
        print("Revoking:")
        _show_entry(entry)
        confirm("Sign this revocation with the organisation key?", assume_yes=arguments.yes)
        recorded = await admin.record(entry)
        print(
            f"Revoked: directory entry #{recorded['seq']} recorded; their sessions have ended "
            "and nothing new is encrypted for them."
        )
        return 0

    return asyncio.run(_with_admin(arguments, work))
