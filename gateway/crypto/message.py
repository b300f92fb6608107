"""The plaintext inside an envelope: what a tip, question, reply or note says, and its attachments.

It is canonical JSON `{v, kind, body, fields, attachments, created}`, padded and encrypted by
gateway.crypto.envelope; nobody but the recipients ever sees it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.crypto.encoding import (
    JsonObject,
    JsonValue,
    b64encode,
    canonical_json,
    parse_canonical_json,
)
from gateway.crypto.errors import Malformed
from gateway.crypto.padding import MAX_ENVELOPE_PLAINTEXT
from gateway.crypto.shape import (
    has_control_characters,
    read_bytes,
    read_int,
    read_list,
    read_object,
    read_str,
    read_version,
)

VERSION = 1

# Who writes which kind decides who must sign (see gateway.crypto.envelope).
REPORTER_KINDS = frozenset({"tip", "reply", "consent_answer"})
INVESTIGATOR_KINDS = frozenset({"followup", "note", "consent_request"})
KINDS = REPORTER_KINDS | INVESTIGATOR_KINDS

MAX_FIELDS = 64
MAX_FIELD_VALUE_CHARS = 65_536
MAX_ATTACHMENTS = 64
MAX_ATTACHMENT_NAME_CHARS = 255
MAX_ATTACHMENT_BYTES = 2**34  # 16 GiB; far above any server limit, far below 2**53
ATTACHMENT_KEY_BYTES = 32
SHA256_BYTES = 32

# Field names are ASCII identifiers, which also keeps canonical key order the same everywhere.
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_ATTACHMENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    """How to find, decrypt and check one attachment; travels only inside the envelope."""

    id: str
    key: bytes = field(repr=False)
    name: str
    size: int
    sha256: bytes

    def __post_init__(self) -> None:
        if _ATTACHMENT_ID.fullmatch(self.id) is None:
            raise Malformed("attachment id must be 1 to 64 base64url characters")
        if len(self.key) != ATTACHMENT_KEY_BYTES:
            raise Malformed(f"attachment key must be {ATTACHMENT_KEY_BYTES} bytes")
        # The name becomes a file name on an investigator's machine: no paths, no controls.
        if (
            not 1 <= len(self.name) <= MAX_ATTACHMENT_NAME_CHARS
            or has_control_characters(self.name)
            or "/" in self.name
            or "\\" in self.name
            or self.name in {".", ".."}
        ):
            raise Malformed("attachment name must be a plain file name of 1 to 255 characters")
        if not 0 <= self.size <= MAX_ATTACHMENT_BYTES:
            raise Malformed("attachment size is out of range")
        if len(self.sha256) != SHA256_BYTES:
            raise Malformed(f"attachment sha256 must be {SHA256_BYTES} bytes")

    def to_json(self) -> JsonObject:
        return {
            "id": self.id,
            "key": b64encode(self.key),
            "name": self.name,
            "size": self.size,
            "sha256": b64encode(self.sha256),
        }

    @classmethod
    def from_json(cls, value: JsonValue) -> AttachmentRef:
        what = "attachment"
        obj = read_object(value, what=what, required={"id", "key", "name", "size", "sha256"})
        return cls(
            id=read_str(obj, "id", what=what, min_length=1, max_length=64),
            key=read_bytes(obj, "key", what=what, length=ATTACHMENT_KEY_BYTES),
            name=read_str(obj, "name", what=what, min_length=1, max_length=255),
            size=read_int(obj, "size", what=what, maximum=MAX_ATTACHMENT_BYTES),
            sha256=read_bytes(obj, "sha256", what=what, length=SHA256_BYTES),
        )


@dataclass(frozen=True, slots=True)
class MessageContent:
    """What a message says. `fields` holds structured form answers (name -> text)."""

    kind: str
    body: str = field(repr=False)
    created: int
    fields: Mapping[str, str] = field(default_factory=dict, repr=False)
    attachments: tuple[AttachmentRef, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise Malformed(f"unknown message kind; expected one of {', '.join(sorted(KINDS))}")
        if not isinstance(self.body, str):
            raise Malformed("message body must be text")
        if (
            not isinstance(self.created, int)
            or isinstance(self.created, bool)
            or not 0 <= self.created <= 2**53 - 1
        ):
            raise Malformed("created must be Unix seconds")
        if len(self.fields) > MAX_FIELDS:
            raise Malformed(f"a message has at most {MAX_FIELDS} fields")
        for name, value in self.fields.items():
            if _FIELD_NAME.fullmatch(name) is None:
                raise Malformed("field names are lower-case ASCII identifiers of up to 64 chars")
            if not isinstance(value, str) or len(value) > MAX_FIELD_VALUE_CHARS:
                raise Malformed(f"field values are text of up to {MAX_FIELD_VALUE_CHARS} chars")
        if len(self.attachments) > MAX_ATTACHMENTS:
            raise Malformed(f"a message has at most {MAX_ATTACHMENTS} attachments")
        if len({ref.id for ref in self.attachments}) != len(self.attachments):
            raise Malformed("attachment ids within a message must be unique")

    def to_json(self) -> JsonObject:
        return {
            "v": VERSION,
            "kind": self.kind,
            "body": self.body,
            "fields": dict(self.fields),
            "attachments": [ref.to_json() for ref in self.attachments],
            "created": self.created,
        }

    def encode(self) -> bytes:
        """Canonical JSON bytes (before padding)."""
        data = canonical_json(self.to_json())
        if len(data) > MAX_ENVELOPE_PLAINTEXT:
            raise Malformed(f"a message may have at most {MAX_ENVELOPE_PLAINTEXT} bytes")
        return data

    @classmethod
    def decode(cls, data: bytes) -> MessageContent:
        """Parse decrypted, unpadded bytes strictly (canonical JSON, exact fields, version 1)."""
        what = "message"
        obj = parse_canonical_json(data, max_bytes=MAX_ENVELOPE_PLAINTEXT, what=what)
        read_object(
            obj,
            what=what,
            required={"v", "kind", "body", "fields", "attachments", "created"},
        )
        read_version(obj, what=what, supported=VERSION)
        fields_value = obj["fields"]
        if not isinstance(fields_value, dict):
            raise Malformed("message.fields must be an object")
        fields: dict[str, str] = {}
        for name, value in fields_value.items():
            if not isinstance(value, str):
                raise Malformed("message.fields values must be text")
            fields[name] = value
        return cls(
            kind=read_str(obj, "kind", what=what, max_length=32, allowed=KINDS),
            body=read_str(obj, "body", what=what, max_length=MAX_ENVELOPE_PLAINTEXT),
            created=read_int(obj, "created", what=what),
            fields=fields,
            attachments=tuple(
                AttachmentRef.from_json(item)
                for item in read_list(obj, "attachments", what=what, max_items=MAX_ATTACHMENTS)
            ),
        )
