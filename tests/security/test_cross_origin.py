"""Cross-origin requests and CSRF: a browser logged in to the gateway (the session cookie)
visits another site, which makes it send state-changing requests. Every such endpoint —
listed from the OpenAPI document, so a new one must be added here — refuses them with a
foreign Origin, a "null" Origin (sandboxed frames, some redirects) and no Origin at all, and
the whole database (every row, every column) is unchanged. The same requests from the
gateway's own pages go through.

Also: a WebSocket upgrade from another origin (cross-site WebSocket hijacking), login CSRF,
and no CORS grant to anyone. (SameSite=Strict and HttpOnly on the cookie are pinned in
tests/api/test_auth.py.)
"""

from __future__ import annotations

import os
import time
from typing import Any, Final

import aiohttp
import pytest

from gateway.crypto.encoding import b64encode
from gateway.crypto.envelope import seal
from gateway.crypto.message import MessageContent
from gateway.web.health import OPENAPI_DOCUMENT
from tests.api.investigator_support import OpenCase, Person, open_case_for, vetted_person
from tests.fixtures.organisation import Organisation
from tests.security.support import Gateway, GatewayFactory, database_snapshot

FOREIGN_ORIGINS: Final = {
    "another site": "https://evil.example",
    "a lookalike port": "http://127.0.0.1:1",
    "a null origin": "null",
    "no origin": None,
}
# Endpoints that change state without a session cookie having a say: reporters (no cookie,
# a locator), and the anonymous account endpoints (tested for login CSRF below).
NOT_COOKIE_AUTHENTICATED: Final = {
    ("POST", "/api/v1/cases"),
    ("POST", "/api/v1/reporter/messages"),
    ("POST", "/api/v1/reporter/attachments"),
    ("POST", "/api/v1/reporter/consent"),
    ("DELETE", "/api/v1/reporter/case"),
    ("POST", "/api/v1/enroll"),
    ("POST", "/api/v1/auth/prelogin"),
    ("POST", "/api/v1/auth/login"),
}


def state_changing_operations(gateway: Gateway) -> set[tuple[str, str]]:
    found = set()
    for path, operations in gateway.app[OPENAPI_DOCUMENT]["paths"].items():
        for method in operations:
            if method.upper() not in {"GET", "HEAD", "OPTIONS"}:
                found.add((method.upper(), path))
    return found - NOT_COOKIE_AUTHENTICATED


async def requests_for(
    gateway: Gateway, organisation: Organisation, person: Person, case: OpenCase
) -> dict[tuple[str, str], tuple[str, Any]]:
    """For each cookie-authenticated state change: the concrete path and a body that the
    person's own pages could send successfully."""
    question = seal(
        MessageContent(kind="followup", body="Welke school?", created=int(time.time())),
        recipients=[case.reporter.public, person.keys.enc.public],
        case=case.id_text,
        signer=person.keys.sig,
    )
    entry, _ = await organisation.sign_add(gateway.hotline.directory, "investigator")
    path = f"/api/v1/cases/{case.id_text}"
    return {
        ("PATCH", "/api/v1/cases/{case_id}"): (path, {"status": "triage"}),
        ("POST", "/api/v1/cases/{case_id}/messages"): (
            f"{path}/messages",
            {"envelope": question.to_json()},
        ),
        ("POST", "/api/v1/cases/{case_id}/ack"): (f"{path}/ack", None),
        ("POST", "/api/v1/cases/{case_id}/export"): (
            f"{path}/export",
            {"manifest_sha256": b64encode(os.urandom(32)), "sealed": False},
        ),
        ("PUT", "/api/v1/me/duty"): ("/api/v1/me/duty", {"on_duty": False}),
        ("POST", "/api/v1/admin/invites"): ("/api/v1/admin/invites", {"roles": ["triage"]}),
        ("POST", "/api/v1/admin/directory"): ("/api/v1/admin/directory", entry.to_json()),
        ("POST", "/api/v1/auth/logout"): ("/api/v1/auth/logout", None),
    }


