"""Dossiers: exported on the client, recorded by the gateway (audit entry, case referred),
verified by anyone; a changed byte in any file, or in a sealed dossier, fails verification."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
import zipfile
from pathlib import Path

import pytest

from gateway.client.dossier import (
    MANIFEST,
    DossierError,
    is_sealed,
    read_police_key,
    verify_dossier,
    write_police_key,
)
from gateway.client.transport import ApiError
from gateway.crypto.keys import Ed25519KeyPair, fingerprint
from gateway.domain.hotline import Hotline
from gateway.store.records import CaseStatus
from tests.api.dossier_support import (
    ANSWER,
    QUESTION,
    TIP,
    case_with_attachment,
    export_case,
    with_thread,
)
from tests.api.emergency_support import Client
from tests.api.investigator_support import bearer, log_in, open_case_for, vetted_person
from tests.fixtures.organisation import Organisation


async def test_a_dossier_round_trip_verifies_and_the_gateway_records_the_export(
    client: Client, hotline: Hotline, organisation: Organisation, tmp_path: Path
) -> None:
    lead = await vetted_person(hotline, organisation, "triage", "investigator")
    case = await open_case_for(hotline, lead, body=TIP)
    token = await with_thread(client, hotline, case, lead)
    out = tmp_path / "dossier.zip"

    result = await export_case(
        client, lead, token, case.id_text, out, org_public_key=organisation.public_key
    )
    report = verify_dossier(out, org_public_key=organisation.public_key)

    assert result.consent == "given"
    assert result.consent_given
    assert (result.unreadable, result.unverified, result.sealed) == (0, 0, False)
    assert report.case_id == case.id_text
    assert report.exporter == lead.display_name
    assert report.exporter_fingerprint == fingerprint(lead.keys.sig.public)
    assert report.organisation_fingerprint == fingerprint(organisation.public_key)
    assert report.manifest_sha256 == result.manifest_sha256
    assert report.consent == "given"
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        transcript = archive.read("transcript.txt").decode()
        tip = json.loads(archive.read("messages/0001-tip.json"))
        question = json.loads(archive.read("messages/0002-followup.json"))
        trail = json.loads(archive.read("audit.json"))
        manifest = json.loads(archive.read(MANIFEST))
    assert {"manifest.json", "manifest.sig", "audit.json", "case.json", "directory.json"} <= names
    assert {f"envelopes/000{n}.json" for n in range(1, 5)} <= names
    assert tip["body"] == TIP
    assert tip["author"] == {"role": "reporter"}
    assert question["author"]["name"] == lead.display_name
    assert question["signature"] == "verified"
    for text in (TIP, QUESTION, ANSWER):
        assert text in transcript
    # The trail as it stood when the exporter read the case (the export entry comes after).
    assert [entry["action"] for entry in trail["entries"]][-3:] == [
        "case.ask",
        "case.consent_request",
        "case.open",
    ]
    assert sorted(entry["path"] for entry in manifest["files"]) == sorted(
        names - {MANIFEST, "manifest.sig"}
    )
    # The gateway: the case is referred, and the export is the last entry of its trail.
    async with hotline.database.transaction(read_only=True) as tx:
        stored = await tx.cases.get(case.case.id)
    assert stored is not None
    assert stored.status is CaseStatus.REFERRED
    [export] = [
        e
        for e in await hotline.audit.for_case(hotline.database, case.case.id)
        if e.action == "case.export"
    ]
    assert export.seq == result.audit_seq
    assert export.actor_id == lead.investigator_id
    assert export.details == {
        "manifest": result.manifest_sha256.hex(),
        "sealed": False,
        "consent": "given",
        "from": "new",
    }


async def test_a_changed_byte_in_any_file_of_the_dossier_fails_verification(
    client: Client, hotline: Hotline, organisation: Organisation, tmp_path: Path
) -> None:
    lead = await vetted_person(hotline, organisation, "triage")
    case = await open_case_for(hotline, lead, body=TIP)
    token = await with_thread(client, hotline, case, lead)
    out = tmp_path / "dossier.zip"
    await export_case(
        client, lead, token, case.id_text, out, org_public_key=organisation.public_key
    )
    with zipfile.ZipFile(out) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}

    failures = {}
    for name, data in members.items():
        for position in {0, len(data) // 2, len(data) - 1}:
            changed = bytearray(data)
            changed[position] ^= 0x01
            tampered = tmp_path / "tampered.zip"
            with zipfile.ZipFile(tampered, "w") as archive:
                for other, content in members.items():
                    archive.writestr(other, bytes(changed) if other == name else content)
            with pytest.raises(DossierError) as refused:
                verify_dossier(tampered)
            failures[(name, position)] = str(refused.value)
            tampered.unlink()

    assert len(failures) >= len(members)
    assert all(failures.values())


@pytest.mark.parametrize("change", ["added", "removed", "other_signer", "wrong_org"])
async def test_an_added_or_removed_file_or_a_foreign_signer_fails_verification(
    client: Client, hotline: Hotline, organisation: Organisation, tmp_path: Path, change: str
) -> None:
    lead = await vetted_person(hotline, organisation, "triage")
    case = await open_case_for(hotline, lead, body=TIP)
    token = await with_thread(client, hotline, case, lead)
    out = tmp_path / "dossier.zip"
    await export_case(
        client, lead, token, case.id_text, out, org_public_key=organisation.public_key
    )
    with zipfile.ZipFile(out) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    expected_org = organisation.public_key
    if change == "added":
        members["attachments/9999-extra.txt"] = b"planted"
    elif change == "removed":
        del members["messages/0003-consent_request.json"]
    elif change == "wrong_org":
        expected_org = Ed25519KeyPair.generate().public
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)

    with pytest.raises(DossierError):
        verify_dossier(
            tampered,
            org_public_key=expected_org,
            signer_fingerprint=(
                fingerprint(Ed25519KeyPair.generate().public) if change == "other_signer" else None
            ),
        )


async def test_a_sealed_dossier_opens_only_with_the_police_key_and_any_changed_byte_fails(
    client: Client, hotline: Hotline, organisation: Organisation, tmp_path: Path
) -> None:
    lead = await vetted_person(hotline, organisation, "triage")
    case = await open_case_for(hotline, lead, body=TIP)
    token = await with_thread(client, hotline, case, lead)
    police_file = tmp_path / "police.key"
    police_public = write_police_key(police_file)
    other_file = tmp_path / "other.key"
    write_police_key(other_file)
    out = tmp_path / "dossier.sealed"

    result = await export_case(
        client,
        lead,
        token,
        case.id_text,
        out,
        org_public_key=organisation.public_key,
        police_public_key=police_public,
    )

    assert result.sealed
    assert is_sealed(out)
    assert TIP.encode() not in out.read_bytes()
    assert out.stat().st_mode & 0o777 == 0o600
    assert police_file.stat().st_mode & 0o777 == 0o600
    report = verify_dossier(out, police_key=read_police_key(police_file))
    assert report.sealed
    assert report.manifest_sha256 == result.manifest_sha256
    with pytest.raises(DossierError, match="sealed"):
        verify_dossier(out)
    with pytest.raises(DossierError, match="another key"):
        verify_dossier(out, police_key=read_police_key(other_file))
    data = out.read_bytes()
    for position in (30, 60, len(data) // 3, len(data) // 2, len(data) - 20, len(data) - 1):
        changed = bytearray(data)
        changed[position] ^= 0x80
        tampered = tmp_path / "tampered.sealed"
        tampered.write_bytes(bytes(changed))
        with pytest.raises(DossierError):
            verify_dossier(tampered, police_key=read_police_key(police_file))
    [entry] = [
        e
        for e in await hotline.audit.for_case(hotline.database, case.case.id)
        if e.action == "case.export"
    ]
    assert entry.details["sealed"] is True


async def test_without_consent_the_export_goes_through_and_says_so(
    client: Client, hotline: Hotline, organisation: Organisation, tmp_path: Path
) -> None:
    lead = await vetted_person(hotline, organisation, "triage")
    case = await open_case_for(hotline, lead, body=TIP)
    token = await with_thread(client, hotline, case, lead, consent=False)

    result = await export_case(
        client,
        lead,
        token,
        case.id_text,
        tmp_path / "d.zip",
        org_public_key=organisation.public_key,
    )

    assert result.consent == "requested"
    assert not result.consent_given
    assert verify_dossier(tmp_path / "d.zip").consent == "requested"


async def test_messages_not_wrapped_for_the_exporter_are_included_encrypted_only(
    client: Client, hotline: Hotline, organisation: Organisation, tmp_path: Path
) -> None:
    first = await vetted_person(hotline, organisation, "triage")
    late = await vetted_person(hotline, organisation, "investigator")
    case = await open_case_for(hotline, first, body=TIP)
    first_token = await log_in(client, first)
    assigned = await client.patch(
        f"/api/v1/cases/{case.id_text}",
        json={"assignee_id": late.id_text},
        headers=bearer(first_token),
    )
    assert assigned.status == 200

    result = await export_case(
        client,
        late,
        await log_in(client, late),
        case.id_text,
        tmp_path / "d.zip",
        org_public_key=organisation.public_key,
    )

    assert result.unreadable == 1
    with zipfile.ZipFile(tmp_path / "d.zip") as archive:
        manifest = json.loads(archive.read(MANIFEST))
        assert "envelopes/0001.json" in archive.namelist()
        assert not any(name.startswith("messages/0001") for name in archive.namelist())
    assert manifest["unreadable"] == [
        {"seq": 1, "kind": "tip", "reason": "not wrapped for the exporter"}
    ]
    assert verify_dossier(tmp_path / "d.zip").unreadable == 1


async def test_only_investigators_on_an_open_case_export_it(
    client: Client, hotline: Hotline, organisation: Organisation, tmp_path: Path
) -> None:
    lead = await vetted_person(hotline, organisation, "triage")
    outsider = await vetted_person(hotline, organisation, "investigator")
    case = await open_case_for(hotline, lead, body=TIP)
    token = await log_in(client, lead)
    folder = tmp_path / "out"
    folder.mkdir()

    with pytest.raises(ApiError) as not_theirs:
        await export_case(
            client,
            outsider,
            await log_in(client, outsider),
            case.id_text,
            folder / "a.zip",
            org_public_key=organisation.public_key,
        )
    closed = await client.patch(
        f"/api/v1/cases/{case.id_text}", json={"status": "closed"}, headers=bearer(token)
    )
    assert closed.status == 200
    with pytest.raises(ApiError) as ended:
        await export_case(
            client,
            lead,
            token,
            case.id_text,
            folder / "b.zip",
            org_public_key=organisation.public_key,
        )
    direct = await client.post(
        f"/api/v1/cases/{uuid.uuid4()}/export",
        json={"manifest_sha256": "A" * 43, "sealed": False},
        headers=bearer(token),
    )
    malformed = await client.post(
        f"/api/v1/cases/{case.id_text}/export",
        json={"manifest_sha256": "short", "sealed": False},
        headers=bearer(token),
    )

    assert not_theirs.value.status == 404
    assert ended.value.status == 409
    assert direct.status == 404
    assert malformed.status == 400
    # Nothing was kept and nothing recorded for the refused exports.
    assert await asyncio.to_thread(lambda: sorted(path.name for path in folder.iterdir())) == []
    actions = [e.action for e in await hotline.audit.for_case(hotline.database, case.case.id)]
    assert "case.export" not in actions


async def test_attachments_are_decrypted_checked_and_hashed_into_the_dossier(
    client: Client, hotline: Hotline, organisation: Organisation, tmp_path: Path
) -> None:
    lead = await vetted_person(hotline, organisation, "triage")
    photo = os.urandom(200_000)
    case, _ = await case_with_attachment(hotline, lead, name="foto 1.jpg", content=photo)
    token = await log_in(client, lead)
    out = tmp_path / "with-photo.zip"

    result = await export_case(
        client, lead, token, case.id_text, out, org_public_key=organisation.public_key
    )

    with zipfile.ZipFile(out) as archive:
        [path] = [name for name in archive.namelist() if name.startswith("attachments/")]
        stored = archive.read(path)
        tip = json.loads(archive.read("messages/0001-tip.json"))
        manifest = json.loads(archive.read(MANIFEST))
    assert path.endswith("-foto 1.jpg")
    assert stored == photo
    assert tip["attachments"][0]["path"] == path
    assert tip["attachments"][0]["sha256"] == hashlib.sha256(photo).hexdigest()
    [listed] = [entry for entry in manifest["files"] if entry["path"] == path]
    assert listed == {"path": path, "size": len(photo), "sha256": hashlib.sha256(photo).hexdigest()}
    assert verify_dossier(out).files == result.files
    downloads = [
        (e.actor_id, e.details)
        for e in await hotline.audit.for_case(hotline.database, case.case.id)
        if e.action == "case.download"
    ]
    assert downloads == [(lead.investigator_id, {"attachment": tip["attachments"][0]["id"]})]


async def test_investigators_download_only_attachments_of_their_cases(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    lead = await vetted_person(hotline, organisation, "triage")
    outsider = await vetted_person(hotline, organisation, "investigator")
    case, ciphertext = await case_with_attachment(hotline, lead, name="a.bin", content=b"x" * 1000)
    other, _ = await case_with_attachment(hotline, outsider, name="b.bin", content=b"y" * 10)
    async with hotline.database.transaction(read_only=True) as tx:
        [mine] = await tx.attachments.list_for_case(case.case.id)
        [theirs] = await tx.attachments.list_for_case(other.case.id)
    token = await log_in(client, lead)

    own = await client.get(
        f"/api/v1/cases/{case.id_text}/attachments/{mine.id}", headers=bearer(token)
    )
    body = await own.read()
    elsewhere = await client.get(
        f"/api/v1/cases/{case.id_text}/attachments/{theirs.id}", headers=bearer(token)
    )
    not_on_case = await client.get(
        f"/api/v1/cases/{other.id_text}/attachments/{theirs.id}", headers=bearer(token)
    )
    garbage = await client.get("/api/v1/cases/x/attachments/y", headers=bearer(token))

    assert own.status == 200
    assert body == ciphertext
    assert elsewhere.status == 404
    assert not_on_case.status == 404
    assert garbage.status == 404
    assert (await not_on_case.json()) == (await garbage.json())
