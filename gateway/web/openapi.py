"""Endpoints declared once, both as aiohttp routes and as the OpenAPI document.

Every route module lists its `Endpoint`s; the app factory registers the same list with
the router and with `/api/v1/openapi.json`, so the document cannot drift from the code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

import gateway

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Schema = Mapping[str, Any]

ERROR_SCHEMA: Final[Schema] = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "additionalProperties": False,
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


@dataclass(frozen=True, slots=True)
class Reply:
    """One documented answer of an endpoint."""

    description: str
    schema: Schema | None = None
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    tag: str
    replies: Mapping[int, Reply]
    request_schema: Schema | None = None
    parameters: tuple[Schema, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


# Every endpoint that reads a body can refuse it for how it arrives (gateway/web/limits.py):
# documented once here rather than on each endpoint.
BODY_REPLIES: Final = {
    408: Reply("request_timeout: the body did not arrive in time."),
    413: Reply("payload_too_large: the body is larger than this endpoint accepts."),
    415: Reply("unsupported_media_type: the body carries a Content-Encoding."),
}


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    replies = dict(endpoint.replies)
    if endpoint.request_schema is not None or "requestBody" in endpoint.extra:
        replies = {**BODY_REPLIES, **replies}
    for status, reply in sorted(replies.items()):
        entry: dict[str, Any] = {"description": reply.description}
        schema = reply.schema
        if schema is None and status >= 400:
            schema = {"$ref": "#/components/schemas/Error"}
        if schema is not None:
            entry["content"] = {reply.content_type: {"schema": schema}}
        responses[str(status)] = entry
    operation: dict[str, Any] = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "responses": responses,
    }
    if endpoint.parameters:
        operation["parameters"] = list(endpoint.parameters)
    if endpoint.request_schema is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": endpoint.request_schema}},
        }
    operation.update(endpoint.extra)
    return operation


def build_document(endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tipline Gateway",
            "version": gateway.__version__,
            "description": (
                "End-to-end encrypted, anonymous tip line. The server only ever sees "
                "ciphertext; see docs/PROTOCOL.md for the cryptography."
            ),
        },
        "paths": paths,
        "components": {"schemas": {"Error": ERROR_SCHEMA}},
    }


def register(app: web.Application, endpoints: Iterable[Endpoint]) -> None:
    for endpoint in endpoints:
        app.router.add_route(endpoint.method, endpoint.path, endpoint.handler)
