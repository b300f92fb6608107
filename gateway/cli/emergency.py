"""`tipline duty [on|off]`, `tipline case ack CASE_ID` and `tipline case audit CASE_ID`:
emergencies and the audit trail from the saved session (no passphrase needed)."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.cli.investigator import SavedSession, run_with_session
from gateway.client.emergency import EmergencyDesk
from gateway.client.investigator import InvestigatorClient
from gateway.client.transport import Transport


def add_parser(commands: Any) -> None:
    duty = commands.add_parser("duty", help="go on or off duty for emergencies, or show it")
    duty.add_argument("state", nargs="?", choices=("on", "off"), default=None)
    duty.set_defaults(run=_duty)


def add_case_commands(actions: Any) -> None:
    ack = actions.add_parser("ack", help="acknowledge an emergency (stops its escalation)")
    ack.add_argument("case_id", metavar="CASE_ID")
    ack.set_defaults(run=_ack)
    audit = actions.add_parser("audit", help="the case's part of the audit trail")
    audit.add_argument("case_id", metavar="CASE_ID")
    audit.set_defaults(run=_audit)


def _desk_run(work: Any) -> int:
    async def with_desk(saved: SavedSession, client: InvestigatorClient) -> int:
        async with Transport(saved.gateway) as transport:
            result: int = await work(EmergencyDesk(transport, session_token=saved.session))
            return result

    return run_with_session(with_desk)


def _duty(arguments: argparse.Namespace) -> int:
    async def work(desk: EmergencyDesk) -> int:
        if arguments.state is None:
            state = await desk.duty()
        else:
            state = await desk.set_duty(arguments.state == "on")
        alerted = " (alerted for emergencies)" if state["alerted_for_emergencies"] else ""
        print(f"You are {'on' if state['on_duty'] else 'off'} duty{alerted}.")
        return 0

    return _desk_run(work)


def _ack(arguments: argparse.Namespace) -> int:
    async def work(desk: EmergencyDesk) -> int:
        case = await desk.acknowledge(arguments.case_id)
        print(
            f"Case {case['case_id']} acknowledged at {case['acknowledged_at']} "
            f"(escalation level {case['escalation_level']}); escalation has stopped."
        )
        return 0

    return _desk_run(work)


def _audit(arguments: argparse.Namespace) -> int:
    async def work(desk: EmergencyDesk) -> int:
        for entry in await desk.audit(arguments.case_id):
            details = ", ".join(f"{key}={value}" for key, value in sorted(entry["details"].items()))
            marker = "" if entry["intact"] else "  [HASH DOES NOT MATCH]"
            actor = entry["actor_id"] or "-"
            print(f"#{entry['seq']} {entry['at']} {entry['action']} by {actor} {details}{marker}")
        return 0

    return _desk_run(work)
