"""Admitting an anonymous request that pays with a proof of work: its rate limits and the
spending of its proof are one broker step (one Redis round trip, domain/limits.py and
domain/proof_of_work.py for each part).

What a request is told, in this order:

- over a rate limit: 429, whatever its proof; nothing is spent or counted;
- within the limits but with a proof that is missing, malformed, forged, expired or for
  another purpose: 403, and the request is counted by the limits (a bad proof is no way
  around them); such a proof is checked without the broker and is not counted as load;
- a proof spent before, or too easy for the load it arrives in: 403 (it stays spent).

Operations a reporter reaches take the `Paid` this hands out and check its purpose, so
none of them can run without its proof having been spent.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.crypto.encoding import JsonValue
from gateway.crypto.errors import BadProofOfWork
from gateway.crypto.pickup import Locator
from gateway.domain.hotline import Hotline
from gateway.domain.limits import REPORTERS


@dataclass(frozen=True, slots=True)
class Paid:
    """An anonymous request the rate limits admitted, with a proof for `purpose` spent."""

    purpose: str

    def require(self, purpose: str) -> None:
        if self.purpose != purpose:
            # A wiring mistake, never the reporter's: a proof buys one kind of request.
            raise RuntimeError(f"a request paid for {self.purpose!r} cannot {purpose!r}")


async def admit_paying(
    hotline: Hotline,
    address: str | None,
    *,
    proof: JsonValue,
    purpose: str,
    locator: Locator | None = None,
) -> Paid:
    """Count the request against its rate limits and spend its proof, in one broker step.

    Raises `RateLimited` (429), `BadProofOfWork` (403), or `BrokerUnavailable` (503: both
    parts fail closed).
    """
    limits = hotline.abuse.anonymous
    gate = hotline.proof_of_work
    checks = limits.checks(address, scope=REPORTERS, locator=locator)
    try:
        checked = gate.check(proof, purpose=purpose)
    except BadProofOfWork:
        await limits.admit(address, scope=REPORTERS, locator=locator)
        raise
    spending = gate.spending(checked)
    decision, first_use, load = await hotline.broker.throttle_all_then_remember_once(
        checks,
        key=spending.key,
        ttl=spending.ttl,
        counter=spending.counter,
        window=spending.window,
    )
    limits.judge(decision, checks, scope=REPORTERS)
    gate.settle(checked, first_use=first_use, load=load)
    return Paid(purpose)
