"""Hostile requests: bodies past each endpoint's own limit, malformed bodies, compression and
upload bombs, oversized headers, replayed proofs of work. Each gets a clear 4xx, nothing is
stored, and memory stays flat while the gateway refuses."""

from __future__ import annotations

import asyncio
import gzip
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Final

import pytest

from gateway.web.admin import MAX_ADMIN_BODY_BYTES
from gateway.web.auth import MAX_AUTH_BODY_BYTES
from gateway.web.duty import MAX_DUTY_BODY_BYTES
from gateway.web.export import MAX_EXPORT_BODY_BYTES
from gateway.web.health import OPENAPI_DOCUMENT
from gateway.web.investigator import MAX_MESSAGE_BODY_BYTES, MAX_PATCH_BODY_BYTES
from tests.api.investigator_support import bearer, log_in, open_case_for, vetted_person
from tests.api.reporter_support import AnonymousReporter, proof_header, solved_proof
from tests.fixtures.database import postgres_only
from tests.fixtures.organisation import Organisation
from tests.security.support import (
    Gateway,
    GatewayFactory,
    database_snapshot,
    embedded_only,
    raw_request,
    request_head,
)

# The smallest max_body_bytes the settings allow: keeps the oversized bodies small.
REPORTER_BODY_LIMIT: Final = 4096
# Every endpoint that reads a JSON body, and the most it reads. A new endpoint fails
# `test_every_json_endpoint_is_listed_with_its_limit` until it is added here.
JSON_BODY_LIMITS: Final = {
    ("POST", "/api/v1/cases"): REPORTER_BODY_LIMIT,
    ("POST", "/api/v1/reporter/messages"): REPORTER_BODY_LIMIT,
    ("POST", "/api/v1/reporter/consent"): REPORTER_BODY_LIMIT,
    ("POST", "/api/v1/enroll"): MAX_AUTH_BODY_BYTES,
    ("POST", "/api/v1/auth/prelogin"): MAX_AUTH_BODY_BYTES,
    ("POST", "/api/v1/auth/login"): MAX_AUTH_BODY_BYTES,
    ("POST", "/api/v1/admin/invites"): MAX_ADMIN_BODY_BYTES,
    ("POST", "/api/v1/admin/directory"): MAX_ADMIN_BODY_BYTES,
    ("POST", "/api/v1/cases/{case_id}/messages"): MAX_MESSAGE_BODY_BYTES,
    ("PATCH", "/api/v1/cases/{case_id}"): MAX_PATCH_BODY_BYTES,
    ("PUT", "/api/v1/me/duty"): MAX_DUTY_BODY_BYTES,
    ("POST", "/api/v1/cases/{case_id}/export"): MAX_EXPORT_BODY_BYTES,
}


@dataclass
class Target:
    """A gateway with a vetted, logged-in investigator (and admin) on one case, to aim at."""

    gateway: Gateway
    headers: dict[str, str]
    case_id: str

    def path(self, template: str) -> str:
        return template.replace("{case_id}", self.case_id)


@pytest.fixture
async def target(make_gateway: GatewayFactory, organisation: Organisation) -> Target:
    gateway = await make_gateway(max_body_bytes=str(REPORTER_BODY_LIMIT))
    # An admin too, so that admin endpoints get as far as reading the body.
    person = await vetted_person(gateway.hotline, organisation, "triage", "admin")
    case = await open_case_for(gateway.hotline, person)
    # A bearer session for investigator endpoints, a locator for reporter ones; each
    # endpoint ignores the credential it does not use.
    headers = {**bearer(await log_in(gateway.client, person))}
    return Target(gateway=gateway, headers=headers, case_id=case.id_text)


