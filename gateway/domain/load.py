"""Proof-of-work difficulty that rises with load: the more challenges the gateway hands out
and the more solutions come back in a minute, the more work each new one costs.

The curve (`DifficultyCurve.at`): while the count of proof-of-work events (challenges
handed out plus solutions spent) in the current window is at most `threshold`, the base
difficulty; above it, one more bit each time the count doubles — (T, 2T] → base + 1,
(2T, 4T] → base + 2, … — never above `ceiling`. One more bit doubles the expected work of a
solution, so a flood that doubles its rate pays four times the work for it, while honest
reporters in a quiet minute pay only the base. An honest request is two events (its
challenge and its solution).

One counter per fixed window (`broker.increment`, gone after the window), so every gateway
process sees the same load:

- `offered` counts a challenge handed out and prices it;
- a solution coming back is counted in the same counter when it is spent, in the same
  broker round trip (domain/proof_of_work.py), and `floor_at` sets the least difficulty
  it must carry: one bit below the current price, so a challenge fetched a moment before
  the price rose still counts, but a stock of cheap challenges collected in quiet minutes
  cannot be spent in a flood (spending them is load too, and raises the floor past them).

Both fail closed: with the broker down `BrokerUnavailable` propagates (503). A challenge the
gateway cannot price could not be spent either (spending needs the broker), so handing one
out would only waste the reporter's work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.broker import Broker
from gateway.domain.clock import Clock, unix_seconds

LOAD_KEY: Final = "load:pow:"
# How far below the redemption load's price a solution may be and still count.
FLOOR_SLACK_BITS: Final = 1


@dataclass(frozen=True, slots=True)
class DifficultyCurve:
    base: int
    ceiling: int
    threshold: int
    window_seconds: int = 60

    def __post_init__(self) -> None:
        if self.threshold < 1 or self.window_seconds < 1:
            raise ValueError("the load threshold and window are at least 1")
        if not 0 <= self.base <= 32:
            raise ValueError("difficulty is 0 to 32 bits")

    @property
    def top(self) -> int:
        """The highest difficulty the curve reaches (the base, if the ceiling is below it)."""
        return max(self.base, self.ceiling)

    def at(self, count: int) -> int:
        """The difficulty for the `count`-th challenge of a window."""
        if count <= self.threshold:
            return self.base
        # The smallest k with threshold * 2^k >= count: one bit per doubling of the load.
        doublings = (-(-count // self.threshold) - 1).bit_length()
        return min(self.top, self.base + doublings)


class LoadPricing:
    """Prices proofs of work by the load every gateway process sees through the broker."""

    def __init__(self, broker: Broker, curve: DifficultyCurve, clock: Clock) -> None:
        self._broker = broker
        self._clock = clock
        self.curve = curve

    async def offered(self) -> int:
        """Count one challenge handed out; the difficulty to hand it out at."""
        return self.curve.at(await self._count())

    def floor_at(self, load: int) -> int:
        """The least difficulty a solution must carry when spending it made the window's
        count `load`: one bit below the price at that load."""
        return max(self.curve.base, self.curve.at(load) - FLOOR_SLACK_BITS)

    async def _count(self) -> int:
        return await self._broker.increment(
            self.counter_key(), window=float(self.curve.window_seconds)
        )

    def counter_key(self) -> str:
        """The broker counter of the current window, which solutions spent are counted in."""
        # The window's number is in the key: each window starts from zero, and its counter
        # vanishes `window` seconds after its first count.
        return f"{LOAD_KEY}{unix_seconds(self._clock.now()) // self.curve.window_seconds}"
