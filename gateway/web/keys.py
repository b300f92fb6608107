"""Typed keys for everything the application shares between requests."""

from __future__ import annotations

from aiohttp import web

from gateway.broker import Broker
from gateway.config import Settings
from gateway.domain.hotline import Hotline
from gateway.store import Database
from gateway.web.metrics import Metrics

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
BROKER = web.AppKey("broker", Broker)
METRICS = web.AppKey("metrics", Metrics)
HOTLINE = web.AppKey("hotline", Hotline)
