"""`POST /api/v1/reporter/consent`: the reporter answers a consent request (docs/DOSSIER.md).

Like a reply (locator, proof of work `reply`, an envelope for the case's recipients), plus the
explicit `consent` flag the server records on the case.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from gateway.domain.consent import ANSWERS, ConsentAnswer, answer_consent
from gateway.domain.reporter_access import REPLY
from gateway.web.bodies import read_json_object
from gateway.web.keys import HOTLINE
from gateway.web.limits import admit_paying
from gateway.web.openapi import Endpoint, Reply
from gateway.web.reporter_headers import PROOF_HEADER_PARAMETER, locator_of

VERSION: Final = 1


async def consent_handler(request: web.Request) -> web.Response:
    locator = locator_of(request)
    paid = await admit_paying(request, purpose=REPLY, locator=locator)
    hotline = request.app[HOTLINE]
    body = await read_json_object(
        request, max_bytes=hotline.limits.max_body_bytes, what="consent answer"
    )
    seq = await answer_consent(hotline, locator, ConsentAnswer.from_json(body), paid)
    return web.json_response({"v": VERSION, "seq": seq}, status=201)


CONSENT_SCHEMA: Final = {
    "type": "object",
    "additionalProperties": False,
    "required": ["v", "envelope", "consent"],
    "properties": {
        "v": {"type": "integer", "const": VERSION},
        "envelope": {"type": "object"},
        "consent": {"type": "string", "enum": sorted(ANSWERS)},
    },
}

ENDPOINTS: Final = (
    Endpoint(
        "POST",
        "/api/v1/reporter/consent",
        consent_handler,
        "answerConsent",
        "The reporter's answer to a consent request: a consent_answer envelope and the flag",
        "reporters",
        {
            201: Reply(
                "Stored; the case's consent is now the flag given.",
                {
                    "type": "object",
                    "required": ["v", "seq"],
                    "properties": {"v": {"type": "integer"}, "seq": {"type": "integer"}},
                },
            ),
            400: Reply("Malformed body or envelope, wrong kind, another case, unknown flag."),
            401: Reply("No or a malformed locator."),
            403: Reply("The proof of work (reply) is missing, forged, expired or spent."),
            404: Reply("case_not_found: one answer for a wrong pickup code and a missing case."),
            409: Reply("consent_not_requested: nobody asked for consent on this case."),
            413: Reply("The body is larger than the gateway accepts."),
            422: Reply("recipient_not_vetted."),
            429: Reply("Too many requests (gateway-wide, per network or per code); Retry-After."),
            503: Reply("no_recipients: nobody vetted is on the case now; or an outage."),
        },
        request_schema=CONSENT_SCHEMA,
        parameters=(PROOF_HEADER_PARAMETER,),
    ),
)
