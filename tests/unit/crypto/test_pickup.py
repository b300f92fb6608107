"""Pickup codes: uniform, typo-checked, forgiving in form, strict in content; what they derive."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.crypto.errors import BadPickupCode, Malformed
from gateway.crypto.hashing import blake2b
from gateway.crypto.kdf import KdfParams
from gateway.crypto.keys import Ed25519KeyPair
from gateway.crypto.pickup import (
    CODE_DIGITS,
    SECRET_DIGITS,
    Locator,
    PickupCode,
    damm_check_digit,
    derive_reporter_keys,
    derive_seed,
    locator_lookup_key,
)

# Cheap Argon2id for tests about something other than the parameters (vectors use the real ones).
CHEAP = KdfParams(opslimit=1, memlimit=8192)

secrets = st.text(alphabet="0123456789", min_size=SECRET_DIGITS, max_size=SECRET_DIGITS)
codes = secrets.map(lambda digits: PickupCode(digits + str(damm_check_digit(digits))))


def test_a_code_carries_at_least_80_bits_of_secret() -> None:
    assert SECRET_DIGITS * math.log2(10) >= 80
    assert CODE_DIGITS == SECRET_DIGITS + 1


def test_a_generated_code_is_shown_as_seven_groups_of_four_digits() -> None:
    shown = PickupCode.generate().display()
    groups = shown.split("-")
    assert [len(group) for group in groups] == [4] * 7
    assert all(group.isdigit() for group in groups)


def test_generation_rejects_bytes_250_and_above_so_every_digit_is_uniform() -> None:
    batches = [bytes([250, 251, 252, 253, 254, 255] * 5 + [3, 14]), bytes(range(100, 132))]
    code = PickupCode.generate(lambda size: batches.pop(0)[:size])
    # 3 and 14 give 3 and 4; then bytes 100..124 give 0..4 repeated.
    assert code.normalised[:SECRET_DIGITS] == "34" + "0123456789" * 2 + "01234"


def test_generated_digits_are_close_to_uniform() -> None:
    # A deterministic stand-in for the CSPRNG keeps this statistical test from ever flaking.
    counter = iter(range(10**9))

    def source(size: int) -> bytes:
        return blake2b(next(counter).to_bytes(8, "big"), size=size)

    counts = Counter("".join(PickupCode.generate(source).normalised[:-1] for _ in range(10_000)))
    expected = 10_000 * SECRET_DIGITS / 10
    # Chi-square with 9 degrees of freedom; 27.9 is the 0.1 % critical value.
    chi_square = sum((counts[str(d)] - expected) ** 2 / expected for d in range(10))
    assert chi_square < 27.9


def test_the_check_digit_is_damms() -> None:
    assert damm_check_digit("572") == 4
    assert damm_check_digit("5724") == 0


@given(codes)
def test_a_code_parses_back_from_how_it_is_shown(code: PickupCode) -> None:
    assert PickupCode.parse(code.display()) == code


@given(codes, st.integers(min_value=0, max_value=CODE_DIGITS - 1), st.integers(1, 9))
def test_every_single_mistyped_digit_is_caught(code: PickupCode, position: int, delta: int) -> None:
    digits = list(code.normalised)
    digits[position] = str((int(digits[position]) + delta) % 10)
    with pytest.raises(BadPickupCode) as refusal:
        PickupCode.parse("".join(digits))
    assert refusal.value.reason == "typo"


@given(codes)
def test_every_swap_of_two_neighbouring_digits_is_caught(code: PickupCode) -> None:
    digits = code.normalised
    for i in range(CODE_DIGITS - 1):
        if digits[i] == digits[i + 1]:
            continue
        swapped = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
        with pytest.raises(BadPickupCode) as refusal:
            PickupCode.parse(swapped)
        assert refusal.value.reason == "typo"


@pytest.mark.parametrize(
    "spelling",
    [
        "{g}",
        "{s}",
        "{g_spaces}",
        "{g_dots}",
        "  {s}  \n",
        "{g_endash}",
        "{fullwidth}",
        "{arabic}",
        "{persian}",
        "{devanagari}",
    ],
)
def test_normalisation_accepts_separators_and_the_digits_of_any_phone_keyboard(
    spelling: str,
) -> None:
    code = PickupCode.generate()
    s, g = code.normalised, code.display()

    def shift(zero: int) -> str:
        return "".join(chr(zero + int(c)) if c.isdigit() else c for c in g)

    text = spelling.format(
        g=g,
        s=s,
        g_spaces=g.replace("-", " "),
        g_dots=g.replace("-", "."),
        g_endash=g.replace("-", "\u2013"),
        fullwidth=shift(0xFF10),
        arabic=shift(0x0660),
        persian=shift(0x06F0),
        devanagari=shift(0x0966),
    )
    assert PickupCode.parse(text) == code


@pytest.mark.parametrize(
    ("mutate", "reason", "message"),
    [
        (lambda g: "", "empty", "enter your pickup code"),
        (lambda g: " - ", "empty", "enter your pickup code"),
        (lambda g: g[:5] + "O" + g[6:], "not_a_digit", "character 6 is not a digit"),
        (lambda g: g.replace("-", "/"), "not_a_digit", "character 5 is not a digit"),
        (lambda g: g[:-1], "too_short", "has 27 digits"),
        (lambda g: g[:-5], "too_short", "has 24 digits"),
        (lambda g: g + "7", "too_long", "has 29 digits"),
        (lambda g: g * 10, "too_long", "too long"),
    ],
    ids=["empty", "separators only", "letter O", "slashes", "one short", "group missing",
         "one extra", "pasted ten times"],
)  # fmt: skip
def test_validation_says_precisely_what_is_wrong(
    mutate: Callable[[str], str], reason: str, message: str
) -> None:
    with pytest.raises(BadPickupCode, match=message) as refusal:
        PickupCode.parse(mutate(PickupCode.generate().display()))
    assert refusal.value.reason == reason
    assert refusal.value.code == "bad_pickup_code"


def test_error_messages_never_repeat_the_code() -> None:
    code = PickupCode.generate().normalised
    for attempt in (code[:-1], code + "1", code[:4] + "x" + code[5:]):
        with pytest.raises(BadPickupCode) as refusal:
            PickupCode.parse(attempt)
        assert code[:8] not in str(refusal.value)


def test_a_code_never_shows_its_digits_in_repr_or_str() -> None:
    code = PickupCode.generate()
    assert code.normalised not in repr(code)
    assert code.normalised not in str(code)
    assert code.normalised[:4] not in f"{code}"


def test_a_code_object_cannot_be_built_from_a_separated_or_invalid_string() -> None:
    code = PickupCode.generate()
    with pytest.raises(BadPickupCode):
        PickupCode(code.display())
    with pytest.raises(BadPickupCode):
        PickupCode(code.normalised[:-1] + str((int(code.normalised[-1]) + 1) % 10))


def test_the_code_derives_locator_and_reporter_key_from_the_two_halves_of_the_seed() -> None:
    code, org = PickupCode.generate(), Ed25519KeyPair.generate()
    seed = derive_seed(code, org.public, kdf=CHEAP)
    keys = derive_reporter_keys(code, org.public, kdf=CHEAP)
    assert keys.locator.value == seed[:32]
    assert keys.enc.secret == seed[32:]
    assert keys.locator.value not in keys.enc.secret


def test_derivation_is_deterministic_and_bound_to_the_organisation_key() -> None:
    code = PickupCode.generate()
    org_a, org_b = Ed25519KeyPair.generate(), Ed25519KeyPair.generate()
    first = derive_reporter_keys(code, org_a.public, kdf=CHEAP)
    assert derive_reporter_keys(code, org_a.public, kdf=CHEAP) == first
    other_org = derive_reporter_keys(code, org_b.public, kdf=CHEAP)
    assert other_org.locator != first.locator
    assert other_org.enc.public != first.enc.public


def test_derivation_is_the_same_however_the_code_was_typed() -> None:
    code, org = PickupCode.generate(), Ed25519KeyPair.generate()
    typed = PickupCode.parse(code.display().replace("-", " "))
    assert derive_seed(typed, org.public, kdf=CHEAP) == derive_seed(code, org.public, kdf=CHEAP)


def test_derivation_refuses_an_organisation_key_of_the_wrong_length() -> None:
    with pytest.raises(Malformed):
        derive_seed(PickupCode.generate(), bytes(31), kdf=CHEAP)


def test_the_server_looks_a_locator_up_by_its_peppered_hash_only() -> None:
    locator = Locator(bytes(range(32)))
    pepper_a, pepper_b = b"a" * 32, b"b" * 32
    lookup = locator_lookup_key(locator, pepper_a)
    assert lookup == blake2b(locator.value, size=32, key=pepper_a)
    assert lookup != locator_lookup_key(locator, pepper_b)
    assert locator.value not in lookup
    with pytest.raises(ValueError, match="32 bytes"):
        locator_lookup_key(locator, b"short")


def test_a_locator_travels_as_base64url_and_hides_itself_from_repr() -> None:
    locator = Locator(bytes(range(32)))
    assert Locator.decode(locator.encoded()) == locator
    assert locator.encoded() not in repr(locator)
    with pytest.raises(Malformed):
        Locator(bytes(31))
    with pytest.raises(Malformed):
        Locator.decode(locator.encoded() + "A")


@settings(max_examples=5)
@given(codes)
def test_different_codes_give_different_locators(code: PickupCode) -> None:
    org = Ed25519KeyPair.from_seed(bytes(32))
    other = PickupCode.generate()
    assert derive_reporter_keys(code, org.public, kdf=CHEAP).locator != (
        derive_reporter_keys(other, org.public, kdf=CHEAP).locator
    )
