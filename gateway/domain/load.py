"""Proof-of-work difficulty that rises with load: the more challenges the gateway hands out
(and the more solutions come back) in a minute, the more work each one costs.

The curve (`DifficultyCurve.at`): up to `threshold` counted in the current window, the base
difficulty; above it, one more bit each time the count doubles —
(T, 2T] → base + 1, (2T, 4T] → base + 2, … — never above `ceiling`. One more bit doubles
the expected work of a solution, so a flood that doubles its rate pays four times the work
for it, while honest reporters in a quiet minute pay only the base.

Counts are broker counters per fixed window (`broker.increment`, gone after the window), so
every gateway process sees the same load. Two counters:

- **issued** prices a new challenge (`offered`);
- **redeemed** sets the least difficulty a solution must carry now (`floor`), one step
  below what the current redemption load would offer, so a challenge fetched a moment
  before the price rose still counts, but a stock of cheap challenges collected in a quiet
  minute cannot be spent during a flood.

Both fail closed: with the broker down `BrokerUnavailable` propagates (503). A challenge the
gateway cannot price could not be spent either (spending needs the broker), so handing one
out would only waste the reporter's work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.broker import Broker
from gateway.domain.clock import Clock, unix_seconds

ISSUED_KEY: Final = "load:pow:issued:"
REDEEMED_KEY: Final = "load:pow:redeemed:"
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
        return self.curve.at(await self._count(ISSUED_KEY))

    async def floor(self) -> int:
        """Count one solution coming back; the least difficulty it must carry."""
        price = self.curve.at(await self._count(REDEEMED_KEY))
        return max(self.curve.base, price - FLOOR_SLACK_BITS)

    async def _count(self, prefix: str) -> int:
        window = self.curve.window_seconds
        # The window's number is in the key: each window starts from zero, and its counter
        # vanishes `window` seconds after its first count.
        index = unix_seconds(self._clock.now()) // window
        return await self._broker.increment(f"{prefix}{index}", window=float(window))
