"""Python and the browser accept and refuse exactly the same input: strict JSON, base64url and
typed pickup codes, over tricky hand-picked cases and many generated ones.

Two parsers that read one input two ways are how signed data gets smuggled; these inputs go
through both implementations and the outcomes must be identical.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from gateway.crypto import pickup
from gateway.crypto.encoding import b64decode, canonical_json, parse_json
from gateway.crypto.errors import BadPickupCode, CryptoError
from tests.e2e.browser import WatchedPage

pytestmark = pytest.mark.asyncio(loop_scope="session")

JSON_CASES = [
    "{}", "[]", "0", "-0", "1", "-1", '""', "true", "false", "null", " \t\n\r[1] \n",
    "9007199254740991", "-9007199254740991", "9007199254740992", "1234567890123456",
    "12345678901234567", "00", "01", "-", "1.", "1.0", "1e3", "1E3", "-1e-3", "NaN", "-Infinity",
    '{"a":1,"a":1}', '{"a":1,"b":{"a":2}}', '{"__proto__":1}', '{"constructor":{"x":[]}}',
    '{"":0}', '{"é":1}', '{"\\u00e9":1}', '["\\u00e9","\\ud83d\\ude00","\\/"]', '"\\ud800"',
    '"\\udc00\\ud800"', '"\\ud83d"', '"\\x41"', '"\\u00G1"', '"tab\there"', '"\\t"', '"\x7f"',
    '"\u2028"', "[1,]", "[,1]", '{"a":1,}', "{,}", "[1 2]", '{"a" 1}', "[]]", "", " ", "\ufeff{}",
    '{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}',
    '{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}',
    "[" * 32 + "]" * 32, "[" * 33 + "]" * 33, "[" * 34 + "]" * 34, "tru", "nul", "True",
]  # fmt: skip


def python_json(text: str) -> str:
    try:
        return canonical_json(
            parse_json(text.encode("utf-8", "surrogatepass"), max_bytes=4096, what="x")
        ).decode()
    except CryptoError as refusal:
        return refusal.code


def python_b64(text: str) -> str:
    try:
        return b64decode(text, what="x", max_length=64).hex()
    except CryptoError as refusal:
        return refusal.code


def python_code(text: str) -> str:
    try:
        return pickup.PickupCode.parse(text).normalised
    except BadPickupCode as refusal:
        return refusal.reason


def generated_codes(rng: random.Random, count: int) -> list[str]:
    zeros = list(pickup.DIGIT_ZEROS)
    separators = sorted(pickup.SEPARATORS)
    others = [
        "O",
        "l",
        "a",
        "\u0665\u0301",
        "\x1c",
        "\u3000",
        "\ufeff",
        "\U0001d7ce",
        "\u066b",
        "\u2028",
    ]
    valid = [pickup.PickupCode.generate().normalised for _ in range(count)]
    cases = []
    for code in valid:
        chars = [chr(rng.choice(zeros) + int(d)) if rng.random() < 0.3 else d for d in code]
        out = []
        for i, ch in enumerate(chars):
            if i and rng.random() < 0.2:
                out.append(rng.choice(separators))
            out.append(ch)
        roll = rng.random()
        if roll < 0.15:
            out.insert(rng.randrange(len(out)), rng.choice(others))
        elif roll < 0.3:
            del out[rng.randrange(len(out))]
        elif roll < 0.45:
            i = rng.randrange(len(out) - 1)
            out[i], out[i + 1] = out[i + 1], out[i]
        elif roll < 0.5:
            out = [rng.choice(separators + others) for _ in range(rng.randrange(4))]
        cases.append("".join(out))
    return [*cases, "", " ", "\x1c", "\x85", "-", "0" * 201, "1" * 28, valid[0] * 2]


def generated_b64(rng: random.Random, count: int) -> list[str]:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= é"
    return [
        "".join(
            rng.choice(alphabet[:64] if rng.random() < 0.7 else alphabet)
            for _ in range(rng.randrange(0, 90))
        )
        for _ in range(count)
    ]


async def browser_outcomes(harness: WatchedPage, inputs: dict[str, list[str]]) -> dict[str, Any]:
    return await harness.evaluate(  # type: ignore[no-any-return]
        """(inputs) => {
            const { encoding, pickup } = window.protocol;
            const outcome = (fn) => {
                try { return fn(); } catch (e) { return e.reason ?? e.code ?? String(e); }
            };
            const json = (t) => encoding.utf8Decode(encoding.canonicalJson(
                encoding.parseJson(encoding.utf8Encode(t), { maxBytes: 4096, what: "x" })));
            const b64 = (t) => encoding.toHex(encoding.b64decode(t, { what: "x", maxLength: 64 }));
            const code = (t) => pickup.PickupCode.parse(t).normalised;
            return {
                json: inputs.json.map((t) => outcome(() => json(t))),
                b64: inputs.b64.map((t) => outcome(() => b64(t))),
                codes: inputs.codes.map((t) => outcome(() => code(t))),
            };
        }""",
        inputs,
    )


async def test_strict_json_base64url_and_pickup_codes_are_read_alike(harness: WatchedPage) -> None:
    rng = random.Random(20261128)
    inputs = {
        "json": [case for case in JSON_CASES if "\ud800" not in case],
        "b64": [
            "",
            "A",
            "AA",
            "AB",
            "AAA",
            "AAB",
            "AA==",
            "-_-_",
            "+/+/",
            "A" * 86,
            "A" * 87,
            *generated_b64(rng, 300),
        ],
        "codes": generated_codes(rng, 400),
    }
    seen = await browser_outcomes(harness, inputs)
    for kind, parse in (("json", python_json), ("b64", python_b64), ("codes", python_code)):
        expected = [parse(text) for text in inputs[kind]]
        mismatches = [
            (text, p, b)
            for text, p, b in zip(inputs[kind], expected, seen[kind], strict=True)
            if p != b
        ]
        assert mismatches == [], kind
    # The generated codes exercise every outcome, not just the happy path.
    reasons = {python_code(text) for text in inputs["codes"]}
    assert {"empty", "not_a_digit", "too_short", "too_long", "typo"} <= reasons
