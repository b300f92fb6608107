"""`POST /api/v1/cases/{case_id}/ack`: an investigator on the case acknowledges an emergency.

The first acknowledgement stops escalation (and tells the webhook, if one is configured);
acknowledging again answers the same case unchanged, so a retried request is harmless.
"""

from __future__ import annotations

import uuid
from typing import Final
from uuid import UUID

from aiohttp import web

from gateway.domain.casework import NoSuchCase
from gateway.domain.emergency import acknowledge
from gateway.web.auth import require_caller
from gateway.web.events import wake_relay
from gateway.web.investigator import case_json
from gateway.web.keys import HOTLINE
from gateway.web.openapi import Endpoint, Reply

CASE_ID_PARAMETER: Final = {
    "name": "case_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}


def case_id_of(request: web.Request) -> UUID:
    try:
        return uuid.UUID(request.match_info["case_id"])
    except ValueError:
        # Not a case id at all: the same answer as any case that is not the caller's.
        raise NoSuchCase from None


async def ack_handler(request: web.Request) -> web.Response:
    caller = await require_caller(request)
    case = await acknowledge(request.app[HOTLINE], caller, case_id_of(request))
    wake_relay(request)
    answer = case_json(case)
    answer["acknowledged_by"] = str(case.acknowledged_by) if case.acknowledged_by else None
    answer["escalation_level"] = case.escalation_level
    return web.json_response(answer)


_TIME: Final = {"type": ["string", "null"]}
_ACK_SCHEMA: Final = {
    "type": "object",
    "required": [
        "case_id",
        "status",
        "urgent",
        "acknowledged_at",
        "acknowledged_by",
        "escalation_level",
    ],
    "properties": {
        "case_id": {"type": "string", "format": "uuid"},
        "status": {"type": "string"},
        "urgent": {"type": "boolean"},
        "acknowledged_at": _TIME,
        "acknowledged_by": {"type": ["string", "null"]},
        "escalation_level": {"type": "integer", "minimum": 0},
    },
}

ENDPOINTS: Final = (
    Endpoint(
        "POST",
        "/api/v1/cases/{case_id}/ack",
        ack_handler,
        "acknowledgeEmergency",
        "Acknowledge an emergency: stops its escalation (idempotent)",
        "emergencies",
        {
            200: Reply("The case, with who acknowledged it first and when.", _ACK_SCHEMA),
            401: Reply("No live session of a vetted investigator."),
            403: Reply("A cookie-borne request without this gateway's Origin."),
            404: Reply("No such case, or the caller is not on it (the same answer)."),
            409: Reply("The case is not an emergency."),
        },
        parameters=(CASE_ID_PARAMETER,),
    ),
)