async def cookie_login(
    gateway: Gateway, person: Person, origin: str | None
) -> aiohttp.ClientResponse:
    headers = {"Origin": origin} if origin else {}
    return await gateway.client.post(
        "/api/v1/auth/login",
        json={
            "username": person.username,
            "auth_key": b64encode(person.auth_key),
            "totp": person.fresh_code(),
        },
        headers=headers,
    )


async def test_state_changes_riding_on_the_cookie_from_elsewhere_are_refused_and_change_nothing(
    make_gateway: GatewayFactory, organisation: Organisation
) -> None:
    gateway = await make_gateway()
    person = await vetted_person(gateway.hotline, organisation, "triage", "admin")
    case = await open_case_for(gateway.hotline, person, urgent=True)
    assert (await cookie_login(gateway, person, gateway.origin)).status == 200
    planned = await requests_for(gateway, organisation, person, case)
    assert set(planned) == state_changing_operations(gateway), "a new endpoint needs a row"
    before = await database_snapshot(gateway.hotline.database)

    refused = 0
    for (method, _), (path, body) in sorted(planned.items()):
        for label, origin in FOREIGN_ORIGINS.items():
            headers = {"Origin": origin} if origin else {}
            response = await gateway.client.request(method, path, json=body, headers=headers)
            assert response.status == 403, (method, path, label, await response.text())
            assert (await response.json())["error"]["code"] == "origin_refused"
            refused += 1

    assert await database_snapshot(gateway.hotline.database) == before
    # The same requests from the gateway's own pages (logout last: it ends the session).
    for (method, _), (path, body) in sorted(
        planned.items(), key=lambda item: "logout" in item[1][0]
    ):
        response = await gateway.client.request(
            method, path, json=body, headers={"Origin": gateway.origin}
        )
        assert response.status < 300, (method, path, await response.text())
    assert await database_snapshot(gateway.hotline.database) != before
    print(f"cross-origin: {refused} forged requests refused")


async def test_a_websocket_from_another_origin_cannot_ride_on_the_cookie(
    make_gateway: GatewayFactory, organisation: Organisation
) -> None:
    gateway = await make_gateway()
    person = await vetted_person(gateway.hotline, organisation, "triage")
    assert (await cookie_login(gateway, person, gateway.origin)).status == 200
    for origin in ("https://evil.example", "null", None):
        headers = {"Origin": origin} if origin else {}
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await gateway.client.ws_connect("/api/v1/events", headers=headers)
        assert refused.value.status == 403
    own = await gateway.client.ws_connect("/api/v1/events", headers={"Origin": gateway.origin})
    assert (await own.receive_json(timeout=5))["topic"] == "ready"
    await own.close()


async def test_another_site_cannot_log_a_browser_in(
    make_gateway: GatewayFactory, organisation: Organisation
) -> None:
    """Login CSRF: a foreign page must not plant its own session in the victim's browser."""
    gateway = await make_gateway()
    person = await vetted_person(gateway.hotline, organisation, "triage")
    response = await cookie_login(gateway, person, "https://evil.example")
    assert response.status == 403
    assert "Set-Cookie" not in response.headers
    assert len(gateway.client.session.cookie_jar) == 0


async def test_no_other_origin_is_granted_cross_origin_reads(
    make_gateway: GatewayFactory, organisation: Organisation
) -> None:
    gateway = await make_gateway()
    person = await vetted_person(gateway.hotline, organisation, "triage")
    await cookie_login(gateway, person, gateway.origin)
    evil = {"Origin": "https://evil.example"}
    preflight = await gateway.client.options(
        "/api/v1/inbox", headers={**evil, "Access-Control-Request-Method": "GET"}
    )
    reads = [
        await gateway.client.get(path, headers=evil) for path in ("/api/v1/inbox", "/api/v1/me")
    ]
    for response in (preflight, *reads):
        granted = {
            name.lower() for name in response.headers if name.lower().startswith("access-control-")
        }
        assert granted == set(), (response.url, granted)
        assert response.headers.get("Cross-Origin-Resource-Policy") == "same-origin"
