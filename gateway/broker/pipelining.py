"""Automatic pipelining of the Redis broker's scripts.

Script calls made while earlier ones are on the wire go out together as one pipeline
without MULTI: one connection taken from the pool, one write and one read for the lot.
redis-py spends most of a lone command's CPU on the way to the socket and back (taking and
returning a pooled connection, its checks, its timeouts), so under load this costs a
third as much per call (docs/PERFORMANCE.md). Nothing else changes:

- each call gets its own reply, or its own error (a script error, a key of the wrong type);
- each script is still atomic by itself; calls from different coroutines were never
  ordered against each other, and calls from one coroutine still go out one after another;
- a batch that cannot be sent or answered (Redis down, a timeout) fails every call in it
  with that error, which the broker turns into `BrokerUnavailable` as for a lone call;
- a script the server no longer knows (restarted, `SCRIPT FLUSH`) is loaded and its call
  run again on its own, as redis-py does for a lone call.

Only one batch is on the wire at a time: calls arriving meanwhile wait for it and form the
next batch (at most `max_batch`), so a quiet gateway sends each call at once, alone. Each
call waits at most `reply_timeout` from its arrival, however long the batch before it
hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import redis.asyncio
import redis.exceptions
from redis.commands.core import AsyncScript

MAX_BATCH: Final = 256


@dataclass(slots=True)
class _Call:
    script: AsyncScript
    keys: Sequence[Any]
    args: Sequence[Any]
    reply: asyncio.Future[Any] = field(repr=False)


class ScriptPipeline:
    """Runs registered scripts, batching the calls that queue up behind one in flight."""

    def __init__(
        self, client: redis.asyncio.Redis, *, reply_timeout: float, max_batch: int = MAX_BATCH
    ) -> None:
        if max_batch < 1 or reply_timeout <= 0:
            raise ValueError("a batch holds at least one call, and a reply has time to come")
        self._client = client
        self._reply_timeout = reply_timeout
        self._max_batch = max_batch
        self._queued: list[_Call] = []
        self._sender: asyncio.Task[None] | None = None

    async def run(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """The script's reply; redis-py's exception for this call if it failed."""
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queued.append(_Call(script, keys, args, reply))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_queued(), name="redis-pipeline")
        # Counted from this call's arrival, not its batch's departure: a call queued behind
        # a batch that hangs still fails within the timeout, as a lone call would.
        try:
            async with asyncio.timeout(self._reply_timeout):
                return await reply
        except TimeoutError:
            raise redis.exceptions.TimeoutError("Redis did not answer in time") from None

    async def close(self) -> None:
        """Stop sending; calls still queued fail as if Redis had gone away."""
        sender, self._sender = self._sender, None
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        _fail(self._queued, redis.exceptions.ConnectionError("the broker is closed"))
        self._queued = []

    async def _send_queued(self) -> None:
        try:
            while self._queued:
                batch = self._queued[: self._max_batch]
                del self._queued[: self._max_batch]
                await self._send(batch)
        except asyncio.CancelledError:
            _fail(self._queued, redis.exceptions.ConnectionError("the broker is closed"))
            self._queued = []
            raise
        finally:
            if self._sender is asyncio.current_task():
                self._sender = None

    async def _send(self, batch: list[_Call]) -> None:
        live = [call for call in batch if not call.reply.done()]  # cancelled callers: skip
        if not live:
            return
        if len(live) == 1:
            # Alone, the plain call is cheaper than a pipeline of one.
            await _settle_alone(live[0])
            return
        pipeline = self._client.pipeline(transaction=False)
        for call in live:
            pipeline.execute_command(
                "EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args
            )
        try:
            replies = await pipeline.execute(raise_on_error=False)
        except asyncio.CancelledError:
            _fail(live, redis.exceptions.ConnectionError("the broker is closed"))
            raise
        except Exception as error:  # noqa: BLE001 - every call of the batch fails with it
            _fail(live, error)
            return
        for call, reply in zip(live, replies, strict=True):
            if isinstance(reply, redis.exceptions.NoScriptError):
                await _settle_alone(call)  # loads the script, then runs it
            elif isinstance(reply, Exception):
                _fail([call], reply)
            elif not call.reply.done():
                call.reply.set_result(reply)


async def _settle_alone(call: _Call) -> None:
    try:
        reply = await call.script(keys=call.keys, args=call.args)
    except asyncio.CancelledError:
        _fail([call], redis.exceptions.ConnectionError("the broker is closed"))
        raise
    except Exception as error:  # noqa: BLE001 - handed to its caller
        _fail([call], error)
        return
    if not call.reply.done():
        call.reply.set_result(reply)


def _fail(calls: Sequence[_Call], error: BaseException) -> None:
    for call in calls:
        if not call.reply.done():
            call.reply.set_exception(error)
