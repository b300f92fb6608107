"""The HTTP side of the emergency webhook: one client session that posts signed alarms.

The rules (what is sent, signing, retries) live in gateway/domain/webhooks.py; this module
only speaks HTTP. Redirects are not followed (a receiver that moves must be reconfigured, not
followed blindly), no cookies are kept, and nothing of the answer is read beyond its status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import aiohttp

import gateway
from gateway.domain.webhooks import WebhookUnreachable

USER_AGENT: Final = f"tipline-gateway/{gateway.__version__}"


class HttpWebhookPoster:
    def __init__(self, url: str, *, timeout_seconds: float) -> None:
        self._url = url
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout_seconds),
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": USER_AGENT},
        )

    async def post(self, body: bytes, headers: Mapping[str, str]) -> int:
        try:
            async with self._session.post(
                self._url, data=body, headers=dict(headers), allow_redirects=False
            ) as response:
                return response.status
        except TimeoutError:
            raise WebhookUnreachable("timeout") from None
        except aiohttp.ClientError:
            raise WebhookUnreachable("unreachable") from None

    async def close(self) -> None:
        await self._session.close()
