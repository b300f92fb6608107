"""Login, sessions and the CSRF rule, as a client (or an attacker) meets them over HTTP."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.config import Settings
from gateway.crypto import totp
from gateway.crypto.encoding import b64decode, b64encode
from gateway.crypto.kdf import V1_PARAMS
from gateway.crypto.keybundle import LoginKeys, open_investigator_keys, parse_key_bundle
from gateway.domain.hotline import Hotline
from gateway.domain.vetting import record_entry
from gateway.web.app import create_app
from gateway.web.keys import HOTLINE
from tests.api.investigator_support import (
    Client,
    Person,
    add_entry,
    bearer,
    enroll_person,
    followup,
    log_in,
    open_case_for,
    revoke_entry,
    sessions_of,
    vet,
    vetted_person,
)
from tests.fixtures.app import ClientFactory
from tests.fixtures.organisation import Organisation
from tests.unit.store.builders import count_rows

LOGIN = "/api/v1/auth/login"


def login_body(person: Person, **changes: str) -> dict[str, Any]:
    """A login as `person`, with a current code (not marked used: pass `totp=fresh_code()`
    for an attempt that is meant to succeed)."""
    body: dict[str, Any] = {
        "username": person.username,
        "auth_key": b64encode(person.auth_key),
        "totp": totp.code_at(person.totp_secret, time.time()),
    }
    body.update(changes)
    return body


def wrong_code(person: Person) -> str:
    window = {
        totp.code_for_step(person.totp_secret, totp.step_at(time.time()) + d) for d in (-1, 0, 1)
    }
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in window)


async def test_prelogin_gives_the_account_salt_and_a_stable_fake_for_unknown_names(
    client: Client, hotline: Hotline
) -> None:
    person = await enroll_person(hotline, "triage")
    async with hotline.database.transaction(read_only=True) as tx:
        account = await tx.investigators.get(person.investigator_id)
    assert account is not None

    known = await (
        await client.post("/api/v1/auth/prelogin", json={"username": person.username})
    ).json()
    ghost = await (await client.post("/api/v1/auth/prelogin", json={"username": "ghost"})).json()
    again = await (await client.post("/api/v1/auth/prelogin", json={"username": "Ghost"})).json()
    other = await (await client.post("/api/v1/auth/prelogin", json={"username": "ghost2"})).json()

    assert b64decode(known["salt"], what="salt") == account.auth_salt
    assert known["kdf"] == ghost["kdf"] == V1_PARAMS.to_json()
    assert ghost == again
    assert ghost["salt"] != other["salt"]
    assert len(b64decode(ghost["salt"], what="salt")) == 16
    malformed = await client.post("/api/v1/auth/prelogin", json={"username": "x"})
    assert malformed.status == 400


async def test_a_vetted_investigator_logs_in_and_gets_the_key_bundle_only_with_a_session(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vetted_person(hotline, organisation, "triage")
    assert (await client.get("/api/v1/me/key-bundle")).status == 401

    token = await log_in(client, person)
    response = await client.get("/api/v1/me/key-bundle", headers=bearer(token))

    assert response.status == 200
    answer = await response.json()
    assert answer["investigator_id"] == person.id_text
    assert answer["roles"] == ["triage"]
    bundle = parse_key_bundle(answer["key_bundle"])
    keys = open_investigator_keys(
        bundle, LoginKeys(auth_key=person.auth_key, wrap_key=person.wrap_key)
    )
    assert keys.sig.public == person.keys.sig.public


async def test_login_sets_a_strict_http_only_cookie_scoped_to_the_api(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vetted_person(hotline, organisation, "triage")
    response = await client.post(LOGIN, json=login_body(person, totp=person.fresh_code()))
    assert response.status == 200
    assert "session" not in await response.json()  # browsers never see the token
    cookie = response.cookies["tipline_session"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/api"
    assert not cookie["secure"]  # plain http in tests; https public URLs get Secure
    me = await client.get("/api/v1/me")
    assert me.status == 200
    assert (await me.json())["username"] == person.username


async def test_behind_https_the_cookie_is_secure(
    aiohttp_client: ClientFactory, settings: Settings, organisation: Organisation
) -> None:
    app = create_app(replace(settings, public_url="https://tips.example.org"))
    client = await aiohttp_client(app)
    person = await vetted_person(app[HOTLINE], organisation, "triage")
    response = await client.post(LOGIN, json=login_body(person, totp=person.fresh_code()))
    assert response.status == 200
    assert response.cookies["tipline_session"]["secure"] is True


async def test_every_failed_login_looks_the_same(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    vetted = await vetted_person(hotline, organisation, "triage")
    pending = await enroll_person(hotline, "triage")
    revoked = await vetted_person(hotline, organisation, "triage")
    await record_entry(
        hotline, sessions_of(hotline), await revoke_entry(hotline, organisation, revoked)
    )
    expired = await enroll_person(hotline, "triage")
    await record_entry(
        hotline,
        sessions_of(hotline),
        await add_entry(hotline, organisation, expired, not_after=datetime.now(UTC) - timedelta(1)),
    )
    attempts = {
        "unknown user": login_body(vetted, username="nobody-here"),
        "wrong auth key": login_body(vetted, auth_key=b64encode(bytes(32))),
        "wrong code": login_body(vetted, totp=wrong_code(vetted)),
        "pending account": login_body(pending),
        "revoked account": login_body(revoked),
        "expired vetting": login_body(expired),
    }
    answers = {}
    for reason, body in attempts.items():
        response = await client.post(LOGIN, json=body)
        answers[reason] = (response.status, await response.read(), "Set-Cookie" in response.headers)

    assert len(set(answers.values())) == 1, answers
    status, body, cookie = answers["unknown user"]
    assert status == 401
    assert b'"login_failed"' in body
    assert not cookie


async def test_failed_logins_take_the_same_time_whatever_the_reason(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    """The statistic: for each reason, the median over 24 rounds of its latency minus the
    unknown-user latency of the same round (paired, so load drift cancels out) must lie
    within 20 % of the unknown-user median latency + 0.5 ms. A skipped database query or
    an extra broker round trip would exceed that. The order within a round rotates."""
    rounds = 24
    people = [await vetted_person(hotline, organisation, "triage") for _ in range(6)]
    pending = [await enroll_person(hotline, "triage") for _ in range(3)]

    def body(reason: str, index: int) -> dict[str, Any]:
        person = people[index % 3] if reason == "wrong auth key" else people[3 + index % 3]
        if reason == "unknown user":
            return login_body(people[0], username=f"nobody-{index}")
        if reason == "wrong auth key":
            return login_body(person, auth_key=b64encode(bytes(32)))
        if reason == "wrong code":
            return login_body(person, totp=wrong_code(person))
        return login_body(pending[index % 3])

    reasons = ("unknown user", "wrong auth key", "wrong code", "pending account")
    timings: dict[str, list[float]] = {reason: [] for reason in reasons}
    for index in range(rounds + 2):
        shift = index % len(reasons)
        for reason in reasons[shift:] + reasons[:shift]:
            payload = body(reason, index)
            started = time.perf_counter()
            response = await client.post(LOGIN, json=payload)
            await response.read()
            elapsed = time.perf_counter() - started
            assert response.status == 401
            if index >= 2:  # warm-up rounds are not counted
                timings[reason].append(elapsed)
    baseline = statistics.median(timings["unknown user"])
    paired = {
        reason: statistics.median(
            mine - theirs for mine, theirs in zip(values, timings["unknown user"], strict=True)
        )
        for reason, values in timings.items()
    }
    print(
        f"unknown-user median {baseline * 1000:.2f} ms; paired median differences:",
        {reason: f"{value * 1000:+.2f} ms" for reason, value in paired.items()},
    )
    for reason, difference in paired.items():
        assert abs(difference) <= 0.20 * baseline + 0.0005, (reason, paired, baseline)


async def test_failed_logins_are_throttled_per_username_with_retry_after(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vetted_person(hotline, organisation, "triage")
    bystander = await vetted_person(hotline, organisation, "triage")
    for _ in range(10):
        wrong = await client.post(LOGIN, json=login_body(person, auth_key=b64encode(bytes(32))))
        assert wrong.status == 401

    throttled = await client.post(LOGIN, json=login_body(person, totp=person.fresh_code()))

    assert throttled.status == 429
    assert (await throttled.json())["error"]["code"] == "rate_limited"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 15 * 60
    # The same answer for a name nobody has: the throttle does not reveal accounts either.
    for _ in range(10):
        await client.post(LOGIN, json=login_body(person, username="nobody"))
    ghost = await client.post(LOGIN, json=login_body(person, username="nobody"))
    assert ghost.status == 429
    bystander_login = login_body(bystander, totp=bystander.fresh_code())
    assert (await client.post(LOGIN, json=bystander_login)).status == 200


async def test_a_login_from_a_foreign_page_is_refused(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vetted_person(hotline, organisation, "triage")
    response = await client.post(
        LOGIN,
        json=login_body(person, totp=person.fresh_code()),
        headers={"Origin": "https://evil.example"},
    )
    assert response.status == 403
    assert "Set-Cookie" not in response.headers


async def test_a_totp_code_works_once(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vetted_person(hotline, organisation, "triage")
    body = login_body(person, totp=person.fresh_code())
    assert (await client.post(LOGIN, json=body)).status == 200

    replayed = await client.post(LOGIN, json=body)

    assert replayed.status == 401
    assert (await replayed.json())["error"]["code"] == "login_failed"


async def test_logout_ends_the_session(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vetted_person(hotline, organisation, "triage")
    token = await log_in(client, person)
    assert (await client.post("/api/v1/auth/logout", headers=bearer(token))).status == 204
    assert (await client.get("/api/v1/me", headers=bearer(token))).status == 401


@pytest.fixture
async def short_sessions(
    aiohttp_client: ClientFactory, settings: Settings
) -> tuple[Client, Hotline]:
    """A gateway whose sessions idle out after 1 s and end 2.5 s after login whatever happens."""
    app = create_app(replace(settings, session_idle_seconds=1, session_absolute_seconds=2.5))  # type: ignore[arg-type]
    client = await aiohttp_client(app)
    return client, app[HOTLINE]


async def test_an_idle_session_expires(
    short_sessions: tuple[Client, Hotline], organisation: Organisation
) -> None:
    client, hotline = short_sessions
    token = await log_in(client, await vetted_person(hotline, organisation, "triage"))
    assert (await client.get("/api/v1/me", headers=bearer(token))).status == 200
    await asyncio.sleep(1.4)
    assert (await client.get("/api/v1/me", headers=bearer(token))).status == 401


async def test_a_busy_session_still_ends_at_its_absolute_deadline(
    short_sessions: tuple[Client, Hotline], organisation: Organisation
) -> None:
    client, hotline = short_sessions
    token = await log_in(client, await vetted_person(hotline, organisation, "triage"))
    started = time.monotonic()
    while time.monotonic() - started < 2.0:
        assert (await client.get("/api/v1/me", headers=bearer(token))).status == 200
        await asyncio.sleep(0.4)
    await asyncio.sleep(0.8)
    assert (await client.get("/api/v1/me", headers=bearer(token))).status == 401


async def test_a_cookie_request_from_a_foreign_origin_changes_nothing(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vetted_person(hotline, organisation, "triage")
    case = await open_case_for(hotline, person)
    cookie_login = login_body(person, totp=person.fresh_code())
    assert (await client.post(LOGIN, json=cookie_login)).status == 200  # cookie set
    envelope = followup(person, case, [case.reporter.public, person.keys.enc.public])
    message = {"envelope": envelope.to_json()}
    path = f"/api/v1/cases/{case.id_text}/messages"
    before = await count_rows(hotline.database)

    foreign = await client.post(path, json=message, headers={"Origin": "https://evil.example"})
    missing = await client.post(path, json=message)
    patched = await client.patch(
        f"/api/v1/cases/{case.id_text}",
        json={"status": "triage"},
        headers={"Origin": "https://evil.example"},
    )

    for response in (foreign, missing, patched):
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "origin_refused"
    assert await count_rows(hotline.database) == before
    own = str(client.make_url("/").origin())
    assert (await client.post(path, json=message, headers={"Origin": own})).status == 201
    # Reading with the cookie needs no Origin; a bearer header is not ambient, so no CSRF rule.
    assert (await client.get("/api/v1/inbox")).status == 200


async def test_nothing_is_reachable_without_a_live_vetted_session(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    """The authorisation matrix: every kind of caller that must be refused, every endpoint."""
    owner = await vetted_person(hotline, organisation, "triage")
    case = await open_case_for(hotline, owner)
    stranger = await vetted_person(hotline, organisation, "triage")
    revoked = await vetted_person(hotline, organisation, "triage")
    expired = await vetted_person(hotline, organisation, "triage")
    tokens = {
        "no session": None,
        "garbage token": "x" * 43,
        "reporter locator": "Locator " + b64encode(bytes(32)),
        "revoked": await log_in(client, revoked),
        "expired vetting": await log_in(client, expired),
        "logged out": await log_in(client, owner),
    }
    await client.post("/api/v1/auth/logout", headers=bearer(str(tokens["logged out"])))
    await record_entry(
        hotline, sessions_of(hotline), await revoke_entry(hotline, organisation, revoked)
    )
    await vet(hotline, organisation, expired)  # re-vetting replaces the entry ...
    await record_entry(
        hotline,
        sessions_of(hotline),
        await add_entry(hotline, organisation, expired, not_after=datetime.now(UTC) - timedelta(1)),
    )  # ... and this replacement has expired
    stranger_token = await log_in(client, stranger)
    client.session.cookie_jar.clear()  # every cell presents its own credential, or none
    case_path = f"/api/v1/cases/{case.id_text}"
    question = followup(stranger, case, [case.reporter.public, stranger.keys.enc.public])
    requests: list[tuple[str, str, Any]] = [
        ("GET", "/api/v1/me", None),
        ("GET", "/api/v1/me/key-bundle", None),
        ("GET", "/api/v1/inbox", None),
        ("GET", "/api/v1/investigators", None),
        ("GET", case_path, None),
        ("PATCH", case_path, {"status": "triage"}),
        ("POST", case_path + "/messages", {"envelope": question.to_json()}),
        ("GET", "/api/v1/events", None),
    ]
    before = await count_rows(hotline.database)
    cells = 0
    for who, token in tokens.items():
        headers = {}
        if token is not None:
            headers["Authorization"] = token if token.startswith("Locator") else f"Session {token}"
        for method, path, body in requests:
            response = await client.request(method, path, headers=headers, json=body)
            assert response.status == 401, (who, method, path)
            assert case.id_text not in await response.text()
            cells += 1
    for method, path, body in requests[4:7]:  # a vetted investigator not on the case
        response = await client.request(method, path, headers=bearer(stranger_token), json=body)
        assert response.status == 404, (method, path)
        assert case.id_text not in await response.text()
        cells += 1
    assert await count_rows(hotline.database) == before
    print(f"authorisation matrix: {cells} cells, every one refused")
