"""`tipline case export CASE_ID --out FILE [--to POLICE_KEY]`: the dossier for the police.

Everything is decrypted and signed here, on the investigator's machine; the gateway records
the export (the manifest's SHA-256 in its audit trail) and moves the case to `referred`
before the file is kept. Without the reporter's consent on record the command warns, on
standard error, and goes on: an emergency may have to go to the police regardless, and the
consent on record is in the dossier and the audit entry either way.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gateway.cli.common import CommandError
from gateway.cli.investigator import SavedSession, passphrase_option, run_with_session
from gateway.client.dossier import DossierError, DossierExporter, Exporter, parse_recipient
from gateway.client.investigator import InvestigatorClient
from gateway.client.transport import Transport
from gateway.crypto.encoding import b64decode
from gateway.crypto.keys import fingerprint


def add_export_command(actions: Any) -> None:
    export = actions.add_parser(
        "export", help="write the case's signed dossier (optionally sealed to the police key)"
    )
    export.add_argument("case_id", metavar="CASE_ID")
    export.add_argument("--out", type=Path, required=True, metavar="FILE", help="dossier to write")
    export.add_argument(
        "--to",
        default=None,
        metavar="POLICE_PUBLIC_KEY",
        help=(
            "seal the dossier to this X25519 public key (base64url, or a file holding it; "
            "write --to=KEY: a key may begin with -)"
        ),
    )
    passphrase_option(export)
    export.set_defaults(run=_export)


def _warn(text: str) -> None:
    print(f"tipline: WARNING: {text}", file=sys.stderr)


def _export(arguments: argparse.Namespace) -> int:
    try:
        police = parse_recipient(arguments.to) if arguments.to else None
    except DossierError as error:
        raise CommandError(str(error)) from None

    async def work(saved: SavedSession, client: InvestigatorClient) -> int:
        identity = client.identity
        assert identity is not None  # run_with_session unlocked the key bundle
        await client.directory()  # refuses a rolled-back directory, remembers the head
        async with Transport(saved.gateway) as transport:
            exporter = DossierExporter(
                transport,
                session_token=saved.session,
                exporter=Exporter(identity.investigator_id, identity.display_name, identity.keys),
                org_public_key=b64decode(saved.org_public_key, what="organisation key", length=32),
                known_directory=client.known_directory,
            )
            consent = await exporter.consent(arguments.case_id)
            if consent != "given":
                _warn(
                    f"the reporter has not given consent to hand this case to the police "
                    f"(consent: {consent or 'never asked'}); the dossier and the audit trail "
                    "record that"
                )
            try:
                result = await exporter.export(
                    arguments.case_id, arguments.out, police_public_key=police
                )
            except DossierError as error:
                raise CommandError(str(error)) from None
        sealed = f", sealed to {fingerprint(police)}" if police is not None else ""
        print(f"Dossier written to {result.path} ({result.files} files{sealed}).")
        print(f"Manifest SHA-256 {result.manifest_sha256.hex()} (audit entry {result.audit_seq}).")
        print("The case is now referred.")
        if result.unreadable:
            _warn(
                f"{result.unreadable} message(s) were not wrapped for your key and are in the "
                "dossier encrypted only"
            )
        if result.unverified:
            _warn(f"{result.unverified} message(s) carry a signature that does not verify")
        return 0

    return run_with_session(work, unlock_with=arguments)
