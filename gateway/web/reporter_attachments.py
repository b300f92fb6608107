"""Attachment streams over HTTP: the reporter's upload, and the download both sides share.

Bodies are streamed chunk by chunk to and from blob storage; neither direction ever holds
a whole file. `GET /api/v1/cases/{case_id}/attachments/{attachment_id}` serves reporters
(`Authorization: Locator`, with a `lookup` proof) and investigators (a session): the
handler dispatches on the credentials presented.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from gateway.domain.attachments import (
    AttachmentDownload,
    open_for_investigator,
    open_for_reporter,
    receive_upload,
    upload_purpose,
)
from gateway.domain.errors import InvalidInput, Unauthenticated
from gateway.domain.reporter_access import LOOKUP
from gateway.web.auth import presented_token, require_caller
from gateway.web.keys import HOTLINE
from gateway.web.limits import admit_paying, paced_chunks
from gateway.web.openapi import Endpoint, Reply
from gateway.web.reporter_headers import (
    PROOF_HEADER_PARAMETER,
    has_locator,
    locator_of,
)

STREAM_CONTENT_TYPE: Final = "application/octet-stream"
READ_CHUNK_BYTES: Final = 64 * 1024


async def upload(request: web.Request) -> web.Response:
    if request.content_type != STREAM_CONTENT_TYPE:
        raise InvalidInput(f"Send the encrypted attachment stream as {STREAM_CONTENT_TYPE}.")
    locator = locator_of(request) if has_locator(request) else None
    paid = await admit_paying(request, purpose=upload_purpose(locator), locator=locator)
    received = await receive_upload(
        request.app[HOTLINE],
        _body_chunks(request),
        locator=locator,
        paid=paid,
        declared_length=request.content_length,
    )
    return web.json_response({"v": 1, "id": str(received.id), "size": received.size}, status=201)


async def _body_chunks(request: web.Request) -> AsyncIterator[bytes]:
    try:
        # Refused (408) when the stream stalls or crawls: see gateway/web/limits.py.
        async for chunk in paced_chunks(request, READ_CHUNK_BYTES):
            yield chunk
    except (ConnectionError, HttpProcessingError) as error:
        raise InvalidInput("The upload broke off before it was complete.") from error


async def download(request: web.Request) -> web.StreamResponse:
    case_id = request.match_info["case_id"]
    attachment_id = request.match_info["attachment_id"]
    if has_locator(request):
        locator = locator_of(request)
        paid = await admit_paying(request, purpose=LOOKUP, locator=locator)
        found = await open_for_reporter(
            request.app[HOTLINE],
            locator,
            paid,
            case_id,
            attachment_id,
        )
        return await _send(request, found)
    if presented_token(request) is not None:
        caller = await require_caller(request)
        found = await open_for_investigator(request.app[HOTLINE], caller, case_id, attachment_id)
        return await _send(request, found)
    raise Unauthenticated("Send a locator (reporters) or a session (investigators).")


async def _send(request: web.Request, found: AttachmentDownload) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": STREAM_CONTENT_TYPE, "Content-Length": str(found.size)}
    )
    await response.prepare(request)
    await response.write(found.first_chunk)
    async for chunk in found.rest:
        await response.write(chunk)
    await response.write_eof()
    return response


_UPLOADED_SCHEMA: Final = {
    "type": "object",
    "required": ["v", "id", "size"],
    "properties": {
        "v": {"type": "integer"},
        "id": {"type": "string", "format": "uuid"},
        "size": {"type": "integer"},
    },
}
_STREAM_BODY: Final = {
    "requestBody": {
        "required": True,
        "content": {STREAM_CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
}

ENDPOINTS: Final = (
    Endpoint(
        "POST",
        "/api/v1/reporter/attachments",
        upload,
        "uploadReporterAttachment",
        "Stream one encrypted attachment (before the tip or reply that lists its id)",
        "reporters",
        {
            201: Reply("Stored; list the id in the tip or reply.", _UPLOADED_SCHEMA),
            400: Reply("Not an attachment stream (length), wrong content type, or broken off."),
            401: Reply("A malformed locator."),
            403: Reply("The proof of work (submit without a locator, reply with one) is refused."),
            404: Reply("case_not_found (with a locator)."),
            408: Reply("The stream stalled or arrived too slowly; nothing was kept."),
            413: Reply("Larger than the gateway's attachment limit; nothing was kept."),
            429: Reply("Too many requests (gateway-wide, per network or per code); Retry-After."),
        },
        parameters=(PROOF_HEADER_PARAMETER,),
        extra=_STREAM_BODY,
    ),
    Endpoint(
        "GET",
        "/api/v1/cases/{case_id}/attachments/{attachment_id}",
        download,
        "downloadAttachment",
        "Stream an attachment's ciphertext (reporters with a locator, investigators on the case)",
        "attachments",
        {
            200: Reply(
                "The encrypted stream.",
                {"type": "string", "format": "binary"},
                content_type=STREAM_CONTENT_TYPE,
            ),
            401: Reply("No usable credentials."),
            403: Reply("The proof of work (lookup) is refused."),
            404: Reply("No such case for these credentials, or no such attachment on it."),
            429: Reply("Too many requests (gateway-wide, per network or per code); Retry-After."),
        },
        parameters=(
            {**PROOF_HEADER_PARAMETER, "required": False},
            {"name": "case_id", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "attachment_id", "in": "path", "required": True, "schema": {"type": "string"}},
        ),
    ),
)
