"""The proof-of-work gate: a solved challenge buys exactly one request of its purpose.

Each proof here is checked by the gate, spent in the broker step a paying request makes
(with one generous rate limit, as domain/admission.py spends it) and judged by the gate.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from gateway.broker import Broker
from gateway.crypto.encoding import JsonValue, b64encode
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
        key=derive_subkey(root, "pow"), difficulty=8, clock=clock, pricing=pricing
    )


@pytest.fixture
def gate(broker: Broker, clock: MovableClock) -> ProofOfWorkGate:
    return flat_gate(broker, clock)


async def spend(broker: Broker, gate: ProofOfWorkGate, proof: JsonValue, *, purpose: str) -> None:
    """Check, spend and judge one proof; `BadProofOfWork` when the gate refuses it."""
    checked = gate.check(proof, purpose=purpose)
    spending = gate.spending(checked)
    _, first_use, load = await broker.throttle_all_then_remember_once(
        [("limit:all:tests", 1000, 60)],
        key=spending.key,
        ttl=spending.ttl,
        counter=spending.counter,
        window=spending.window,
    )
    gate.settle(checked, first_use=first_use, load=load)


async def test_a_solution_is_accepted_once(broker: Broker, gate: ProofOfWorkGate) -> None:
    proof = solve(gate.challenge("submit")).to_json()

    await spend(broker, gate, proof, purpose="submit")
    with pytest.raises(BadProofOfWork) as refused:
        await spend(broker, gate, proof, purpose="submit")
    assert refused.value.reason == "spent"


async def test_concurrent_replays_of_one_solution_let_exactly_one_through(
    broker: Broker,
    gate: ProofOfWorkGate,
) -> None:
    proof = solve(gate.challenge("lookup")).to_json()
    results = await asyncio.gather(
        *(spend(broker, gate, proof, purpose="lookup") for _ in range(10)), return_exceptions=True
    )
    assert sum(result is None for result in results) == 1
    assert all(isinstance(r, BadProofOfWork) for r in results if r is not None)


async def test_a_solution_for_another_purpose_is_refused(
    broker: Broker, gate: ProofOfWorkGate
) -> None:
    proof = solve(gate.challenge("lookup")).to_json()
    with pytest.raises(BadProofOfWork) as refused:
        await spend(broker, gate, proof, purpose="submit")
    assert refused.value.reason == "wrong_purpose"


async def test_an_expired_challenge_is_refused(
    broker: Broker, gate: ProofOfWorkGate, clock: MovableClock
) -> None:
    proof = solve(gate.challenge("submit")).to_json()
    clock.moment += timedelta(minutes=10)
    with pytest.raises(BadProofOfWork) as refused:
        await spend(broker, gate, proof, purpose="submit")
    assert refused.value.reason == "expired"


async def test_a_challenge_from_another_server_key_is_refused(
    broker: Broker, clock: MovableClock
) -> None:
    other = flat_gate(broker, clock, root=b"o" * 32)
    ours = flat_gate(broker, clock)
    proof = solve(other.challenge("submit")).to_json()
    with pytest.raises(BadProofOfWork) as refused:
        await spend(broker, ours, proof, purpose="submit")
    assert refused.value.reason == "forged"


async def test_a_raised_difficulty_refuses_older_easier_challenges(
    broker: Broker,
    gate: ProofOfWorkGate,
) -> None:
    proof = solve(gate.challenge("submit")).to_json()
    gate.difficulty = 12
    with pytest.raises(BadProofOfWork) as refused:
        await spend(broker, gate, proof, purpose="submit")
    assert refused.value.reason == "too_easy"


def test_subkeys_differ_by_purpose_and_root() -> None:
    root = b"r" * 32
    assert derive_subkey(root, "a") != derive_subkey(root, "b")
    assert derive_subkey(root, "a") != derive_subkey(b"s" * 32, "a")
    with pytest.raises(ValueError, match="at least 32"):
        derive_subkey(b"short", "a")


async def test_a_solution_refused_as_too_easy_under_load_is_spent_with_it(
    broker: Broker, clock: MovableClock
) -> None:
    pricing = LoadPricing(broker, DifficultyCurve(base=2, ceiling=8, threshold=1), clock)
    gate = ProofOfWorkGate(
        key=derive_subkey(b"k" * 32, "pow"), difficulty=2, clock=clock, pricing=pricing
    )
    challenge = gate.challenge("submit", difficulty=2)
    cheap = solve(challenge).to_json()
    for _ in range(8):  # a flood: the floor rises above 2 bits
        await pricing.offered()

    with pytest.raises(BadProofOfWork) as refused:
        await spend(broker, gate, cheap, purpose="submit")
    assert refused.value.reason == "too_easy"
    # Spent: it could never be spent again, even once the load is gone.
    assert not await broker.remember_once(SPENT_KEY_PREFIX + b64encode(challenge.id), ttl=5)
