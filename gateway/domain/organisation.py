"""Admin authority from the offline organisation key: a request signed with it is accepted once,
within a few minutes of when it was signed.

This is how the first admin is bootstrapped (nobody has a session yet) and how the admin CLI,
which holds the key file anyway, works without logging in.
"""

from __future__ import annotations

import logging
from typing import Final

from gateway.crypto.encoding import b64encode
from gateway.crypto.errors import CryptoError
from gateway.crypto.organisation_request import verify_organisation_request
from gateway.domain.clock import unix_seconds
from gateway.domain.errors import Unauthenticated
from gateway.domain.hotline import Hotline

logger = logging.getLogger("gateway.domain.organisation")

# Clocks of an admin's laptop and the server may disagree a little; a captured request is
# useless after this window, and within it the nonce is remembered.
MAX_CLOCK_SKEW_SECONDS: Final = 300
_NONCE_PREFIX: Final = "org-request:"


class OrganisationSignatureRefused(Unauthenticated):
    code = "organisation_signature_refused"
    default_message = "The request is not validly signed with the organisation key."


async def check_organisation_request(
    hotline: Hotline, credential: str, *, method: str, target: str, body: bytes
) -> None:
    """Accept a request signed with the pinned organisation key: fresh, exact, and only once."""
    try:
        signed = verify_organisation_request(
            credential,
            org_public_key=hotline.directory.org_public_key,
            method=method,
            target=target,
            body=body,
        )
    except CryptoError as refusal:
        raise OrganisationSignatureRefused(detail=refusal.code) from None
    now = unix_seconds(hotline.clock.now())
    if abs(now - signed.at) > MAX_CLOCK_SKEW_SECONDS:
        raise OrganisationSignatureRefused(
            "The signed request is too old or from the future; check the computer's clock."
        )
    # Remembered for the whole window either side, so a replay is refused however it is timed.
    first_use = await hotline.broker.remember_once(
        _NONCE_PREFIX + b64encode(signed.nonce), ttl=2 * MAX_CLOCK_SKEW_SECONDS + 1
    )
    if not first_use:
        raise OrganisationSignatureRefused("This signed request was used already.")
    logger.info("organisation_request_accepted", extra={"method": method})
