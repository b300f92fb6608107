"""The signed directory: who is vetted, as a hash chain of entries signed by the organisation key.

Each entry is canonical JSON `{v, seq, prev, kind, investigator_id, name, roles, enc_pk, sig_pk,
not_after}` with the organisation's Ed25519 signature over its bytes beside it. The server and
both clients verify the same chain with `verify_directory` and compute the same `VettedSet`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

from gateway.crypto.encoding import (
    JsonObject,
    JsonValue,
    b64encode,
    canonical_json,
    parse_canonical_json,
    parse_json,
)
from gateway.crypto.errors import BadDirectory, BadSignature, CryptoError, Malformed
from gateway.crypto.hashing import blake2b_256, equal
from gateway.crypto.keys import (
    PUBLIC_KEY_BYTES,
    SIGNATURE_BYTES,
    Ed25519KeyPair,
    key_id,
    verify_signature,
)
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
HASH_BYTES = 32
# The first entry's `prev`: signatures already bind entries to the organisation key, so a
# constant is enough and is the simplest thing for every implementation to check.
GENESIS_PREV = bytes(HASH_BYTES)
FIRST_SEQ = 1

ADD = "add"
REVOKE = "revoke"
INVESTIGATOR = "investigator"
TRIAGE = "triage"
LIAISON = "liaison"
ADMIN = "admin"
RECOVERY = "recovery"
ROLES = frozenset({INVESTIGATOR, TRIAGE, LIAISON, ADMIN, RECOVERY})

MAX_ENTRY_BYTES = 4096
MAX_ENTRIES = 10_000
MAX_DIRECTORY_BYTES = MAX_ENTRIES * 6 * 1024
MAX_NAME_CHARS = 128

_INVESTIGATOR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_FIELDS = frozenset(
    {
        "v",
        "seq",
        "prev",
        "kind",
        "investigator_id",
        "name",
        "roles",
        "enc_pk",
        "sig_pk",
        "not_after",
    }
)


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One link of the chain.

    `add` vets an investigator (or replaces their earlier entry: new keys, roles or expiry);
    `revoke` ends it and repeats their name and keys, with no roles and `not_after` = the time
    of revocation (informational: a revocation takes effect at its place in the chain).
    """

    seq: int
    prev: bytes
    kind: str
    investigator_id: str
    name: str
    roles: tuple[str, ...]
    enc_pk: bytes
    sig_pk: bytes
    not_after: int

    def __post_init__(self) -> None:
        if self.kind not in {ADD, REVOKE}:
            raise Malformed("entry kind must be add or revoke")
        if _INVESTIGATOR_ID.fullmatch(self.investigator_id) is None:
            raise Malformed("investigator_id must be 1 to 64 letters, digits, '.', '_' or '-'")
        if not 1 <= len(self.name) <= MAX_NAME_CHARS or has_control_characters(self.name):
            raise Malformed(f"name must be 1 to {MAX_NAME_CHARS} printable characters")
        if list(self.roles) != sorted(set(self.roles)) or not set(self.roles) <= ROLES:
            raise Malformed("roles must be known roles, sorted, each listed once")
        if self.kind == ADD and not self.roles:
            raise Malformed("an add entry gives at least one role")
        if self.kind == REVOKE and self.roles:
            raise Malformed("a revoke entry gives no roles")
        # The recovery key never logs in or writes; it must not also hold a working role.
        if RECOVERY in self.roles and len(self.roles) > 1:
            raise Malformed("the recovery role cannot be combined with other roles")
        for key in (self.prev, self.enc_pk, self.sig_pk):
            if len(key) != 32:
                raise Malformed("prev, enc_pk and sig_pk are 32 bytes")
        if self.seq < FIRST_SEQ or self.not_after < 0:
            raise Malformed("seq starts at 1 and not_after is Unix seconds")

    def to_json(self) -> JsonObject:
        return {
            "v": VERSION,
            "seq": self.seq,
            "prev": b64encode(self.prev),
            "kind": self.kind,
            "investigator_id": self.investigator_id,
            "name": self.name,
            "roles": list(self.roles),
            "enc_pk": b64encode(self.enc_pk),
            "sig_pk": b64encode(self.sig_pk),
            "not_after": self.not_after,
        }

    def encode(self) -> bytes:
        return canonical_json(self.to_json())

    @classmethod
    def decode(cls, data: bytes) -> DirectoryEntry:
        what = "entry"
        obj = parse_canonical_json(data, max_bytes=MAX_ENTRY_BYTES, what=what)
        read_object(obj, what=what, required=_FIELDS)
        read_version(obj, what=what, supported=VERSION)
        roles = read_list(obj, "roles", what=what, max_items=len(ROLES))
        if not all(isinstance(role, str) for role in roles):
            raise Malformed("entry.roles must be strings")
        return cls(
            seq=read_int(obj, "seq", what=what, minimum=FIRST_SEQ),
            prev=read_bytes(obj, "prev", what=what, length=HASH_BYTES),
            kind=read_str(obj, "kind", what=what, max_length=8, allowed={ADD, REVOKE}),
            investigator_id=read_str(obj, "investigator_id", what=what, max_length=64),
            name=read_str(obj, "name", what=what, max_length=MAX_NAME_CHARS),
            roles=tuple(str(role) for role in roles),
            enc_pk=read_bytes(obj, "enc_pk", what=what, length=PUBLIC_KEY_BYTES),
            sig_pk=read_bytes(obj, "sig_pk", what=what, length=PUBLIC_KEY_BYTES),
            not_after=read_int(obj, "not_after", what=what),
        )


