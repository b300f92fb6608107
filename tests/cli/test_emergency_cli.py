"""`tipline duty`, `tipline case ack` and `tipline case audit` from the saved session."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.domain.hotline import Hotline
from tests.api.emergency_support import submit_urgent_tip
from tests.api.reporter_support import case_id_of
from tests.cli.investigator_cli_support import Client, logged_in_investigator
from tests.fixtures.organisation import Organisation


async def tipline(*args: str) -> int:
    return await asyncio.to_thread(main, list(args))


async def test_duty_acknowledging_and_the_audit_trail_on_the_command_line(
    client: Client,
    hotline: Hotline,
    organisation: Organisation,
    tmp_path: Path,
    *,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TIPLINE_CLIENT_DIR", str(tmp_path / "client"))
    triage = await logged_in_investigator(client, hotline, organisation, tmp_path, "triage")

    on = await tipline("duty", "on")
    on_out = capsys.readouterr().out
    shown = await tipline("duty")
    shown_out = capsys.readouterr().out
    case_id = await case_id_of(hotline, await submit_urgent_tip(client, [triage]))
    ack = await tipline("case", "ack", str(case_id))
    ack_out = capsys.readouterr().out
    audit = await tipline("case", "audit", str(case_id))
    audit_out = capsys.readouterr().out
    not_ours = await tipline("case", "ack", "00000000-0000-0000-0000-000000000000")
    not_ours_err = capsys.readouterr().err

    assert (on, shown, ack, audit) == (0, 0, 0, 0)
    assert on_out.strip() == "You are on duty (alerted for emergencies)."
    assert shown_out.strip() == "You are on duty (alerted for emergencies)."
    assert f"Case {case_id} acknowledged" in ack_out
    assert "escalation has stopped" in ack_out
    assert f"case.acknowledge by {triage.id_text} level=0" in audit_out
    assert "HASH DOES NOT MATCH" not in audit_out
    assert not_ours == 1
    assert "the gateway refused: not_found" in not_ours_err
    async with hotline.database.transaction(read_only=True) as tx:
        case = await tx.cases.get(case_id)
    assert case is not None
    assert case.acknowledged_by == triage.investigator_id
