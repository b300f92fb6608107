"""The one place where errors become HTTP answers: `{"error": {"code", "message"}}`.

Domain errors carry their own code and status. Outages of the database or the broker
become a 503 with Retry-After, so clients back off instead of hammering. Anything else is
a plain 500 whose log line names the exception type and where it happened, never its text.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from gateway.broker import BrokerUnavailable
from gateway.crypto.errors import CryptoError
from gateway.domain.errors import GatewayError, ServiceUnavailable
from gateway.store import DatabaseUnavailable

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

logger = logging.getLogger("gateway.web")

OUTAGE_RETRY_AFTER_SECONDS: Final = 5

# aiohttp raises these itself (routing, body limits); they get stable codes too.
_HTTP_CODES: Final = {
    400: "invalid_input",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}
_HTTP_MESSAGES: Final = {
    404: "Nothing was found here.",
    405: "This method is not allowed here.",
    413: "The request body is larger than this endpoint accepts.",
}


# Protocol refusals from gateway.crypto keep their own stable code; this sets the status.
_CRYPTO_STATUS: Final = {
    "too_large": 413,
    "bad_signature": 422,
    "bad_directory": 422,
    "not_a_recipient": 422,
    "decryption_failed": 422,
    "bad_stream": 422,
    "bad_proof_of_work": 403,
    "weak_kdf_parameters": 422,
}


def error_response(
    status: int, code: str, message: str, retry_after: float | None = None
) -> web.Response:
    response = web.json_response({"error": {"code": code, "message": message}}, status=status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


def _from_gateway_error(error: GatewayError) -> web.Response:
    return error_response(error.status, error.code, error.message, error.retry_after)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except GatewayError as error:
        if error.detail:
            logger.info("request_refused", extra={"code": error.code, "detail": error.detail})
        return _from_gateway_error(error)
    except CryptoError as refusal:
        status = _CRYPTO_STATUS.get(refusal.code, 400)
        return error_response(status, refusal.code, refusal.message)
    except (DatabaseUnavailable, BrokerUnavailable) as outage:
        logger.warning("dependency_unavailable", extra={"dependency": type(outage).__name__})
        return _from_gateway_error(ServiceUnavailable(retry_after=OUTAGE_RETRY_AFTER_SECONDS))
    except web.HTTPException as http_error:
        if http_error.status < 400:
            raise
        code = _HTTP_CODES.get(http_error.status, "error")
        message = _HTTP_MESSAGES.get(http_error.status, http_error.reason)
        return error_response(http_error.status, code, message)
    except Exception:  # The one place an unexpected error is caught, logged and answered.
        logger.exception("unhandled_error", extra={"method": request.method})
        return error_response(500, "internal", "Something went wrong on our side.")
