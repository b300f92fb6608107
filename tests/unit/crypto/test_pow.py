"""Proof of work: cheap for the server to check, bound to its purpose and time, never forgeable."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.crypto.encoding import b64encode, canonical_json
from gateway.crypto.errors import BadProofOfWork, CryptoError
from gateway.crypto.pow import (
    MAX_DIFFICULTY,
    issue_challenge,
    leading_zero_bits,
    parse_challenge,
    solve,
    verify_solution,
    work_hash,
)

KEY = b"k" * 32
NOW = 1_767_225_600


def solved(difficulty: int = 10, purpose: str = "submit") -> dict[str, Any]:
    challenge = issue_challenge(KEY, purpose=purpose, difficulty=difficulty, now=NOW)
    return solve(parse_challenge(challenge.to_json())).to_json()


def check(solution: Any, **overrides: Any) -> None:
    arguments: dict[str, Any] = {"key": KEY, "purpose": "submit", "now": NOW + 1}
    arguments.update(overrides)
    verify_solution(solution, **arguments)


@pytest.mark.parametrize("difficulty", [0, 1, 8, 12])
def test_a_solved_challenge_verifies_and_names_the_id_to_spend(difficulty: int) -> None:
    solution = solved(difficulty)
    challenge = verify_solution(json.dumps(solution), key=KEY, purpose="submit", now=NOW)
    assert challenge.difficulty == difficulty
    assert challenge.expires == NOW + 300
    assert len(challenge.id) == 16


def test_the_work_hash_of_a_solution_has_the_required_leading_zero_bits() -> None:
    challenge = issue_challenge(KEY, purpose="lookup", difficulty=14, now=NOW)
    solution = solve(challenge)
    assert leading_zero_bits(work_hash(challenge.challenge_bytes, solution.nonce)) >= 14


def test_leading_zero_bits_counts_from_the_most_significant_bit() -> None:
    assert leading_zero_bits(b"\x80" + bytes(31)) == 0
    assert leading_zero_bits(b"\x00\x01" + bytes(30)) == 15
    assert leading_zero_bits(bytes(32)) == 256


def test_every_challenge_has_its_own_id() -> None:
    first = issue_challenge(KEY, purpose="submit", difficulty=1, now=NOW)
    second = issue_challenge(KEY, purpose="submit", difficulty=1, now=NOW)
    assert first.id != second.id


def test_an_expired_challenge_is_refused_from_its_expiry_second() -> None:
    solution = solved()
    check(solution, now=NOW + 299)
    with pytest.raises(BadProofOfWork) as refusal:
        check(solution, now=NOW + 300)
    assert refusal.value.reason == "expired"


def test_a_challenge_for_one_purpose_does_not_pay_for_another() -> None:
    with pytest.raises(BadProofOfWork) as refusal:
        check(solved(purpose="lookup"), purpose="submit")
    assert refusal.value.reason == "wrong_purpose"


def test_a_challenge_from_before_the_difficulty_rose_is_refused() -> None:
    with pytest.raises(BadProofOfWork) as refusal:
        check(solved(difficulty=8), min_difficulty=9)
    assert refusal.value.reason == "too_easy"


def test_a_challenge_made_up_by_the_client_is_refused() -> None:
    forged = canonical_json(
        {
            "v": 1,
            "id": b64encode(bytes(16)),
            "purpose": "submit",
            "difficulty": 0,
            "expires": NOW + 60,
        }
    )
    solution = solved()
    solution["challenge"] = b64encode(forged)
    with pytest.raises(BadProofOfWork) as refusal:
        check(solution)
    assert refusal.value.reason == "forged"


def test_a_challenge_from_another_server_key_is_refused() -> None:
    with pytest.raises(BadProofOfWork) as refusal:
        check(solved(), key=b"x" * 32)
    assert refusal.value.reason == "forged"


def test_a_nonce_that_does_not_meet_the_difficulty_is_refused() -> None:
    challenge = issue_challenge(KEY, purpose="submit", difficulty=16, now=NOW)
    nonce = next(
        n.to_bytes(8, "big")
        for n in range(1000)
        if leading_zero_bits(work_hash(challenge.challenge_bytes, n.to_bytes(8, "big"))) < 16
    )
    solution = dict(solve(challenge).to_json(), nonce=b64encode(nonce))
    with pytest.raises(BadProofOfWork) as refusal:
        check(solution)
    assert refusal.value.reason == "insufficient_work"


@pytest.mark.parametrize(
    "solution",
    [
        "not json",
        {"challenge": "", "mac": ""},
        {"challenge": "AA", "mac": b64encode(bytes(32)), "nonce": b64encode(bytes(7))},
        {"challenge": "AA", "mac": b64encode(bytes(31)), "nonce": b64encode(bytes(8))},
        [],
    ],
    ids=["not json", "no nonce", "short nonce", "short mac", "not an object"],
)
def test_a_malformed_solution_is_refused_as_malformed(solution: Any) -> None:
    with pytest.raises(BadProofOfWork) as refusal:
        check(solution)
    assert refusal.value.reason == "malformed"
    assert refusal.value.code == "bad_proof_of_work"


def test_the_client_reads_difficulty_and_expiry_from_the_challenge_bytes() -> None:
    wire = issue_challenge(KEY, purpose="reply", difficulty=9, now=NOW).to_json()
    challenge = parse_challenge(json.dumps(wire))
    assert (challenge.purpose, challenge.difficulty, challenge.expires) == ("reply", 9, NOW + 300)
    with pytest.raises(CryptoError):
        parse_challenge(dict(wire, difficulty=1))


def test_issuing_refuses_unknown_purposes_and_absurd_difficulties() -> None:
    with pytest.raises(ValueError, match="purpose"):
        issue_challenge(KEY, purpose="spam", difficulty=1, now=NOW)
    with pytest.raises(ValueError, match="difficulty"):
        issue_challenge(KEY, purpose="submit", difficulty=MAX_DIFFICULTY + 1, now=NOW)
    with pytest.raises(ValueError, match="32 bytes"):
        issue_challenge(b"short", purpose="submit", difficulty=1, now=NOW)
