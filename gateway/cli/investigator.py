"""`tipline investigator …` (and the short forms `tipline login`, `tipline inbox`,
`tipline watch`): enrollment, login, the inbox and live events from a terminal.

Between commands the CLI keeps a session file (mode 0600, in $TIPLINE_CLIENT_DIR, else
$XDG_CONFIG_HOME/tipline, else ~/.config/tipline): the gateway URL, the username, the pinned
organisation key, the session token and the last directory head seen. It holds no key and no
passphrase: the token dies with the session (idle and absolute limits, logout, revocation), and
commands that decrypt or sign ask for the passphrase again (--passphrase-file,
$TIPLINE_PASSPHRASE or a hidden prompt) to open the key bundle locally.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from gateway.cli.common import CommandError
from gateway.cli.prompts import ask
from gateway.client.investigator import (
    ClientRefusal,
    InvestigatorClient,
    prepare_enrollment,
    submit_enrollment,
)
from gateway.client.transport import ApiError, Transport
from gateway.crypto import totp
from gateway.crypto.directory import parse_directory
from gateway.crypto.encoding import b64decode, b64encode
from gateway.crypto.errors import CryptoError
from gateway.crypto.keys import fingerprint_matches, parse_fingerprint

PASSPHRASE_ENV: Final = "TIPLINE_PASSPHRASE"  # noqa: S105 - a variable name, not a secret
TOTP_ENV: Final = "TIPLINE_TOTP_CODE"
GATEWAY_ENV: Final = "TIPLINE_GATEWAY_URL"
ORG_KEY_ENV: Final = "TIPLINE_ORG_KEY"
CLIENT_DIR_ENV: Final = "TIPLINE_CLIENT_DIR"
MIN_PASSPHRASE_CHARS: Final = 12


# ---------------------------------------------------------------------- the session file


def client_dir() -> Path:
    if os.environ.get(CLIENT_DIR_ENV):
        return Path(os.environ[CLIENT_DIR_ENV])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tipline"


@dataclass
class SavedSession:
    gateway: str
    username: str
    org_public_key: str
    session: str
    directory_seq: int = 0
    directory_head: str = ""

    @staticmethod
    def path() -> Path:
        return client_dir() / "session.json"

    @classmethod
    def load(cls) -> SavedSession:
        try:
            data = json.loads(cls.path().read_text(encoding="utf-8"))
            return cls(**data)
        except FileNotFoundError:
            raise CommandError("not logged in: run `tipline login` first") from None
        except (OSError, ValueError, TypeError) as error:
            raise CommandError(f"the session file {cls.path()} is unreadable ({error})") from None

    def save(self) -> None:
        folder = client_dir()
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = folder / f".session.{os.getpid()}.tmp"
        # 0600 from the first byte: the token is a bearer secret until the session ends.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(asdict(self), handle)
        temporary.replace(self.path())

    @classmethod
    def forget(cls) -> None:
        cls.path().unlink(missing_ok=True)

    def client(self) -> InvestigatorClient:
        known = None
        if self.directory_head:
            known = (self.directory_seq, b64decode(self.directory_head, what="directory head"))
        return InvestigatorClient(
            self.gateway,
            org_public_key=b64decode(self.org_public_key, what="organisation key", length=32),
            session_token=self.session,
            known_directory=known,
        )

    def remember(self, client: InvestigatorClient) -> None:
        if client.known_directory is not None:
            self.directory_seq = client.known_directory[0]
            self.directory_head = b64encode(client.known_directory[1])
        self.save()


# ---------------------------------------------------------------------- shared plumbing


def passphrase_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--passphrase-file",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"your passphrase (else ${PASSPHRASE_ENV}, else a prompt)",
    )


def passphrase(arguments: argparse.Namespace, *, confirm: bool = False) -> str:
    return ask(
        "passphrase",
        file=arguments.passphrase_file,
        env=PASSPHRASE_ENV,
        secret=True,
        confirm=confirm,
    )


def totp_code(arguments: argparse.Namespace) -> str:
    return ask("current code from the authenticator app", value=arguments.totp_code, env=TOTP_ENV)


async def guarded(work: Awaitable[int]) -> int:
    """Turn the gateway's and the client's refusals into messages for the person."""
    try:
        return await work
    except ApiError as error:
        if error.status == 401 and error.code in {"unauthenticated", "session_ended"}:
            raise CommandError("the session has ended: run `tipline login` again") from None
        raise CommandError(f"the gateway refused: {error.code}: {error.message}") from None
    except ClientRefusal as refusal:
        raise CommandError(f"refused: {refusal}") from None
    except CryptoError as error:
        raise CommandError(f"refused: {error.message}") from None
    except OSError as error:
        raise CommandError(f"cannot reach the gateway: {error}") from None


def run_with_session(
    work: Callable[[SavedSession, InvestigatorClient], Awaitable[int]],
    *,
    unlock_with: argparse.Namespace | None = None,
) -> int:
    """Run `work` with the saved session; with `unlock_with`, open the key bundle first."""
    saved = SavedSession.load()

    async def main() -> int:
        async with saved.client() as client:
            if unlock_with is not None:
                await client.unlock(saved.username, passphrase(unlock_with))
            try:
                return await work(saved, client)
            finally:
                saved.remember(client)

    return asyncio.run(guarded(main()))


async def organisation_key(gateway: str, published: str) -> bytes:
    """The key to pin: given outright, or the served one if it has the published fingerprint."""
    text = published.strip()
    if len(text) == 43:
        return b64decode(text, what="organisation public key", length=32)
    wanted = parse_fingerprint(text)
    async with Transport(gateway) as transport:
        served = parse_directory(
            await transport.request_json("GET", "/api/v1/directory"), org_public_key=None
        )
    if not fingerprint_matches(served.org_public_key, wanted):
        raise CommandError(
            "the gateway's organisation key does not have the fingerprint you gave: "
            "do not log in, and tell your organisation"
        )
    return served.org_public_key


# ---------------------------------------------------------------------- commands


def add_commands(actions: Any) -> None:
    """enroll, login, logout, inbox, watch: under `investigator` and at the top level."""
    add_enroll(actions)
    add_login(actions)
    add_logout(actions)
    add_inbox(actions)
    add_watch(actions)


def add_parser(commands: Any, *, more: Callable[[Any], None] | None = None) -> None:
    """`tipline investigator …`; `more` adds further actions (the case commands)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "investigator", help="enroll, log in, inbox, cases and live events"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add_commands(actions)
    if more is not None:
        more(actions)


