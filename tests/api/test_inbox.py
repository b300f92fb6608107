"""The inbox: only the caller's cases, newest first, paged by cursor, filtered."""

from __future__ import annotations

from typing import Any

from gateway.domain.hotline import Hotline
from tests.api.investigator_support import (
    Client,
    bearer,
    log_in,
    open_case_for,
    vetted_person,
)
from tests.fixtures.organisation import Organisation


async def pages(client: Client, token: str, **query: str) -> list[list[dict[str, Any]]]:
    collected = []
    cursor = None
    while True:
        params = dict(query)
        if cursor:
            params["cursor"] = cursor
        response = await client.get("/api/v1/inbox", params=params, headers=bearer(token))
        assert response.status == 200, await response.text()
        body = await response.json()
        collected.append(body["cases"])
        cursor = body["next_cursor"]
        if cursor is None:
            return collected


async def test_the_inbox_pages_through_every_case_once_newest_first(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vetted_person(hotline, organisation, "triage")
    cases = [await open_case_for(hotline, person) for _ in range(7)]
    token = await log_in(client, person)

    listed = await pages(client, token, limit="3")

    assert [len(page) for page in listed] == [3, 3, 1]
    ids = [item["case_id"] for page in listed for item in page]
    assert sorted(ids) == sorted(case.id_text for case in cases)
    added = [item["added_at"] for page in listed for item in page]
    assert added == sorted(added, reverse=True)
    assert all(item["unread"] for page in listed for item in page)


async def test_the_inbox_lists_only_the_callers_cases(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    mine = await vetted_person(hotline, organisation, "triage")
    theirs = await vetted_person(hotline, organisation, "triage")
    my_case = await open_case_for(hotline, mine)
    await open_case_for(hotline, theirs)

    (page,) = await pages(client, await log_in(client, mine))

    assert [item["case_id"] for item in page] == [my_case.id_text]


async def test_filters_by_status_urgency_and_assignment(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vetted_person(hotline, organisation, "triage")
    plain = await open_case_for(hotline, person)
    urgent = await open_case_for(hotline, person, urgent=True)
    assigned = await open_case_for(hotline, person)
    token = await log_in(client, person)
    patched = await client.patch(
        f"/api/v1/cases/{assigned.id_text}",
        json={"status": "triage", "assignee_id": person.id_text},
        headers=bearer(token),
    )
    assert patched.status == 200

    def ids(listed: list[list[dict[str, Any]]]) -> set[str]:
        return {item["case_id"] for page in listed for item in page}

    assert ids(await pages(client, token, urgent="true")) == {urgent.id_text}
    assert ids(await pages(client, token, urgent="false")) == {plain.id_text, assigned.id_text}
    assert ids(await pages(client, token, status="triage")) == {assigned.id_text}
    assert ids(await pages(client, token, status="new")) == {plain.id_text, urgent.id_text}
    assert ids(await pages(client, token, assigned="me")) == {assigned.id_text}


async def test_opening_a_case_marks_it_read(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vetted_person(hotline, organisation, "triage")
    case = await open_case_for(hotline, person)
    token = await log_in(client, person)
    assert (await client.get(f"/api/v1/cases/{case.id_text}", headers=bearer(token))).status == 200
    ((item,),) = await pages(client, token)
    assert item["unread"] is False


async def test_bad_cursors_limits_and_filters_are_refused(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    token = await log_in(client, await vetted_person(hotline, organisation, "triage"))
    for params in (
        {"cursor": "not-a-cursor"},
        {"limit": "0"},
        {"limit": "1000"},
        {"limit": "many"},
        {"status": "lost"},
        {"urgent": "maybe"},
        {"assigned": "bob"},
    ):
        response = await client.get("/api/v1/inbox", params=params, headers=bearer(token))
        assert response.status == 400, params
