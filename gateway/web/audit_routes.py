"""`GET /api/v1/cases/{case_id}/audit`: the case's part of the audit trail, for those on it."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from gateway.crypto.encoding import b64encode
from gateway.domain.case_audit import TrailEntry, case_trail
from gateway.web.auth import require_caller
from gateway.web.emergency import CASE_ID_PARAMETER, case_id_of
from gateway.web.keys import HOTLINE
from gateway.web.openapi import Endpoint, Reply


def entry_json(item: TrailEntry) -> dict[str, Any]:
    entry = item.entry
    return {
        "seq": entry.seq,
        "at": entry.recorded_at.isoformat(),
        "action": entry.action,
        "actor_id": str(entry.actor_id) if entry.actor_id else None,
        "case_id": str(entry.case_id) if entry.case_id else None,
        "details": dict(entry.details),
        "prev_hash": b64encode(entry.prev_hash),
        "entry_hash": b64encode(entry.entry_hash),
        "intact": item.intact,
    }


async def case_audit_handler(request: web.Request) -> web.Response:
    caller = await require_caller(request)
    case_id = case_id_of(request)
    trail = await case_trail(request.app[HOTLINE], caller, case_id)
    return web.json_response(
        {"case_id": str(case_id), "entries": [entry_json(item) for item in trail]}
    )


AUDIT_ENTRY_SCHEMA: Final = {
    "type": "object",
    "required": [
        "seq",
        "at",
        "action",
        "actor_id",
        "case_id",
        "details",
        "prev_hash",
        "entry_hash",
        "intact",
    ],
    "properties": {
        "seq": {"type": "integer", "minimum": 1},
        "at": {"type": "string"},
        "action": {"type": "string"},
        "actor_id": {"type": ["string", "null"]},
        "case_id": {"type": ["string", "null"]},
        "details": {"type": "object"},
        "prev_hash": {"type": "string"},
        "entry_hash": {"type": "string"},
        "intact": {"type": "boolean"},
    },
}

ENDPOINTS: Final = (
    Endpoint(
        "GET",
        "/api/v1/cases/{case_id}/audit",
        case_audit_handler,
        "getCaseAudit",
        "The case's part of the audit trail (content-free), oldest first",
        "investigators",
        {
            200: Reply(
                "The entries naming the case; `intact` re-checks each entry's own hash.",
                {
                    "type": "object",
                    "required": ["case_id", "entries"],
                    "properties": {
                        "case_id": {"type": "string", "format": "uuid"},
                        "entries": {"type": "array", "items": AUDIT_ENTRY_SCHEMA},
                    },
                },
            ),
            401: Reply("No live session of a vetted investigator."),
            404: Reply("No such case, or the caller is not on it (the same answer)."),
        },
        parameters=(CASE_ID_PARAMETER,),
    ),
)
