"""Automatic pipelining of the Redis broker's scripts (gateway/broker/pipelining.py): calls
that queue up behind one in flight share a pipeline, and yet each keeps its own reply, its
own error, and the failures a lone call would have."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio
import redis.exceptions
from redis.commands.core import AsyncScript

from gateway.broker import BrokerUnavailable
from gateway.broker.pipelining import ScriptPipeline
from tests.fixtures import services
from tests.fixtures.broker import RedisProxy, delete_redis_keys, redis_only, require_redis

pytestmark = redis_only

# Echoes its argument; refuses (a script error) when asked to.
ECHO = """
if ARGV[1] == 'refuse' then
  return redis.error_reply('refused on purpose')
end
redis.call('INCR', KEYS[1])
return ARGV[1]
"""


class Pipelines:
    """The client's pipelines as they are executed: how many commands each carried."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.sizes: list[int] = []
        make = client.pipeline

        def counted(*args: Any, **options: Any) -> Any:
            pipeline = make(*args, **options)
            execute = pipeline.execute

            async def execute_counted(*a: Any, **o: Any) -> Any:
                self.sizes.append(len(pipeline.command_stack))
                return await execute(*a, **o)

            pipeline.execute = execute_counted  # type: ignore[method-assign]
            return pipeline

        client.pipeline = counted  # type: ignore[method-assign]


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    await require_redis()
    made = services.redis_prefix("pipelining")
    yield made
    await delete_redis_keys(made)


@dataclass
class EchoLine:
    """A script pipeline on its own client, with the echo script registered."""

    client: redis.asyncio.Redis
    scripts: ScriptPipeline
    echo: AsyncScript
    counter: str

    def call(self, arg: str) -> Awaitable[Any]:
        return self.scripts.run(self.echo, [self.counter], [arg])


@contextlib.asynccontextmanager
async def echo_line(
    prefix: str, url: str = services.REDIS_URL, *, reply_timeout: float = 2
) -> AsyncIterator[EchoLine]:
    client = redis.asyncio.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    scripts = ScriptPipeline(client, reply_timeout=reply_timeout)
    try:
        yield EchoLine(client, scripts, client.register_script(ECHO), prefix + "count")
    finally:
        await scripts.close()
        await client.aclose()


async def test_calls_queued_together_go_out_in_one_pipeline_each_with_its_own_reply(
    prefix: str,
) -> None:
    async with echo_line(prefix) as line:
        pipelines = Pipelines(line.client)
        # One after another, each call finds nothing on the wire and goes at once, alone.
        assert await line.call("alone") == b"alone"
        assert await line.call("again") == b"again"
        assert pipelines.sizes == []
        replies = await asyncio.gather(*(line.call(f"call {i}") for i in range(40)))
        assert replies == [f"call {i}".encode() for i in range(40)]
        # Made in one turn of the event loop, all 40 were queued before the first was sent.
        assert pipelines.sizes == [40]
        assert int(await line.client.get(line.counter)) == 42


async def test_one_calls_script_error_is_its_own_and_the_rest_of_its_batch_succeed(
    prefix: str,
) -> None:
    async with echo_line(prefix) as line:
        replies = await asyncio.gather(
            *(line.call(arg) for arg in ("a", "b", "refuse", "c")), return_exceptions=True
        )
    assert replies[:2] == [b"a", b"b"]
    assert replies[3] == b"c"
    assert isinstance(replies[2], redis.exceptions.ResponseError)


async def test_a_script_the_server_forgot_is_loaded_again_for_a_batch(prefix: str) -> None:
    async with echo_line(prefix) as line:
        await line.call("load it")
        await line.client.script_flush()  # as after a restart of Redis
        replies = await asyncio.gather(*(line.call(str(i)) for i in range(5)))
    assert replies == [str(i).encode() for i in range(5)]


async def test_a_batch_redis_cannot_answer_fails_every_call_and_the_next_one_works(
    prefix: str, redis_proxy: RedisProxy
) -> None:
    async with echo_line(prefix, redis_proxy.url) as line:
        await line.call("warm")
        await redis_proxy.cut()
        failed = await asyncio.gather(
            *(line.call(str(i)) for i in range(6)), return_exceptions=True
        )
        assert all(
            isinstance(error, redis.exceptions.ConnectionError | OSError) for error in failed
        ), failed
        await redis_proxy.restore()
        again = await asyncio.gather(*(line.call(str(i)) for i in range(3)))
    assert again == [b"0", b"1", b"2"]


async def test_a_cancelled_caller_leaves_the_others_of_its_batch_their_replies(
    prefix: str,
) -> None:
    async with echo_line(prefix) as line:
        calls = [asyncio.ensure_future(line.call(str(i))) for i in range(5)]
        await asyncio.sleep(0)
        calls[2].cancel()
        replies = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(replies[2], asyncio.CancelledError)
    assert [replies[i] for i in (0, 1, 3, 4)] == [b"0", b"1", b"3", b"4"]


async def test_through_the_broker_a_batch_that_fails_is_unavailable_for_every_call(
    redis_broker_factory: Any, redis_proxy: RedisProxy
) -> None:
    broker = redis_broker_factory(url=redis_proxy.url, socket_timeout=1.0, connect_timeout=1.0)
    checks = [("all", 100, 60)]
    allowed = await asyncio.gather(*(broker.throttle_all(checks) for _ in range(5)))
    assert [decision.remaining for decision in allowed] == [99, 98, 97, 96, 95]
    await redis_proxy.cut()
    failed = await asyncio.gather(
        *(broker.throttle_all(checks) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(error, BrokerUnavailable) for error in failed), failed
    await redis_proxy.restore()
    assert (await broker.throttle_all(checks)).remaining == 94


async def test_closing_fails_the_calls_still_queued(prefix: str) -> None:
    async with echo_line(prefix) as line:
        calls = [asyncio.ensure_future(line.call(str(i))) for i in range(5)]
        await asyncio.sleep(0)
        await line.scripts.close()
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert all(
        isinstance(outcome, bytes | redis.exceptions.ConnectionError | asyncio.CancelledError)
        for outcome in outcomes
    ), outcomes
    assert any(isinstance(outcome, redis.exceptions.ConnectionError) for outcome in outcomes)


async def test_a_call_queued_behind_a_hanging_batch_still_fails_within_its_own_timeout(
    prefix: str, redis_proxy: RedisProxy
) -> None:
    loop = asyncio.get_running_loop()

    async def timed(line: EchoLine, arg: str) -> tuple[float, BaseException | bytes]:
        started = loop.time()
        try:
            reply = await line.call(arg)
        except Exception as error:  # noqa: BLE001 - the outcome is what is checked
            return loop.time() - started, error
        return loop.time() - started, reply

    async with echo_line(prefix, redis_proxy.url, reply_timeout=0.5) as line:
        try:
            await line.call("warm")
            redis_proxy.freeze()  # Redis hangs: nothing comes back
            first = asyncio.create_task(timed(line, "first"))
            await asyncio.sleep(0.3)
            queued = asyncio.create_task(timed(line, "queued"))  # behind the first
            for seconds, outcome in await asyncio.gather(first, queued):
                assert isinstance(outcome, redis.exceptions.TimeoutError), outcome
                assert seconds < 0.9
            redis_proxy.thaw()
            assert await line.call("after") == b"after"
        finally:
            redis_proxy.thaw()
