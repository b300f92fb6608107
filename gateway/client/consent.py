"""The reporter's answer to a consent request, from the Python client.

One choice sets both halves of the answer: the words (a `consent_answer` envelope, encrypted
here for the case's vetted investigators, the recovery key and the reporter) and the explicit
flag the gateway records (`given` or `refused`). The flag is sent beside the envelope because
the server never reads the words.
"""

from __future__ import annotations

import time
from typing import Final

from gateway.client.reporter import (
    CaseThread,
    ReporterClient,
    ReporterError,
    paid_headers,
)
from gateway.client.transport import Transport
from gateway.crypto.directory import RECOVERY
from gateway.crypto.envelope import seal
from gateway.crypto.message import MessageContent

VERSION: Final = 1
CONSENT_REQUEST: Final = "consent_request"


def consent_was_requested(thread: CaseThread) -> bool:
    """Whether an investigator's (verified) consent request is in the thread."""
    return any(message.kind == CONSENT_REQUEST for message in thread.messages)


async def answer_consent(
    client: ReporterClient,
    transport: Transport,
    thread: CaseThread,
    *,
    given: bool,
    words: str = "",
) -> int:
    """Give or refuse consent on the case `thread` shows; returns the answer's number."""
    if not consent_was_requested(thread):
        raise ReporterError("Nobody on this case has asked for your consent.")
    directory = await client.directory()
    vetted = directory.directory.vetted(int(time.time()))
    readers = [
        member.enc_pk
        for member in vetted.members
        if member.investigator_id in thread.investigators or RECOVERY in member.roles
    ]
    if not readers:
        raise ReporterError("Nobody vetted can read an answer on this case now; try again later.")
    text = words or ("I give my consent." if given else "I do not give my consent.")
    envelope = seal(
        MessageContent(kind="consent_answer", body=text, created=int(time.time())),
        recipients=[*readers, thread.keys.enc.public],
        case=thread.case_id,
    )
    answer = await transport.request_json(
        "POST",
        "/api/v1/reporter/consent",
        json={
            "v": VERSION,
            "envelope": envelope.to_json(),
            "consent": "given" if given else "refused",
        },
        headers=await paid_headers(transport, "reply", thread.keys.locator),
        expect=(201,),
    )
    return int(answer["seq"])