def json_endpoints(gateway: Gateway) -> Iterator[tuple[str, str]]:
    for path, operations in gateway.app[OPENAPI_DOCUMENT]["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                yield method.upper(), path


# The JSON endpoints a reporter pays for with a proof of work, and what it is for: the proof
# (X-Tipline-Proof) is spent before the body is read, so without one no body is looked at.
PAYING: Final = {
    ("POST", "/api/v1/cases"): "submit",
    ("POST", "/api/v1/reporter/messages"): "reply",
    ("POST", "/api/v1/reporter/consent"): "reply",
}


async def credentials(target: Target, method: str, path: str) -> dict[str, str]:
    """What gets a request as far as reading its body: a fresh proof where one is paid."""
    if path.startswith("/api/v1/reporter/"):
        headers = AnonymousReporter().authorization
    else:
        headers = dict(target.headers)
    purpose = PAYING.get((method, path))
    if purpose is not None:
        headers.update(proof_header(await solved_proof(target.gateway.client, purpose)))
    return headers


@embedded_only
async def test_every_json_endpoint_is_listed_with_its_limit(target: Target) -> None:
    assert set(json_endpoints(target.gateway)) == set(JSON_BODY_LIMITS)


async def endless_json(limit: int) -> AsyncIterator[bytes]:
    """A JSON-looking body one byte past `limit`, without a Content-Length (chunked)."""
    yield b'{"v": 1, "padding": "'
    yield b"x" * limit
    yield b'"}'


@embedded_only
@pytest.mark.parametrize(("method", "template"), sorted(JSON_BODY_LIMITS))
async def test_a_json_body_past_the_endpoints_own_limit_is_refused_as_it_streams(
    target: Target, method: str, template: str
) -> None:
    gateway = target.gateway
    before = await database_snapshot(gateway.hotline.database)
    response = await gateway.client.request(
        method,
        target.path(template),
        data=endless_json(JSON_BODY_LIMITS[method, template]),
        headers={
            "Content-Type": "application/json",
            **await credentials(target, method, template),
        },
    )
    assert response.status == 413, await response.text()
    assert (await response.json())["error"]["code"] == "payload_too_large"
    assert await database_snapshot(gateway.hotline.database) == before


MALFORMED: Final = {
    "not JSON": b"{this is not json",
    "not UTF-8": b'{"v": 1, "x": "\xff\xfe"}',
    "a duplicate key": b'{"v": 1, "v": 2}',
    "a float": b'{"v": 1.0}',
    "a huge integer": b'{"v": 123456789012345678901234567890}',
    "a lone surrogate": b'{"v": "\\ud800"}',
    "nesting 40 deep": b'{"v": ' + b"[" * 40 + b"]" * 40 + b"}",
    "an array, not an object": b"[1, 2, 3]",
    "a byte-order mark": b'\xef\xbb\xbf{"v": 1}',
    "nothing at all": b"",
}


@embedded_only
@pytest.mark.parametrize("problem", sorted(MALFORMED))
async def test_a_malformed_body_gets_a_clear_400_from_every_json_endpoint_and_changes_nothing(
    target: Target, problem: str
) -> None:
    gateway = target.gateway
    before = await database_snapshot(gateway.hotline.database)
    answers = {}
    for method, template in sorted(JSON_BODY_LIMITS):
        response = await gateway.client.request(
            method,
            target.path(template),
            data=MALFORMED[problem],
            headers={
                "Content-Type": "application/json",
                **await credentials(target, method, template),
            },
        )
        error = (await response.json())["error"]
        answers[template] = (response.status, error["code"])
    assert {answer[0] for answer in answers.values()} == {400}, answers
    assert await database_snapshot(gateway.hotline.database) == before


@embedded_only
async def test_a_body_of_another_content_type_is_refused_by_every_json_endpoint(
    target: Target,
) -> None:
    gateway = target.gateway
    for method, template in sorted(JSON_BODY_LIMITS):
        response = await gateway.client.request(
            method,
            target.path(template),
            data=b'{"v": 1}',
            headers={"Content-Type": "text/plain", **await credentials(target, method, template)},
        )
        assert response.status == 400, (template, await response.text())


def peak_memory_while(run: Any) -> Any:
    """Run a coroutine with tracemalloc on; its result and the peak traced bytes."""

    async def measured() -> tuple[Any, int]:
        tracemalloc.start()
        try:
            result = await run
            return result, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    return measured()


@embedded_only
async def test_a_compression_bomb_is_refused_unread_and_memory_stays_flat(
    make_gateway: GatewayFactory,
) -> None:
    """64 MiB of zeros, gzipped to 64 KiB: the gateway never inflates a request body."""
    gateway = await make_gateway()
    bomb = gzip.compress(b"\0" * (64 * 2**20), compresslevel=9)
    assert len(bomb) < 2**17
    before = await database_snapshot(gateway.hotline.database)
    proof = proof_header(await solved_proof(gateway.client, "submit"))
    for path, content_type in (
        ("/api/v1/cases", "application/json"),
        ("/api/v1/reporter/attachments", "application/octet-stream"),
    ):
        response, peak = await peak_memory_while(
            gateway.client.post(
                path,
                data=bomb,
                headers={"Content-Type": content_type, "Content-Encoding": "gzip", **proof},
            )
        )
        assert response.status == 415, await response.text()
        assert (await response.json())["error"]["code"] == "unsupported_media_type"
        assert peak < 8 * 2**20, f"{peak / 2**20:.1f} MiB traced while refusing"
    assert await database_snapshot(gateway.hotline.database) == before
    assert not any(path.is_file() for path in gateway.settings.blob_dir.rglob("*"))


@embedded_only
async def test_an_upload_far_past_the_limit_is_refused_with_memory_flat_and_nothing_kept(
    make_gateway: GatewayFactory,
) -> None:
    gateway = await make_gateway(max_attachment_bytes=str(2**20))
    before = await database_snapshot(gateway.hotline.database)
    piece = bytes(2**16)

    async def flood() -> AsyncIterator[bytes]:
        for _ in range(48 * 16):  # 48 MiB, the same 64 KiB object over and over
            yield piece

    proof = proof_header(await solved_proof(gateway.client, "submit"))
    response, peak = await peak_memory_while(
        gateway.client.post(
            "/api/v1/reporter/attachments",
            data=flood(),
            headers={"Content-Type": "application/octet-stream", **proof},
        )
    )
    assert response.status == 413
    assert peak < 8 * 2**20, f"{peak / 2**20:.1f} MiB traced while refusing"
    assert await database_snapshot(gateway.hotline.database) == before
    assert not any(path.is_file() for path in gateway.settings.blob_dir.rglob("*"))


@embedded_only
@pytest.mark.parametrize(
    "head",
    [
        request_head("GET", "/healthz", {"X-Big": "a" * 100_000}),
        request_head("GET", "/healthz", {f"X-Many-{n}": "1" for n in range(300)}),
        request_head("GET", "/api/v1/reporter/case?" + "a" * 20_000, {}),
        b"\x00\x01\x02 nonsense\r\n\r\n",
        request_head("GET", "/healthz", {"Content-Length": "-1"}),
        request_head(
            "POST", "/api/v1/cases", {"Content-Length": "5", "Transfer-Encoding": "chunked"}
        ),
    ],
    ids=["a 100 KB header", "300 headers", "a 20 KB URL", "garbage", "a negative length",
         "length and chunked at once"],
)  # fmt: skip
async def test_oversized_headers_and_broken_framing_get_400_and_reach_no_handler(
    make_gateway: GatewayFactory, head: bytes
) -> None:
    gateway = await make_gateway()
    before = await database_snapshot(gateway.hotline.database)
    answer = await raw_request(gateway.host, gateway.port, head, wait=10)
    assert answer.status == 400
    assert await database_snapshot(gateway.hotline.database) == before


async def test_a_proof_of_work_replayed_at_once_buys_exactly_one_request(
    make_gateway: GatewayFactory,
) -> None:
    gateway = await make_gateway()
    headers = {
        **AnonymousReporter().authorization,
        **proof_header(await solved_proof(gateway.client, "lookup")),
    }
    responses = await asyncio.gather(
        *(gateway.client.get("/api/v1/reporter/case", headers=headers) for _ in range(10))
    )
    statuses = sorted(response.status for response in responses)
    assert statuses == [403] * 9 + [404]


@postgres_only
async def test_a_spent_proof_of_work_is_refused_by_every_gateway_process(
    make_gateway: GatewayFactory,
) -> None:
    one, two = await make_gateway(), await make_gateway()
    headers = {
        **AnonymousReporter().authorization,
        **proof_header(await solved_proof(one.client, "lookup")),
    }
    assert (await one.client.get("/api/v1/reporter/case", headers=headers)).status == 404
    replayed = await two.client.get("/api/v1/reporter/case", headers=headers)
    assert replayed.status == 403
    assert (await replayed.json())["error"]["code"] == "bad_proof_of_work"
