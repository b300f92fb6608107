"""Investigator accounts as the rules see them: names people type, and who counts as a caller.

An account alone grants nothing. A caller is an account that is active *and* whose keys the
signed directory vets right now; both are checked on every request, so a revocation or an
expired entry ends access at once, whatever sessions still exist.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final
from uuid import UUID

from gateway.crypto.directory import MAX_NAME_CHARS, Member, VettedSet
from gateway.crypto.shape import has_control_characters
from gateway.domain.errors import InvalidInput
from gateway.store.records import Investigator, InvestigatorStatus

USERNAME_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9._-]{1,31}")


def normalise_username(typed: str) -> str:
    """NFKC, lower case, trimmed; 2-32 of `a-z 0-9 . _ -`, starting with a letter or digit.

    One spelling per person: "Alice" and "alice " are the same login, and look-alike
    characters from other scripts cannot make a second account that reads the same.
    """
    username = unicodedata.normalize("NFKC", typed).strip().lower()
    if USERNAME_PATTERN.fullmatch(username) is None:
        raise InvalidInput(
            "A username has 2 to 32 characters: a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return username


def check_display_name(name: str) -> str:
    """The name the directory entry will carry: 1-128 printable characters."""
    cleaned = unicodedata.normalize("NFC", name).strip()
    if not 1 <= len(cleaned) <= MAX_NAME_CHARS or has_control_characters(cleaned):
        raise InvalidInput(f"A display name has 1 to {MAX_NAME_CHARS} printable characters.")
    return cleaned


@dataclass(frozen=True, slots=True)
class Caller:
    """An investigator acting now: their account and their current directory membership."""

    account: Investigator
    member: Member

    @property
    def id(self) -> UUID:
        return self.account.id

    @property
    def roles(self) -> frozenset[str]:
        # The signed entry, not the account row, decides roles.
        return self.member.roles


def vetted_member(account: Investigator | None, vetted: VettedSet) -> Member | None:
    """The account's directory membership if it is active and vetted with its own keys."""
    if account is None or account.status is not InvestigatorStatus.ACTIVE:
        return None
    member = vetted.by_id(str(account.id))
    if member is None:
        return None
    # The directory must vouch for exactly the keys this account holds.
    if member.enc_pk != account.enc_public_key or member.sig_pk != account.sig_public_key:
        return None
    return member
