"""Reading request bodies strictly, before anything else looks at them."""

from __future__ import annotations

from aiohttp import web

from gateway.crypto.encoding import JsonObject, JsonValue, parse_json
from gateway.domain.errors import InvalidInput, PayloadTooLarge


async def read_json_object(request: web.Request, *, max_bytes: int, what: str) -> JsonObject:
    """The body as a strict JSON object (no duplicate keys, no floats), within `max_bytes`."""
    if request.content_type != "application/json":
        raise InvalidInput("Send the body as application/json.")
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLarge(f"The {what} is larger than {max_bytes} bytes.")
    body = await request.content.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"The {what} is larger than {max_bytes} bytes.")
    value: JsonValue = parse_json(body, max_bytes=max_bytes, what=what)
    if not isinstance(value, dict):
        raise InvalidInput(f"The {what} must be a JSON object.")
    return value
