"""Slow clients on a real socket: a connection that never finishes its headers is closed, a
JSON body that does not arrive in time gets 408, an upload that stalls or crawls gets 408
and leaves nothing — while a slow but steady honest upload still gets through.

Slowloris on headers is the reverse proxy's job (deploy/nginx: client_header_timeout);
these tests pin what the gateway itself does when reached directly.
"""

from __future__ import annotations

import os
import time

from gateway.crypto.stream import encrypt_stream
from tests.api.reporter_support import proof_header, solved_proof
from tests.security.support import (
    Gateway,
    GatewayFactory,
    chunk,
    database_snapshot,
    embedded_only,
    raw_request,
    request_head,
)

pytestmark = embedded_only


def blob_files(gateway: Gateway) -> list[str]:
    return [str(path) for path in gateway.settings.blob_dir.rglob("*") if path.is_file()]


async def upload_head(gateway: Gateway) -> bytes:
    """The head of a chunked attachment upload with a fresh proof of work."""
    proof = proof_header(await solved_proof(gateway.client, "submit"))
    return request_head(
        "POST",
        "/api/v1/reporter/attachments",
        {"Content-Type": "application/octet-stream", "Transfer-Encoding": "chunked", **proof},
    )


async def test_a_connection_that_never_finishes_its_headers_is_closed_without_an_answer(
    make_gateway: GatewayFactory,
) -> None:
    gateway = await make_gateway(idle_connection_seconds="1")
    started = time.monotonic()
    answer = await raw_request(
        gateway.host,
        gateway.port,
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a",
        wait=10,
    )
    assert answer.status == 0  # closed, nothing answered
    assert 0.5 <= time.monotonic() - started <= 5
    # A complete request on a fresh connection is answered as usual.
    healthy = await raw_request(
        gateway.host, gateway.port, request_head("GET", "/healthz", {"Connection": "close"})
    )
    assert healthy.status == 200


async def test_a_json_body_that_does_not_arrive_in_time_gets_408_and_changes_nothing(
    make_gateway: GatewayFactory,
) -> None:
    gateway = await make_gateway(body_read_seconds="1")
    before = await database_snapshot(gateway.hotline.database)
    # A fresh proof of work: the gateway reads no body before the proof is spent.
    proof = proof_header(await solved_proof(gateway.client, "submit"))
    head = request_head(
        "POST",
        "/api/v1/cases",
        {"Content-Type": "application/json", "Content-Length": "5000", **proof},
    )
    started = time.monotonic()

    answer = await raw_request(
        gateway.host, gateway.port, head, (b'{"v": 1, "locator": "',), wait=10
    )

    assert answer.status == 408
    assert answer.json()["error"]["code"] == "request_timeout"
    assert time.monotonic() - started <= 5
    assert await database_snapshot(gateway.hotline.database) == before


async def test_an_upload_that_stalls_is_refused_and_leaves_nothing(
    make_gateway: GatewayFactory,
) -> None:
    gateway = await make_gateway(upload_idle_seconds="1")
    head = await upload_head(gateway)
    before = await database_snapshot(gateway.hotline.database)

    # One piece, then silence: the connection stays open but nothing more comes.
    answer = await raw_request(gateway.host, gateway.port, head, (chunk(os.urandom(65_536)),))

    assert answer.status == 408
    assert answer.json()["error"]["code"] == "request_timeout"
    assert await database_snapshot(gateway.hotline.database) == before
    assert blob_files(gateway) == []


async def test_an_upload_that_crawls_below_the_minimum_rate_is_refused_and_leaves_nothing(
    make_gateway: GatewayFactory,
) -> None:
    """A byte trickle just fast enough never to stall: the average rate ends it."""
    gateway = await make_gateway(upload_idle_seconds="1", upload_min_bytes_per_second="100000")
    head = await upload_head(gateway)
    before = await database_snapshot(gateway.hotline.database)

    answer = await raw_request(
        gateway.host, gateway.port, head, tuple(chunk(b"x" * 1000) for _ in range(6)), pause=0.3
    )

    assert answer.status == 408
    assert b"bytes per second" in answer.body
    assert await database_snapshot(gateway.hotline.database) == before
    assert blob_files(gateway) == []


async def test_a_slow_but_steady_upload_is_accepted(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway(upload_idle_seconds="1", upload_min_bytes_per_second="1000")
    content = os.urandom(20_000)
    ciphertext = b"".join(encrypt_stream(os.urandom(32), [content], len(content)))
    step = len(ciphertext) // 5 + 1
    pieces = tuple(chunk(ciphertext[i : i + step]) for i in range(0, len(ciphertext), step))

    answer = await raw_request(
        gateway.host, gateway.port, await upload_head(gateway), (*pieces, b"0\r\n\r\n"), pause=0.25
    )

    assert answer.status == 201, answer.body
    assert answer.json()["size"] == len(ciphertext)
