"""Fuzzing every parser that takes untrusted bytes: random bytes, bytes mutated from a valid
input, and valid JSON with one part replaced. Whatever arrives, the only thing that may
escape is the protocol's own refusal (`CryptoError`, or a `GatewayError` from the domain's
request parsers) — never a KeyError, a TypeError, a RecursionError or a crash in libsodium.

Bounded for the default suite (a few hundred examples per parser); `make fuzz` runs the
same targets under atheris for as long as one likes.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.crypto.encoding import JsonValue, b64decode, b64encode
from gateway.crypto.errors import CryptoError
from tests.security.parser_targets import REFUSALS, TARGETS, Target

EXAMPLES = int(os.environ.get("TIPLINE_FUZZ_EXAMPLES", "200"))

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=True)
    | st.text(max_size=24),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def byte_mutations(draw: st.DrawFn, seed: bytes) -> bytes:
    """The seed with a few bits flipped, bytes inserted, deleted or replaced, or cut short."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        if not data:
            data = bytearray(draw(st.binary(min_size=1, max_size=16)))
            continue
        at = draw(st.integers(min_value=0, max_value=len(data) - 1))
        operation = draw(st.sampled_from(("flip", "cut", "insert", "delete", "replace")))
        if operation == "flip":
            data[at] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif operation == "cut":
            del data[at:]
        elif operation == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=24))
        elif operation == "delete":
            del data[at : at + draw(st.integers(min_value=1, max_value=24))]
        else:
            data[at] = draw(st.integers(min_value=0, max_value=255))
    return bytes(data)


def _places(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) inside a JSON value."""
    found: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((value, key))
            found.extend(_places(item))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((value, index))
            found.extend(_places(item))
    return found


@st.composite
def json_mutations(draw: st.DrawFn, seed: JsonValue) -> bytes:
    """The seed's JSON with one place replaced, removed, added to, or — for base64url text —
    its decoded bytes mutated and re-encoded, which reaches the parsers nested inside."""
    value = copy.deepcopy(seed)
    places = _places(value)
    container, key = draw(st.sampled_from(places))
    operation = draw(st.sampled_from(("replace", "remove", "add", "rebytes", "rebytes")))
    current = container[key]
    if operation == "rebytes" and isinstance(current, str):
        try:
            inner = b64decode(current, what="seed")
        except CryptoError:
            inner = current.encode()
        container[key] = b64encode(draw(byte_mutations(inner)))
    elif operation == "remove":
        if isinstance(container, dict):
            del container[key]
        else:
            container.pop(key)
    elif operation == "add" and isinstance(container, dict):
        container[draw(st.text(max_size=10))] = draw(json_values)
    else:
        container[key] = draw(json_values)
    return json.dumps(value, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")


def inputs(target: Target) -> st.SearchStrategy[bytes]:
    choices = [st.binary(max_size=512), byte_mutations(target.seed)]
    if target.seed_json is not None:
        choices += [json_mutations(target.seed_json)] * 2
    return st.one_of(choices)


def refuses_only_with_protocol_errors(parse: Callable[[bytes], object], data: bytes) -> None:
    with contextlib.suppress(REFUSALS):
        parse(data)


def test_every_seed_is_accepted_as_it_is() -> None:
    """The mutations start from inputs each parser accepts: the fuzzing reaches deep."""
    for target in TARGETS.values():
        target.parse(target.seed)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_a_parser_refuses_hostile_input_only_with_its_own_error(name: str) -> None:
    target = TARGETS[name]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(data=inputs(target))
    def fuzz(data: bytes) -> None:
        refuses_only_with_protocol_errors(target.parse, data)

    fuzz()
