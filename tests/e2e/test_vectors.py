"""The browser implementation (libsodium.js) passes every vector of protocol-v1.json."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.browser import PageOpener, vectors

# How each key of the vector file is checked in the browser: "items" lists give one result per
# item (section.key[i]), "whole" values one result (section.key). "note" keys only describe.
COVERAGE: dict[str, dict[str, str]] = {
    "encoding": dict.fromkeys(
        ["base64url", "base64url_refused", "canonical_json", "json_refused"], "items"
    ),
    "hashing": dict.fromkeys(["key_id", "fingerprint", "length_prefixed"], "items"),
    "pickup": {
        **dict.fromkeys(
            ["secret_digits", "code_digits", "group_size", "kdf", "digit_zeros", "separators"],
            "whole",
        ),
        **dict.fromkeys(
            ["generation", "damm", "normalisation", "refused", "derivation", "locator_lookup"],
            "items",
        ),
    },
    "padding": {
        **dict.fromkeys(["length_prefix_bytes", "envelope_buckets", "padded_example"], "whole"),
        **dict.fromkeys(["envelope_bucket_of_plaintext_length", "padme"], "items"),
    },
    "aead": {"xchacha20poly1305_ietf": "items"},
    "signatures": {"label": "whole", "envelope_signature": "items", "key_commitment": "items"},
    "envelopes": {"message_keys_and_nonces_from": "whole", "cases": "items", "refused": "items"},
    "directory": {
        **dict.fromkeys(
            [
                "genesis_prev",
                "org_seed",
                "org_pk",
                "org_fingerprint",
                "directory",
                "entries",
                "entry_hashes",
                "head",
            ],
            "whole",
        ),
        **dict.fromkeys(["vetted", "refused"], "items"),
    },
    "keybundle": {"login": "items", "bundles": "items", "server": "whole"},
    "stream": {
        **dict.fromkeys(
            ["chunk_bytes", "header_bytes", "record_overhead_bytes", "content_pattern", "key"],
            "whole",
        ),
        **dict.fromkeys(["lengths", "cases", "refused"], "items"),
    },
    "pow": {
        **dict.fromkeys(
            ["key", "now", "challenge", "challenge_json", "solution", "work_hash"], "whole"
        ),
        "refused": "items",
    },
}
TOP_LEVEL_NOTES = {"generated_by", "notes"}


def expected_ids(file: dict[str, Any]) -> list[str]:
    ids = ["protocol"]
    for section, keys in COVERAGE.items():
        for key, how in keys.items():
            if how == "items":
                ids.extend(f"{section}.{key}[{i}]" for i in range(len(file[section][key])))
            else:
                ids.append(f"{section}.{key}")
    return ids


def test_every_key_of_the_vector_file_has_a_browser_check() -> None:
    file = vectors()
    assert set(file) == {"protocol", *TOP_LEVEL_NOTES, *COVERAGE}
    for section, keys in COVERAGE.items():
        assert set(file[section]) == set(keys), (
            f"vector section {section} changed: add browser checks"
        )


@pytest.mark.asyncio(loop_scope="session")
async def test_the_browser_passes_every_vector(open_gateway_page: PageOpener) -> None:
    watched = await open_gateway_page("/e2e/vectors.html", wait_for="window.vectorsDone")
    results: list[dict[str, Any]] = await watched.evaluate("window.vectorResults")
    failures = [f"{r['id']}: {r['detail']}" for r in results if not r["ok"]]
    assert failures == []
    assert sorted(r["id"] for r in results) == sorted(expected_ids(vectors()))
    assert watched.errors == []
    assert watched.csp_violations == []
