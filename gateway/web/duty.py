"""Duty: `GET /api/v1/me/duty` and `PUT /api/v1/me/duty` — whether emergencies alert the caller.

An emergency alerts every on-duty investigator with the `triage` role at once; anyone vetted
may mark themselves on or off duty (the flag only matters for the roles emergencies use).
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from gateway.crypto.directory import TRIAGE
from gateway.domain.duty import set_duty
from gateway.domain.errors import InvalidInput
from gateway.web.auth import require_caller
from gateway.web.bodies import read_json_object
from gateway.web.keys import HOTLINE
from gateway.web.openapi import Endpoint, Reply

MAX_DUTY_BODY_BYTES: Final = 256


def _duty_json(on_duty: bool, roles: frozenset[str]) -> dict[str, bool]:
    return {"on_duty": on_duty, "alerted_for_emergencies": on_duty and TRIAGE in roles}


async def get_duty_handler(request: web.Request) -> web.Response:
    caller = await require_caller(request)
    return web.json_response(_duty_json(caller.account.on_duty, caller.roles))


async def put_duty_handler(request: web.Request) -> web.Response:
    caller = await require_caller(request)
    body = await read_json_object(request, max_bytes=MAX_DUTY_BODY_BYTES, what="duty")
    if set(body) != {"on_duty"} or not isinstance(body["on_duty"], bool):
        raise InvalidInput('Send {"on_duty": true} or {"on_duty": false}.')
    on_duty = await set_duty(request.app[HOTLINE], caller, body["on_duty"])
    return web.json_response(_duty_json(on_duty, caller.roles))


_DUTY_SCHEMA: Final = {
    "type": "object",
    "required": ["on_duty", "alerted_for_emergencies"],
    "properties": {
        "on_duty": {"type": "boolean"},
        "alerted_for_emergencies": {"type": "boolean"},
    },
}
_NO_SESSION: Final = Reply("No live session of a vetted investigator.")

ENDPOINTS: Final = (
    Endpoint(
        "GET",
        "/api/v1/me/duty",
        get_duty_handler,
        "getDuty",
        "Whether the caller is on duty (and so alerted for emergencies, with the triage role)",
        "investigators",
        {200: Reply("The caller's duty.", _DUTY_SCHEMA), 401: _NO_SESSION},
    ),
    Endpoint(
        "PUT",
        "/api/v1/me/duty",
        put_duty_handler,
        "putDuty",
        "Go on or off duty",
        "investigators",
        {
            200: Reply("The caller's duty from now on.", _DUTY_SCHEMA),
            400: Reply("Not exactly {on_duty: boolean}."),
            401: _NO_SESSION,
            403: Reply("A cookie-borne request without this gateway's Origin."),
        },
        request_schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["on_duty"],
            "properties": {"on_duty": {"type": "boolean"}},
        },
    ),
)
