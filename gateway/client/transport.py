"""HTTP for the Python clients: JSON in, JSON out, the gateway's errors as one exception type.

Clients never send anything that identifies the person using them: no cookies are kept
for reporters, the User-Agent is a fixed string shared by every client of this version.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final, Self

import aiohttp

import gateway

USER_AGENT: Final = f"tipline-client/{gateway.__version__}"
DEFAULT_TIMEOUT: Final = aiohttp.ClientTimeout(total=120, connect=15, sock_read=60)


class ApiError(Exception):
    """The gateway refused a request; `code` is its stable error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class Transport:
    """One gateway, one HTTP session. Use as `async with Transport(url) as transport:`."""

    def __init__(
        self,
        base_url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        keep_cookies: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._owned = session is None
        jar: aiohttp.abc.AbstractCookieJar = (
            aiohttp.CookieJar() if keep_cookies else aiohttp.DummyCookieJar()
        )
        self._session = session or aiohttp.ClientSession(
            timeout=DEFAULT_TIMEOUT, cookie_jar=jar, headers={"User-Agent": USER_AGENT}
        )

    @property
    def session(self) -> aiohttp.ClientSession:
        return self._session

    def url(self, path: str) -> str:
        return self.base_url + path

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        expect: tuple[int, ...] = (200, 201),
    ) -> Any:
        async with self._session.request(
            method, self.url(path), json=json, params=params, headers=headers
        ) as response:
            await raise_for_error(response, expect)
            if response.status == 204:
                return None
            return await response.json()

    async def close(self) -> None:
        if self._owned:
            await self._session.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


async def raise_for_error(response: aiohttp.ClientResponse, expect: tuple[int, ...]) -> None:
    """Turn any unexpected answer into an `ApiError` with the gateway's code and message."""
    if response.status in expect:
        return
    code, message = "unexpected_status", f"unexpected HTTP status {response.status}"
    try:
        body = await response.json(content_type=None)
    except (aiohttp.ContentTypeError, ValueError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = str(body["error"].get("code", code))
        message = str(body["error"].get("message", message))
    raise ApiError(response.status, code, message)
