"""Investigator endpoints: the inbox, a case's thread, follow-ups and notes, status and
assignment, and the list of vetted colleagues to assign to.

Every handler starts with `require_caller`: a live session of an investigator who is active
and vetted right now. A case the caller is not on answers exactly like a missing one.
"""

from __future__ import annotations

import uuid
from typing import Any, Final
from uuid import UUID

from aiohttp import web

from gateway.crypto.encoding import b64encode
from gateway.crypto.envelope import MAX_ENVELOPE_BYTES, parse_envelope
from gateway.crypto.shape import read_object, read_str
from gateway.domain.accounts import vetted_member
from gateway.domain.casework import (
    SETTABLE,
    Assignment,
    CaseView,
    NoSuchCase,
    open_case,
    post_message,
    update_case,
)
from gateway.domain.errors import InvalidInput
from gateway.domain.inbox import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, InboxFilter, inbox_page
from gateway.store.records import Case, CaseStatus, InboxItem, InvestigatorStatus
from gateway.web.auth import require_caller
from gateway.web.bodies import read_json_object
from gateway.web.events import wake_relay
from gateway.web.keys import HOTLINE
from gateway.web.openapi import Endpoint, Reply

MAX_PATCH_BODY_BYTES: Final = 4096
# An envelope plus its JSON wrapper.
MAX_MESSAGE_BODY_BYTES: Final = MAX_ENVELOPE_BYTES + 1024


def _case_id(request: web.Request) -> UUID:
    try:
        return uuid.UUID(request.match_info["case_id"])
    except ValueError:
        # Not a case id at all: the same answer as any case that is not the caller's.
        raise NoSuchCase from None