@dataclass(frozen=True, slots=True)
class SignedEntry:
    """An entry's exact bytes and the organisation's signature over them (not yet verified)."""

    entry_bytes: bytes = field(repr=False)
    entry: DirectoryEntry
    signature: bytes = field(repr=False)

    def to_json(self) -> JsonObject:
        return {"entry": b64encode(self.entry_bytes), "signature": b64encode(self.signature)}

    @classmethod
    def from_json(cls, value: JsonValue) -> SignedEntry:
        what = "signed entry"
        obj = read_object(value, what=what, required={"entry", "signature"})
        entry_bytes = read_bytes(obj, "entry", what=what, max_length=MAX_ENTRY_BYTES)
        return cls(
            entry_bytes=entry_bytes,
            entry=DirectoryEntry.decode(entry_bytes),
            signature=read_bytes(obj, "signature", what=what, length=SIGNATURE_BYTES),
        )


def sign_entry(org_key: Ed25519KeyPair, entry: DirectoryEntry) -> SignedEntry:
    """Sign an entry's canonical bytes with the (offline) organisation key."""
    entry_bytes = entry.encode()
    return SignedEntry(entry_bytes=entry_bytes, entry=entry, signature=org_key.sign(entry_bytes))


def entry_hash(entry_bytes: bytes) -> bytes:
    """BLAKE2b-256 of an entry's bytes: the next entry's `prev`, and the head."""
    return blake2b_256(entry_bytes)


@dataclass(frozen=True)  # no slots: the key ids are cached on first use (cached_property)
class Member:
    """A vetted investigator (or the recovery key) as of one moment."""

    investigator_id: str
    name: str
    roles: frozenset[str]
    enc_pk: bytes
    sig_pk: bytes
    not_after: int
    seq: int

    # Derived once per member: every tip's recipient check asks for them several times.
    @cached_property
    def enc_kid(self) -> bytes:
        return key_id(self.enc_pk)

    @cached_property
    def sig_kid(self) -> bytes:
        return key_id(self.sig_pk)


@dataclass(frozen=True, slots=True)
class VettedSet:
    """Who may receive and sign at time `at`: added, not revoked or replaced, before not_after."""

    at: int
    members: tuple[Member, ...]

    def by_id(self, investigator_id: str) -> Member | None:
        return next((m for m in self.members if m.investigator_id == investigator_id), None)

    def by_enc_kid(self, kid: bytes) -> Member | None:
        return next((m for m in self.members if m.enc_kid == kid), None)

    def by_sig_kid(self, kid: bytes) -> Member | None:
        return next((m for m in self.members if m.sig_kid == kid), None)

    def with_role(self, role: str) -> tuple[Member, ...]:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        return tuple(m for m in self.members if role in m.roles)

    @property
    def enc_kids(self) -> frozenset[bytes]:
        return frozenset(m.enc_kid for m in self.members)

    def new_tip_recipients(self) -> tuple[bytes, ...]:
        """Encryption keys a new tip goes to, besides the reporter's own: triage and recovery."""
        return tuple(m.enc_pk for m in self.members if m.roles & {TRIAGE, RECOVERY})


