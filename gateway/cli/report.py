"""`tipline report`: submit a tip, check it, reply and withdraw, all encrypted on this machine.

Every prompt has a scriptable alternative: the pickup code comes from `--code-file`, the
`TIPLINE_PICKUP_CODE` variable or a hidden prompt; the organisation key pin from `--org-key`
or `TIPLINE_ORG_KEY`; the withdrawal confirmation from `--yes`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TextIO, TypeVar

import aiohttp

from gateway.cli.common import CommandError
from gateway.client.attachment_files import AttachmentSource, Progress
from gateway.client.directory_pin import OrganisationPin, PinError, VerifiedDirectory
from gateway.client.reporter import CaseThread, ReporterClient, ReporterError, TipDraft
from gateway.client.transport import ApiError, Transport
from gateway.crypto.errors import CryptoError
from gateway.crypto.pickup import PickupCode

GATEWAY_ENV: Final = "TIPLINE_GATEWAY_URL"
ORG_KEY_ENV: Final = "TIPLINE_ORG_KEY"
CODE_ENV: Final = "TIPLINE_PICKUP_CODE"
MAX_TEXT_FILE_BYTES: Final = 4 * 1024 * 1024
PROGRESS_WIDTH: Final = 30

Prepared = TypeVar("Prepared")

UNRECOVERABLE: Final = (
    "Write this code down and keep it somewhere safe. It is the only way back to your report: "
    "it cannot be recovered, and nobody, not even the hotline, can look it up for you."
)


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "report", help="report anonymously: submit, check, reply, withdraw"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    submit = actions.add_parser("submit", help="submit a new tip and get a pickup code")
    _connection_options(submit)
    _message_options(submit)
    submit.add_argument(
        "--urgent", action="store_true", help="mark it as an emergency (seen at once)"
    )
    submit.add_argument(
        "--code-out",
        type=Path,
        metavar="FILE",
        help="write the pickup code to FILE (created, mode 0600) instead of printing it",
    )
    submit.set_defaults(run=_runner(_prepare_tip, _submit))

    check = actions.add_parser("check", help="read your case: answers and questions")
    _connection_options(check)
    _code_options(check)
    check.add_argument(
        "--save-attachments",
        type=Path,
        metavar="FOLDER",
        help="decrypt the case's attachments into FOLDER",
    )
    check.set_defaults(run=_runner(_prepare_check, _check))

    reply = actions.add_parser("reply", help="answer on your case")
    _connection_options(reply)
    _code_options(reply)
    _message_options(reply)
    reply.set_defaults(run=_runner(_prepare_reply, _reply))

    withdraw = actions.add_parser("withdraw", help="withdraw your case: it is deleted at once")
    _connection_options(withdraw)
    _code_options(withdraw)
    withdraw.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    withdraw.set_defaults(run=_runner(_prepare_withdrawal, _withdraw))


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gateway",
        "--server",
        dest="gateway",
        default=os.environ.get(GATEWAY_ENV),
        metavar="URL",
        help=f"the hotline's address (default: ${GATEWAY_ENV})",
    )
    parser.add_argument(
        "--org-key",
        default=os.environ.get(ORG_KEY_ENV),
        metavar="FINGERPRINT",
        help=f"the organisation key's fingerprint the hotline publishes (default: ${ORG_KEY_ENV})",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar for attachments"
    )


def _code_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--code-file", type=Path, metavar="FILE", help="read the pickup code from FILE"
    )
    parser.add_argument(
        "--code",
        metavar="CODE",
        help="the pickup code (avoid: other users can see it in the process list, and it "
        f"stays in your shell history; prefer --code-file, ${CODE_ENV} or the prompt)",
    )


def _message_options(parser: argparse.ArgumentParser) -> None:
    text = parser.add_mutually_exclusive_group()
    text.add_argument("--text", metavar="TEXT", help="the message (default: read standard input)")
    text.add_argument("--text-file", type=Path, metavar="FILE", help="read the message from FILE")
    parser.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a structured answer, e.g. --field location=Utrecht (repeatable)",
    )
    parser.add_argument(
        "--attach", action="append", default=[], type=Path, metavar="FILE", help="attach a file"
    )


def _runner(
    prepare: Callable[[argparse.Namespace], Prepared],
    act: Callable[[argparse.Namespace, ReporterClient, Prepared], Awaitable[int]],
) -> Callable[[argparse.Namespace], int]:
    """Ask for everything first (prompts block), then talk to the gateway."""

    def run(arguments: argparse.Namespace) -> int:
        if not arguments.gateway:
            raise CommandError(f"give the hotline's address with --gateway URL (or ${GATEWAY_ENV})")
        pin = _pin(arguments.org_key)
        prepared = prepare(arguments)
        return asyncio.run(_connected(arguments, pin, lambda c: act(arguments, c, prepared)))

    return run


async def _connected(
    arguments: argparse.Namespace,
    pin: OrganisationPin | None,
    action: Callable[[ReporterClient], Awaitable[int]],
) -> int:
    try:
        async with Transport(arguments.gateway) as transport:
            return await action(ReporterClient(transport, pin))
    except ApiError as error:
        raise CommandError(f"the gateway refused: {error.message} ({error.code})") from None
    except (ReporterError, PinError) as error:
        raise CommandError(str(error)) from None
    except CryptoError as error:
        raise CommandError(error.message) from None
    except aiohttp.ClientError:
        raise CommandError(f"could not reach the gateway at {arguments.gateway}") from None


def _pin(text: str | None) -> OrganisationPin | None:
    if not text:
        return None
    try:
        return OrganisationPin.parse(text)
    except PinError as error:
        raise CommandError(str(error)) from None


def _announce_directory(directory: VerifiedDirectory) -> None:
    if directory.unverified:
        print(
            "WARNING: the organisation key of this gateway is UNVERIFIED.\n"
            f"  It presented the fingerprint {directory.fingerprint}.\n"
            "  Compare it with the fingerprint the hotline publishes, and pin it with "
            f"--org-key (or ${ORG_KEY_ENV}).",
            file=sys.stderr,
        )
    else:
        print(f"Organisation key verified: {directory.fingerprint}", file=sys.stderr)


def _prepare_tip(arguments: argparse.Namespace) -> TipDraft:
    if arguments.code_out is not None and arguments.code_out.exists():
        raise CommandError(f"{arguments.code_out} exists already; choose a new file")
    return TipDraft(
        body=_message_text(arguments),
        fields=_fields(arguments.field),
        attachments=_sources(arguments.attach),
        urgent=arguments.urgent,
    )


async def _submit(arguments: argparse.Namespace, client: ReporterClient, draft: TipDraft) -> int:
    _announce_directory(await client.directory())
    submitted = await client.submit(draft, progress=_progress(arguments))
    if arguments.code_out is not None:
        _write_private(arguments.code_out, submitted.code.display() + "\n")
        print(f"Your report was received. Your pickup code is in {arguments.code_out}.")
        print(UNRECOVERABLE, file=sys.stderr)
        return 0
    print("Your report was received.\n")
    print(f"Your pickup code: {submitted.code.display()}\n")
    print(UNRECOVERABLE)
    return 0


def _prepare_check(arguments: argparse.Namespace) -> PickupCode:
    if arguments.save_attachments is not None:
        arguments.save_attachments.mkdir(parents=True, exist_ok=True, mode=0o700)
    return _code(arguments)


async def _check(arguments: argparse.Namespace, client: ReporterClient, code: PickupCode) -> int:
    thread = await client.open_case(code)
    _announce_directory(thread.directory)
    saved: dict[str, Path] = {}
    if arguments.save_attachments is not None:
        for ref in thread.attachments:
            saved[ref.id] = await client.download_attachment(
                thread, ref, arguments.save_attachments, progress=_progress(arguments)
            )
    _print_thread(thread, saved, sys.stdout)
    return 0


@dataclass(frozen=True)
class _ReplyInput:
    code: PickupCode
    text: str = field(repr=False)
    fields: dict[str, str] = field(repr=False)
    sources: list[AttachmentSource]


def _prepare_reply(arguments: argparse.Namespace) -> _ReplyInput:
    return _ReplyInput(
        code=_code(arguments),
        text=_message_text(arguments),
        fields=_fields(arguments.field),
        sources=_sources(arguments.attach),
    )


async def _reply(arguments: argparse.Namespace, client: ReporterClient, given: _ReplyInput) -> int:
    thread = await client.open_case(given.code)
    _announce_directory(thread.directory)
    await client.reply(
        thread,
        given.text,
        fields=given.fields,
        attachments=given.sources,
        progress=_progress(arguments),
    )
    print("Your reply was received.")
    return 0


def _prepare_withdrawal(arguments: argparse.Namespace) -> PickupCode | None:
    """The code, once the reporter confirmed; None when they did not."""
    code = _code(arguments)
    if arguments.yes:
        return code
    if not sys.stdin.isatty():
        raise CommandError("withdrawing deletes the case for good: confirm with --yes")
    answer = input(
        "Withdrawing deletes your report and every message in it, for good. "
        "Type 'withdraw' to go on: "
    )
    return code if answer.strip().lower() == "withdraw" else None


async def _withdraw(
    arguments: argparse.Namespace, client: ReporterClient, code: PickupCode | None
) -> int:
    if code is None:
        print("Nothing was withdrawn.")
        return 1
    await client.withdraw(code)
    print("Your case was withdrawn and deleted.")
    return 0


def _code(arguments: argparse.Namespace) -> PickupCode:
    """The pickup code from --code-file, --code, the environment or a hidden prompt."""
    if arguments.code_file is not None:
        try:
            text = arguments.code_file.read_text(encoding="utf-8")
        except OSError as error:
            raise CommandError(f"cannot read {arguments.code_file}: {error.strerror}") from None
    elif arguments.code is not None:
        print(
            "Note: a code given with --code may be visible to other users of this computer "
            f"and stays in your shell history; --code-file or ${CODE_ENV} are safer.",
            file=sys.stderr,
        )
        text = arguments.code
    elif os.environ.get(CODE_ENV):
        text = os.environ[CODE_ENV]
    elif sys.stdin.isatty():
        text = getpass.getpass("Pickup code: ")
    else:
        raise CommandError(f"give the pickup code with --code-file FILE or ${CODE_ENV}")
    try:
        return PickupCode.parse(text)
    except CryptoError as error:
        raise CommandError(f"that is not a pickup code: {error.message}") from None


def _message_text(arguments: argparse.Namespace) -> str:
    if arguments.text is not None:
        text: str = arguments.text
    elif arguments.text_file is not None:
        path: Path = arguments.text_file
        try:
            if path.stat().st_size > MAX_TEXT_FILE_BYTES:
                raise CommandError(f"{path} is larger than a message may be; attach it instead")
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error.strerror}") from None
    else:
        if sys.stdin.isatty():
            print("Type your message; end it with Ctrl-D on a line of its own.", file=sys.stderr)
        text = sys.stdin.read()
    if not text.strip():
        raise CommandError("the message is empty")
    return text


def _fields(pairs: Sequence[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator:
            raise CommandError(f"--field takes NAME=VALUE, not {pair!r}")
        fields[name.strip()] = value
    return fields


def _sources(paths: Sequence[Path]) -> list[AttachmentSource]:
    sources = []
    for path in paths:
        if not path.is_file():
            raise CommandError(f"cannot attach {path}: not a readable file")
        sources.append(AttachmentSource.from_path(path))
    return sources


def _write_private(path: Path, text: str) -> None:
    """Create a file only its owner can read; never overwrite one."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise CommandError(f"cannot create {path}: {error.strerror}") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def _progress(arguments: argparse.Namespace) -> Progress | None:
    if arguments.no_progress or not sys.stderr.isatty():
        return None

    def show(name: str, done: int, total: int) -> None:
        share = done / total if total else 1.0
        filled = int(share * PROGRESS_WIDTH)
        bar = "#" * filled + "." * (PROGRESS_WIDTH - filled)
        end = "\n" if done >= total else ""
        print(f"\r{_printable(name)[:40]}  [{bar}] {share:4.0%}", end=end, file=sys.stderr)

    return show


