"""Reporter endpoints: submit a tip, read the case, reply, withdraw (docs/API.md).

Handlers only translate HTTP to the domain (gateway/domain/reporting.py and friends) and
back; every rule, including the order of checks, lives there.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from gateway.crypto.encoding import parse_json
from gateway.crypto.envelope import MAX_ENVELOPE_BYTES
from gateway.domain import reporting
from gateway.domain.reporter_access import LOOKUP, REPLY, SUBMIT, read_case
from gateway.domain.withdrawal import withdraw_case
from gateway.web.bodies import read_json_object
from gateway.web.events import wake_relay
from gateway.web.keys import HOTLINE
from gateway.web.limits import admit_paying
from gateway.web.openapi import Endpoint, Reply
from gateway.web.reporter_headers import PROOF_HEADER_PARAMETER, locator_of

VERSION: Final = 1


async def submit_tip(request: web.Request) -> web.Response:
    hotline = request.app[HOTLINE]
    paid = await admit_paying(request, purpose=SUBMIT)  # before the body is read
    body = await read_json_object(request, max_bytes=hotline.limits.max_body_bytes, what="tip")
    received = await reporting.submit_tip(hotline, reporting.TipSubmission.from_json(body), paid)
    wake_relay(request)  # investigators hear of the tip now, not at the relay's next poll
    # The case id is not returned: the reporter reaches the case by the code alone.
    return web.json_response({"v": VERSION, "status": received.status.value}, status=201)


async def read_reporter_case(request: web.Request) -> web.Response:
    locator = locator_of(request)
    paid = await admit_paying(request, purpose=LOOKUP, locator=locator)
    view = await read_case(request.app[HOTLINE], locator, paid)
    return web.json_response(
        {
            "v": VERSION,
            "case": str(view.case_id),
            "status": view.status.value,
            "messages": [
                {
                    "seq": seq,
                    "envelope": parse_json(envelope, max_bytes=MAX_ENVELOPE_BYTES, what="envelope"),
                }
                for seq, envelope in view.messages
            ],
            "attachments": [
                {"id": str(attachment.id), "size": attachment.size}
                for attachment in view.attachments
            ],
            "investigators": list(view.investigators),
        }
    )


async def post_reply(request: web.Request) -> web.Response:
    locator = locator_of(request)
    paid = await admit_paying(request, purpose=REPLY, locator=locator)
    hotline = request.app[HOTLINE]
    body = await read_json_object(request, max_bytes=hotline.limits.max_body_bytes, what="reply")
    received = await reporting.post_reply(
        hotline, locator, reporting.ReplySubmission.from_json(body), paid
    )
    wake_relay(request)
    return web.json_response({"v": VERSION, "seq": received.seq}, status=201)


async def withdraw(request: web.Request) -> web.Response:
    locator = locator_of(request)
    paid = await admit_paying(request, purpose=LOOKUP, locator=locator)
    await withdraw_case(request.app[HOTLINE], locator, paid)
    return web.Response(status=204)


B64: Final[dict[str, Any]] = {"type": "string", "pattern": "^[A-Za-z0-9_-]*$"}
ENVELOPE_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["v", "header", "nonce", "ciphertext"],
    "properties": {
        "v": {"type": "integer"},
        "header": B64,
        "nonce": B64,
        "ciphertext": B64,
        "signature": B64,
    },
}
ATTACHMENT_IDS_SCHEMA: Final[dict[str, Any]] = {
    "type": "array",
    "maxItems": 64,
    "uniqueItems": True,
    "items": {"type": "string", "format": "uuid"},
}
TIP_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["v", "locator", "reporter_pk", "urgent", "envelope"],
    "properties": {
        "v": {"type": "integer", "enum": [1]},
        "locator": B64,
        "reporter_pk": B64,
        "urgent": {"type": "boolean"},
        "envelope": ENVELOPE_SCHEMA,
        "attachments": ATTACHMENT_IDS_SCHEMA,
    },
}
REPLY_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["v", "envelope"],
    "properties": {
        "v": {"type": "integer", "enum": [1]},
        "envelope": ENVELOPE_SCHEMA,
        "attachments": ATTACHMENT_IDS_SCHEMA,
    },
}
CASE_VIEW_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["v", "case", "status", "messages", "attachments", "investigators"],
    "properties": {
        "v": {"type": "integer"},
        "case": {"type": "string", "format": "uuid"},
        "status": {"type": "string", "enum": ["received", "in_progress", "closed"]},
        "messages": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["seq", "envelope"],
                "properties": {"seq": {"type": "integer"}, "envelope": ENVELOPE_SCHEMA},
            },
        },
        "attachments": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "size"],
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "size": {"type": "integer"},
                },
            },
        },
        "investigators": {"type": "array", "items": {"type": "string"}},
    },
}
LOCATOR_AUTH: Final = "Authorization: Locator <base64url locator> (derived from the pickup code)."
PROOF_REFUSED: Final = Reply(
    "The proof of work is missing, forged, expired, spent or for another purpose."
)
NOT_FOUND: Final = Reply("case_not_found: one answer for a wrong pickup code and a missing case.")
RATE_LIMITED: Final = Reply(
    "Too many requests (gateway-wide, per network or per code); Retry-After."
)
OUTAGE: Final = Reply("The broker or the database is unavailable; Retry-After.")

ENDPOINTS: Final = (
    Endpoint(
        "POST",
        "/api/v1/cases",
        submit_tip,
        "submitTip",
        "Submit a new tip (an encrypted envelope for the vetted triage investigators)",
        "reporters",
        {
            201: Reply(
                "The case, its tip, inbox rows and outbox row are durable.",
                {
                    "type": "object",
                    "required": ["v", "status"],
                    "properties": {"v": {"type": "integer"}, "status": {"type": "string"}},
                },
            ),
            400: Reply("Malformed body or envelope, unknown version, wrong envelope kind."),
            403: PROOF_REFUSED,
            409: Reply("The pickup code is in use; start again with a new code."),
            413: Reply("The body is larger than the gateway accepts."),
            422: Reply("recipient_not_vetted, or unknown_attachment."),
            429: RATE_LIMITED,
            503: Reply("no_recipients: no vetted triage investigator yet; or an outage."),
        },
        request_schema=TIP_SCHEMA,
        parameters=(PROOF_HEADER_PARAMETER,),
    ),
    Endpoint(
        "GET",
        "/api/v1/reporter/case",
        read_reporter_case,
        "readReporterCase",
        "The reporter's case: coarse status and the envelopes wrapped for the reporter",
        "reporters",
        {
            200: Reply(LOCATOR_AUTH, CASE_VIEW_SCHEMA),
            401: Reply("No or a malformed locator."),
            403: PROOF_REFUSED,
            404: NOT_FOUND,
            429: RATE_LIMITED,
            503: OUTAGE,
        },
        parameters=(PROOF_HEADER_PARAMETER,),
    ),
    Endpoint(
        "POST",
        "/api/v1/reporter/messages",
        post_reply,
        "postReporterMessage",
        "A reply from the reporter, encrypted for the case's recipients",
        "reporters",
        {
            201: Reply(
                "Stored with its outbox row.",
                {
                    "type": "object",
                    "required": ["v", "seq"],
                    "properties": {"v": {"type": "integer"}, "seq": {"type": "integer"}},
                },
            ),
            400: Reply("Malformed body or envelope, wrong kind, or another case named."),
            401: Reply("No or a malformed locator."),
            403: PROOF_REFUSED,
            404: NOT_FOUND,
            413: Reply("The body is larger than the gateway accepts."),
            422: Reply("recipient_not_vetted, or unknown_attachment."),
            429: RATE_LIMITED,
            503: Reply("no_recipients: nobody vetted is on the case now; or an outage."),
        },
        request_schema=REPLY_SCHEMA,
        parameters=(PROOF_HEADER_PARAMETER,),
    ),
    Endpoint(
        "DELETE",
        "/api/v1/reporter/case",
        withdraw,
        "withdrawReporterCase",
        "Withdraw the case: every row and blob of it is purged at once",
        "reporters",
        {
            204: Reply("Withdrawn and purged."),
            401: Reply("No or a malformed locator."),
            403: PROOF_REFUSED,
            404: NOT_FOUND,
            429: RATE_LIMITED,
            503: OUTAGE,
        },
        parameters=(PROOF_HEADER_PARAMETER,),
    ),
)
