"""The gateway's error types: each has a stable public code and an HTTP status.

The web layer turns them into `{"error": {"code", "message"}}` in one place. The public
message is written for the client; anything that helps debugging goes in `detail`, which
is logged without content and never sent.
"""

from __future__ import annotations

from typing import ClassVar


class GatewayError(Exception):
    """Base of every error that has a defined answer for the client."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    default_message: ClassVar[str] = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(self.message)


class InvalidInput(GatewayError):
    code = "invalid_input"
    status = 400
    default_message = "The request is malformed."


class UnsupportedVersion(GatewayError):
    code = "unsupported_version"
    status = 400
    default_message = "This protocol version is not supported."


class PayloadTooLarge(GatewayError):
    code = "payload_too_large"
    status = 413
    default_message = "The request body is larger than this endpoint accepts."


class NotFound(GatewayError):
    code = "not_found"
    status = 404
    default_message = "Nothing was found here."


class MethodNotAllowed(GatewayError):
    code = "method_not_allowed"
    status = 405
    default_message = "This method is not allowed here."


class Unauthenticated(GatewayError):
    code = "unauthenticated"
    status = 401
    default_message = "Authentication is required."


class Forbidden(GatewayError):
    code = "forbidden"
    status = 403
    default_message = "You may not do this."


class Conflict(GatewayError):
    code = "conflict"
    status = 409
    default_message = "The request conflicts with the current state."


class RecipientNotVetted(GatewayError):
    code = "recipient_not_vetted"
    status = 422
    default_message = (
        "The message is wrapped for a key outside the vetted set, or misses a required recipient."
    )


class RateLimited(GatewayError):
    code = "rate_limited"
    status = 429
    default_message = "Too many requests; try again later."


class ServiceUnavailable(GatewayError):
    code = "unavailable"
    status = 503
    default_message = "The service is temporarily unavailable; try again shortly."


class NoRecipients(GatewayError):
    code = "no_recipients"
    status = 503
    default_message = "This hotline cannot receive reports yet: no investigator is vetted."


class CaseNotFound(NotFound):
    # One answer for a wrong pickup code and a missing case: the server cannot tell them
    # apart (it looks up a keyed hash), and the answer must not pretend otherwise.
    code = "case_not_found"
    default_message = "No case matches this pickup code."


class UnknownAttachment(GatewayError):
    code = "unknown_attachment"
    status = 422
    default_message = (
        "An attachment listed was never uploaded, is still arriving, has expired or belongs "
        "elsewhere; upload it again."
    )
