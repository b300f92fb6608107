"""Graceful shutdown of one gateway process: on SIGTERM stop accepting connections, close
WebSockets with a reconnect hint, let in-flight requests finish within a bound, then stop.

aiohttp's own shutdown (`web.run_app`) discards every byte that arrives after the signal,
so a request whose body was still on its way (a tip, an attachment) could never finish.
`run_until_signalled` therefore drains first, with the connections still reading, and only
then hands over to aiohttp's shutdown, which cancels whatever is left. A cancelled upload
leaves nothing behind: the blob store removes its partial file on cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any, Final

from aiohttp import WSCloseCode, hdrs, web

from gateway.web.errors import Handler

logger = logging.getLogger("gateway.web.shutdown")

# How long requests in flight at SIGTERM may take to finish; the systemd unit's
# TimeoutStopSec and compose's stop_grace_period leave room for it.
GRACE_SECONDS: Final = 10.0
# After the grace: how long aiohttp waits for cancelled handlers to unwind.
ABORT_SECONDS: Final = 2.0
# How long a WebSocket client gets to answer our close frame before its connection is cut.
SOCKET_CLOSE_SECONDS: Final = 2.0
# Close code 1012 (Service Restart, RFC 6455 registry): the client should reconnect, after
# a short random delay, and will reach another gateway process through the proxy.
RECONNECT_CLOSE_CODE: Final = WSCloseCode.SERVICE_RESTART
RECONNECT_REASON: Final = b"service_restart"


class OpenSockets:
    """The WebSockets this process holds open, closed with code 1012 when it shuts down."""

    def __init__(self, *, close_timeout: float = SOCKET_CLOSE_SECONDS) -> None:
        self._sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
        self._close_timeout = close_timeout
        self.closing = False

    def __len__(self) -> int:
        return len(self._sockets)

    @contextlib.asynccontextmanager
    async def holding(self, socket: web.WebSocketResponse) -> AsyncIterator[None]:
        """Keep `socket` (already prepared) registered while the block runs.

        A socket opened after shutdown began is closed at once with the reconnect hint;
        the block still runs and finds it closed, so a receive loop ends immediately.
        """
        if self.closing:
            await _close_with_hint(socket)
        self._sockets.add(socket)
        try:
            yield
        finally:
            self._sockets.discard(socket)

    async def close_all(self) -> int:
        """Close every open socket with 1012, all at once, within the close timeout."""
        self.closing = True
        sockets = [socket for socket in self._sockets if not socket.closed]
        if not sockets:
            return 0
        closes = [asyncio.create_task(_close_with_hint(socket)) for socket in sockets]
        _, late = await asyncio.wait(closes, timeout=self._close_timeout)
        for close in late:
            # Cancelling a close cuts the connection: the close frame is already sent.
            close.cancel()
        await asyncio.gather(*closes, return_exceptions=True)
        return len(sockets)


async def _close_with_hint(socket: web.WebSocketResponse) -> None:
    await socket.close(code=RECONNECT_CLOSE_CODE, message=RECONNECT_REASON)


class InFlight:
    """Counts the requests being handled (WebSockets aside) and tells when none is left."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.draining = False

    def __len__(self) -> int:
        return self._count

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        self._count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._count -= 1
            if self._count == 0:
                self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()


OPEN_SOCKETS: Final = web.AppKey("open_sockets", OpenSockets)
IN_FLIGHT: Final = web.AppKey("in_flight", InFlight)


def install(app: web.Application) -> None:
    """Give `app` its socket registry and request counter, and close sockets on shutdown."""
    app[OPEN_SOCKETS] = OpenSockets()
    app[IN_FLIGHT] = InFlight()
    # Outermost, so that a request counts from its first byte of handling to its answer,
    # error handling included.
    app.middlewares.insert(0, _count_in_flight)
    app.on_shutdown.append(_close_open_sockets)


def _is_websocket_upgrade(request: web.Request) -> bool:
    return request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"


@web.middleware
async def _count_in_flight(request: web.Request, handler: Handler) -> web.StreamResponse:
    if _is_websocket_upgrade(request):
        # Sockets live for hours; they are closed with a reconnect hint instead of awaited.
        return await handler(request)
    in_flight = request.app[IN_FLIGHT]
    with in_flight.counting():
        response = await handler(request)
    if in_flight.draining:
        # No further requests on this connection: the client reconnects elsewhere.
        response.force_close()
    return response


async def _close_open_sockets(app: web.Application) -> None:
    await app[OPEN_SOCKETS].close_all()


async def drain(app: web.Application, *, grace_seconds: float, cut_short: asyncio.Event) -> bool:
    """Close the app's WebSockets, then wait for its requests in flight, at most the grace.

    True when every request finished. The listening socket must already be closed.
    """
    started = time.monotonic()
    in_flight = app[IN_FLIGHT]
    in_flight.draining = True
    sockets = await app[OPEN_SOCKETS].close_all()
    logger.info("shutdown_draining", extra={"in_flight": len(in_flight), "sockets": sockets})
    idle = asyncio.create_task(in_flight.wait_idle())
    interrupted = asyncio.create_task(cut_short.wait())
    remaining = max(0.0, grace_seconds - (time.monotonic() - started))
    await asyncio.wait({idle, interrupted}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
    for waiter in (idle, interrupted):
        waiter.cancel()
    await asyncio.gather(idle, interrupted, return_exceptions=True)
    finished = len(in_flight) == 0
    seconds = round(time.monotonic() - started, 3)
    if finished:
        logger.info("shutdown_drained", extra={"seconds": seconds})
    else:
        logger.warning(
            "shutdown_grace_exceeded", extra={"seconds": seconds, "in_flight": len(in_flight)}
        )
    return finished


async def serve_until(
    app: web.Application,
    stop: asyncio.Event,
    *,
    host: str,
    port: int,
    reuse_port: bool = False,
    grace_seconds: float = GRACE_SECONDS,
    abort_seconds: float = ABORT_SECONDS,
    cut_short: asyncio.Event | None = None,
    **runner_options: Any,
) -> None:
    """Serve `app` until `stop` is set, then shut down gracefully within the bounds.

    `cut_short`, when set during the drain, ends the wait for requests in flight at once.
    """
    runner = web.AppRunner(
        app, handle_signals=False, shutdown_timeout=abort_seconds, **runner_options
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port)
        await site.start()
        await stop.wait()
        # Stop accepting first: a restarting gateway refuses connections, so the proxy
        # sends new requests to another process.
        await site.stop()
        await drain(app, grace_seconds=grace_seconds, cut_short=cut_short or asyncio.Event())
    finally:
        await runner.cleanup()


def run_until_signalled(
    app: web.Application,
    *,
    host: str,
    port: int,
    reuse_port: bool = False,
    grace_seconds: float = GRACE_SECONDS,
    **runner_options: Any,
) -> None:
    """Serve until SIGTERM or SIGINT; a second signal cuts the graceful wait short."""

    async def main() -> None:
        stop = asyncio.Event()
        cut_short = asyncio.Event()

        def on_signal() -> None:
            if stop.is_set():
                cut_short.set()
            stop.set()

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal)
        await serve_until(
            app,
            stop,
            host=host,
            port=port,
            reuse_port=reuse_port,
            grace_seconds=grace_seconds,
            cut_short=cut_short,
            **runner_options,
        )

    asyncio.run(main())
