"""The server's TOTP check: sealed secrets, constant work without an account, single use."""

from __future__ import annotations

import time
import uuid

from gateway.broker import Broker
from gateway.crypto import totp
from gateway.domain.clock import SystemClock
from gateway.domain.second_factor import SecondFactor

PEPPER = bytes(range(32))


def factor(broker: Broker) -> SecondFactor:
    return SecondFactor(broker, pepper=PEPPER, clock=SystemClock())


async def test_a_sealed_secret_checks_codes_for_its_own_account_only(broker: Broker) -> None:
    checker = factor(broker)
    owner, other = uuid.uuid4(), uuid.uuid4()
    secret = totp.new_secret()
    sealed = checker.seal(owner, secret)
    code = totp.code_at(secret, time.time())

    assert secret not in sealed
    assert checker.matching_step(owner, sealed, code) == totp.step_at(time.time())
    assert checker.matching_step(other, sealed, code) is None  # a row copied to another account


async def test_without_an_account_nothing_matches(broker: Broker) -> None:
    assert factor(broker).matching_step(None, None, "123456") is None


async def test_a_step_is_spent_once_per_account(broker: Broker) -> None:
    checker = factor(broker)
    owner = uuid.uuid4()
    assert await checker.spend(owner, 42) is True
    assert await checker.spend(owner, 42) is False
    assert await checker.spend(owner, 43) is True
    assert await checker.spend(uuid.uuid4(), 42) is True
