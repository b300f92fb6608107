"""Admin endpoints: invites, the enrollments waiting for vetting, and recording signed
directory entries.

Each needs admin authority: a session of an investigator the directory gives the `admin`
role, or a request signed with the offline organisation key (`Authorization: Organisation
…`, fresh and single-use). The latter is how the very first admin is invited, and how the
admin CLI works, since it holds the key file anyway.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, Final
from uuid import UUID

from aiohttp import hdrs, web

from gateway.crypto.directory import ADMIN, SignedEntry
from gateway.crypto.encoding import JsonObject, b64encode, parse_json
from gateway.crypto.organisation_request import SCHEME as ORGANISATION_SCHEME
from gateway.crypto.shape import read_int, read_list, read_object
from gateway.domain.enrollment import DEFAULT_INVITE_TTL, MAX_INVITE_TTL, create_invite
from gateway.domain.errors import Forbidden, InvalidInput
from gateway.domain.organisation import check_organisation_request
from gateway.domain.vetting import PendingEnrollment, enrollment, pending_enrollments, record_entry
from gateway.web.auth import require_caller, session_book
from gateway.web.bodies import read_whole_body
from gateway.web.keys import HOTLINE
from gateway.web.openapi import Endpoint, Reply

MAX_ADMIN_BODY_BYTES: Final = 16 * 1024


async def read_body(request: web.Request) -> bytes:
    """The raw body (a signature covers its exact bytes), within the admin size limit."""
    # The whole body: one read() returns only what has arrived, and a signature over part
    # of a body that came in several segments would fail.
    return await read_whole_body(request, max_bytes=MAX_ADMIN_BODY_BYTES, what="request")


def parse_object(request: web.Request, body: bytes, *, what: str) -> JsonObject:
    if request.content_type != "application/json":
        raise InvalidInput("Send the body as application/json.")
    value = parse_json(body, max_bytes=MAX_ADMIN_BODY_BYTES, what=what)
    if not isinstance(value, dict):
        raise InvalidInput(f"The {what} must be a JSON object.")
    return value


async def require_admin(request: web.Request, body: bytes) -> UUID | None:
    """Admin authority for this request: the admin's account id, or None for the org key."""
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    scheme, _, credential = header.partition(" ")
    if scheme == ORGANISATION_SCHEME:
        await check_organisation_request(
            request.app[HOTLINE],
            credential.strip(),
            method=request.method,
            target=request.raw_path,
            body=body,
        )
        return None
    caller = await require_caller(request)
    if ADMIN not in caller.roles:
        raise Forbidden("Only admins may do this.")
    return caller.id


async def create_invite_handler(request: web.Request) -> web.Response:
    body = await read_body(request)
    admin_id = await require_admin(request, body)
    form = parse_object(request, body, what="invite")
    read_object(form, what="invite", required={"roles"}, optional={"valid_for_seconds"})
    roles = read_list(form, "roles", what="invite", max_items=8)
    if not all(isinstance(role, str) for role in roles):
        raise InvalidInput("roles is a list of role names.")
    valid_for = (
        timedelta(
            seconds=read_int(
                form,
                "valid_for_seconds",
                what="invite",
                maximum=int(MAX_INVITE_TTL.total_seconds()),
            )
        )
        if "valid_for_seconds" in form
        else DEFAULT_INVITE_TTL
    )
    issued = await create_invite(
        request.app[HOTLINE],
        roles=[str(role) for role in roles],
        valid_for=valid_for,
        created_by=admin_id,
    )
    return web.json_response(
        {
            "invite_id": str(issued.invite.id),
            "token": issued.token,
            "roles": list(issued.invite.roles),
            "expires_at": issued.invite.expires_at.isoformat(),
        },
        status=201,
    )


def _enrollment_json(pending: PendingEnrollment) -> dict[str, Any]:
    account = pending.investigator
    return {
        "enrollment_id": str(pending.enrollment.id),
        "status": pending.enrollment.status.value,
        "submitted_at": pending.enrollment.submitted_at.isoformat(),
        "investigator_id": str(account.id),
        "account_status": account.status.value,
        "username": account.username,
        "display_name": account.display_name,
        "roles_requested": list(account.roles),
        "enc_pk": b64encode(account.enc_public_key),
        "sig_pk": b64encode(account.sig_public_key),
        "enc_fingerprint": pending.enc_fingerprint,
        "sig_fingerprint": pending.sig_fingerprint,
    }


async def list_enrollments_handler(request: web.Request) -> web.Response:
    await require_admin(request, await read_body(request))
    pending = await pending_enrollments(request.app[HOTLINE])
    return web.json_response({"enrollments": [_enrollment_json(item) for item in pending]})


async def get_enrollment_handler(request: web.Request) -> web.Response:
    await require_admin(request, await read_body(request))
    try:
        enrollment_id = uuid.UUID(request.match_info["enrollment_id"])
    except ValueError:
        raise InvalidInput("An enrollment id is a UUID.") from None
    return web.json_response(
        _enrollment_json(await enrollment(request.app[HOTLINE], enrollment_id))
    )