def _print_thread(thread: CaseThread, saved: dict[str, Path], out: TextIO) -> None:
    print(f"Case status: {thread.status}", file=out)
    entries: list[tuple[int, str]] = []
    for message in thread.messages:
        when = datetime.fromtimestamp(message.created, UTC).strftime("%Y-%m-%d %H:%M UTC")
        author = "you" if message.author == "you" else f"{message.author} (signature verified)"
        lines = [f"#{message.seq}  {message.kind} from {_printable(author)}, {when}"]
        lines += [f"    {_printable(line)}" for line in message.content.body.splitlines()]
        lines += [
            f"    {_printable(name)}: {_printable(value)}"
            for name, value in message.content.fields.items()
        ]
        for ref in message.content.attachments:
            where = f" -> {saved[ref.id]}" if ref.id in saved else ""
            lines.append(f"    attachment: {_printable(ref.name)} ({ref.size} bytes){where}")
        entries.append((message.seq, "\n".join(lines)))
    entries += [
        (withheld.seq, f"#{withheld.seq}  [not shown: {withheld.reason}]")
        for withheld in thread.withheld
    ]
    for _, text in sorted(entries):
        print(text, file=out)


def _printable(text: str) -> str:
    """Text from the case without control characters: a message must not drive the terminal."""
    return "".join(
        ch if ch == "\t" or not (ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0) else "?" for ch in text
    )
