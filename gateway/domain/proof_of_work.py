"""The proof-of-work gate in front of anonymous writes and locator look-ups.

A challenge is stateless (MAC'd by the server); spending it is not: its id is remembered
in the broker until it expires, so one solution buys exactly one request. When the broker
is down the gate fails closed (503): accepting unspendable proofs would let one solution
be replayed without limit. With `pricing` (gateway/domain/load.py) the difficulty rises
with the load, and a solution must carry at least the current floor.
"""

from __future__ import annotations

from typing import Final

from gateway.broker import Broker
from gateway.crypto.encoding import JsonValue, b64encode
from gateway.crypto.errors import BadProofOfWork
from gateway.crypto.pow import PowChallenge, issue_challenge, verify_solution
from gateway.domain.clock import Clock, unix_seconds
from gateway.domain.load import LoadPricing

CHALLENGE_TTL_SECONDS: Final = 300
SPENT_KEY_PREFIX: Final = "pow:spent:"


class ProofOfWorkGate:
    def __init__(
        self,
        broker: Broker,
        *,
        key: bytes,
        difficulty: int,
        clock: Clock,
        pricing: LoadPricing | None = None,
    ) -> None:
        self._broker = broker
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
        """A challenge priced by the current load (the base difficulty without pricing)."""
        if self._pricing is None:
            return self.challenge(purpose)
        return self.challenge(purpose, difficulty=await self._pricing.offered())

    async def redeem(self, proof: JsonValue, *, purpose: str) -> None:
        """Accept a solved challenge once; raise `BadProofOfWork` otherwise."""
        now = unix_seconds(self._clock.now())
        challenge = verify_solution(
            proof, key=self._key, purpose=purpose, now=now, min_difficulty=self.difficulty
        )
        spent_key = SPENT_KEY_PREFIX + b64encode(challenge.id)
        ttl = max(1, challenge.expires - now)
        # Counted (and spent) only once the MAC and the work verified: forged junk does not
        # raise the floor. Counting and spending share one broker round trip.
        if self._pricing is None:
            first_use = await self._broker.remember_once(spent_key, ttl=ttl)
        else:
            first_use, floor = await self._pricing.spend(spent_key, ttl=ttl)
            if challenge.difficulty < floor:
                raise BadProofOfWork(
                    "the gateway is busy: fetch a new challenge and solve it", reason="too_easy"
                )
        if not first_use:
            raise BadProofOfWork("this challenge has been used already", reason="spent")