def add_enroll(actions: Any) -> None:
    enroll = actions.add_parser("enroll", help="enroll with an invite (makes your keys)")
    enroll.add_argument("--gateway", default=None, metavar="URL", help=f"(else ${GATEWAY_ENV})")
    enroll.add_argument("--invite", default=None, help="the invite token (else $TIPLINE_INVITE)")
    enroll.add_argument("--username", required=True)
    enroll.add_argument("--display-name", default=None, help="your name as colleagues see it")
    passphrase_option(enroll)
    enroll.add_argument(
        "--totp-secret-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="use this base32 TOTP secret instead of making one (for scripted set-ups)",
    )
    enroll.add_argument("--totp-code", default=None, help=f"(else ${TOTP_ENV}, else a prompt)")
    enroll.set_defaults(run=_enroll)


def add_login(actions: Any) -> None:
    login = actions.add_parser("login", help="log in and keep the session for later commands")
    login.add_argument("--gateway", default=None, metavar="URL", help=f"(else ${GATEWAY_ENV})")
    login.add_argument("--username", required=True)
    login.add_argument(
        "--org-key",
        "--org-public-key",
        dest="org_key",
        default=None,
        metavar="KEY",
        help=(
            "the organisation's public key, or its fingerprint, as your organisation "
            f"published it; pinned from then on (else ${ORG_KEY_ENV})"
        ),
    )
    passphrase_option(login)
    login.add_argument("--totp-code", default=None, help=f"(else ${TOTP_ENV}, else a prompt)")
    login.set_defaults(run=_login)


def add_logout(actions: Any) -> None:
    logout = actions.add_parser("logout", help="end the session and forget it")
    logout.set_defaults(run=_logout)


def add_inbox(actions: Any) -> None:
    inbox = actions.add_parser("inbox", help="your cases, newest first")
    inbox.add_argument("--status", action="append", default=[], help="only this status")
    inbox.add_argument("--urgent", action="store_true", help="only emergencies")
    inbox.add_argument("--mine", action="store_true", help="only cases assigned to you")
    inbox.add_argument("--limit", type=int, default=50)
    inbox.add_argument("--cursor", default=None, help="continue where a page ended")
    inbox.set_defaults(run=_inbox)