def _time(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def case_json(case: Case) -> dict[str, Any]:
    return {
        "case_id": str(case.id),
        "status": case.status.value,
        "urgent": case.urgent,
        "assignee_id": str(case.assignee_id) if case.assignee_id else None,
        "created_at": _time(case.created_at),
        "updated_at": _time(case.updated_at),
        "last_activity_at": _time(case.last_activity_at),
        "acknowledged_at": _time(case.acknowledged_at),
        "consent": case.consent.value if case.consent else None,
    }


def _item_json(item: InboxItem) -> dict[str, Any]:
    answer = case_json(item.case)
    answer.update({"added_at": _time(item.added_at), "unread": item.unread})
    return answer


def _flag(request: web.Request, name: str) -> bool | None:
    value = request.query.get(name)
    if value is None:
        return None
    if value not in {"true", "false"}:
        raise InvalidInput(f"{name} is true or false.")
    return value == "true"


def _assigned_to_me(request: web.Request) -> bool:
    value = request.query.get("assigned")
    if value not in {None, "me"}:
        raise InvalidInput("assigned takes one value: me.")
    return value == "me"


async def inbox_handler(request: web.Request) -> web.Response:
    caller = await require_caller(request)
    statuses = None
    if "status" in request.query:
        try:
            statuses = {CaseStatus(value) for value in request.query.getall("status")}
        except ValueError:
            raise InvalidInput(
                f"status is one of {', '.join(status.value for status in CaseStatus)}."
            ) from None
    try:
        limit = int(request.query.get("limit", DEFAULT_PAGE_SIZE))
    except ValueError:
        raise InvalidInput("limit is a whole number.") from None
    page = await inbox_page(
        request.app[HOTLINE],
        caller,
        limit=limit,
        cursor=request.query.get("cursor") or None,
        only=InboxFilter(
            statuses=statuses,
            urgent=_flag(request, "urgent"),
            assigned_to_me=_assigned_to_me(request),
        ),
    )
    return web.json_response(
        {
            "cases": [_item_json(item) for item in page.items],
            "next_cursor": page.next_cursor.encode() if page.next_cursor else None,
        }
    )


def _view_json(view: CaseView) -> dict[str, Any]:
    answer = case_json(view.case)
    answer["reporter_pk"] = b64encode(view.case.reporter_public_key)
    answer["investigators"] = [
        {"investigator_id": str(person.id), "display_name": person.display_name}
        for person in view.investigators
    ]
    answer["messages"] = [
        {
            "message_id": str(item.message.id),
            "seq": item.message.seq,
            "kind": item.message.kind.value,
            "author_id": str(item.message.author_id) if item.message.author_id else None,
            "created_at": _time(item.message.created_at),
            "visible_to_reporter": item.message.visible_to_reporter,
            "wrapped_for_me": item.wrapped_for_me,
            "envelope": item.envelope_json,
        }
        for item in view.messages
    ]
    return answer


async def case_handler(request: web.Request) -> web.Response:
    caller = await require_caller(request)
    view = await open_case(request.app[HOTLINE], caller, _case_id(request))
    return web.json_response(_view_json(view))


async def post_message_handler(request: web.Request) -> web.Response:
    caller = await require_caller(request)
    case_id = _case_id(request)
    body = await read_json_object(request, max_bytes=MAX_MESSAGE_BODY_BYTES, what="message")
    read_object(body, what="message", required={"envelope"})
    message = await post_message(
        request.app[HOTLINE], caller, case_id, parse_envelope(body["envelope"])
    )
    wake_relay(request)
    return web.json_response(
        {
            "message_id": str(message.id),
            "seq": message.seq,
            "kind": message.kind.value,
            "created_at": _time(message.created_at),
        },
        status=201,
    )


async def patch_case_handler(request: web.Request) -> web.Response:
    caller = await require_caller(request)
    case_id = _case_id(request)
    body = await read_json_object(request, max_bytes=MAX_PATCH_BODY_BYTES, what="case change")
    read_object(body, what="case change", required=set(), optional={"status", "assignee_id"})
    status = None
    if "status" in body:
        text = read_str(body, "status", what="case change", max_length=32)
        if text not in {status.value for status in SETTABLE}:
            raise InvalidInput(f"status is one of {', '.join(sorted(s.value for s in SETTABLE))}.")
        status = CaseStatus(text)
    assign = None
    if "assignee_id" in body:
        value = body["assignee_id"]
        if value is None:
            assign = Assignment(None)
        else:
            try:
                assign = Assignment(
                    uuid.UUID(read_str(body, "assignee_id", what="case change", max_length=36))
                )
            except ValueError:
                raise InvalidInput("assignee_id is an investigator id (a UUID) or null.") from None
    case = await update_case(request.app[HOTLINE], caller, case_id, status=status, assign=assign)
    wake_relay(request)
    return web.json_response(case_json(case))


async def colleagues_handler(request: web.Request) -> web.Response:
    await require_caller(request)
    hotline = request.app[HOTLINE]
    vetted = await hotline.directory.vetted()
    async with hotline.database.transaction(read_only=True) as tx:
        accounts = await tx.investigators.list_all(statuses=[InvestigatorStatus.ACTIVE])
    people = []
    for account in accounts:
        member = vetted_member(account, vetted)
        if member is not None:
            people.append(
                {
                    "investigator_id": str(account.id),
                    "username": account.username,
                    "display_name": account.display_name,
                    "roles": sorted(member.roles),
                }
            )
    return web.json_response({"investigators": people})


_CASE_ID_PARAMETER: Final = {
    "name": "case_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}
_TIME: Final = {"type": ["string", "null"]}
_CASE_PROPERTIES: Final = {
    "case_id": {"type": "string", "format": "uuid"},
    "status": {"type": "string", "enum": [status.value for status in CaseStatus]},
    "urgent": {"type": "boolean"},
    "assignee_id": {"type": ["string", "null"]},
    "created_at": _TIME,
    "updated_at": _TIME,
    "last_activity_at": _TIME,
    "acknowledged_at": _TIME,
    "consent": {"type": ["string", "null"]},
}
_CASE_SCHEMA: Final = {
    "type": "object",
    "required": sorted(_CASE_PROPERTIES),
    "properties": _CASE_PROPERTIES,
}
_INBOX_ITEM: Final = {
    "type": "object",
    "required": [*sorted(_CASE_PROPERTIES), "added_at", "unread"],
    "properties": {**_CASE_PROPERTIES, "added_at": _TIME, "unread": {"type": "boolean"}},
}
_MESSAGE_ITEM: Final = {
    "type": "object",
    "required": [
        "message_id",
        "seq",
        "kind",
        "author_id",
        "created_at",
        "visible_to_reporter",
        "wrapped_for_me",
        "envelope",
    ],
    "properties": {
        "message_id": {"type": "string", "format": "uuid"},
        "seq": {"type": "integer"},
        "kind": {"type": "string"},
        "author_id": {"type": ["string", "null"]},
        "created_at": _TIME,
        "visible_to_reporter": {"type": "boolean"},
        "wrapped_for_me": {"type": "boolean"},
        "envelope": {"type": "object"},
    },
}
_CASE_VIEW: Final = {
    "type": "object",
    "required": [*sorted(_CASE_PROPERTIES), "reporter_pk", "investigators", "messages"],
    "properties": {
        **_CASE_PROPERTIES,
        "reporter_pk": {"type": "string"},
        "investigators": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["investigator_id", "display_name"],
                "properties": {
                    "investigator_id": {"type": "string"},
                    "display_name": {"type": "string"},
                },
            },
        },
        "messages": {"type": "array", "items": _MESSAGE_ITEM},
    },
}
_NOT_YOURS: Final = Reply("No such case, or the caller is not on it (the same answer).")
_NO_SESSION: Final = Reply("No live session of a vetted investigator.")

