"""`tipline serve`: run the gateway, in one process or several sharing one port."""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import signal
import sys
from dataclasses import replace
from typing import Any, Final

import gateway
from gateway.cli.common import add_config_option
from gateway.config import Settings, load_settings
from gateway.logs import configure_logging
from gateway.store import migrate
from gateway.web.access_log import access_log_options
from gateway.web.app import create_app
from gateway.web.shutdown import GRACE_SECONDS, run_until_signalled

logger = logging.getLogger("gateway.cli.serve")

SHUTDOWN_GRACE_SECONDS: Final = GRACE_SECONDS


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("serve", help="run the gateway")
    add_config_option(parser)
    parser.add_argument("--host", default=None, help="address to listen on (overrides config)")
    parser.add_argument("--port", type=int, default=None, help="port to listen on")
    parser.add_argument(
        "--workers", type=int, default=None, help="gateway processes (more than one needs Redis)"
    )
    parser.set_defaults(run=_serve)


def _settings_from(arguments: argparse.Namespace) -> Settings:
    """Flags win over the environment, which wins over the file; all obey the same checks."""
    flags = {"host": arguments.host, "port": arguments.port, "workers": arguments.workers}
    environ = dict(os.environ)
    environ.update({f"TIPLINE_{key.upper()}": str(v) for key, v in flags.items() if v is not None})
    return load_settings(arguments.config, environ)


def _announce(settings: Settings) -> None:
    where = f"http://{settings.host}:{settings.port}"
    storage = (
        f"data in {settings.data_dir}"
        if settings.uses_sqlite
        else "data in PostgreSQL, blobs in " + str(settings.blob_dir)
    )
    broker = "Redis" if settings.redis_url else "in-process broker"
    print(
        f"Tipline Gateway {gateway.__version__} ({settings.profile} profile): {storage}; "
        f"{broker}; {settings.workers} process(es); listening on {where}",
        file=sys.stderr,
        flush=True,
    )


def _serve(arguments: argparse.Namespace) -> int:
    settings = _settings_from(arguments)
    configure_logging(settings.log_level, settings.log_format)
    _announce(settings)
    if settings.workers == 1:
        run_one(settings, reuse_port=False)
        return 0
    if settings.auto_migrate:
        # Migrate once, before the workers race each other to do it.
        asyncio.run(migrate.upgrade(settings.database_url))
        settings = replace(settings, auto_migrate=False)
    return _run_many(settings)


def run_one(settings: Settings, *, reuse_port: bool) -> None:
    """Serve until SIGINT/SIGTERM, then finish in-flight requests within a bound."""
    run_until_signalled(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        reuse_port=reuse_port,
        grace_seconds=SHUTDOWN_GRACE_SECONDS,
        **access_log_options(),
    )


def _worker(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format)
    run_one(settings, reuse_port=True)


def _run_many(settings: Settings) -> int:
    """Start N workers sharing the port (SO_REUSEPORT) and stop them all together."""
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_worker, args=(settings,), name=f"tipline-worker-{index}")
        for index in range(settings.workers)
    ]
    for process in workers:
        process.start()

    def stop(signum: int, _frame: object) -> None:
        for process in workers:
            if process.is_alive() and process.pid is not None:
                process.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    exit_code = 0
    for process in workers:
        process.join()
        if process.exitcode not in (0, -signal.SIGTERM):
            exit_code = 1
            stop(signal.SIGTERM, None)
    return exit_code
