"""The investigator's emergency calls from Python: duty, acknowledging, a case's audit trail.

Thin on purpose: none of these carries content or needs a key, only the session.
"""

from __future__ import annotations

from typing import Any

from gateway.client.transport import Transport


class EmergencyDesk:
    def __init__(self, transport: Transport, *, session_token: str) -> None:
        self._transport = transport
        self._auth = {"Authorization": f"Session {session_token}"}

    async def duty(self) -> dict[str, Any]:
        answer: dict[str, Any] = await self._transport.request_json(
            "GET", "/api/v1/me/duty", headers=self._auth
        )
        return answer

    async def set_duty(self, on_duty: bool) -> dict[str, Any]:
        answer: dict[str, Any] = await self._transport.request_json(
            "PUT", "/api/v1/me/duty", json={"on_duty": on_duty}, headers=self._auth
        )
        return answer

    async def acknowledge(self, case_id: str) -> dict[str, Any]:
        """Stop the case's escalation (the first acknowledgement counts; repeats are harmless)."""
        answer: dict[str, Any] = await self._transport.request_json(
            "POST", f"/api/v1/cases/{case_id}/ack", headers=self._auth
        )
        return answer

    async def audit(self, case_id: str) -> list[dict[str, Any]]:
        answer = await self._transport.request_json(
            "GET", f"/api/v1/cases/{case_id}/audit", headers=self._auth
        )
        entries: list[dict[str, Any]] = answer["entries"]
        return entries
