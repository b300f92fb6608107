"""The two ceilings every workload is compared with, measured on the same machine in the same run.

- `http`: a bare aiohttp endpoint answering a small JSON object; what one Python process
  with aiohttp can answer at all.
- `ingest`: a minimal aiohttp handler that reads the same body a tip has, inserts it as one
  row in one PostgreSQL transaction (asyncpg) and publishes one Redis message; what "durable,
  then notified" costs without any of the gateway's checks.

Run: python -m tests.bench.ceilings http|ingest --port P [--dsn D --redis-url R --channel C]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator

import asyncpg
import redis.asyncio as redis
from aiohttp import web

DSN = web.AppKey("dsn", str)
POOL = web.AppKey("pool", asyncpg.Pool)
REDIS = web.AppKey("redis", redis.Redis)
CHANNEL = web.AppKey("channel", str)
REDIS_URL = web.AppKey("redis_url", str)
MAX_BODY_BYTES = 2 * 2**20  # the gateway's default max_body_bytes

TABLE = """
CREATE TABLE IF NOT EXISTS bench_ceiling_ingest (
    id bigserial PRIMARY KEY,
    body bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
)
"""


async def ready(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def small_json(_request: web.Request) -> web.Response:
    return web.json_response({"v": 1, "status": "ok"})


async def ingest(request: web.Request) -> web.Response:
    body = await request.read()
    async with request.app[POOL].acquire() as connection, connection.transaction():
        row_id = await connection.fetchval(
            "INSERT INTO bench_ceiling_ingest (body) VALUES ($1) RETURNING id", body
        )
    await request.app[REDIS].publish(request.app[CHANNEL], str(row_id))
    return web.json_response({"v": 1, "status": "received"}, status=201)


async def _resources(app: web.Application) -> AsyncIterator[None]:
    # The gateway's pool is 10 (+10 overflow): the same order of connections here.
    pool = await asyncpg.create_pool(app[DSN], min_size=2, max_size=10)
    async with pool.acquire() as connection:
        await connection.execute(TABLE)
    app[POOL] = pool
    app[REDIS] = redis.Redis.from_url(app[REDIS_URL])
    try:
        yield
    finally:
        await app[REDIS].aclose()
        await pool.close()


def build(kind: str, arguments: argparse.Namespace) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_get("/readyz", ready)
    if kind == "http":
        app.router.add_get("/ceiling", small_json)
    else:
        app[DSN] = arguments.dsn
        app[REDIS_URL] = arguments.redis_url
        app[CHANNEL] = arguments.channel
        app.cleanup_ctx.append(_resources)
        app.router.add_post("/ceiling", ingest)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=("http", "ingest"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn")
    parser.add_argument("--redis-url")
    parser.add_argument("--channel", default="tipline-bench:ceiling")
    arguments = parser.parse_args()
    web.run_app(
        build(arguments.kind, arguments),
        host="127.0.0.1",
        port=arguments.port,
        access_log=None,
        print=None,
        loop=asyncio.new_event_loop(),
    )


if __name__ == "__main__":
    main()
