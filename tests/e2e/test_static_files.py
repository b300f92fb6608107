"""The gateway serves the UI's files and libsodium.js, and nothing else from gateway/web/ui.

libsodium.js comes from node_modules exactly as package-lock.json pins it; without it the
gateway still starts, the API works and every page says the UI is not installed.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.config import Settings
from gateway.domain.errors import NotFound
from gateway.web import static
from gateway.web.app import create_app
from gateway.web.static import StaticFiles, load_vendor_modules
from tests.e2e.browser import LiveGateway

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]

# Tests against the live gateway share the browser tests' session loop; the others run on
# aiohttp's test client in their own loop.
live = pytest.mark.asyncio(loop_scope="session")


async def fetch(
    gateway: LiveGateway, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(gateway.url(path), headers=headers) as response,
    ):
        return response.status, dict(response.headers), await response.read()


@live
async def test_libsodium_is_served_as_javascript_with_its_one_bare_import_pointed_at_the_sibling(
    gateway: LiveGateway,
) -> None:
    status, headers, body = await fetch(gateway, "/static/vendor/libsodium-wrappers.mjs")
    assert status == 200
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert b'from"./libsodium-sumo.mjs"' in body
    assert b'from"libsodium-sumo"' not in body
    status, headers, body = await fetch(gateway, "/static/vendor/libsodium-sumo.mjs")
    assert status == 200
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert (
        body
        == (
            static.UI_DIR / "node_modules/libsodium-sumo/dist/modules-sumo-esm/libsodium-sumo.mjs"
        ).read_bytes()
    )


@live
async def test_libsodium_goes_out_gzipped_to_browsers_that_accept_it_and_plain_otherwise(
    gateway: LiveGateway,
) -> None:
    path = "/static/vendor/libsodium-sumo.mjs"
    _, zipped, zipped_body = await fetch(gateway, path, {"Accept-Encoding": "gzip, br"})
    _, plain, plain_body = await fetch(gateway, path, {"Accept-Encoding": "identity"})
    _, refused, _ = await fetch(gateway, path, {"Accept-Encoding": "gzip;q=0, identity"})
    assert zipped["Content-Encoding"] == "gzip"
    assert int(zipped["Content-Length"]) < int(plain["Content-Length"]) // 2
    assert zipped_body == plain_body  # aiohttp's client unzips
    assert "Content-Encoding" not in plain
    assert "Content-Encoding" not in refused
    assert zipped["Vary"] == plain["Vary"] == "Accept-Encoding"


@live
async def test_ui_files_are_served_with_their_type_and_the_security_headers(
    gateway: LiveGateway,
) -> None:
    for path, content_type in [
        ("/static/js/protocol/envelope.js", "text/javascript; charset=utf-8"),
        ("/static/img/favicon.svg", "image/svg+xml"),
    ]:
        status, headers, _ = await fetch(gateway, path)
        assert (status, headers["Content-Type"]) == (200, content_type)
        assert headers["Cache-Control"] == "no-store"
        assert "default-src 'none'" in headers["Content-Security-Policy"]


REFUSED_PATHS = [
    "/static/package.json",
    "/static/package-lock.json",
    "/static/node_modules/libsodium-sumo/package.json",
    "/static/js/%2e%2e/package.json",
    "/static/js/%2e%2e/%2e%2e/static.py",
    "/static/js/protocol",
    "/static/js/protocol/missing.js",
    "/static/vendor/package.json",
    "/static/vendor/../package.json",
    "/static/pages/anything.html",
]


@live
async def test_nothing_outside_the_allow_list_is_served(gateway: LiveGateway) -> None:
    for path in REFUSED_PATHS:
        status, headers, body = await fetch(gateway, path)
        assert status == 404, path
        assert json.loads(body)["error"]["code"] == "not_found"
        assert headers["Content-Security-Policy"]


def test_resolve_refuses_dot_files_other_types_and_symlinks_out_of_the_served_folders(
    tmp_path: Path,
) -> None:
    ui = tmp_path / "ui"
    (ui / "js").mkdir(parents=True)
    (ui / "js" / "app.js").write_text("export {};")
    (ui / "js" / ".secret.js").write_text("export {};")
    (ui / "js" / "notes.py").write_text("")
    (tmp_path / "outside.js").write_text("export {};")
    (ui / "js" / "escape.js").symlink_to(tmp_path / "outside.js")
    files = StaticFiles(ui)
    assert files.resolve("js/app.js") == (ui / "js" / "app.js").resolve()
    for refused in ["js/.secret.js", "js/notes.py", "js/escape.js", "js/../js/app.js", "app.js"]:
        with pytest.raises(NotFound):
            files.resolve(refused)


def copy_ui_without_node_modules(tmp_path: Path) -> Path:
    ui = tmp_path / "ui"
    shutil.copytree(static.UI_DIR, ui, ignore=shutil.ignore_patterns("node_modules"))
    return ui


async def test_without_node_modules_the_api_works_and_pages_say_the_ui_is_not_installed(
    tmp_path: Path,
    settings: Settings,
    aiohttp_client: ClientFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ui = copy_ui_without_node_modules(tmp_path)
    monkeypatch.setattr(static, "UI_DIR", ui)
    with caplog.at_level(logging.INFO, logger="gateway.web.static"):
        app = create_app(settings)
    missing = [r for r in caplog.records if r.getMessage() == "ui_assets_missing"]
    assert len(missing) == 1
    assert "libsodium-wrappers-sumo is not installed" in missing[0].__dict__["reason"]
    assert "make install" in missing[0].__dict__["reason"]
    client = await aiohttp_client(app)

    assert (await client.get("/api/v1/directory")).status == 200
    vendor = await client.get("/static/vendor/libsodium-wrappers.mjs")
    assert vendor.status == 503
    assert (await vendor.json())["error"]["code"] == "unavailable"
    page = await client.get("/report")
    assert page.status == 503
    assert "not installed" in await page.text()
    assert page.headers["Content-Security-Policy"]


def test_a_libsodium_other_than_the_lock_pins_is_refused(tmp_path: Path) -> None:
    ui = tmp_path / "ui"
    shutil.copytree(static.UI_DIR, ui)
    installed = ui / "node_modules" / "libsodium-sumo" / "package.json"
    meta = json.loads(installed.read_text())
    meta["version"] = "0.0.1"
    installed.write_text(json.dumps(meta))
    with pytest.raises(
        static.UiAssetsMissing, match=r"0\.0\.1 is installed but package-lock\.json pins"
    ):
        load_vendor_modules(ui)
    assert not StaticFiles(ui).installed


def test_a_wrapper_that_no_longer_imports_libsodium_sumo_as_expected_is_refused(
    tmp_path: Path,
) -> None:
    ui = tmp_path / "ui"
    shutil.copytree(static.UI_DIR, ui)
    wrapper = (
        ui / "node_modules/libsodium-wrappers-sumo/dist/modules-sumo-esm/libsodium-wrappers.mjs"
    )
    wrapper.write_bytes(
        wrapper.read_bytes().replace(b'from"libsodium-sumo"', b'from "libsodium-sumo"')
    )
    with pytest.raises(static.UiAssetsMissing, match="no longer imports"):
        load_vendor_modules(ui)


async def test_page_shells_are_served_as_html_when_the_ui_is_installed(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    ui = tmp_path / "ui"
    shutil.copytree(static.UI_DIR, ui)
    (ui / "pages").mkdir(exist_ok=True)
    (ui / "pages" / "report.html").write_text("<!doctype html><title>report</title>")
    app = web.Application()
    files = static.register_static_routes(app, ui)
    app.router.add_get("/report", files.page("report"))
    client = await aiohttp_client(app)
    page = await client.get("/report")
    assert (page.status, page.headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    with pytest.raises(ValueError, match="no HTML shell"):
        files.page("missing")