ENDPOINTS: Final = (
    Endpoint(
        "GET",
        "/api/v1/inbox",
        inbox_handler,
        "getInbox",
        "Cases the caller is on, newest first, with cursor pagination and filters",
        "investigators",
        {
            200: Reply(
                "One page.",
                {
                    "type": "object",
                    "required": ["cases", "next_cursor"],
                    "properties": {
                        "cases": {"type": "array", "items": _INBOX_ITEM},
                        "next_cursor": {"type": ["string", "null"]},
                    },
                },
            ),
            400: Reply("Bad filter, limit or cursor."),
            401: _NO_SESSION,
        },
        parameters=(
            {
                "name": "status",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": [status.value for status in CaseStatus]},
            },
            {"name": "urgent", "in": "query", "required": False, "schema": {"type": "boolean"}},
            {
                "name": "assigned",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": ["me"]},
            },
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            },
            {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
        ),
    ),
    Endpoint(
        "GET",
        "/api/v1/cases/{case_id}",
        case_handler,
        "getCase",
        "A case's thread: every envelope, status, assignment, investigators on it",
        "investigators",
        {200: Reply("The case.", _CASE_VIEW), 401: _NO_SESSION, 404: _NOT_YOURS},
        parameters=(_CASE_ID_PARAMETER,),
    ),
    Endpoint(
        "POST",
        "/api/v1/cases/{case_id}/messages",
        post_message_handler,
        "postCaseMessage",
        "A signed follow-up question, internal note or consent request",
        "investigators",
        {
            201: Reply(
                "Stored, with its live event.",
                {
                    "type": "object",
                    "required": ["message_id", "seq", "kind", "created_at"],
                    "properties": {
                        "message_id": {"type": "string", "format": "uuid"},
                        "seq": {"type": "integer"},
                        "kind": {"type": "string"},
                        "created_at": _TIME,
                    },
                },
            ),
            400: Reply("Malformed envelope, wrong kind or another case."),
            401: _NO_SESSION,
            403: Reply("Signed with a key that is not the caller's, or a foreign Origin."),
            404: _NOT_YOURS,
            409: Reply("The case is closed or withdrawn."),
            413: Reply("The envelope is too large."),
            422: Reply("Bad signature, or recipients other than the rules require."),
        },
        request_schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["envelope"],
            "properties": {"envelope": {"type": "object"}},
        },
        parameters=(_CASE_ID_PARAMETER,),
    ),
    Endpoint(
        "PATCH",
        "/api/v1/cases/{case_id}",
        patch_case_handler,
        "patchCase",
        "Move the status (see the rules) and/or assign to a vetted investigator",
        "investigators",
        {
            200: Reply("The case after the change.", _CASE_SCHEMA),
            400: Reply("Nothing to change, or an unknown status."),
            401: _NO_SESSION,
            403: Reply("Reopening without the triage role or the assignment; foreign Origin."),
            404: _NOT_YOURS,
            409: Reply("The transition is not allowed from the current status."),
            422: Reply("The assignee is not an active, vetted investigator."),
        },
        request_schema={
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "status": {"type": "string", "enum": sorted(s.value for s in SETTABLE)},
                "assignee_id": {"type": ["string", "null"], "format": "uuid"},
            },
        },
        parameters=(_CASE_ID_PARAMETER,),
    ),
    Endpoint(
        "GET",
        "/api/v1/investigators",
        colleagues_handler,
        "listInvestigators",
        "Active, vetted investigators (to assign cases to)",
        "investigators",
        {
            200: Reply(
                "Colleagues by username.",
                {
                    "type": "object",
                    "required": ["investigators"],
                    "properties": {
                        "investigators": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": [
                                    "investigator_id",
                                    "username",
                                    "display_name",
                                    "roles",
                                ],
                                "properties": {
                                    "investigator_id": {"type": "string"},
                                    "username": {"type": "string"},
                                    "display_name": {"type": "string"},
                                    "roles": {"type": "array", "items": {"type": "string"}},
                                },
                            },
                        }
                    },
                },
            ),
            401: _NO_SESSION,
        },
    ),
)