@dataclass(frozen=True, slots=True)
class Directory:
    """A verified chain and the state it leads to. Build it only with `verify_directory`."""

    org_public_key: bytes
    entries: tuple[SignedEntry, ...]
    head: bytes
    # investigator_id -> their current add entry (absent once revoked)
    current: Mapping[str, DirectoryEntry] = field(repr=False)
    # every public key ever added -> the id it was added for; and every revoked key
    key_owners: Mapping[bytes, str] = field(repr=False)
    revoked_keys: frozenset[bytes] = field(repr=False)

    @classmethod
    def empty(cls, org_public_key: bytes) -> Directory:
        if len(org_public_key) != PUBLIC_KEY_BYTES:
            raise Malformed(f"the organisation key is {PUBLIC_KEY_BYTES} bytes")
        return cls(org_public_key, (), GENESIS_PREV, {}, {}, frozenset())

    @property
    def next_seq(self) -> int:
        return FIRST_SEQ + len(self.entries)

    def extend(self, signed: SignedEntry) -> Directory:
        """This directory with one more entry, or `BadDirectory` naming that entry's seq."""
        seq = self.next_seq
        try:
            return self._extend(signed, seq)
        except BadDirectory:
            raise
        except CryptoError as exc:
            raise BadDirectory(exc.message, seq=seq) from exc

    def _extend(self, signed: SignedEntry, seq: int) -> Directory:
        entry = signed.entry
        if signed.entry_bytes != entry.encode():
            raise Malformed("entry bytes are not the canonical encoding of the entry")
        if entry.seq != seq:
            raise Malformed(f"has seq {entry.seq}, expected {seq}")
        if not equal(entry.prev, self.head):
            raise Malformed("prev is not the hash of the previous entry")
        try:
            verify_signature(self.org_public_key, signed.entry_bytes, signed.signature)
        except BadSignature as exc:
            raise BadSignature("not signed by the organisation key") from exc
        current = dict(self.current)
        owners = dict(self.key_owners)
        revoked = set(self.revoked_keys)
        keys = (entry.enc_pk, entry.sig_pk)
        if entry.kind == ADD:
            if entry.enc_pk == entry.sig_pk:
                raise Malformed("encryption and signing keys must differ")
            for key in keys:
                if key in revoked:
                    raise Malformed("re-adds a revoked key; a revoked key stays revoked")
                if owners.get(key, entry.investigator_id) != entry.investigator_id:
                    raise Malformed("adds a key that belongs to another investigator")
                owners[key] = entry.investigator_id
            current[entry.investigator_id] = entry
        else:
            active = current.get(entry.investigator_id)
            if active is None:
                raise Malformed("revokes an investigator who is not in the directory")
            if (active.name, active.enc_pk, active.sig_pk) != (
                entry.name,
                entry.enc_pk,
                entry.sig_pk,
            ):
                raise Malformed("revoke entry does not repeat the investigator's name and keys")
            revoked.update(keys)
            del current[entry.investigator_id]
        return replace(
            self,
            entries=(*self.entries, signed),
            head=entry_hash(signed.entry_bytes),
            current=current,
            key_owners=owners,
            revoked_keys=frozenset(revoked),
        )

    def vetted(self, now: int) -> VettedSet:
        """Members at Unix time `now`: current add entries with now < not_after."""
        members = tuple(
            Member(
                investigator_id=entry.investigator_id,
                name=entry.name,
                roles=frozenset(entry.roles),
                enc_pk=entry.enc_pk,
                sig_pk=entry.sig_pk,
                not_after=entry.not_after,
                seq=entry.seq,
            )
            for entry in sorted(self.current.values(), key=lambda e: e.investigator_id)
            if now < entry.not_after
        )
        return VettedSet(at=now, members=members)

    def extends(self, seq: int, head: bytes) -> bool:
        """True when entry `seq` of this chain hashes to `head` (seq 0: the genesis value).

        A client that remembers the last (seq, head) it verified refuses a directory for which
        this is false: the server rolled the chain back (hiding a revocation) or forked it.
        """
        if seq == 0:
            return equal(head, GENESIS_PREV)
        if not FIRST_SEQ <= seq <= len(self.entries):
            return False
        return equal(entry_hash(self.entries[seq - 1].entry_bytes), head)

    def is_revoked(self, public_key: bytes) -> bool:
        return public_key in self.revoked_keys

    def added_entry_for_sig_kid(self, kid: bytes) -> DirectoryEntry | None:
        """The latest add entry that listed this signing key, even if since revoked or replaced.

        For showing who signed an old message; whether to trust it now is the VettedSet's call.
        """
        for signed in reversed(self.entries):
            entry = signed.entry
            if entry.kind == ADD and key_id(entry.sig_pk) == kid:
                return entry
        return None

    def add_entry(
        self,
        *,
        investigator_id: str,
        name: str,
        roles: Iterable[str],
        enc_pk: bytes,
        sig_pk: bytes,
        not_after: int,
    ) -> DirectoryEntry:
        """The next entry vetting (or re-vetting) an investigator, ready to sign."""
        return DirectoryEntry(
            seq=self.next_seq,
            prev=self.head,
            kind=ADD,
            investigator_id=investigator_id,
            name=name,
            roles=tuple(sorted(set(roles))),
            enc_pk=enc_pk,
            sig_pk=sig_pk,
            not_after=not_after,
        )

    def revoke_entry(self, investigator_id: str, *, now: int) -> DirectoryEntry:
        """The next entry revoking a current investigator, ready to sign."""
        active = self.current.get(investigator_id)
        if active is None:
            raise Malformed("no current directory entry for that investigator")
        return DirectoryEntry(
            seq=self.next_seq,
            prev=self.head,
            kind=REVOKE,
            investigator_id=investigator_id,
            name=active.name,
            roles=(),
            enc_pk=active.enc_pk,
            sig_pk=active.sig_pk,
            not_after=now,
        )

    def to_json(self) -> JsonObject:
        """The wire form served at GET /api/v1/directory."""
        return {
            "v": VERSION,
            "org_pk": b64encode(self.org_public_key),
            "entries": [signed.to_json() for signed in self.entries],
            "head": b64encode(self.head),
        }


