"""A compromised server tries to make the reporter's client encrypt for a key of its own.

The gateway here is the real one with one extra middleware, the attacker's: it rewrites the
served directory (or the case's list of investigators) on a real socket. The reporter's
client pins the organisation key; it must notice every forgery and refuse to encrypt —
nothing is uploaded, no tip or reply is sent — or, where the server only names people, wrap
for vetted keys alone.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import pytest
from aiohttp import web

from gateway.client.attachment_files import AttachmentSource
from gateway.client.directory_pin import PinError
from gateway.client.reporter import ReporterClient, ReporterError, TipDraft
from gateway.client.transport import Transport
from gateway.crypto.directory import Directory, SignedEntry, entry_hash, sign_entry
from gateway.crypto.encoding import b64decode, b64encode, canonical_json
from gateway.crypto.envelope import parse_envelope
from gateway.crypto.keys import Ed25519KeyPair, InvestigatorKeys, key_id
from gateway.web.app import create_app
from gateway.web.keys import HOTLINE
from tests.api.reporter_support import vet_with_account
from tests.fixtures.app import ClientFactory, make_settings
from tests.fixtures.organisation import Organisation

ATTACKER: Final = InvestigatorKeys.generate()
ATTACKER_ORG: Final = Ed25519KeyPair.generate()
Forgery = Callable[[dict[str, Any], Directory], dict[str, Any]]


def _append(served: dict[str, Any], signed: SignedEntry) -> dict[str, Any]:
    """The served directory with one more entry, and a head that matches it (so only the
    signature can give the forgery away)."""
    return {
        **served,
        "entries": [*served["entries"], signed.to_json()],
        "head": b64encode(entry_hash(signed.entry_bytes)),
    }


def _attacker_entry(directory: Directory) -> Any:
    return directory.add_entry(
        investigator_id="00000000-0000-4000-8000-000000000666",
        name="Night Triage",
        roles=("triage",),
        enc_pk=ATTACKER.enc.public,
        sig_pk=ATTACKER.sig.public,
        not_after=4_000_000_000,
    )


def unsigned_entry(served: dict[str, Any], directory: Directory) -> dict[str, Any]:
    entry = _attacker_entry(directory)
    return _append(served, SignedEntry(entry.encode(), entry, bytes(64)))


def entry_signed_by_another_key(served: dict[str, Any], directory: Directory) -> dict[str, Any]:
    return _append(served, sign_entry(ATTACKER.sig, _attacker_entry(directory)))


def signed_entry_with_its_key_swapped(
    served: dict[str, Any], directory: Directory
) -> dict[str, Any]:
    last = served["entries"][-1]
    fields = json.loads(b64decode(last["entry"], what="entry"))
    fields["enc_pk"] = b64encode(ATTACKER.enc.public)
    forged = canonical_json(fields)
    entries = [
        *served["entries"][:-1],
        {"entry": b64encode(forged), "signature": last["signature"]},
    ]
    return {**served, "entries": entries, "head": b64encode(entry_hash(forged))}


def directory_under_the_servers_own_key(
    served: dict[str, Any], directory: Directory
) -> dict[str, Any]:
    own = Directory.empty(ATTACKER_ORG.public)
    own = own.extend(sign_entry(ATTACKER_ORG, _attacker_entry(own)))
    return own.to_json()


FORGERIES: Final[dict[str, Forgery]] = {
    "an unsigned entry": unsigned_entry,
    "an entry signed by another key": entry_signed_by_another_key,
    "a signed entry with its key swapped": signed_entry_with_its_key_swapped,
    "a directory under the server's own key": directory_under_the_servers_own_key,
}


class Attacker:
    """The middleware a compromised server runs; it also writes down what clients sent."""

    def __init__(self) -> None:
        self.forgery: Forgery | None = None
        self.fake_investigator: str | None = None
        self.requests: list[tuple[str, str]] = []

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        response = await handler(request)
        if not isinstance(response, web.Response) or response.status != 200:
            return response
        if request.path == "/api/v1/directory" and self.forgery is not None:
            directory = await request.app[HOTLINE].directory.current()
            served = json.loads(response.body)  # type: ignore[arg-type]
            return web.json_response(self.forgery(served, directory))
        if request.path == "/api/v1/reporter/case" and self.fake_investigator is not None:
            view = json.loads(response.body)  # type: ignore[arg-type]
            view["investigators"].append(self.fake_investigator)
            return web.json_response(view)
        return response

    def sent_anything(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path in self.requests if method != "GET"]


@pytest.fixture
async def compromised(
    aiohttp_client: ClientFactory,
    tmp_path: Any,
    database_url: str,
    redis_prefix: str | None,
    organisation: Organisation,
) -> AsyncIterator[tuple[Attacker, Transport, Any]]:
    settings = make_settings(
        tmp_path,
        database_url,
        redis_prefix=redis_prefix,
        org_public_key=organisation.public_key_text,
        pow_difficulty="4",
    )
    app = create_app(settings)
    attacker = Attacker()
    app.middlewares.append(attacker.middleware)
    client = await aiohttp_client(app)
    await vet_with_account(app[HOTLINE], organisation, "triage")
    async with Transport(str(client.make_url("")).rstrip("/")) as transport:
        yield attacker, transport, app


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
async def test_the_reporter_client_refuses_to_encrypt_for_an_injected_key(
    compromised: tuple[Attacker, Transport, Any], organisation: Organisation, forgery: str
) -> None:
    attacker, transport, _ = compromised
    attacker.forgery = FORGERIES[forgery]
    reporter = ReporterClient(transport, organisation.public_key)

    with pytest.raises((ReporterError, PinError)):
        await reporter.submit(
            TipDraft(
                body="Er staat een busje bij de school.",
                attachments=[AttachmentSource.from_bytes("foto.jpg", b"jpeg")],
            )
        )

    assert attacker.sent_anything() == []
    assert ("GET", "/api/v1/pow") not in attacker.requests


async def test_people_the_server_adds_to_a_case_get_no_key_wrapped_for_them(
    compromised: tuple[Attacker, Transport, Any], organisation: Organisation
) -> None:
    """The server names the investigators on a case; the client wraps only for the vetted
    ones among them, taking their keys from the directory it verified."""
    attacker, transport, app = compromised
    reporter = ReporterClient(transport, organisation.public_key)
    submitted = await reporter.submit(TipDraft(body="Er staat een busje bij de school."))
    attacker.fake_investigator = "00000000-0000-4000-8000-000000000666"
    thread = await reporter.open_case(submitted.code)
    assert attacker.fake_investigator in thread.investigators

    await reporter.reply(thread, "Gisteren rond acht uur.")

    hotline = app[HOTLINE]
    async with hotline.database.transaction(read_only=True) as tx:
        stored = await tx.messages.list_for_case(uuid.UUID(thread.case_id))
    envelope = parse_envelope(stored[-1].envelope)
    assert envelope.kind == "reply"
    vetted = (await hotline.directory.vetted()).enc_kids
    wrapped_for = set(envelope.recipient_kids)
    assert key_id(ATTACKER.enc.public) not in wrapped_for
    assert wrapped_for - vetted == {thread.keys.enc.kid}
