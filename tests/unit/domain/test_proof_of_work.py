"""The proof-of-work gate: a solved challenge buys exactly one request of its purpose."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from gateway.broker import Broker
from gateway.crypto.errors import BadProofOfWork
from gateway.crypto.pow import solve
from gateway.domain.keys import derive_subkey
from gateway.domain.proof_of_work import ProofOfWorkGate


class MovableClock:
    def __init__(self) -> None:
        self.moment = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def gate(broker: Broker, clock: MovableClock) -> ProofOfWorkGate:
    return ProofOfWorkGate(broker, key=derive_subkey(b"k" * 32, "pow"), difficulty=8, clock=clock)


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
    other = ProofOfWorkGate(broker, key=derive_subkey(b"o" * 32, "pow"), difficulty=8, clock=clock)
    ours = ProofOfWorkGate(broker, key=derive_subkey(b"k" * 32, "pow"), difficulty=8, clock=clock)
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
