"""Usernames and display names: one spelling per person, refused when they cannot be one."""

from __future__ import annotations

import pytest

from gateway.domain.accounts import check_display_name, normalise_username
from gateway.domain.errors import InvalidInput


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Alice", "alice"),
        ("  bob.smith ", "bob.smith"),
        ("\uff21\uff2c\uff29\uff23\uff25", "alice"),
        ("a1", "a1"),
    ],
)
def test_usernames_are_normalised_to_one_spelling(typed: str, expected: str) -> None:
    assert normalise_username(typed) == expected


@pytest.mark.parametrize(
    "typed", ["a", "-alice", "ali ce", "alice@example", "\u0430lice", "x" * 33, ""]
)
def test_usernames_outside_the_rule_are_refused(typed: str) -> None:
    with pytest.raises(InvalidInput):
        normalise_username(typed)


def test_display_names_are_trimmed_and_must_be_printable() -> None:
    assert check_display_name("  Alice de Vries ") == "Alice de Vries"
    for bad in ("", "   ", "bell\u0007", "x" * 129):
        with pytest.raises(InvalidInput):
            check_display_name(bad)
