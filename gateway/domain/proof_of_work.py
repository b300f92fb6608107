"""The proof-of-work gate in front of anonymous writes and locator look-ups.

A challenge is stateless (MAC'd by the server); spending it is not: its id is remembered
in the broker until it expires, so one solution buys exactly one request. When the broker
is down the gate fails closed (503): accepting unspendable proofs would let one solution
be replayed without limit. Its `pricing` (gateway/domain/load.py) raises the difficulty
with the load, and a solution must carry at least the current floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.crypto.encoding import JsonValue, b64encode
from gateway.crypto.errors import BadProofOfWork
from gateway.crypto.pow import PowChallenge, issue_challenge, verify_solution
from gateway.domain.clock import Clock, unix_seconds
from gateway.domain.load import LoadPricing

CHALLENGE_TTL_SECONDS: Final = 300
SPENT_KEY_PREFIX: Final = "pow:spent:"


@dataclass(frozen=True, slots=True)
class CheckedProof:
    """A solution whose MAC and work verified; what is left is to spend it, once."""

    spent_key: str
    ttl: int  # seconds until the challenge expires (and need not be remembered any longer)
    difficulty: int


class ProofOfWorkGate:
    """Challenges out, solutions in: `check` verifies a solution on its own, `spending` says
    what the broker must remember and count for it, and `settle` judges what the broker
    found. The broker step between them is the request's own, taken with its rate limits
    (domain/admission.py).
    """

    def __init__(
        self,
        *,
        key: bytes,
        difficulty: int,
        clock: Clock,
        pricing: LoadPricing,
    ) -> None:
        self._key = key
        self._clock = clock
        self._pricing = pricing
        self.difficulty = difficulty

    def challenge(self, purpose: str, *, difficulty: int | None = None) -> PowChallenge:
        return issue_challenge(
            self._key,
            purpose=purpose,
            difficulty=self.difficulty if difficulty is None else difficulty,
            now=unix_seconds(self._clock.now()),
            ttl=CHALLENGE_TTL_SECONDS,
        )

    async def issue(self, purpose: str) -> PowChallenge:
        """A challenge priced by the current load."""
        return self.challenge(purpose, difficulty=await self._pricing.offered())

    def check(self, proof: JsonValue, *, purpose: str) -> CheckedProof:
        """Verify a solution without the broker; raise `BadProofOfWork` when it is missing,
        malformed, forged, expired, for another purpose or below the base difficulty."""
        if proof is None:
            raise BadProofOfWork(
                f"This request needs a solved proof of work (GET /api/v1/pow?purpose={purpose}).",
                reason="missing",
            )
        now = unix_seconds(self._clock.now())
        challenge = verify_solution(
            proof, key=self._key, purpose=purpose, now=now, min_difficulty=self.difficulty
        )
        return CheckedProof(
            spent_key=SPENT_KEY_PREFIX + b64encode(challenge.id),
            ttl=max(1, challenge.expires - now),
            difficulty=challenge.difficulty,
        )

    def spending(self, checked: CheckedProof) -> Spending:
        """What the broker must remember once (and which load counter to count it in)."""
        return Spending(
            key=checked.spent_key,
            ttl=float(checked.ttl),
            counter=self._pricing.counter_key(),
            window=float(self._pricing.curve.window_seconds),
        )

    def settle(self, checked: CheckedProof, *, first_use: bool, load: int) -> None:
        """Judge a spend: refused as too easy for the `load` it made, or as spent before.

        A solution refused as too easy stays spent: it could only be refused again.
        """
        if checked.difficulty < self._pricing.floor_at(load):
            raise BadProofOfWork(
                "the gateway is busy: fetch a new challenge and solve it", reason="too_easy"
            )
        if not first_use:
            raise BadProofOfWork("this challenge has been used already", reason="spent")


@dataclass(frozen=True, slots=True)
class Spending:
    """A checked proof as the broker spends it: remembered once under `key` for `ttl`
    seconds, and counted as load in `counter` (a window of `window` seconds)."""

    key: str
    ttl: float
    counter: str
    window: float
