"""Enumeration: nothing in an answer or its timing tells whether a pickup code ever opened a
case, or whether a username belongs to an account.

Already shown elsewhere (not repeated here):
- GET /api/v1/reporter/case, wrong code vs withdrawn case, byte for byte and in time:
  tests/api/test_reporter_case.py;
- login, unknown user vs every other failure, byte for byte and in time:
  tests/api/test_auth.py (test_every_failed_login_looks_the_same,
  test_failed_logins_take_the_same_time_whatever_the_reason);
- prelogin, the fake salt's shape and stability: tests/api/test_auth.py.

Here: every *other* locator-authenticated endpoint byte for byte, the reporter's reply in
time, and prelogin in shape and time.

The timing statistic: samples of the two kinds are taken interleaved (so drift hits both
alike), after two warm-up rounds. The test fails only when the two-sided Mann-Whitney U test
(normal approximation, tie-corrected) gives p < 0.001 **and** the medians differ by more
than 10 % of the slower one plus 0.5 ms: a real branch (loading a case, hashing a
password) is both significant and large; scheduler noise is neither for long.
"""

from __future__ import annotations

import io
import math
import os
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.crypto.keys import X25519KeyPair
from gateway.crypto.stream import encrypt_stream
from tests.api.investigator_support import enroll_person
from tests.api.reporter_support import (
    AnonymousReporter,
    lookup_headers,
    proof_header,
    reply_headers,
    sealed,
    solved_proof,
    submit_tip,
    vet_with_account,
)
from tests.fixtures.organisation import Organisation
from tests.security.support import Client, GatewayFactory

ROUNDS = 30
WARM_UP = 2


