"""Dossiers: a case decrypted on the investigator's machine, signed, optionally sealed to the
police, and checked again by whoever receives it (docs/DOSSIER.md).

A dossier is a ZIP file. `manifest.json` (canonical JSON) lists every other file with its size
and SHA-256; `manifest.sig` carries the exporting investigator's Ed25519 signature over the
manifest; the files are the decrypted messages (one JSON file each, and a plain-text
transcript), the attachments as decrypted and checked against the hashes their messages
promised, the envelopes exactly as the gateway stored them, the case's audit trail and the
signed directory that vouches for the exporter's key. Sealed, the whole ZIP is encrypted with a
fresh key (libsodium secretstream, as attachments) that is wrapped for the police X25519 key.

The gateway sees none of it: it records the manifest's SHA-256 in its audit trail and moves
the case to `referred` (`POST /api/v1/cases/{id}/export`) before the file is kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import shutil
import struct
import tempfile
import time
import unicodedata
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import nacl.bindings
import nacl.exceptions

from gateway.client.attachment_files import save_decrypted
from gateway.client.transport import Transport, raise_for_error
from gateway.crypto.directory import Directory, parse_directory
from gateway.crypto.encoding import (
    JsonObject,
    JsonValue,
    b64decode,
    b64encode,
    canonical_json,
    parse_canonical_json,
)
from gateway.crypto.envelope import Envelope, open_as, parse_envelope, verify_envelope_signature
from gateway.crypto.errors import CryptoError
from gateway.crypto.hashing import blake2b_256, length_prefixed
from gateway.crypto.keys import (
    PUBLIC_KEY_BYTES,
    InvestigatorKeys,
    X25519KeyPair,
    fingerprint,
    key_id,
    verify_signature,
)
from gateway.crypto.message import INVESTIGATOR_KINDS, AttachmentRef, MessageContent
from gateway.crypto.stream import decrypt_stream, encrypt_stream

VERSION: Final = 1
KIND: Final = "tipline-dossier"
MANIFEST: Final = "manifest.json"
SIGNATURE: Final = "manifest.sig"
SIGNATURE_LABEL: Final = b"tipline/v1/dossier-manifest"
SEALED_MAGIC: Final = b"TIPLINE-SEALED-DOSSIER-1\n"
MAX_SEALED_HEADER_BYTES: Final = 4096
MAX_MANIFEST_BYTES: Final = 16 * 2**20
MAX_FILES: Final = 100_000
READ_CHUNK_BYTES: Final = 1 << 20
# Entries carry a fixed time: the moment of export is in the signed manifest, and a ZIP
# timestamp would also tell the exporter's local time zone.
_ZIP_TIME: Final = (1980, 1, 1, 0, 0, 0)


class DossierError(Exception):
    """An export could not be made, or a dossier does not verify; the message says why."""


# ------------------------------------------------------------------------------ keys


def signature_digest(manifest_bytes: bytes) -> bytes:
    """What the exporter signs: a labelled hash, so the signature means nothing elsewhere."""
    return blake2b_256(length_prefixed(SIGNATURE_LABEL, manifest_bytes))


def write_police_key(path: Path) -> bytes:
    """Make a police X25519 key pair; the secret goes to `path` (0600), the public key back."""
    keys = X25519KeyPair.generate()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(b64encode(keys.secret) + "\n")
    return keys.public


def read_police_key(path: Path) -> X25519KeyPair:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise DossierError(f"cannot read the key file {path}: {error}") from None
    try:
        return X25519KeyPair.from_secret(b64decode(text, what="police key", length=32))
    except CryptoError:
        raise DossierError(f"{path} does not hold a police key (32 bytes, base64url)") from None


def parse_recipient(text: str) -> bytes:
    """The police public key: base64url text, or the path of a file that holds it."""
    candidate = text.strip()
    if len(candidate) != 43 and Path(candidate).is_file():
        candidate = Path(candidate).read_text(encoding="ascii").strip()
    try:
        return b64decode(candidate, what="police public key", length=PUBLIC_KEY_BYTES)
    except CryptoError:
        raise DossierError(
            "--to takes the police X25519 public key (43 base64url characters) or a file with it"
        ) from None


# ------------------------------------------------------------------------------ sealing


def is_sealed(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(SEALED_MAGIC)) == SEALED_MAGIC


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while piece := handle.read(READ_CHUNK_BYTES):
            yield piece


def seal_file(source: Path, target: Path, recipient_public_key: bytes) -> None:
    """Encrypt `source` for the holder of the X25519 key (one-way: only they open it)."""
    file_key = secrets.token_bytes(32)
    length = source.stat().st_size
    header = canonical_json(
        {
            "v": VERSION,
            "kind": "sealed-dossier",
            "recipient": b64encode(key_id(recipient_public_key)),
            "wrapped": b64encode(nacl.bindings.crypto_box_seal(file_key, recipient_public_key)),
            "length": length,
        }
    )
    with target.open("wb") as out:
        out.write(SEALED_MAGIC + struct.pack(">I", len(header)) + header)
        for piece in encrypt_stream(file_key, _file_chunks(source), length):
            out.write(piece)


def open_sealed(source: Path, target: Path, keys: X25519KeyPair) -> None:
    """Decrypt a sealed dossier into `target`; any changed byte makes it fail."""
    with source.open("rb") as handle:
        if handle.read(len(SEALED_MAGIC)) != SEALED_MAGIC:
            raise DossierError("not a sealed dossier")
        (size,) = struct.unpack(">I", handle.read(4).rjust(4, b"\0"))
        if size > MAX_SEALED_HEADER_BYTES:
            raise DossierError("the sealed dossier's header is malformed")
        try:
            header = parse_canonical_json(
                handle.read(size), max_bytes=MAX_SEALED_HEADER_BYTES, what="sealed header"
            )
            if header.get("recipient") != b64encode(keys.kid):
                raise DossierError("the dossier is sealed to another key")
            file_key = nacl.bindings.crypto_box_seal_open(
                b64decode(header.get("wrapped"), what="wrapped key"), keys.public, keys.secret
            )
        except (CryptoError, nacl.exceptions.CryptoError):
            raise DossierError("the sealed dossier does not open with this key") from None

        def rest() -> Iterator[bytes]:
            while piece := handle.read(READ_CHUNK_BYTES):
                yield piece

        written = 0
        try:
            with target.open("wb") as out:
                for piece in decrypt_stream(file_key, rest()):
                    out.write(piece)
                    written += len(piece)
        except CryptoError as error:
            raise DossierError(f"the sealed dossier was altered ({error.message})") from None
        if written != header.get("length"):
            raise DossierError("the sealed dossier's length does not match its header")


# ------------------------------------------------------------------------------ export


@dataclass(frozen=True, slots=True)
class Exporter:
    """Who exports: their account id and name, and their keys (opened from their bundle)."""

    investigator_id: str
    name: str
    keys: InvestigatorKeys = field(repr=False)


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    case_id: str
    files: int
    unreadable: int
    unverified: int
    sealed: bool
    consent: str | None
    consent_given: bool
    manifest_sha256: bytes
    audit_seq: int


@dataclass
class _Staged:
    """What goes into the ZIP: small files in memory, attachments as files on disk."""

    texts: dict[str, bytes] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    unreadable: list[JsonObject] = field(default_factory=list)
    unverified: int = 0


def _json_file(value: object) -> bytes:
    # Readable by people (indented, UTF-8) and stable (sorted): the manifest hashes the bytes.
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _safe_name(name: str) -> str:
    """A name for inside the ZIP: the envelope already refused paths, so only tidy it."""
    cleaned = unicodedata.normalize("NFC", name).replace("/", "_").replace("\\", "_")
    return cleaned.strip(". ") or "attachment"


class DossierExporter:
    def __init__(
        self,
        transport: Transport,
        *,
        session_token: str,
        exporter: Exporter,
        org_public_key: bytes,
        known_directory: tuple[int, bytes] | None = None,
    ) -> None:
        self._transport = transport
        self._auth = {"Authorization": f"Session {session_token}"}
        self._exporter = exporter
        self._org_public_key = org_public_key
        self._known_directory = known_directory

    async def _get(self, path: str) -> Any:
        return await self._transport.request_json("GET", path, headers=self._auth)

    async def consent(self, case_id: str) -> str | None:
        """The consent on record, to warn before anything is exported."""
        answer = await self._get(f"/api/v1/cases/{case_id}")
        consent: str | None = answer["consent"]
        return consent

    async def export(
        self, case_id: str, out: Path, *, police_public_key: bytes | None = None
    ) -> ExportResult:
        """Build, sign (and seal) the dossier, have the gateway record it, then keep the file.

        The file appears at `out` only after the gateway recorded the export: a dossier that
        left without its audit entry would break the chain of custody.
        """
        if await asyncio.to_thread(out.exists):
            raise DossierError(f"{out} exists already; choose another file name")
        served = await self._transport.request_json("GET", "/api/v1/directory")
        directory = parse_directory(served, org_public_key=self._org_public_key)
        if self._known_directory is not None and not directory.extends(*self._known_directory):
            raise DossierError("the gateway's directory is older than one seen before")
        case = await self._get(f"/api/v1/cases/{case_id}")
        trail = await self._get(f"/api/v1/cases/{case_id}/audit")
        workspace = Path(tempfile.mkdtemp(prefix=".tipline-dossier-", dir=out.parent))
        try:
            staged = await self._stage(case, directory, workspace)
            staged.texts["audit.json"] = _json_file(trail)
            staged.texts["directory.json"] = _json_file(served)
            staged.texts["case.json"] = _json_file(_case_summary(case))
            manifest = self._manifest(case, directory, staged)
            signature = self._exporter.keys.sig.sign(signature_digest(manifest))
            staged.texts[MANIFEST] = manifest
            staged.texts[SIGNATURE] = canonical_json(
                {
                    "v": VERSION,
                    "alg": "ed25519",
                    "signer_pk": b64encode(self._exporter.keys.sig.public),
                    "signature": b64encode(signature),
                }
            )
            plain = workspace / "dossier.zip"
            await asyncio.to_thread(_write_zip, plain, staged)
            final = plain
            if police_public_key is not None:
                final = workspace / "dossier.sealed"
                await asyncio.to_thread(seal_file, plain, final, police_public_key)
            manifest_sha256 = hashlib.sha256(manifest).digest()
            record = await self._transport.request_json(
                "POST",
                f"/api/v1/cases/{case_id}/export",
                json={
                    "manifest_sha256": b64encode(manifest_sha256),
                    "sealed": police_public_key is not None,
                },
                headers=self._auth,
            )
            await asyncio.to_thread(_keep, final, out)
        finally:
            await asyncio.to_thread(shutil.rmtree, workspace, True)
        return ExportResult(
            path=out,
            case_id=case_id,
            files=len(staged.texts)
            + len(staged.files)
            - 2,  # the manifest lists all but itself and its signature
            unreadable=len(staged.unreadable),
            unverified=staged.unverified,
            sealed=police_public_key is not None,
            consent=record["consent"],
            consent_given=bool(record["consent_given"]),
            manifest_sha256=manifest_sha256,
            audit_seq=int(record["audit_seq"]),
        )

    async def _stage(
        self, case: Mapping[str, Any], directory: Directory, workspace: Path
    ) -> _Staged:
        staged = _Staged()
        transcript: list[str] = [f"Case {case['case_id']}", ""]
        downloads = workspace / "attachments"
        downloads.mkdir(mode=0o700)
        for item in case["messages"]:
            seq = int(item["seq"])
            number = f"{seq:04d}"
            envelope = parse_envelope(item["envelope"])
            staged.texts[f"envelopes/{number}.json"] = _json_file(item["envelope"])
            author, problem = _author(envelope, directory)
            if problem is not None:
                staged.unverified += 1
            record: dict[str, Any] = {
                "v": VERSION,
                "seq": seq,
                "kind": item["kind"],
                "stored_at": item["created_at"],
                "visible_to_reporter": item["visible_to_reporter"],
                "author": author,
                "signature": "none"
                if envelope.kind not in INVESTIGATOR_KINDS
                else ("verified" if problem is None else f"refused: {problem}"),
            }
            try:
                content = open_as(envelope, self._exporter.keys.enc)
            except CryptoError as error:
                reason = (
                    "not wrapped for the exporter"
                    if error.code == "not_a_recipient"
                    else (f"cannot be decrypted ({error.code})")
                )
                staged.unreadable.append({"seq": seq, "kind": str(item["kind"]), "reason": reason})
                transcript += [f"#{seq} {item['kind']} — {reason}", ""]
                continue
            record.update(created=content.created, body=content.body, fields=dict(content.fields))
            record["attachments"] = [
                await self._attachment(case, ref, number, downloads, staged)
                for ref in content.attachments
            ]
            staged.texts[f"messages/{number}-{item['kind']}.json"] = _json_file(record)
            transcript += _transcript_lines(seq, record, content)
        staged.texts["transcript.txt"] = "\n".join(transcript).encode()
        return staged

    async def _attachment(
        self,
        case: Mapping[str, Any],
        ref: AttachmentRef,
        number: str,
        downloads: Path,
        staged: _Staged,
    ) -> JsonObject:
        url = self._transport.url(f"/api/v1/cases/{case['case_id']}/attachments/{ref.id}")
        folder = downloads / f"{number}-{ref.id}"
        folder.mkdir(mode=0o700)
        async with self._transport.session.get(url, headers=self._auth) as response:
            await raise_for_error(response, (200,))
            # Decrypted and checked against the size and SHA-256 the message promised.
            saved = await save_decrypted(ref, response.content.iter_chunked(1 << 16), folder)
        path = f"attachments/{number}-{ref.id}-{_safe_name(ref.name)}"
        staged.files[path] = saved
        return {
            "id": ref.id,
            "name": ref.name,
            "size": ref.size,
            "sha256": ref.sha256.hex(),
            "path": path,
        }

    def _manifest(self, case: Mapping[str, Any], directory: Directory, staged: _Staged) -> bytes:
        files: list[JsonValue] = []
        for path, data in sorted(staged.texts.items()):
            files.append(
                {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            )
        for path, stored in sorted(staged.files.items()):
            files.append(
                {"path": path, "size": stored.stat().st_size, "sha256": _sha256_of(stored)}
            )
        files.sort(key=lambda entry: str(entry["path"]) if isinstance(entry, dict) else "")
        exporter = self._exporter
        return canonical_json(
            {
                "v": VERSION,
                "kind": KIND,
                "case_id": str(case["case_id"]),
                "exported_at": int(time.time()),
                "exporter": {
                    "investigator_id": exporter.investigator_id,
                    "name": exporter.name,
                    "sig_pk": b64encode(exporter.keys.sig.public),
                    "fingerprint": fingerprint(exporter.keys.sig.public),
                },
                "organisation": {
                    "public_key": b64encode(directory.org_public_key),
                    "fingerprint": fingerprint(directory.org_public_key),
                },
                "consent": case["consent"],
                "files": files,
                "unreadable": list(staged.unreadable),
            }
        )


def _case_summary(case: Mapping[str, Any]) -> dict[str, Any]:
    keep = (
        "case_id",
        "status",
        "urgent",
        "created_at",
        "consent",
        "acknowledged_at",
        "reporter_pk",
    )
    summary = {name: case.get(name) for name in keep}
    summary["investigators"] = case["investigators"]
    return summary


def _author(envelope: Envelope, directory: Directory) -> tuple[JsonObject, str | None]:
    """Who wrote a message by the signed directory, and what is wrong with its signature."""
    if envelope.kind not in INVESTIGATOR_KINDS:
        return {"role": "reporter"}, None
    kid = envelope.header.signer_kid
    entry = None if kid is None else directory.added_entry_for_sig_kid(kid)
    if entry is None:
        return {"role": "investigator", "name": "unknown signer"}, "not a key the directory lists"
    author: JsonObject = {
        "role": "investigator",
        "investigator_id": entry.investigator_id,
        "name": entry.name,
        "fingerprint": fingerprint(entry.sig_pk),
    }
    try:
        verify_envelope_signature(envelope, entry.sig_pk)
    except CryptoError as error:
        return author, error.message
    return author, None


def _transcript_lines(seq: int, record: Mapping[str, Any], content: MessageContent) -> list[str]:
    author = record["author"]
    who = author.get("name", "reporter") if author["role"] != "reporter" else "reporter"
    lines = [f"#{seq} {record['kind']} by {who} (created {content.created})"]
    lines += [f"  {line}" for line in content.body.splitlines() or [""]]
    lines += [f"  {name}: {value}" for name, value in sorted(content.fields.items())]
    lines += [f"  attachment: {ref.name} ({ref.size} bytes)" for ref in content.attachments]
    return [*lines, ""]


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    for piece in _file_chunks(path):
        digest.update(piece)
    return digest.hexdigest()


def _write_zip(target: Path, staged: _Staged) -> None:
    with zipfile.ZipFile(target, "x") as archive:
        for path, data in sorted(staged.texts.items()):
            info = zipfile.ZipInfo(path, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
        for path, stored in sorted(staged.files.items()):
            info = zipfile.ZipInfo(path, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_STORED  # photos and videos are compressed already
            with stored.open("rb") as source, archive.open(info, "w", force_zip64=True) as sink:
                shutil.copyfileobj(source, sink, READ_CHUNK_BYTES)


def _keep(source: Path, out: Path) -> None:
    source.chmod(0o600)
    # Same folder, so a link: the dossier appears complete or not at all, and a file that
    # appeared at `out` meanwhile is never overwritten (the export is recorded by then, so
    # the dossier is kept under another name rather than lost).
    try:
        out.hardlink_to(source)
    except FileExistsError:
        elsewhere = out.with_name(f"{out.name}.{secrets.token_hex(4)}")
        elsewhere.hardlink_to(source)
        raise DossierError(
            f"{out} appeared meanwhile; the export is recorded and the dossier is in {elsewhere}"
        ) from None


# ------------------------------------------------------------------------------ verify


@dataclass(frozen=True, slots=True)
class DossierReport:
    case_id: str
    exporter: str
    exporter_fingerprint: str
    organisation_fingerprint: str
    exported_at: int
    files: int
    unreadable: int
    consent: str | None
    sealed: bool
    manifest_sha256: bytes


def verify_dossier(
    path: Path,
    *,
    police_key: X25519KeyPair | None = None,
    org_public_key: bytes | None = None,
    signer_fingerprint: str | None = None,
) -> DossierReport:
    """Check a dossier completely; `DossierError` names the first thing that is wrong.

    Checked: the seal (if any) opens and is unaltered; the manifest is canonical and signed by
    the key it names; every file it lists is there with its size and SHA-256 and nothing else
    is; the directory inside is signed by the organisation key (the pinned one, if given) and
    lists the signer's key; the signer is the one expected (if given).
    """
    sealed = is_sealed(path)
    with tempfile.TemporaryDirectory(prefix=".tipline-verify-") as scratch:
        archive_path = path
        if sealed:
            if police_key is None:
                raise DossierError("the dossier is sealed: give the police key file (--key)")
            archive_path = Path(scratch) / "dossier.zip"
            open_sealed(path, archive_path, police_key)
        try:
            with zipfile.ZipFile(archive_path) as archive:
                report = _verify_archive(archive, org_public_key, signer_fingerprint)
        except zipfile.BadZipFile as error:
            raise DossierError(f"the dossier is not an intact ZIP file ({error})") from None
    return DossierReport(**{**report, "sealed": sealed})


def _read_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    with archive.open(name) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise DossierError(f"{name} is larger than a dossier allows")
    return data


def _verify_archive(
    archive: zipfile.ZipFile, org_public_key: bytes | None, signer_fingerprint: str | None
) -> dict[str, Any]:
    names = archive.namelist()
    if len(names) != len(set(names)):
        raise DossierError("the ZIP lists a file twice")
    if MANIFEST not in names or SIGNATURE not in names:
        raise DossierError("the manifest or its signature is missing")
    manifest_bytes = _read_member(archive, MANIFEST, MAX_MANIFEST_BYTES)
    try:
        manifest = parse_canonical_json(
            manifest_bytes, max_bytes=MAX_MANIFEST_BYTES, what="manifest"
        )
        signed = parse_canonical_json(
            _read_member(archive, SIGNATURE, 4096), max_bytes=4096, what="signature"
        )
        signer_pk = b64decode(signed.get("signer_pk"), what="signer_pk", length=32)
        signature = b64decode(signed.get("signature"), what="signature", length=64)
    except CryptoError as error:
        raise DossierError(
            f"the manifest or its signature is malformed ({error.message})"
        ) from None
    if manifest.get("v") != VERSION or manifest.get("kind") != KIND:
        raise DossierError("this is not a version 1 Tipline dossier")
    exporter = manifest.get("exporter")
    if not isinstance(exporter, dict) or exporter.get("sig_pk") != b64encode(signer_pk):
        raise DossierError("the signature is by another key than the manifest's exporter")
    try:
        verify_signature(signer_pk, signature_digest(manifest_bytes), signature)
    except CryptoError:
        raise DossierError("the manifest's signature does not verify (altered)") from None
    if (
        signer_fingerprint is not None
        and fingerprint(signer_pk) != signer_fingerprint.strip().lower()
    ):
        raise DossierError("signed by another investigator than the one expected")
    listed = _check_files(archive, manifest.get("files"), names)
    organisation = _check_directory(archive, manifest, signer_pk, org_public_key)
    unreadable = manifest.get("unreadable")
    consent = manifest.get("consent")
    exported_at = manifest.get("exported_at")
    return {
        "case_id": str(manifest.get("case_id")),
        "exporter": str(exporter.get("name")),
        "exporter_fingerprint": fingerprint(signer_pk),
        "organisation_fingerprint": organisation,
        "exported_at": exported_at if isinstance(exported_at, int) else 0,
        "files": listed,
        "unreadable": len(unreadable) if isinstance(unreadable, list) else 0,
        "consent": consent if isinstance(consent, str) else None,
        "manifest_sha256": hashlib.sha256(manifest_bytes).digest(),
    }


def _check_files(archive: zipfile.ZipFile, files: JsonValue, names: Sequence[str]) -> int:
    if not isinstance(files, list) or len(files) > MAX_FILES:
        raise DossierError("the manifest's file list is malformed")
    expected: dict[str, tuple[int, str]] = {}
    for entry in files:
        if not isinstance(entry, dict):
            raise DossierError("the manifest's file list is malformed")
        path, size, digest = entry.get("path"), entry.get("size"), entry.get("sha256")
        if not isinstance(path, str) or not isinstance(size, int) or not isinstance(digest, str):
            raise DossierError("the manifest's file list is malformed")
        expected[path] = (size, digest)
    extra = set(names) - set(expected) - {MANIFEST, SIGNATURE}
    if extra:
        raise DossierError(f"{sorted(extra)[0]} is in the ZIP but not in the manifest (added)")
    for path, (size, digest) in sorted(expected.items()):
        if path not in names:
            raise DossierError(f"{path} is listed in the manifest but missing (removed)")
        hasher, length = hashlib.sha256(), 0
        with archive.open(path) as member:
            while piece := member.read(READ_CHUNK_BYTES):
                hasher.update(piece)
                length += len(piece)
        if length != size or hasher.hexdigest() != digest:
            raise DossierError(f"{path} does not match its hash in the manifest (altered)")
    return len(expected)


def _check_directory(
    archive: zipfile.ZipFile,
    manifest: Mapping[str, JsonValue],
    signer_pk: bytes,
    org_public_key: bytes | None,
) -> str:
    organisation = manifest.get("organisation")
    if not isinstance(organisation, dict):
        raise DossierError("the manifest does not name the organisation")
    named = b64decode(organisation.get("public_key"), what="organisation key", length=32)
    if org_public_key is not None and named != org_public_key:
        raise DossierError("the dossier names another organisation key than the one given")
    try:
        served = json.loads(_read_member(archive, "directory.json", MAX_MANIFEST_BYTES))
        directory = parse_directory(served, org_public_key=named)
    except (CryptoError, ValueError) as error:
        raise DossierError(f"the directory inside does not verify ({error})") from None
    if directory.added_entry_for_sig_kid(key_id(signer_pk)) is None:
        raise DossierError("the organisation's directory never vetted the signing key")
    return fingerprint(named)
