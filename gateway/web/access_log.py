"""An access log that records what happened to a request, never who made it.

No client address, no user agent, no query string, no concrete path: only the method,
the route template, the status, the size and the duration.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, Request, StreamResponse

from gateway.web.metrics import UNMATCHED_ROUTE, route_template


class ContentFreeAccessLogger(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        route = route_template(request) if isinstance(request, Request) else UNMATCHED_ROUTE
        self.logger.info(
            "http_request",
            extra={
                "method": request.method,
                "route": route,
                "status": response.status,
                "bytes": response.body_length,
                "duration_ms": round(time * 1000, 1),
            },
        )


ACCESS_LOGGER_NAME = "gateway.access"


def access_log_options() -> dict[str, Any]:
    """The runner options that install this logger (used by `tipline serve` and the tests)."""
    return {
        "access_log": logging.getLogger(ACCESS_LOGGER_NAME),
        "access_log_class": ContentFreeAccessLogger,
    }