def verify_directory(org_public_key: bytes, entries: Sequence[SignedEntry]) -> Directory:
    """Verify the whole chain from genesis; `BadDirectory.seq` names the first bad entry."""
    directory = Directory.empty(org_public_key)
    for signed in entries:
        directory = directory.extend(signed)
    return directory


def parse_directory(data: bytes | str | JsonValue, *, org_public_key: bytes | None) -> Directory:
    """Parse and verify the served directory.

    With a pinned `org_public_key` a directory under any other key is refused; without one the
    caller must show the received key's fingerprint and say it is unverified.
    """
    what = "directory"
    value = (
        parse_json(data, max_bytes=MAX_DIRECTORY_BYTES, what=what)
        if isinstance(data, bytes | str)
        else data
    )
    obj = read_object(value, what=what, required={"v", "org_pk", "entries", "head"})
    read_version(obj, what=what, supported=VERSION)
    served_key = read_bytes(obj, "org_pk", what=what, length=PUBLIC_KEY_BYTES)
    if org_public_key is not None and not equal(served_key, org_public_key):
        raise BadSignature(
            "the directory is under a different organisation key than the pinned one"
        )
    raw_entries = read_list(obj, "entries", what=what, max_items=MAX_ENTRIES)
    directory = Directory.empty(served_key)
    for raw in raw_entries:
        try:
            signed = SignedEntry.from_json(raw)
        except BadDirectory:
            raise
        except CryptoError as exc:
            raise BadDirectory(exc.message, seq=directory.next_seq) from exc
        directory = directory.extend(signed)
    head = read_bytes(obj, "head", what=what, length=HASH_BYTES)
    if not equal(head, directory.head):
        raise BadDirectory(
            "the served head is not the hash of the last entry", seq=directory.next_seq - 1
        )
    return directory
