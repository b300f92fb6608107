"""The proof-of-work gate: a solved challenge buys exactly one request of its purpose."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from gateway.broker import Broker
from gateway.broker.redis import RedisBroker
from gateway.crypto.encoding import b64encode
from gateway.crypto.errors import BadProofOfWork
from gateway.crypto.pow import solve
from gateway.domain.keys import derive_subkey
from gateway.domain.load import DifficultyCurve, LoadPricing
from gateway.domain.proof_of_work import SPENT_KEY_PREFIX, ProofOfWorkGate


class MovableClock:
    def __init__(self) -> None:
        self.moment = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


def flat_gate(broker: Broker, clock: MovableClock, root: bytes = b"k" * 32) -> ProofOfWorkGate:
    """A gate whose price never rises (8 bits) within these tests' load."""
    pricing = LoadPricing(broker, DifficultyCurve(base=8, ceiling=8, threshold=1000), clock)
    return ProofOfWorkGate(
        broker, key=derive_subkey(root, "pow"), difficulty=8, clock=clock, pricing=pricing
    )


@pytest.fixture
def gate(broker: Broker, clock: MovableClock) -> ProofOfWorkGate:
    return flat_gate(broker, clock)


async def test_a_solution_is_accepted_once(gate: ProofOfWorkGate) -> None:
    proof = solve(gate.challenge("submit")).to_json()

    await gate.redeem(proof, purpose="submit")
    with pytest.raises(BadProofOfWork) as refused:
        await gate.redeem(proof, purpose="submit")
    assert refused.value.reason == "spent"


async def test_concurrent_replays_of_one_solution_let_exactly_one_through(
    gate: ProofOfWorkGate,
) -> None:
    proof = solve(gate.challenge("lookup")).to_json()
    results = await asyncio.gather(
        *(gate.redeem(proof, purpose="lookup") for _ in range(10)), return_exceptions=True
    )
    assert sum(result is None for result in results) == 1
    assert all(isinstance(r, BadProofOfWork) for r in results if r is not None)


async def test_a_solution_for_another_purpose_is_refused(gate: ProofOfWorkGate) -> None:
    proof = solve(gate.challenge("lookup")).to_json()
    with pytest.raises(BadProofOfWork) as refused:
        await gate.redeem(proof, purpose="submit")
    assert refused.value.reason == "wrong_purpose"


async def test_an_expired_challenge_is_refused(gate: ProofOfWorkGate, clock: MovableClock) -> None:
    proof = solve(gate.challenge("submit")).to_json()
    clock.moment += timedelta(minutes=10)
    with pytest.raises(BadProofOfWork) as refused:
        await gate.redeem(proof, purpose="submit")
    assert refused.value.reason == "expired"


async def test_a_challenge_from_another_server_key_is_refused(
    broker: Broker, clock: MovableClock
) -> None:
    other = flat_gate(broker, clock, root=b"o" * 32)
    ours = flat_gate(broker, clock)
    proof = solve(other.challenge("submit")).to_json()
    with pytest.raises(BadProofOfWork) as refused:
        await ours.redeem(proof, purpose="submit")
    assert refused.value.reason == "forged"


async def test_a_raised_difficulty_refuses_older_easier_challenges(
    gate: ProofOfWorkGate,
) -> None:
    proof = solve(gate.challenge("submit")).to_json()
    gate.difficulty = 12
    with pytest.raises(BadProofOfWork) as refused:
        await gate.redeem(proof, purpose="submit")
    assert refused.value.reason == "too_easy"


def test_subkeys_differ_by_purpose_and_root() -> None:
    root = b"r" * 32
    assert derive_subkey(root, "a") != derive_subkey(root, "b")
    assert derive_subkey(root, "a") != derive_subkey(b"s" * 32, "a")
    with pytest.raises(ValueError, match="at least 32"):
        derive_subkey(b"short", "a")


async def test_a_redemption_counts_the_load_and_spends_the_proof_in_one_round_trip(
    counted_redis_broker: tuple[RedisBroker, list[str]], clock: MovableClock
) -> None:
    broker, sent = counted_redis_broker
    pricing = LoadPricing(broker, DifficultyCurve(base=2, ceiling=8, threshold=100), clock)
    gate = ProofOfWorkGate(
        broker, key=derive_subkey(b"k" * 32, "pow"), difficulty=2, clock=clock, pricing=pricing
    )
    proof = solve(gate.challenge("submit")).to_json()
    sent.clear()

    await gate.redeem(proof, purpose="submit")

    assert sent == ["EVALSHA"]
    with pytest.raises(BadProofOfWork) as refused:
        await gate.redeem(proof, purpose="submit")
    assert refused.value.reason == "spent"


async def test_a_solution_refused_as_too_easy_under_load_is_spent_with_it(
    broker: Broker, clock: MovableClock
) -> None:
    pricing = LoadPricing(broker, DifficultyCurve(base=2, ceiling=8, threshold=1), clock)
    gate = ProofOfWorkGate(
        broker, key=derive_subkey(b"k" * 32, "pow"), difficulty=2, clock=clock, pricing=pricing
    )
    challenge = gate.challenge("submit", difficulty=2)
    cheap = solve(challenge).to_json()
    for _ in range(8):  # a flood: the floor rises above 2 bits
        await pricing.offered()

    with pytest.raises(BadProofOfWork) as refused:
        await gate.redeem(cheap, purpose="submit")
    assert refused.value.reason == "too_easy"
    # Spent: it could never be redeemed, even once the load is gone.
    assert not await broker.remember_once(SPENT_KEY_PREFIX + b64encode(challenge.id), ttl=5)
