"""Endpoints anyone may call: the signed directory and proof-of-work challenges."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from gateway.crypto.pow import PURPOSES
from gateway.domain.errors import InvalidInput
from gateway.web.keys import HOTLINE
from gateway.web.limits import admit_anonymous
from gateway.web.openapi import Endpoint, Reply

DIRECTORY_SCHEMA: Final = {
    "type": "object",
    "required": ["v", "org_pk", "entries", "head"],
    "properties": {
        "v": {"type": "integer"},
        "org_pk": {"type": "string"},
        "head": {"type": "string"},
        "entries": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["entry", "signature"],
                "properties": {"entry": {"type": "string"}, "signature": {"type": "string"}},
            },
        },
    },
}

CHALLENGE_SCHEMA: Final = {
    "type": "object",
    "required": ["challenge", "mac", "difficulty", "expires"],
    "properties": {
        "challenge": {"type": "string"},
        "mac": {"type": "string"},
        "difficulty": {"type": "integer"},
        "expires": {"type": "integer"},
    },
}


async def directory(request: web.Request) -> web.Response:
    current = await request.app[HOTLINE].directory.current()
    return web.json_response(current.to_json())


async def proof_of_work(request: web.Request) -> web.Response:
    purpose = request.query.get("purpose", "")
    if purpose not in PURPOSES:
        raise InvalidInput(f"purpose must be one of: {', '.join(sorted(PURPOSES))}")
    await admit_anonymous(request)
    # Priced by the load: the difficulty rises while many challenges are handed out.
    challenge = await request.app[HOTLINE].proof_of_work.issue(purpose)
    return web.json_response(challenge.to_json())


ENDPOINTS: Final = (
    Endpoint(
        "GET",
        "/api/v1/directory",
        directory,
        "getDirectory",
        "The signed directory of vetted investigators",
        "public",
        {
            200: Reply(
                "The organisation key, the signed entries and the head hash.", DIRECTORY_SCHEMA
            ),
            503: Reply("No organisation key is configured, or the stored chain does not verify."),
        },
    ),
    Endpoint(
        "GET",
        "/api/v1/pow",
        proof_of_work,
        "getProofOfWork",
        "A fresh proof-of-work challenge for one purpose",
        "public",
        {
            200: Reply("A challenge to solve and send back once.", CHALLENGE_SCHEMA),
            400: Reply("Unknown purpose."),
            429: Reply("Too many requests; see Retry-After."),
            503: Reply("The broker is unavailable: challenges could not be spent now."),
        },
        parameters=(
            {
                "name": "purpose",
                "in": "query",
                "required": True,
                "schema": {"type": "string", "enum": sorted(PURPOSES)},
            },
        ),
    ),
)
