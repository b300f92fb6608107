"""The endpoints anyone may call: the signed directory and proof-of-work challenges."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.crypto.directory import parse_directory
from gateway.crypto.pow import parse_challenge
from gateway.domain.hotline import Hotline
from gateway.web.app import create_app
from tests.fixtures.app import ClientFactory
from tests.fixtures.organisation import Organisation

Client = TestClient[Any, Any]


async def test_the_directory_verifies_against_the_pinned_organisation_key(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await organisation.vet(hotline.directory, "triage")

    response = await client.get("/api/v1/directory")
    assert response.status == 200
    directory = parse_directory(await response.read(), org_public_key=organisation.public_key)
    vetted = directory.vetted(now=directory.entries[0].entry.not_after - 1)
    assert vetted.by_id(person.investigator_id) is not None


async def test_without_an_organisation_key_the_directory_says_so(
    aiohttp_client: ClientFactory, settings: Any
) -> None:
    client = await aiohttp_client(create_app(replace(settings, org_public_key=None)))
    response = await client.get("/api/v1/directory")
    assert response.status == 503
    assert (await response.json())["error"]["code"] == "organisation_not_configured"


async def test_a_challenge_is_issued_for_a_known_purpose(client: Client) -> None:
    response = await client.get("/api/v1/pow", params={"purpose": "submit"})
    assert response.status == 200
    body = await response.json()
    challenge = parse_challenge(body)
    assert challenge.purpose == "submit"
    assert body["difficulty"] == challenge.difficulty == 4


async def test_an_unknown_purpose_is_refused(client: Client) -> None:
    response = await client.get("/api/v1/pow", params={"purpose": "anything"})
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_input"