def add_watch(actions: Any) -> None:
    watch = actions.add_parser("watch", help="print live events until interrupted")
    watch.set_defaults(run=_watch)


def _enroll(arguments: argparse.Namespace) -> int:
    gateway = arguments.gateway or os.environ.get(GATEWAY_ENV)
    if not gateway:
        raise CommandError("give --gateway URL")
    invite = ask("invite token", value=arguments.invite, env="TIPLINE_INVITE")
    secret_text = (
        ask("TOTP secret", file=arguments.totp_secret_file) if arguments.totp_secret_file else None
    )
    chosen = passphrase(arguments, confirm=True)
    if len(chosen) < MIN_PASSPHRASE_CHARS:
        raise CommandError(f"use a passphrase of at least {MIN_PASSPHRASE_CHARS} characters")

    async def main() -> int:
        secret = totp.parse_secret_text(secret_text) if secret_text else None
        draft = await asyncio.to_thread(
            prepare_enrollment, arguments.username, chosen, totp_secret=secret
        )
        if secret is None:
            print(
                "Add this account to your authenticator app (shown once, not stored here):",
                flush=True,
            )
            print(f"  secret: {totp.secret_text(draft.totp_secret)}")
            print(f"  URI:    {draft.provisioning_uri(gateway)}", flush=True)
        code = totp_code(arguments)
        async with Transport(gateway) as transport:
            answer = await submit_enrollment(
                transport,
                draft,
                invite=invite,
                display_name=arguments.display_name or arguments.username,
                totp_code=code,
            )
        print(f"Enrolled as {answer['username']}; waiting to be vetted (enrollment")
        print(f"{answer['enrollment_id']}). Read these fingerprints to your admin:")
        print(f"  encryption key {answer['enc_fingerprint']}")
        print(f"  signing key    {answer['sig_fingerprint']}")
        return 0

    return asyncio.run(guarded(main()))


def _login(arguments: argparse.Namespace) -> int:
    gateway = arguments.gateway or os.environ.get(GATEWAY_ENV)
    org_key = arguments.org_key or os.environ.get(ORG_KEY_ENV)
    if not gateway or not org_key:
        raise CommandError(
            "give --gateway URL and --org-key KEY (the key or fingerprint your organisation "
            "published; the CLI pins it and refuses a directory signed by any other)"
        )
    secret = passphrase(arguments)
    code = totp_code(arguments)

    async def main() -> int:
        pinned = await organisation_key(gateway, org_key)
        async with InvestigatorClient(gateway, org_public_key=pinned) as client:
            identity = await client.login(arguments.username, secret, code)
            saved = SavedSession(
                gateway=gateway,
                username=identity.username,
                org_public_key=b64encode(pinned),
                session=str(client.session_token),
            )
            saved.remember(client)
        print(f"Logged in as {identity.display_name} ({', '.join(identity.roles)}).")
        return 0

    return asyncio.run(guarded(main()))


def _logout(arguments: argparse.Namespace) -> int:
    async def work(saved: SavedSession, client: InvestigatorClient) -> int:
        await client.logout()
        return 0

    try:
        run_with_session(work)
    finally:
        SavedSession.forget()
    print("Logged out.")
    return 0


def _inbox(arguments: argparse.Namespace) -> int:
    async def work(saved: SavedSession, client: InvestigatorClient) -> int:
        page = await client.inbox(
            statuses=arguments.status,
            urgent=True if arguments.urgent else None,
            assigned_to_me=arguments.mine,
            limit=arguments.limit,
            cursor=arguments.cursor,
        )
        if not page.entries:
            print("No cases.")
        for entry in page.entries:
            flags = ("URGENT " if entry.urgent else "") + ("new-activity" if entry.unread else "")
            print(f"{entry.case_id}  {entry.status:<13} {entry.last_activity_at}  {flags}".rstrip())
        if page.next_cursor:
            print(f"more: tipline inbox --cursor {page.next_cursor}")
        return 0

    return run_with_session(work)


def _watch(arguments: argparse.Namespace) -> int:
    async def work(saved: SavedSession, client: InvestigatorClient) -> int:
        async for event in client.events():
            stamp = time.strftime("%H:%M:%S")
            details = " ".join(
                f"{key}={value}"
                for key, value in sorted(event.items())
                if key not in {"v", "topic"}
            )
            print(f"{stamp} {event['topic']} {details}".rstrip(), flush=True)
        return 0

    try:
        return run_with_session(work)
    except KeyboardInterrupt:
        return 0
