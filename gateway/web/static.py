"""Serves the browser UI: its own files under /static/ and the two libsodium.js modules.

libsodium.js comes from npm (`npm ci` in gateway/web/ui, run by `make install`), never from a
committed copy. Its ESM build imports the bare name `libsodium-sumo`, which a browser cannot
resolve without an import map; the gateway serves the wrapper with that one import rewritten to
the sibling file instead (see docs/BROWSER.md: no inline script, works in module workers too).
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

from aiohttp import web

from gateway.domain.errors import NotFound, ServiceUnavailable

logger = logging.getLogger("gateway.web.static")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

UI_DIR: Final = Path(__file__).with_name("ui")
STATIC_ROUTE: Final = "/static"
VENDOR_ROUTE: Final = "/static/vendor"

# Only these folders of gateway/web/ui are public, and only files of these types in them:
# package files, node_modules and anything unexpected stay unreachable.
SERVED_FOLDERS: Final = frozenset({"js", "css", "img", "fonts", "i18n"})
CONTENT_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",
}
JAVASCRIPT: Final = CONTENT_TYPES[".js"]
HTML: Final = "text/html; charset=utf-8"
# HTML shells are served only through page routes (one way to reach a page), never as /static/.
PAGES_FOLDER: Final = "pages"

SODIUM_PACKAGE: Final = "libsodium-wrappers-sumo"
SODIUM_CORE_PACKAGE: Final = "libsodium-sumo"
WRAPPERS_FILE: Final = "libsodium-wrappers.mjs"
CORE_FILE: Final = "libsodium-sumo.mjs"
_WRAPPERS_PATH: Final = f"{SODIUM_PACKAGE}/dist/modules-sumo-esm/{WRAPPERS_FILE}"
_CORE_PATH: Final = f"{SODIUM_CORE_PACKAGE}/dist/modules-sumo-esm/{CORE_FILE}"
# The wrapper's only import; pointing it at the sibling file replaces an import map.
_BARE_IMPORT: Final = b'from"libsodium-sumo"'
_SIBLING_IMPORT: Final = f'from"./{CORE_FILE}"'.encode()

_MISSING_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Not available yet</title></head>
<body><main>
<h1>This page is not available right now</h1>
<p>The files of the web interface are not installed on this server, so no report can be made
here at the moment. Nothing you typed has been sent. Please try again later.</p>
<p lang="nl">De bestanden van de webinterface zijn niet ge&iuml;nstalleerd op deze server; er kan
hier nu geen melding worden gedaan. Er is niets verstuurd. Probeer het later opnieuw.</p>
<p>Operators: run <code>make install</code> (it runs <code>npm ci</code> in gateway/web/ui).</p>
</main></body></html>
"""


class UiAssetsMissing(Exception):
    """libsodium.js is not installed as package-lock.json pins it; the message says what to do."""


@dataclass(frozen=True, slots=True)
class VendorModule:
    """One libsodium.js file as served, and its gzip form (535 KB become 188 KB: phones, Tor)."""

    body: bytes
    gzipped: bytes

    @classmethod
    def of(cls, body: bytes) -> VendorModule:
        # Compressed once at start-up; public, constant files have no secret for BREACH to find.
        return cls(body=body, gzipped=gzip.compress(body, compresslevel=9, mtime=0))


@dataclass(frozen=True, slots=True)
class VendorModules:
    """The two libsodium.js files as served: the wrapper (import rewritten) and its core."""

    version: str
    wrappers: VendorModule
    core: VendorModule

    def module(self, name: str) -> VendorModule:
        if name == WRAPPERS_FILE:
            return self.wrappers
        if name == CORE_FILE:
            return self.core
        raise NotFound()


