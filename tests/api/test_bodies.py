"""JSON bodies are read whole, however slowly they arrive, and refused past their limit."""

from __future__ import annotations

import asyncio

from gateway.web.keys import SETTINGS
from tests.api.reporter_support import PROOF_HEADER, Client, submit_headers


async def send_in_pieces(client: Client, path: str, body: bytes, pieces: int) -> tuple[int, bytes]:
    """A raw HTTP/1.1 request whose body arrives in several writes with pauses between.

    It carries a fresh proof of work for "submit": the gateway reads no body before the
    proof is spent (a request without one is refused before its body is looked at).
    """
    proof = (await submit_headers(client))[PROOF_HEADER]
    reader, writer = await asyncio.open_connection(client.host, client.port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {client.host}\r\nContent-Type: application/json\r\n"
        f"{PROOF_HEADER}: {proof}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    writer.write(head)
    step = max(1, len(body) // pieces)
    for start in range(0, len(body), step):
        writer.write(body[start : start + step])
        await writer.drain()
        await asyncio.sleep(0.05)
    answer = await reader.read()
    writer.close()
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1]


async def test_a_body_that_arrives_in_pieces_is_read_whole(client: Client) -> None:
    # A well-formed JSON object that is no tip: the answer names the fields it lacks, which
    # proves the body was parsed (a truncated body would be "not valid JSON" instead).
    body = b'{"v": 1, "note": "' + b"A" * 200 + b'"}'
    status, answer = await send_in_pieces(client, "/api/v1/cases", body, pieces=6)
    assert b"not valid JSON" not in answer
    assert b"tip lacks" in answer
    assert status == 400


async def test_a_body_past_the_limit_is_refused_while_it_arrives(client: Client) -> None:
    limit = client.app[SETTINGS].max_body_bytes
    status, answer = await send_in_pieces(client, "/api/v1/cases", b"x" * (limit + 10), pieces=4)
    assert status == 413
    assert b"payload_too_large" in answer
