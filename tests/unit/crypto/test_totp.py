"""TOTP as RFC 6238 defines it, and the acceptance window the login uses."""

from __future__ import annotations

import pytest

from gateway.crypto.errors import Malformed
from gateway.crypto.totp import (
    code_at,
    code_for_step,
    matching_step,
    new_secret,
    normalise_code,
    parse_secret_text,
    secret_text,
    step_at,
)

# RFC 6238 appendix B, HMAC-SHA1 rows: the ASCII seed "12345678901234567890", 8 digits.
RFC_SECRET = b"12345678901234567890"
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize(("unix_time", "expected"), RFC_VECTORS)
def test_codes_match_the_rfc_6238_test_vectors(unix_time: int, expected: str) -> None:
    assert code_for_step(RFC_SECRET, step_at(unix_time), digits=8) == expected


@pytest.mark.parametrize(("unix_time", "expected"), RFC_VECTORS)
def test_six_digit_codes_are_the_last_six_digits_of_the_vectors(
    unix_time: int, expected: str
) -> None:
    assert code_at(RFC_SECRET, unix_time) == expected[-6:]


def test_a_code_is_accepted_one_step_either_side_and_names_its_step() -> None:
    now = 1_800_000_015.0
    current = step_at(now)
    for step in (current - 1, current, current + 1):
        assert matching_step(RFC_SECRET, code_for_step(RFC_SECRET, step), now) == step


def test_a_code_two_steps_away_is_refused() -> None:
    now = 1_800_000_015.0
    current = step_at(now)
    for step in (current - 2, current + 2):
        code = code_for_step(RFC_SECRET, step)
        window = {code_for_step(RFC_SECRET, s) for s in range(current - 1, current + 2)}
        if code not in window:  # a 1-in-10^6 collision would make the refusal untestable
            assert matching_step(RFC_SECRET, code, now) is None


@pytest.mark.parametrize(
    "typed", ["", "12345", "1234567", "abcdef", "12 34 5x", "\uff11\uff12\uff13\uff14\uff15\uff16"]
)
def test_anything_but_six_ascii_digits_matches_nothing(typed: str) -> None:
    assert normalise_code(typed) is None
    assert matching_step(RFC_SECRET, typed, 1_800_000_015.0) is None


def test_apps_that_group_digits_are_understood() -> None:
    now = 1_800_000_015.0
    code = code_at(RFC_SECRET, now)
    assert matching_step(RFC_SECRET, f"{code[:3]} {code[3:]}", now) == step_at(now)


def test_a_secret_round_trips_through_its_base32_text() -> None:
    secret = new_secret()
    assert len(secret) == 20
    text = secret_text(secret)
    assert "=" not in text
    assert parse_secret_text(text.lower()) == secret
    assert parse_secret_text(" ".join(text[i : i + 4] for i in range(0, len(text), 4))) == secret


@pytest.mark.parametrize("text", ["not base32!", "AAAA", secret_text(bytes(65))])
def test_a_malformed_or_weak_secret_is_refused(text: str) -> None:
    with pytest.raises(Malformed):
        parse_secret_text(text)
