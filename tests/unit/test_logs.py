"""Logs are one JSON object per line and never carry an address, even from libraries."""

from __future__ import annotations

import io
import json
import logging

import pytest

from gateway.logs import StructuredFormatter, configure_logging, scrub


@pytest.fixture
def captured() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("debug", "json", stream)
    return stream


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_own_events_are_json_with_their_fields(captured: io.StringIO) -> None:
    logging.getLogger("gateway.test").info("case_created", extra={"urgent": True, "bytes": 4096})
    (entry,) = lines(captured)
    assert entry["event"] == "case_created"
    assert entry["urgent"] is True
    assert entry["bytes"] == 4096
    assert entry["level"] == "info"


def test_library_messages_keep_only_their_template(captured: io.StringIO) -> None:
    # aiohttp logs exactly this when a request handler breaks.
    logging.getLogger("aiohttp.server").error("Error handling request from %s", "203.0.113.9")
    (entry,) = lines(captured)
    assert entry["event"] == "Error handling request from %s"
    assert "203.0.113.9" not in captured.getvalue()


def test_exceptions_are_logged_by_type_and_place_never_by_text(captured: io.StringIO) -> None:
    try:
        raise ValueError("the tip said something secret")
    except ValueError:
        logging.getLogger("gateway.test").exception("failed")
    (entry,) = lines(captured)
    assert entry["exception"] == "ValueError"
    assert "test_logs.py" in str(entry["traceback"])
    assert "secret" not in captured.getvalue()


@pytest.mark.parametrize(
    "address", ["198.51.100.23", "2001:db8:85a3::8a2e:370:7334", "::ffff:192.0.2.1"]
)
def test_anything_shaped_like_an_address_is_masked(address: str) -> None:
    assert address not in scrub(f"peer {address} said hi")


def test_the_access_logger_of_aiohttp_is_silenced(captured: io.StringIO) -> None:
    logging.getLogger("aiohttp.access").info('%s "GET /" 200', "192.0.2.77")
    assert captured.getvalue() == ""


def test_text_format_is_one_line() -> None:
    formatter = StructuredFormatter(as_json=False)
    record = logging.LogRecord("gateway.x", logging.INFO, __file__, 1, "started", None, None)
    assert "\n" not in formatter.format(record)
