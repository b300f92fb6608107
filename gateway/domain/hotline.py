"""Everything the domain's rules need, bundled once by the app factory and passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from gateway.blobs import BlobStore
from gateway.broker import Broker
from gateway.domain.audit import AuditTrail
from gateway.domain.clock import Clock
from gateway.domain.directory import DirectoryBook
from gateway.domain.limits import AbuseLimits
from gateway.domain.proof_of_work import ProofOfWorkGate
from gateway.store import Database

if TYPE_CHECKING:  # it needs EmergencyRules from here
    from gateway.domain.tip_intake import TipIntake


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int
    max_attachment_bytes: int


@dataclass(frozen=True, slots=True)
class EmergencyRules:
    """When an unacknowledged emergency escalates, and whether alarms also go to the webhook."""

    ack_after: timedelta = timedelta(minutes=10)
    interval: timedelta = timedelta(minutes=15)
    webhook: bool = False


@dataclass(frozen=True, slots=True)
class Hotline:
    database: Database
    broker: Broker
    blobs: BlobStore
    clock: Clock
    directory: DirectoryBook
    proof_of_work: ProofOfWorkGate
    audit: AuditTrail
    # Keys the stored locator and login hashes: a stolen database alone cannot be matched.
    pepper: bytes
    limits: Limits
    # Rate limits on anonymous requests and the cap on sockets per session (domain/limits.py).
    abuse: AbuseLimits
    # Writes new tips in groups (group commit), one per process.
    tip_intake: TipIntake
    emergencies: EmergencyRules = EmergencyRules()
