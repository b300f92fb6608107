"""Abuse limits: proofs of work cost more under load, anonymous requests are rate limited
gateway-wide, per network identity and per pickup code, logins are throttled, an
investigator session holds a bounded number of live sockets — and every one of these
limiters fails closed when Redis is down."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from gateway.broker import BrokerUnavailable, MemoryBroker
from gateway.crypto.encoding import JsonObject, b64encode, canonical_json
from gateway.crypto.pow import parse_challenge, solve
from gateway.domain.errors import RateLimited
from gateway.domain.limits import AbusePolicy, AnonymousLimits, SocketSlots
from gateway.domain.load import DifficultyCurve, LoadPricing
from gateway.domain.login import LoginDesk, LoginFailed, LoginPolicy
from gateway.domain.network_identity import address_group, network_identity
from gateway.domain.proof_of_work import ProofOfWorkGate
from tests.api.investigator_support import bearer, log_in, sessions_of, vetted_person
from tests.api.reporter_support import AnonymousReporter
from tests.fixtures.broker import RedisProxy, redis_only
from tests.fixtures.database import postgres_only
from tests.fixtures.organisation import Organisation
from tests.security.support import Gateway, GatewayFactory, database_snapshot

PEPPER = b"p" * 32


class FixedClock:
    """Time stands still unless the test moves it: a test never straddles a load window."""

    def __init__(self) -> None:
        self.moment = datetime.now(UTC).replace(second=0, microsecond=0)

    def now(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


@contextlib.asynccontextmanager
async def from_address(local_host: str) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client whose connections come from `local_host` (another peer on loopback)."""
    connector = aiohttp.TCPConnector(local_addr=(local_host, 0), force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def fetch_challenge(gateway: Gateway, purpose: str = "lookup") -> JsonObject:
    response = await gateway.client.get("/api/v1/pow", params={"purpose": purpose})
    assert response.status == 200, await response.text()
    answer: JsonObject = await response.json()
    return answer


def proof_header(challenge: JsonObject) -> dict[str, str]:
    token = solve(parse_challenge(challenge)).to_json()
    return {"X-Tipline-Proof": b64encode(canonical_json(token))}


# ------------------------------------------------------------------ proof-of-work pricing


def test_the_difficulty_rises_one_bit_per_doubling_of_the_load_and_stops_at_the_ceiling() -> None:
    curve = DifficultyCurve(base=18, ceiling=22, threshold=100)
    assert [curve.at(n) for n in (1, 100, 101, 200, 201, 400, 401, 800, 801, 10**6)] == [
        18, 18, 19, 19, 20, 20, 21, 21, 22, 22,
    ]  # fmt: skip
    # A ceiling below the base never lowers it.
    assert DifficultyCurve(base=20, ceiling=16, threshold=1).at(10**6) == 20


async def test_challenges_cost_more_as_more_are_handed_out_up_to_the_ceiling(
    make_gateway: GatewayFactory,
) -> None:
    gateway = await make_gateway(clock=FixedClock(), pow_load_threshold="2", pow_max_difficulty="7")
    offered = [(await fetch_challenge(gateway))["difficulty"] for _ in range(20)]
    assert offered == [4, 4, 5, 5, 6, 6, 6, 6] + [7] * 12


async def test_a_stock_of_cheap_challenges_cannot_be_spent_in_a_flood(
    make_gateway: GatewayFactory,
) -> None:
    """Challenges gathered two per quiet minute are spent in one burst: the burst is load
    too, so once it doubles past the threshold the floor rises above them. An honest
    client that fetches a challenge in the middle of it gets one priced to be accepted."""
    clock = FixedClock()
    gateway = await make_gateway(clock=clock, pow_load_threshold="2", pow_max_difficulty="8")
    stock = []
    for _ in range(3):
        stock += [await fetch_challenge(gateway) for _ in range(2)]
        clock.advance(60)
    assert {challenge["difficulty"] for challenge in stock} == {4}

    answers = []
    for challenge in stock:
        response = await gateway.client.get(
            "/api/v1/reporter/case",
            headers={**AnonymousReporter().authorization, **proof_header(challenge)},
        )
        answers.append((response.status, (await response.json())["error"]["code"]))
    assert answers == [(404, "case_not_found")] * 4 + [(403, "bad_proof_of_work")] * 2

    honest = await fetch_challenge(gateway)
    assert honest["difficulty"] == 6
    response = await gateway.client.get(
        "/api/v1/reporter/case",
        headers={**AnonymousReporter().authorization, **proof_header(honest)},
    )
    assert response.status == 404


# ------------------------------------------------------------------ anonymous rate limits


async def test_each_network_identity_has_its_own_allowance_and_forwarded_headers_change_nothing(
    make_gateway: GatewayFactory,
) -> None:
    gateway = await make_gateway(network_per_minute="5")
    url = str(gateway.client.make_url("/api/v1/pow?purpose=lookup"))
    async with from_address("127.0.0.1") as first, from_address("127.0.0.2") as second:
        for index in range(5):
            # A client-chosen "real address" is no identity: it must not buy a fresh allowance.
            spoofed = {
                "X-Forwarded-For": f"203.0.113.{index}",
                "Forwarded": f"for=198.51.100.{index}",
            }
            async with first.get(url, headers=spoofed) as response:
                assert response.status == 200
        async with first.get(url, headers={"X-Forwarded-For": "192.0.2.99"}) as refused:
            assert refused.status == 429
            assert (await refused.json())["error"]["code"] == "rate_limited"
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
        async with second.get(url) as other_peer:
            assert other_peer.status == 200


async def test_the_gateway_wide_limit_holds_whatever_the_address(
    make_gateway: GatewayFactory,
) -> None:
    gateway = await make_gateway(anonymous_per_minute="4")
    url = str(gateway.client.make_url("/api/v1/pow?purpose=submit"))
    statuses = []
    for host in ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"):
        async with from_address(host) as session, session.get(url) as response:
            statuses.append(response.status)
    assert statuses == [200, 200, 200, 200, 429]
    # Logins have their own gateway-wide share: a reporter flood does not lock investigators out.
    prelogin = await gateway.client.post("/api/v1/auth/prelogin", json={"username": "someone"})
    assert prelogin.status == 200


async def test_one_pickup_code_is_limited_per_hour_from_any_address(
    make_gateway: GatewayFactory,
) -> None:
    gateway = await make_gateway(locator_per_hour="3")
    hammered, other = AnonymousReporter(), AnonymousReporter()
    url = str(gateway.client.make_url("/api/v1/reporter/case"))

    async def look_up(session: aiohttp.ClientSession, reporter: AnonymousReporter) -> int:
        headers = {**reporter.authorization, **proof_header(await fetch_challenge(gateway))}
        async with session.get(url, headers=headers) as response:
            return response.status

    async with from_address("127.0.0.1") as first, from_address("127.0.0.2") as second:
        assert [await look_up(first, hammered) for _ in range(3)] == [404] * 3
        assert await look_up(second, hammered) == 429
        assert await look_up(second, other) == 404


# ------------------------------------------------------------------ paying requests


async def test_a_request_over_a_limit_spends_nothing_so_its_proof_still_buys_one_request(
    make_gateway: GatewayFactory,
) -> None:
    gateway = await make_gateway(locator_per_hour="1")
    hammered = AnonymousReporter()
    first, second = await fetch_challenge(gateway), await fetch_challenge(gateway)

    async def look_up(reporter: AnonymousReporter, challenge: JsonObject) -> int:
        response = await gateway.client.get(
            "/api/v1/reporter/case",
            headers={**reporter.authorization, **proof_header(challenge)},
        )
        return response.status

    assert await look_up(hammered, first) == 404
    refused = proof_header(second)
    response = await gateway.client.get(
        "/api/v1/reporter/case", headers={**hammered.authorization, **refused}
    )
    assert response.status == 429
    # The refused request spent nothing: the same solution still buys one look-up, once.
    again = await gateway.client.get(
        "/api/v1/reporter/case", headers={**AnonymousReporter().authorization, **refused}
    )
    assert again.status == 404
    spent = await gateway.client.get(
        "/api/v1/reporter/case", headers={**AnonymousReporter().authorization, **refused}
    )
    assert (spent.status, (await spent.json())["error"]["code"]) == (403, "bad_proof_of_work")


async def test_requests_with_bad_proofs_are_counted_by_the_rate_limits(
    make_gateway: GatewayFactory,
) -> None:
    gateway = await make_gateway(locator_per_hour="2")
    reporter = AnonymousReporter()
    forged = {**(await fetch_challenge(gateway)), "mac": b64encode(os.urandom(32))}
    answers = []
    for headers in ({}, proof_header(forged), proof_header(await fetch_challenge(gateway))):
        response = await gateway.client.get(
            "/api/v1/reporter/case", headers={**reporter.authorization, **headers}
        )
        answers.append((response.status, (await response.json())["error"]["code"]))
    # A missing and a forged proof used up the code's allowance: a good proof is too late.
    assert answers == [
        (403, "bad_proof_of_work"),
        (403, "bad_proof_of_work"),
        (429, "rate_limited"),
    ]


async def test_a_paying_request_is_one_broker_step_for_its_limits_and_its_proof(
    make_gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = await make_gateway()
    challenge = await fetch_challenge(gateway)
    broker = gateway.hotline.broker
    calls: list[str] = []
    for name in ("throttle_all", "remember_once", "increment"):
        monkeypatch.setattr(broker, name, _refusing(name))
    step = broker.throttle_all_then_remember_once

    async def counted(*args: Any, **options: Any) -> Any:
        calls.append("throttle_all_then_remember_once")
        return await step(*args, **options)

    monkeypatch.setattr(broker, "throttle_all_then_remember_once", counted)
    reporter = AnonymousReporter()
    response = await gateway.client.get(
        "/api/v1/reporter/case", headers={**reporter.authorization, **proof_header(challenge)}
    )
    assert response.status == 404
    assert calls == ["throttle_all_then_remember_once"]


def _refusing(name: str) -> Any:
    async def refuse(*args: Any, **options: Any) -> Any:
        raise AssertionError(f"a paying request called broker.{name}")

    return refuse


def test_a_network_identity_is_a_keyed_hash_that_changes_every_day() -> None:
    today, tomorrow = date(2026, 11, 28), date(2026, 11, 29)
    address = "192.0.2.7"
    same = network_identity(address, pepper=PEPPER, day=today)
    assert same == network_identity(address, pepper=PEPPER, day=today)
    assert same != network_identity(address, pepper=PEPPER, day=tomorrow)
    assert same != network_identity(address, pepper=b"q" * 32, day=today)
    assert address not in same.digest
    assert address not in repr(same)
    # One IPv6 /64 is one identity (one customer's prefix), an IPv4-mapped address is IPv4,
    # and without an address (a unix socket: the proxy) everyone shares one identity.
    assert address_group("2001:db8:1:2:aaaa::1") == address_group("2001:db8:1:2:bbbb::9")
    assert address_group("2001:db8:1:2::1") != address_group("2001:db8:1:3::1")
    assert address_group("::ffff:192.0.2.7") == address_group("192.0.2.7")
    assert address_group(None) == address_group("") == address_group("not an address")


async def test_behind_a_proxy_every_reporter_shares_the_proxys_identity() -> None:
    """All requests arrive from the proxy's address: the per-identity limit becomes one
    more gateway-wide limit (the threat model says why that is accepted)."""
    limits = AnonymousLimits(
        MemoryBroker(),
        pepper=PEPPER,
        clock=FixedClock(),
        policy=AbusePolicy(network_per_minute=3, anonymous_per_minute=100),
    )
    for _ in range(3):
        await limits.admit("127.0.0.1")
    with pytest.raises(RateLimited):
        await limits.admit("127.0.0.1")


# ------------------------------------------------------------------ login throttling


async def test_logins_are_throttled_gateway_wide_across_usernames(
    make_gateway: GatewayFactory,
) -> None:
    """Per-username throttling is tested in tests/api/test_auth.py; this is the backstop
    against guessing across many names, with a small policy."""
    gateway = await make_gateway()
    hotline = gateway.hotline
    desk = LoginDesk(
        hotline, sessions_of(hotline), policy=LoginPolicy(overall=3, overall_window=60)
    )
    for index in range(3):
        with pytest.raises(LoginFailed):
            await desk.login(f"guess-{index}", os.urandom(32), "000000")
    with pytest.raises(RateLimited) as limited:
        await desk.login("guess-next", os.urandom(32), "000000")
    assert limited.value.retry_after is not None
    assert limited.value.retry_after >= 1


# ------------------------------------------------------------------ live sockets per session


async def test_a_session_holds_at_most_its_quota_of_live_sockets(
    make_gateway: GatewayFactory, organisation: Organisation
) -> None:
    gateway = await make_gateway(sockets_per_session="2")
    person = await vetted_person(gateway.hotline, organisation, "triage")
    token = await log_in(gateway.client, person)
    other_session = await log_in(gateway.client, person)

    async def connect(session_token: str) -> Any:
        socket = await gateway.client.ws_connect("/api/v1/events", headers=bearer(session_token))
        assert (await socket.receive_json(timeout=5))["topic"] == "ready"
        return socket

    first, second = await connect(token), await connect(token)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await gateway.client.ws_connect("/api/v1/events", headers=bearer(token))
    assert refused.value.status == 429
    # Another session (another device of the same person) has its own slots.
    elsewhere = await connect(other_session)

    await first.close()
    for _ in range(50):  # the slot is released once the server has seen the close
        with contextlib.suppress(aiohttp.WSServerHandshakeError):
            third = await connect(token)
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("closing a socket never freed its slot")
    for socket in (second, third, elsewhere):
        await socket.close()


@postgres_only
async def test_the_socket_quota_is_shared_by_every_gateway_process(
    make_gateway: GatewayFactory, organisation: Organisation
) -> None:
    one = await make_gateway(sockets_per_session="1")
    two = await make_gateway(sockets_per_session="1")
    person = await vetted_person(one.hotline, organisation, "triage")
    token = await log_in(one.client, person)
    socket = await one.client.ws_connect("/api/v1/events", headers=bearer(token))
    assert (await socket.receive_json(timeout=5))["topic"] == "ready"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await two.client.ws_connect("/api/v1/events", headers=bearer(token))
    assert refused.value.status == 429
    await socket.close()


# ------------------------------------------------------------------ Redis down: fail closed


@redis_only
async def test_every_limiter_fails_closed_when_redis_is_down(
    redis_broker_factory: Any, redis_proxy: RedisProxy
) -> None:
    """Each limiter, on a broker whose Redis is gone, refuses (raises) instead of letting
    the request through."""
    broker = redis_broker_factory(url=redis_proxy.url, socket_timeout=1.0, connect_timeout=1.0)
    policy = AbusePolicy()
    anonymous = AnonymousLimits(broker, pepper=PEPPER, clock=FixedClock(), policy=policy)
    pricing = LoadPricing(broker, DifficultyCurve(base=4, ceiling=8, threshold=10), FixedClock())
    gate = ProofOfWorkGate(key=PEPPER, difficulty=4, clock=FixedClock(), pricing=pricing)

    def spend_a_proof() -> Awaitable[Any]:
        spending = gate.spending(
            gate.check(solve(gate.challenge("lookup")).to_json(), purpose="lookup")
        )
        return broker.throttle_all_then_remember_once(
            [("limit:all:reporters", 100, 60)],
            key=spending.key,
            ttl=spending.ttl,
            counter=spending.counter,
            window=spending.window,
        )

    sockets = SocketSlots(broker, pepper=PEPPER, policy=policy)
    await anonymous.admit("127.0.0.1")  # healthy: all of these work
    await (await sockets.claim("token")).release()
    assert await pricing.offered() == 4
    await spend_a_proof()

    await redis_proxy.cut()

    for limiter in (
        anonymous.admit("127.0.0.1"),
        pricing.offered(),
        spend_a_proof(),
        sockets.claim("token"),
    ):
        with pytest.raises(BrokerUnavailable):
            await limiter


@redis_only
async def test_with_redis_down_anonymous_requests_and_logins_get_503_and_change_nothing(
    redis_outage: tuple[Gateway, RedisProxy],
) -> None:
    gateway, proxy = redis_outage
    reporter = AnonymousReporter()
    challenge = await fetch_challenge(gateway, "lookup")
    before = await database_snapshot(gateway.hotline.database)
    await proxy.cut()

    attempts = [
        ("GET", "/api/v1/pow?purpose=submit", {}, None),
        (
            "GET",
            "/api/v1/reporter/case",
            {**reporter.authorization, **proof_header(challenge)},
            None,
        ),
        ("POST", "/api/v1/cases", {}, {"v": 1}),
        ("POST", "/api/v1/auth/prelogin", {}, {"username": "someone"}),
        ("POST", "/api/v1/auth/login", {}, {"username": "x", "auth_key": "A" * 43, "totp": "1"}),
    ]
    for method, path, headers, body in attempts:
        response = await gateway.client.request(method, path, headers=headers, json=body)
        assert response.status == 503, (path, await response.text())
        assert (await response.json())["error"]["code"] == "unavailable"
        assert int(response.headers["Retry-After"]) >= 1
    assert await database_snapshot(gateway.hotline.database) == before