def load_vendor_modules(ui_dir: Path) -> VendorModules:
    """Read libsodium.js from node_modules, checking it is the version package-lock.json pins."""
    modules = ui_dir / "node_modules"
    fix = "run `make install` (npm ci in gateway/web/ui)"
    try:
        lock = json.loads((ui_dir / "package-lock.json").read_text(encoding="utf-8"))
        pinned = {
            name: lock["packages"][f"node_modules/{name}"]["version"]
            for name in (SODIUM_PACKAGE, SODIUM_CORE_PACKAGE)
        }
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UiAssetsMissing(f"gateway/web/ui/package-lock.json is unreadable: {error}") from None
    for name, version in pinned.items():
        try:
            installed = json.loads((modules / name / "package.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise UiAssetsMissing(
                f"{name} is not installed ({type(error).__name__}); {fix}"
            ) from None
        # A different libsodium.js than the lock names could disagree with PyNaCl: refuse it.
        if installed.get("version") != version:
            raise UiAssetsMissing(
                f"{name} {installed.get('version')} is installed but package-lock.json pins "
                f"{version}; {fix}"
            )
    try:
        wrappers = (modules / _WRAPPERS_PATH).read_bytes()
        core = (modules / _CORE_PATH).read_bytes()
    except OSError as error:
        raise UiAssetsMissing(f"a libsodium.js module file is missing ({error}); {fix}") from None
    if wrappers.count(_BARE_IMPORT) != 1:
        raise UiAssetsMissing(
            f"{_WRAPPERS_PATH} no longer imports libsodium-sumo the way gateway/web/static.py "
            "rewrites; check the new version's ESM build and update the rewrite"
        )
    return VendorModules(
        version=pinned[SODIUM_PACKAGE],
        wrappers=VendorModule.of(wrappers.replace(_BARE_IMPORT, _SIBLING_IMPORT)),
        core=VendorModule.of(core),
    )


class StaticFiles:
    """Request handlers for /static/... and the HTML shells of the pages."""

    def __init__(self, ui_dir: Path = UI_DIR) -> None:
        self.ui_dir = ui_dir.resolve()
        self.vendor: VendorModules | None
        self.missing: str | None
        try:
            self.vendor = load_vendor_modules(self.ui_dir)
            self.missing = None
            logger.info("ui_assets_loaded", extra={"libsodium": self.vendor.version})
        except UiAssetsMissing as error:
            self.vendor = None
            self.missing = str(error)
            # One clear line: the API works, the pages say they are unavailable.
            logger.warning("ui_assets_missing", extra={"reason": self.missing})

    @property
    def installed(self) -> bool:
        return self.vendor is not None

    async def vendor_module(self, request: web.Request) -> web.Response:
        if self.vendor is None:
            raise ServiceUnavailable("The web interface's files are not installed on this server.")
        module = self.vendor.module(request.match_info["name"])
        headers = {"Content-Type": JAVASCRIPT, "Vary": "Accept-Encoding"}
        if accepts_gzip(request.headers.get("Accept-Encoding", "")):
            headers["Content-Encoding"] = "gzip"
            return web.Response(body=module.gzipped, headers=headers)
        return web.Response(body=module.body, headers=headers)

    async def ui_file(self, request: web.Request) -> web.FileResponse:
        path = self.resolve(request.match_info["path"])
        return web.FileResponse(path, headers={"Content-Type": CONTENT_TYPES[path.suffix]})

    def resolve(self, relative: str) -> Path:
        """The file a /static/ path names, or NotFound for anything outside the allow-list."""
        parts = PurePosixPath(relative).parts
        if (
            len(parts) < 2
            or parts[0] not in SERVED_FOLDERS
            or any(part in {"..", "."} or part.startswith(".") for part in parts)
            or PurePosixPath(relative).suffix not in CONTENT_TYPES
        ):
            raise NotFound()
        path = (self.ui_dir / Path(*parts)).resolve()
        # resolve() follows symlinks: whatever the name says, the file must live in a served folder.
        if not path.is_relative_to(self.ui_dir / parts[0]) or not path.is_file():
            raise NotFound()
        return path

    def page(self, shell: str) -> Handler:
        """A handler answering with the HTML shell gateway/web/ui/pages/<shell>.html.

        Shells are read per request (they are small) so that a deployment's edits show at once.
        While libsodium.js is missing every page says so instead of failing half-way.
        """
        path = self.ui_dir / PAGES_FOLDER / f"{shell}.html"
        if not path.is_file():
            raise ValueError(f"no HTML shell {path}")

        async def serve(request: web.Request) -> web.StreamResponse:
            if self.vendor is None:
                return missing_assets_page()
            return web.FileResponse(path, headers={"Content-Type": HTML})

        return serve


STATIC_FILES: Final = web.AppKey("static_files", StaticFiles)


def register_static_routes(app: web.Application, ui_dir: Path | None = None) -> StaticFiles:
    """Add GET /static/vendor/{name} and GET /static/{path}; return the handlers for pages."""
    files = StaticFiles(UI_DIR if ui_dir is None else ui_dir)
    app[STATIC_FILES] = files
    app.router.add_get(VENDOR_ROUTE + "/{name}", files.vendor_module)
    app.router.add_get(STATIC_ROUTE + "/{path:.+}", files.ui_file)
    return files


def accepts_gzip(accept_encoding: str) -> bool:
    """True when an Accept-Encoding header admits gzip (and does not refuse it with q=0)."""
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() in {"gzip", "x-gzip"}:
            quality = params.strip().lower().removeprefix("q=").strip()
            return quality not in {"0", "0.0", "0.00", "0.000"}
    return False


def missing_assets_page() -> web.Response:
    """What every page answers while the UI files are not installed."""
    return web.Response(text=_MISSING_PAGE, status=503, content_type="text/html", charset="utf-8")
