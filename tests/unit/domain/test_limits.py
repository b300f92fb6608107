"""Anonymous rate limits: a request is counted against all its limits in one broker step,
or, when any of them refuses it, against none."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from gateway.broker import Broker, RedisBroker
from gateway.crypto.pickup import Locator
from gateway.domain.errors import RateLimited
from gateway.domain.limits import AbusePolicy, AnonymousLimits
from tests.fixtures.broker import redis_only

PEPPER = b"p" * 32
ADDRESS = "192.0.2.7"


class StillClock:
    def now(self) -> datetime:
        return datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def limits_on(broker: Broker, **policy: int) -> AnonymousLimits:
    return AnonymousLimits(broker, pepper=PEPPER, clock=StillClock(), policy=AbusePolicy(**policy))


async def test_requests_are_admitted_up_to_the_network_allowance_with_its_retry_after(
    broker: Broker,
) -> None:
    limits = limits_on(broker, network_per_minute=3)
    for _ in range(3):
        await limits.admit(ADDRESS)
    with pytest.raises(RateLimited) as refused:
        await limits.admit(ADDRESS)
    assert refused.value.retry_after is not None
    assert 1 <= refused.value.retry_after <= 60


async def test_a_request_refused_for_its_pickup_code_spends_none_of_its_networks_allowance(
    broker: Broker,
) -> None:
    limits = limits_on(broker, network_per_minute=3, locator_per_hour=1)
    hammered = Locator(b"\x01" * 32)
    await limits.admit(ADDRESS, locator=hammered)
    for _ in range(5):
        with pytest.raises(RateLimited) as refused:
            await limits.admit(ADDRESS, locator=hammered)
        assert refused.value.retry_after is not None
        assert refused.value.retry_after > 60  # the code's hour, not the network's minute
    # Only the first request counted against the network: two more fit in its minute.
    await limits.admit(ADDRESS, locator=Locator(b"\x02" * 32))
    await limits.admit(ADDRESS)
    with pytest.raises(RateLimited):
        await limits.admit(ADDRESS)


async def test_a_request_refused_gateway_wide_spends_none_of_its_networks_allowance(
    broker: Broker,
) -> None:
    limits = limits_on(broker, network_per_minute=2, anonymous_per_minute=1)
    await limits.admit("192.0.2.1")
    with pytest.raises(RateLimited):
        await limits.admit(ADDRESS)
    # The gateway-wide refusal counted nowhere: this network's whole allowance is left.
    roomier = limits_on(broker, network_per_minute=2, anonymous_per_minute=10)
    for _ in range(2):
        await roomier.admit(ADDRESS)


async def test_a_refusal_is_logged_by_the_limit_that_refused_never_by_its_key(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    limits = limits_on(broker, locator_per_hour=1)
    locator = Locator(b"\x03" * 32)
    await limits.admit(ADDRESS, locator=locator)
    with (
        caplog.at_level(logging.INFO, logger="gateway.domain.limits"),
        pytest.raises(RateLimited),
    ):
        await limits.admit(ADDRESS, locator=locator)
    [record] = [r for r in caplog.records if r.getMessage() == "rate_limited"]
    assert record.__dict__["limit"] == "locator"
    assert record.__dict__["scope"] == "reporters"
    logged = repr(record.__dict__)
    assert limits.identity(ADDRESS).digest not in logged
    assert "limit:locator:" not in logged
    assert locator.encoded() not in logged


@redis_only
@pytest.mark.redis
async def test_an_admitted_request_costs_one_redis_round_trip_for_all_its_limits(
    counted_redis_broker: tuple[RedisBroker, list[str]],
) -> None:
    broker, sent = counted_redis_broker
    limits = limits_on(broker)
    locator = Locator(b"\x04" * 32)
    await limits.admit(ADDRESS, locator=locator)  # the first call may have to load the script
    sent.clear()
    await limits.admit(ADDRESS, locator=locator)
    await limits.admit(ADDRESS)
    assert sent == ["EVALSHA", "EVALSHA"]
