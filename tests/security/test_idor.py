"""Insecure direct object references: an investigator who is not on a case gets, from every
endpoint that names a case (listed from the OpenAPI document, so a new one is covered at
once), exactly the answer a case that does not exist gets — and nothing changes.

tests/api/test_auth.py walks who may call what at all; here the caller is a vetted, logged-in
investigator, and only the object belongs to someone else.
"""

from __future__ import annotations

import io
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

from gateway.crypto.encoding import b64encode
from gateway.crypto.envelope import seal
from gateway.crypto.message import MessageContent
from gateway.crypto.stream import encrypt_stream
from gateway.web.health import OPENAPI_DOCUMENT
from tests.api.investigator_support import (
    OpenCase,
    Person,
    bearer,
    log_in,
    open_case_for,
    vetted_person,
)
from tests.api.reporter_support import proof_header, solved_proof, submit_tip
from tests.fixtures.organisation import Organisation
from tests.security.support import Client, Gateway, GatewayFactory, database_snapshot


def case_operations(gateway: Gateway) -> Iterator[tuple[str, str]]:
    for path, operations in gateway.app[OPENAPI_DOCUMENT]["paths"].items():
        if "{case_id}" in path:
            for method in operations:
                yield method.upper(), path


def request_body(method: str, path: str, caller: Person, case_id: str) -> Any:
    """A body the caller could legitimately send for their own case."""
    if path.endswith("/messages"):
        envelope = seal(
            MessageContent(kind="followup", body="Waar precies?", created=int(time.time())),
            recipients=[caller.keys.enc.public],
            case=case_id,
            signer=caller.keys.sig,
        )
        return {"envelope": envelope.to_json()}
    if path.endswith("/export"):
        return {"manifest_sha256": b64encode(os.urandom(32)), "sealed": False}
    if method == "PATCH":
        return {"status": "triage"}
    return None


async def upload_for_tip(client: Client) -> str:
    content = b"foto"
    ciphertext = b"".join(encrypt_stream(os.urandom(32), [content], len(content)))
    response = await client.post(
        "/api/v1/reporter/attachments",
        data=io.BytesIO(ciphertext),
        headers={
            "Content-Type": "application/octet-stream",
            **proof_header(await solved_proof(client, "submit")),
        },
    )
    assert response.status == 201, await response.text()
    return str((await response.json())["id"])


async def test_no_endpoint_shows_or_changes_another_investigators_case(
    make_gateway: GatewayFactory, organisation: Organisation
) -> None:
    gateway = await make_gateway()
    client, hotline = gateway.client, gateway.hotline
    # The owner receives tips (triage); the intruder is vetted too, but only "investigator",
    # so new tips do not reach them.
    owner = await vetted_person(hotline, organisation, "triage")
    intruder = await vetted_person(hotline, organisation, "investigator")
    attachment_id = await upload_for_tip(client)
    await submit_tip(client, [owner], attachments=[attachment_id])
    owner_token = await log_in(client, owner)
    inbox = await (await client.get("/api/v1/inbox", headers=bearer(owner_token))).json()
    (owned,) = [item["case_id"] for item in inbox["cases"]]
    intruders_own: OpenCase = await open_case_for(hotline, intruder)
    intruder_token = await log_in(client, intruder)
    client.session.cookie_jar.clear()
    operations = sorted(case_operations(gateway))
    assert len(operations) >= 7
    before = await database_snapshot(hotline.database)

    cells = 0
    for method, template in operations:
        answers = {}
        for label, case_id in (("another's case", owned), ("no such case", str(uuid.uuid4()))):
            path = template.replace("{case_id}", case_id).replace("{attachment_id}", attachment_id)
            response = await client.request(
                method,
                path,
                headers=bearer(intruder_token),
                json=request_body(method, template, intruder, case_id),
            )
            text = await response.text()
            assert owned not in text, (method, template)
            answers[label] = (response.status, text)
            cells += 1
        assert answers["another's case"] == answers["no such case"], (method, template, answers)
        assert answers["another's case"][0] == 404, (method, template, answers)

    # The intruder's own case with the owner's attachment id: still nothing.
    response = await client.get(
        f"/api/v1/cases/{intruders_own.id_text}/attachments/{attachment_id}",
        headers=bearer(intruder_token),
    )
    assert response.status == 404
    assert await database_snapshot(hotline.database) == before
    # Control: the owner reaches the same case through the same endpoints.
    mine = await client.get(f"/api/v1/cases/{owned}", headers=bearer(owner_token))
    assert mine.status == 200
    download = await client.get(
        f"/api/v1/cases/{owned}/attachments/{attachment_id}", headers=bearer(owner_token)
    )
    assert download.status == 200
    print(f"IDOR: {cells} requests, {len(operations)} operations, every one refused alike")
