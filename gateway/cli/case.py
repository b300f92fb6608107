"""`tipline case show|ask|note|status|assign|export|ack|audit`: one case, from the saved session.

`show`, `ask` and `note` decrypt or sign, so they open the key bundle with the passphrase
(--passphrase-file, $TIPLINE_PASSPHRASE or a prompt); `status` and `assign` do not need it.
Text for `ask` and `note` comes from --text, --text-file or standard input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gateway.cli import emergency
from gateway.cli.case_export import add_export_command
from gateway.cli.common import CommandError
from gateway.cli.investigator import SavedSession, passphrase_option, run_with_session
from gateway.client.investigator import InvestigatorClient

STATUSES = ("new", "triage", "investigating", "referred", "closed")


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "case", help="show a case, ask the reporter, write a note, change status or assignee"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add_case_commands(actions)


def add_case_commands(actions: Any) -> None:
    show = actions.add_parser("show", help="the case and its decrypted, verified thread")
    show.add_argument("case_id", metavar="CASE_ID")
    passphrase_option(show)
    show.set_defaults(run=_show)

    for name, summary in (
        ("ask", "a follow-up question for the reporter (and everyone on the case)"),
        ("note", "an internal note, for investigators only"),
    ):
        writer = actions.add_parser(name, help=summary)
        writer.add_argument("case_id", metavar="CASE_ID")
        writer.add_argument("--text", default=None, help="the text (else --text-file or stdin)")
        writer.add_argument("--text-file", type=Path, default=None, metavar="FILE")
        passphrase_option(writer)
        writer.set_defaults(run=_ask if name == "ask" else _note)

    status = actions.add_parser("status", help="move the case to another status")
    status.add_argument("case_id", metavar="CASE_ID")
    status.add_argument("status", choices=STATUSES)
    status.set_defaults(run=_status)

    assign = actions.add_parser("assign", help="assign the case (USER: a username, or 'none')")
    assign.add_argument("case_id", metavar="CASE_ID")
    assign.add_argument("user", metavar="USER")
    assign.set_defaults(run=_assign)

    add_export_command(actions)
    emergency.add_case_commands(actions)


def _show(arguments: argparse.Namespace) -> int:
    async def work(saved: SavedSession, client: InvestigatorClient) -> int:
        thread = await client.open_case(arguments.case_id)
        assignee = thread.investigators.get(thread.assignee_id or "", thread.assignee_id or "-")
        print(f"Case {thread.case_id}  status {thread.status}  assigned to {assignee}")
        if thread.urgent:
            print("URGENT: the reporter marked this as an emergency")
        print(f"On the case: {', '.join(thread.investigators.values()) or '-'}")
        for message in thread.messages:
            audience = "" if message.visible_to_reporter else " (internal)"
            print()
            print(
                f"#{message.seq} {message.kind}{audience} by {message.author}, {message.created_at}"
            )
            if message.body is None:
                print(f"  [{message.problem}]")
                continue
            for line in message.body.splitlines() or [""]:
                print(f"  {line}")
            for name, value in sorted(message.fields.items()):
                print(f"  {name}: {value}")
            for attachment in message.attachments:
                print(f"  attachment: {attachment}")
        return 0

    return run_with_session(work, unlock_with=arguments)


def _text(arguments: argparse.Namespace) -> str:
    if arguments.text:
        text: str = arguments.text
    elif arguments.text_file is not None:
        try:
            text = arguments.text_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"cannot read {arguments.text_file}: {error}") from None
    else:
        text = sys.stdin.read()
    if not text.strip():
        raise CommandError("there is no text to send")
    return text


def _ask(arguments: argparse.Namespace) -> int:
    text = _text(arguments)

    async def work(saved: SavedSession, client: InvestigatorClient) -> int:
        sent = await client.ask(arguments.case_id, text)
        print(f"Question #{sent['seq']} sent (encrypted for the reporter and the case's team).")
        return 0

    return run_with_session(work, unlock_with=arguments)


def _note(arguments: argparse.Namespace) -> int:
    text = _text(arguments)

    async def work(saved: SavedSession, client: InvestigatorClient) -> int:
        sent = await client.note(arguments.case_id, text)
        print(f"Note #{sent['seq']} saved (investigators only).")
        return 0

    return run_with_session(work, unlock_with=arguments)


def _status(arguments: argparse.Namespace) -> int:
    async def work(saved: SavedSession, client: InvestigatorClient) -> int:
        case = await client.set_status(arguments.case_id, arguments.status)
        print(f"Case {case['case_id']} is now {case['status']}.")
        return 0

    return run_with_session(work)


def _assign(arguments: argparse.Namespace) -> int:
    async def work(saved: SavedSession, client: InvestigatorClient) -> int:
        target: str | None = None
        if arguments.user != "none":
            matches = [
                person
                for person in await client.colleagues()
                if person["username"] == arguments.user.strip().lower()
            ]
            if not matches:
                raise CommandError(f"no active, vetted investigator is called {arguments.user}")
            target = matches[0]["investigator_id"]
        case = await client.assign(arguments.case_id, target)
        print(f"Case {case['case_id']} assigned to {arguments.user}.")
        return 0

    return run_with_session(work)
