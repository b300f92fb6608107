"""Schemathesis against /api/v1/openapi.json on a live gateway (a real socket on 127.0.0.1):
for schema-valid and schema-invalid requests to every operation, no 5xx, and every answer
conforms to the document — documented status, content type, headers and body schema — and
invalid data is refused.

The requests carry real credentials where an operation needs them (a session of a vetted
admin-investigator, the locator of a real case, freshly solved proofs of work, the real case
id in paths) half of the time, so fuzzed bodies get past the front door into the parsers
and the database. Bounded for the default suite (`EXAMPLES` per operation and mode, and a
time budget); `make security-long` runs it with many more examples.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.crypto.encoding import b64encode, canonical_json
from gateway.crypto.pow import parse_challenge, solve
from gateway.domain import reporting
from gateway.domain.admission import admit_paying
from gateway.domain.hotline import Hotline
from gateway.domain.reporter_access import SUBMIT
from gateway.web.app import create_app
from gateway.web.keys import HOTLINE
from tests.api.investigator_support import Person, enroll_person, vet
from tests.api.reporter_support import AnonymousReporter, sealed, tip_body, tip_recipients
from tests.fixtures.app import make_settings
from tests.fixtures.database import sqlite_url
from tests.fixtures.organisation import Organisation
from tests.security.support import LiveGateway

EXAMPLES: Final = int(os.environ.get("TIPLINE_SCHEMATHESIS_EXAMPLES", "25"))
BUDGET_SECONDS: Final = float(os.environ.get("TIPLINE_SCHEMATHESIS_SECONDS", "75"))
CHECKS: Final = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
PROOF_HEADER: Final = "X-Tipline-Proof"
# Refusing invalid data includes 413 (a body past the endpoint's limit is invalid too).
CONFIG: Final = schemathesis.Config.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 429]
            }
        }
    }
)


@dataclass
class World:
    """A live gateway with one vetted admin-investigator (logged in) on one real case."""

    live: LiveGateway
    session_token: str
    reporter: AnonymousReporter
    case_id: str

    def proof(self, purpose: str) -> dict[str, str]:
        answer = requests.get(
            f"{self.live.url}/api/v1/pow", params={"purpose": purpose}, timeout=10
        )
        return solve(parse_challenge(answer.json())).to_json()  # type: ignore[return-value]


async def _populate(hotline: Hotline) -> tuple[Person, AnonymousReporter]:
    person = await enroll_person(hotline, "triage", "investigator", "admin")
    await vet(hotline, ORGANISATION, person)
    reporter = AnonymousReporter()
    envelope = sealed("tip", tip_recipients([person], reporter))  # type: ignore[list-item]
    proof = solve(hotline.proof_of_work.challenge(SUBMIT)).to_json()
    paid = await admit_paying(hotline, None, proof=proof, purpose=SUBMIT)
    await reporting.submit_tip(
        hotline, reporting.TipSubmission.from_json(tip_body(reporter, envelope)), paid
    )
    return person, reporter


ORGANISATION: Final = Organisation()


@pytest.fixture
def world(tmp_path: Path, migrated_sqlite_template: Path) -> Iterator[World]:
    database = tmp_path / "schemathesis.sqlite3"
    database.write_bytes(migrated_sqlite_template.read_bytes())
    settings_ = make_settings(
        tmp_path,
        sqlite_url(database),
        redis_prefix=None,
        org_public_key=ORGANISATION.public_key_text,
        pow_difficulty="0",
        pow_load_threshold="1000000",
        anonymous_per_minute="20000",
        network_per_minute="20000",
        locator_per_hour="20000",
    )
    live = LiveGateway(create_app(settings_))
    live.start()
    try:
        hotline = live.app[HOTLINE]
        person, reporter = live.run(_populate(hotline))
        login = requests.post(
            f"{live.url}/api/v1/auth/login",
            json={
                "username": person.username,
                "auth_key": b64encode(person.auth_key),
                "totp": person.fresh_code(),
                "token_in_body": True,
            },
            timeout=10,
        )
        assert login.status_code == 200, login.text
        case_id = requests.get(
            f"{live.url}/api/v1/inbox",
            headers={"Authorization": f"Session {login.json()['session']}"},
            timeout=10,
        ).json()["cases"][0]["case_id"]
        yield World(live, login.json()["session"], reporter, case_id)
    finally:
        live.stop()


def _purpose(case: Case, *, locator: bool) -> str:
    path, method = case.operation.path, case.operation.method.upper()
    if path == "/api/v1/cases" or (path.endswith("/attachments") and not locator):
        return "submit"
    if method == "POST":
        return "reply"
    return "lookup"


def arm(case: Case, world: World) -> dict[str, str]:
    """Real credentials, proofs and ids for about half of the positive cases.

    The choices follow from the case itself, so Hypothesis replaying a case makes the same
    ones (anything else reads as a flaky test).
    """
    rng = random.Random(
        repr((case.path_parameters, case.query, case.headers, case.cookies, case.body))
    )
    path = case.operation.path
    reporter_side = path.startswith("/api/v1/reporter") or "/attachments/" in path
    headers: dict[str, str] = {}
    if path == "/api/v1/auth/logout":
        return headers  # keep the session alive for the rest of the run
    if not reporter_side:
        headers["Authorization"] = f"Session {world.session_token}"
    if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return headers
    if rng.random() < 0.5:
        return headers
    locator = (reporter_side and path != "/api/v1/reporter/attachments") or rng.random() < 0.5
    if reporter_side and locator:
        headers["Authorization"] = f"Locator {world.reporter.locator.encoded()}"
    purpose = _purpose(case, locator=locator)
    # Every operation that pays with a proof of work documents it as this header parameter.
    if case.operation.get_parameter(PROOF_HEADER, "header") is not None:
        case.headers[PROOF_HEADER] = b64encode(canonical_json(world.proof(purpose)))
    if case.path_parameters and "case_id" in case.path_parameters:
        case.path_parameters["case_id"] = world.case_id
    return headers


def fuzz_operation(operation: Any, mode: GenerationMode, world: World) -> int:
    """Run one operation in one generation mode; returns how many requests were made."""
    checks = [*CHECKS, negative_data_rejection] if mode is GenerationMode.NEGATIVE else CHECKS
    calls = 0

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def exercise(case: Case) -> None:
        nonlocal calls
        headers = arm(case, world)
        response = case.call(base_url=world.live.url, headers=headers, timeout=15)
        calls += 1
        case.validate_response(response, checks=checks, headers=headers)

    exercise()
    return calls


def describe(failure: BaseException) -> str:
    """A failure with whatever it groups (Hypothesis reports flaky ones as a group)."""
    text = f"{type(failure).__name__}: {failure}"
    if isinstance(failure, BaseExceptionGroup):
        text += "".join(f"\n  - {describe(inner)}" for inner in failure.exceptions)
    elif failure.__cause__ is not None:  # Hypothesis wraps a group it cannot hold
        text += f"\n  caused by {describe(failure.__cause__)}"
    return text


# Schemathesis's generators touch the global `random` state inside strategies, which
# Hypothesis reports as a deprecation (made an error by the suite's warning filter).
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
@pytest.mark.timeout(BUDGET_SECONDS + 120)
def test_every_operation_answers_as_documented_for_fuzzed_requests(world: World) -> None:
    schema = schemathesis.openapi.from_url(f"{world.live.url}/api/v1/openapi.json", config=CONFIG)
    failures: list[str] = []
    calls = 0
    deadline = time.monotonic() + BUDGET_SECONDS
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    only = os.environ.get("TIPLINE_SCHEMATHESIS_ONLY", "")  # a label substring, to dig into one
    for operation in operations:
        if only not in operation.label:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if time.monotonic() > deadline:
                break
            try:
                calls += fuzz_operation(operation, mode, world)
            except Unsatisfiable:
                continue  # no parameters and no body: nothing can be made invalid
            # Schemathesis reports several failures as one BaseExceptionGroup.
            except (Exception, BaseExceptionGroup) as failure:  # noqa: BLE001 - all are reported
                failures.append(f"{operation.label} [{mode.value}]: {describe(failure)}")
    print(f"schemathesis: {len(operations)} operations, {calls} requests")
    if report := os.environ.get("TIPLINE_SCHEMATHESIS_REPORT"):
        Path(report).write_text("\n\n".join(failures))
    assert failures == [], "\n\n".join(failures)