def mann_whitney_p(first: list[float], second: list[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test, normal approximation with tie correction."""
    pooled = sorted(
        (value, group) for group, values in enumerate((first, second)) for value in values
    )
    ranks = [0.0] * len(pooled)
    index = 0
    ties = 0.0
    while index < len(pooled):
        end = index
        while end + 1 < len(pooled) and pooled[end + 1][0] == pooled[index][0]:
            end += 1
        for position in range(index, end + 1):
            ranks[position] = (index + end) / 2 + 1
        count = end - index + 1
        ties += count**3 - count
        index = end + 1
    n1, n2 = len(first), len(second)
    rank_sum = sum(rank for rank, (_, group) in zip(ranks, pooled, strict=True) if group == 0)
    u = rank_sum - n1 * (n1 + 1) / 2
    total = n1 + n2
    variance = n1 * n2 / 12 * ((total + 1) - ties / (total * (total - 1)))
    if variance <= 0:
        return 1.0
    z = (u - n1 * n2 / 2) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2))


def assert_indistinguishable(timings: dict[str, list[float]]) -> None:
    (name_a, a), (name_b, b) = timings.items()
    median_a, median_b = statistics.median(a), statistics.median(b)
    p = mann_whitney_p(a, b)
    bound = 0.10 * max(median_a, median_b) + 0.0005
    print(
        f"{name_a} {median_a * 1e3:.2f} ms, {name_b} {median_b * 1e3:.2f} ms, "
        f"Mann-Whitney p = {p:.3f}"
    )
    assert not (p < 0.001 and abs(median_a - median_b) > bound), (median_a, median_b, p)


def test_the_statistic_tells_different_timings_apart_and_equal_ones_not() -> None:
    """The check can fail: a 2 ms branch is caught, noise around one mean is not."""
    rng = random.Random(5)
    same = [0.004 + rng.gauss(0, 0.0003) for _ in range(ROUNDS)]
    also_same = [0.004 + rng.gauss(0, 0.0003) for _ in range(ROUNDS)]
    slower = [0.006 + rng.gauss(0, 0.0003) for _ in range(ROUNDS)]
    assert_indistinguishable({"a": same, "b": also_same})
    assert mann_whitney_p(same, slower) < 1e-6


async def interleaved(
    kinds: dict[str, Callable[[], Awaitable[Callable[[], Awaitable[Any]]]]],
) -> dict[str, list[float]]:
    """Time each kind's request ROUNDS times, interleaved; `prepare` runs off the clock."""
    timings: dict[str, list[float]] = {name: [] for name in kinds}
    for round_number in range(ROUNDS + WARM_UP):
        for name, prepare in kinds.items():
            send = await prepare()
            started = time.perf_counter()
            await send()
            if round_number >= WARM_UP:
                timings[name].append(time.perf_counter() - started)
    return timings


def _stable(headers: Any) -> dict[str, str]:
    return {key: value for key, value in headers.items() if key.lower() != "date"}


async def test_every_locator_endpoint_answers_a_wrong_code_and_a_withdrawn_case_alike(
    make_gateway: GatewayFactory, organisation: Organisation
) -> None:
    gateway = await make_gateway()
    client = gateway.client
    person = await vet_with_account(gateway.hotline, organisation, "triage")
    withdrawn = await submit_tip(client, [person])
    gone = await client.delete(
        "/api/v1/reporter/case", headers=await lookup_headers(client, withdrawn)
    )
    assert gone.status == 204
    someone = X25519KeyPair.generate().public
    case_named = str(uuid.uuid4())
    reply = sealed("reply", [someone], case=case_named).to_json()
    consent = sealed("consent_answer", [someone], case=case_named).to_json()
    ciphertext = b"".join(encrypt_stream(os.urandom(32), [b"kaart"], 5))

    async def ask(reporter: AnonymousReporter, endpoint: str) -> tuple[int, bytes, dict[str, str]]:
        auth = reporter.authorization
        if endpoint == "withdraw":
            response = await client.delete(
                "/api/v1/reporter/case", headers=await lookup_headers(client, reporter)
            )
        elif endpoint == "reply":
            response = await client.post(
                "/api/v1/reporter/messages",
                json={"v": 1, "envelope": reply},
                headers=await reply_headers(client, reporter),
            )
        elif endpoint == "consent":
            response = await client.post(
                "/api/v1/reporter/consent",
                json={"v": 1, "envelope": consent, "consent": "given"},
                headers=await reply_headers(client, reporter),
            )
        elif endpoint == "upload":
            response = await client.post(
                "/api/v1/reporter/attachments",
                data=io.BytesIO(ciphertext),
                headers={
                    **auth,
                    **proof_header(await solved_proof(client, "reply")),
                    "Content-Type": "application/octet-stream",
                },
            )
        else:
            response = await client.get(
                f"/api/v1/cases/{case_named}/attachments/{uuid.uuid4()}",
                headers=await lookup_headers(client, reporter),
            )
        return response.status, await response.read(), _stable(response.headers)

    for endpoint in ("withdraw", "reply", "consent", "upload", "download"):
        wrong = await ask(AnonymousReporter(), endpoint)
        missing = await ask(withdrawn, endpoint)
        assert wrong == missing, endpoint
        assert wrong[0] == 404, (endpoint, wrong)
        assert b"case_not_found" in wrong[1]


async def test_a_reply_with_a_wrong_code_and_to_a_withdrawn_case_take_the_same_time(
    make_gateway: GatewayFactory, organisation: Organisation
) -> None:
    gateway = await make_gateway()
    client = gateway.client
    person = await vet_with_account(gateway.hotline, organisation, "triage")
    withdrawn = await submit_tip(client, [person])
    await client.delete("/api/v1/reporter/case", headers=await lookup_headers(client, withdrawn))
    envelope = sealed("reply", [X25519KeyPair.generate().public], case=str(uuid.uuid4())).to_json()

    def reply_as(reporter_for_round: Callable[[], AnonymousReporter]) -> Any:
        async def prepare() -> Callable[[], Awaitable[Any]]:
            reporter = reporter_for_round()
            body = {"v": 1, "envelope": envelope}
            headers = await reply_headers(client, reporter)  # solved before the clock starts

            async def send() -> None:
                response = await client.post(
                    "/api/v1/reporter/messages", json=body, headers=headers
                )
                await response.read()
                assert response.status == 404

            return send

        return prepare

    timings = await interleaved(
        {"wrong code": reply_as(AnonymousReporter), "withdrawn case": reply_as(lambda: withdrawn)}
    )
    assert_indistinguishable(timings)


async def test_prelogin_for_a_known_and_an_unknown_username_looks_and_takes_the_same(
    make_gateway: GatewayFactory,
) -> None:
    gateway = await make_gateway()
    client: Client = gateway.client
    people = [await enroll_person(gateway.hotline, "triage") for _ in range(3)]
    answers = {}
    for name in (people[0].username, f"nobody-{uuid.uuid4().hex[:8]}"):
        response = await client.post("/api/v1/auth/prelogin", json={"username": name})
        body = await response.json()
        answers[name] = (
            response.status,
            len(await response.read()),
            sorted(_stable(response.headers)),
            sorted(body),
            body["kdf"],
            len(body["salt"]),
        )
    known, unknown = answers.values()
    assert known == unknown

    def prelogin(names: Callable[[int], str]) -> Any:
        counter = iter(range(10**6))

        async def prepare() -> Callable[[], Awaitable[Any]]:
            name = names(next(counter))

            async def send() -> None:
                response = await client.post("/api/v1/auth/prelogin", json={"username": name})
                await response.read()
                assert response.status == 200

            return send

        return prepare

    timings = await interleaved(
        {
            "known username": prelogin(lambda n: people[n % 3].username),
            "unknown username": prelogin(lambda n: f"nobody-{n}"),
        }
    )
    assert_indistinguishable(timings)