async def post_directory_entry_handler(request: web.Request) -> web.Response:
    body = await read_body(request)
    # The entry is signed by the organisation anyway; asking for admin authority as well keeps
    # anonymous callers from feeding the chain and leaves every entry with a known submitter.
    admin_id = await require_admin(request, body)
    signed = SignedEntry.from_json(parse_object(request, body, what="directory entry"))
    directory = await record_entry(
        request.app[HOTLINE], session_book(request), signed, actor_id=admin_id
    )
    return web.json_response(
        {
            "seq": signed.entry.seq,
            "kind": signed.entry.kind,
            "investigator_id": signed.entry.investigator_id,
            "head": b64encode(directory.head),
        },
        status=201,
    )


_ENROLLMENT_PROPERTIES: Final = {
    "enrollment_id": {"type": "string", "format": "uuid"},
    "status": {"type": "string", "enum": ["pending", "vetted", "rejected"]},
    "submitted_at": {"type": "string"},
    "investigator_id": {"type": "string", "format": "uuid"},
    "account_status": {"type": "string", "enum": ["pending", "active", "revoked"]},
    "username": {"type": "string"},
    "display_name": {"type": "string"},
    "roles_requested": {"type": "array", "items": {"type": "string"}},
    "enc_pk": {"type": "string"},
    "sig_pk": {"type": "string"},
    "enc_fingerprint": {"type": "string"},
    "sig_fingerprint": {"type": "string"},
}
_ENROLLMENT_SCHEMA: Final = {
    "type": "object",
    "required": sorted(_ENROLLMENT_PROPERTIES),
    "properties": _ENROLLMENT_PROPERTIES,
}
_AUTHORITY_REPLIES: Final = {
    401: Reply("Neither an admin session nor a valid organisation signature."),
    403: Reply("The session's investigator is not an admin, or a foreign Origin."),
}

ENDPOINTS: Final = (
    Endpoint(
        "POST",
        "/api/v1/admin/invites",
        create_invite_handler,
        "createInvite",
        "A one-time, expiring invite (the token is shown once)",
        "admin",
        {
            201: Reply(
                "The invite; only a hash of the token is kept.",
                {
                    "type": "object",
                    "required": ["invite_id", "token", "roles", "expires_at"],
                    "properties": {
                        "invite_id": {"type": "string", "format": "uuid"},
                        "token": {"type": "string"},
                        "roles": {"type": "array", "items": {"type": "string"}},
                        "expires_at": {"type": "string"},
                    },
                },
            ),
            400: Reply("Malformed body, unknown roles or validity out of range."),
            **_AUTHORITY_REPLIES,
        },
        request_schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["roles"],
            "properties": {
                "roles": {
                    "type": "array",
                    "items": {
                        "type": "string",
                        "enum": ["admin", "investigator", "liaison", "triage"],
                    },
                    "minItems": 1,
                    "maxItems": 8,
                },
                "valid_for_seconds": {
                    "type": "integer",
                    "minimum": 300,
                    "maximum": int(MAX_INVITE_TTL.total_seconds()),
                },
            },
        },
    ),
    Endpoint(
        "GET",
        "/api/v1/admin/enrollments",
        list_enrollments_handler,
        "listEnrollments",
        "Enrollments waiting for vetting, with their key fingerprints",
        "admin",
        {
            200: Reply(
                "Pending enrollments, oldest first.",
                {
                    "type": "object",
                    "required": ["enrollments"],
                    "properties": {"enrollments": {"type": "array", "items": _ENROLLMENT_SCHEMA}},
                },
            ),
            **_AUTHORITY_REPLIES,
        },
    ),
    Endpoint(
        "GET",
        "/api/v1/admin/enrollments/{enrollment_id}",
        get_enrollment_handler,
        "getEnrollment",
        "One enrollment (any status), with the keys to vet",
        "admin",
        {
            200: Reply("The enrollment.", _ENROLLMENT_SCHEMA),
            400: Reply("Not a UUID."),
            404: Reply("No such enrollment."),
            **_AUTHORITY_REPLIES,
        },
        parameters=(
            {
                "name": "enrollment_id",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "format": "uuid"},
            },
        ),
    ),
    Endpoint(
        "POST",
        "/api/v1/admin/directory",
        post_directory_entry_handler,
        "postDirectoryEntry",
        "Record a directory entry signed with the organisation key (add or revoke)",
        "admin",
        {
            201: Reply(
                "Recorded; the account it names is activated or revoked in the same step.",
                {
                    "type": "object",
                    "required": ["seq", "kind", "investigator_id", "head"],
                    "properties": {
                        "seq": {"type": "integer"},
                        "kind": {"type": "string", "enum": ["add", "revoke"]},
                        "investigator_id": {"type": "string"},
                        "head": {"type": "string"},
                    },
                },
            ),
            400: Reply("Malformed entry."),
            409: Reply("Another entry was recorded first, or the entry contradicts the account."),
            422: Reply("The entry does not verify against the chain and the organisation key."),
            **_AUTHORITY_REPLIES,
        },
        request_schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["entry", "signature"],
            "properties": {"entry": {"type": "string"}, "signature": {"type": "string"}},
        },
    ),
)
