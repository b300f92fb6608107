"""Reading request bodies strictly, before anything else looks at them."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from gateway.crypto.encoding import JsonObject, JsonValue, parse_json
from gateway.domain.errors import InvalidInput, PayloadTooLarge
from gateway.web.limits import body_deadline

READ_CHUNK_BYTES: Final = 64 * 1024


async def read_json_object(request: web.Request, *, max_bytes: int, what: str) -> JsonObject:
    """The body as a strict JSON object (no duplicate keys, no floats), within `max_bytes`."""
    if request.content_type != "application/json":
        raise InvalidInput("Send the body as application/json.")
    body = await read_whole_body(request, max_bytes=max_bytes, what=what)
    value: JsonValue = parse_json(body, max_bytes=max_bytes, what=what)
    if not isinstance(value, dict):
        raise InvalidInput(f"The {what} must be a JSON object.")
    return value


async def read_whole_body(request: web.Request, *, max_bytes: int, what: str) -> bytes:
    """The whole body, refused (413) once it passes `max_bytes` and (408) when it does not
    arrive within the body deadline (gateway/web/limits.py)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLarge(f"The {what} is larger than {max_bytes} bytes.")
    # Read to the end: a body on a slow link (Tor) arrives in many segments, and a single
    # read() returns only what has arrived so far. Stop as soon as the limit is passed.
    parts: list[bytes] = []
    size = 0
    async with body_deadline(request):
        while chunk := await request.content.read(READ_CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(f"The {what} is larger than {max_bytes} bytes.")
            parts.append(chunk)
    return b"".join(parts)
