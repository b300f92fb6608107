"""`tipline dossier verify FILE [--key POLICE_KEY_FILE]` checks a dossier end to end;
`tipline dossier keygen --out FILE` makes the police key pair dossiers are sealed to.

Verification needs no gateway and no account: the dossier carries its manifest, the
exporter's signature and the organisation-signed directory that vouches for the exporter.
Pin the organisation (--org-key) and the exporter (--signer) to rule out a forged whole.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.cli.common import CommandError
from gateway.client.dossier import DossierError, read_police_key, verify_dossier, write_police_key
from gateway.crypto.encoding import b64decode, b64encode
from gateway.crypto.errors import CryptoError
from gateway.crypto.keys import fingerprint

EXIT_INVALID = 3


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "dossier", help="verify a dossier, or make the police key dossiers are sealed to"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="check a dossier's seal, signature and hashes")
    verify.add_argument("file", type=Path, metavar="FILE")
    verify.add_argument(
        "--key", type=Path, default=None, metavar="FILE", help="police key file (sealed dossiers)"
    )
    verify.add_argument(
        "--org-key",
        default=None,
        metavar="PUBLIC_KEY",
        help="the organisation key to insist on (write --org-key=KEY: a key may begin with -)",
    )
    verify.add_argument(
        "--signer",
        default=None,
        metavar="FINGERPRINT",
        help="the exporter's signing key to insist on",
    )
    verify.set_defaults(run=_verify)
    keygen = actions.add_parser("keygen", help="make a police key pair (secret file, 0600)")
    keygen.add_argument("--out", type=Path, required=True, metavar="FILE")
    keygen.set_defaults(run=_keygen)


def _verify(arguments: argparse.Namespace) -> int:
    try:
        org_key = (
            b64decode(arguments.org_key, what="organisation key", length=32)
            if arguments.org_key
            else None
        )
    except CryptoError as error:
        raise CommandError(f"--org-key: {error.message}") from None
    try:
        police = read_police_key(arguments.key) if arguments.key else None
        report = verify_dossier(
            arguments.file,
            police_key=police,
            org_public_key=org_key,
            signer_fingerprint=arguments.signer,
        )
    except DossierError as error:
        raise CommandError(f"dossier does not verify: {error}", exit_code=EXIT_INVALID) from None
    except OSError as error:
        raise CommandError(f"cannot read {arguments.file}: {error}") from None
    exported = datetime.fromtimestamp(report.exported_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"dossier verifies: case {report.case_id}, {report.files} files")
    print(f"  signed by {report.exporter} ({report.exporter_fingerprint}) on {exported}")
    print(f"  vetted by the organisation key {report.organisation_fingerprint}")
    print(f"  manifest SHA-256 {report.manifest_sha256.hex()} (compare with the audit trail)")
    print(f"  consent on record: {report.consent or 'never asked'}")
    print(f"  sealed: {'yes' if report.sealed else 'no'}")
    if report.unreadable:
        print(f"  {report.unreadable} message(s) are included encrypted only")
    return 0


def _keygen(arguments: argparse.Namespace) -> int:
    try:
        public = write_police_key(arguments.out)
    except FileExistsError:
        raise CommandError(f"{arguments.out} exists already") from None
    except OSError as error:
        raise CommandError(f"cannot write {arguments.out}: {error}") from None
    print(f"secret key written to {arguments.out} (keep it safe; it opens every sealed dossier)")
    print(f"public key (give this to the hotline): {b64encode(public)}")
    print(f"fingerprint: {fingerprint(public)}")
    return 0
