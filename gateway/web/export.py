"""`POST /api/v1/cases/{case_id}/export`: record a dossier export (audit entry, case referred).

The dossier is made on the investigator's machine; this endpoint only receives the SHA-256 of
its signed manifest, after the client built it and before it keeps the file (docs/DOSSIER.md).
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from gateway.crypto.encoding import b64decode
from gateway.crypto.shape import read_object
from gateway.domain.dossier import MANIFEST_HASH_BYTES, record_export
from gateway.domain.errors import InvalidInput
from gateway.web.auth import require_caller
from gateway.web.bodies import read_json_object
from gateway.web.emergency import CASE_ID_PARAMETER, case_id_of
from gateway.web.events import wake_relay
from gateway.web.keys import HOTLINE
from gateway.web.openapi import Endpoint, Reply

MAX_EXPORT_BODY_BYTES: Final = 1024


async def export_handler(request: web.Request) -> web.Response:
    caller = await require_caller(request)
    case_id = case_id_of(request)
    body = await read_json_object(request, max_bytes=MAX_EXPORT_BODY_BYTES, what="export")
    read_object(body, what="export", required={"manifest_sha256", "sealed"})
    sealed = body["sealed"]
    if not isinstance(sealed, bool):
        raise InvalidInput("sealed is true or false.")
    manifest = b64decode(
        body["manifest_sha256"], what="manifest_sha256", length=MANIFEST_HASH_BYTES
    )
    record = await record_export(
        request.app[HOTLINE], caller, case_id, manifest_sha256=manifest, sealed=sealed
    )
    wake_relay(request)
    return web.json_response(
        {
            "case_id": str(record.case.id),
            "status": record.case.status.value,
            "consent": record.consent.value if record.consent else None,
            "consent_given": record.consent_given,
            "audit_seq": record.audit_seq,
        }
    )


ENDPOINTS: Final = (
    Endpoint(
        "POST",
        "/api/v1/cases/{case_id}/export",
        export_handler,
        "recordExport",
        "Record a dossier export (manifest hash in the audit trail) and refer the case",
        "investigators",
        {
            200: Reply(
                "Recorded; the case is referred. `consent_given` false: warn the exporter.",
                {
                    "type": "object",
                    "required": ["case_id", "status", "consent", "consent_given", "audit_seq"],
                    "properties": {
                        "case_id": {"type": "string", "format": "uuid"},
                        "status": {"type": "string", "enum": ["referred"]},
                        "consent": {"type": ["string", "null"]},
                        "consent_given": {"type": "boolean"},
                        "audit_seq": {"type": "integer", "minimum": 1},
                    },
                },
            ),
            400: Reply("Not exactly {manifest_sha256: 32 bytes base64url, sealed: boolean}."),
            401: Reply("No live session of a vetted investigator."),
            403: Reply("A cookie-borne request without this gateway's Origin."),
            404: Reply("No such case, or the caller is not on it (the same answer)."),
            409: Reply("The case is closed (reopen it first) or changed meanwhile."),
        },
        request_schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["manifest_sha256", "sealed"],
            "properties": {
                "manifest_sha256": {"type": "string", "pattern": "^[A-Za-z0-9_-]{43}$"},
                "sealed": {"type": "boolean"},
            },
        },
        parameters=(CASE_ID_PARAMETER,),
    ),
)
