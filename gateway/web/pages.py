"""The browser pages: `/` (what happens to a report), `/report` (the tip form), `/return` (the
pickup code opens the case) and `/staff` (the investigators' app), in Dutch and English.

Page shells in gateway/web/ui/pages are templates with three kinds of placeholder, filled here:
`{{t:key}}` a translation from ui/i18n/<lang>.json, `{{name}}` a value of the gateway (its
organisation key, limits), `{{strings:prefix,...}}` the translations the page's scripts need as a
JSON data block. Everything is escaped; no page holds literal text of its own. The language comes
from `?lang=` (the visible switch, no cookie) or else from Accept-Language.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiohttp import web

from gateway.crypto.encoding import b64encode
from gateway.crypto.keys import fingerprint
from gateway.domain.directory import OrganisationNotConfigured
from gateway.web.keys import HOTLINE, SETTINGS
from gateway.web.static import HTML, PAGES_FOLDER, STATIC_FILES, Handler, missing_assets_page

LANGUAGES: Final = ("nl", "en")
# Reporters whose browser asks for neither language get English: more of them read it.
DEFAULT_LANGUAGE: Final = "en"
I18N_FOLDER: Final = "i18n"
# path -> page shell; the reporter's flow is two long-lived pages, the staff app one.
ROUTES: Final = {"/": "landing", "/report": "report", "/return": "return", "/staff": "staff"}
UNAVAILABLE_SHELL: Final = "unavailable"

_PLACEHOLDER: Final = re.compile(r"\{\{([a-z_]+)(?::([a-z0-9_.,]+))?\}\}")
_PARAMETER: Final = re.compile(r"\{([a-z_]+)\}")
_VALUES: Final = frozenset(
    {
        "lang",
        "current_nl",
        "current_en",
        "org_key",
        "org_fingerprint",
        "max_attachment_bytes",
        "ack_minutes",
    }
)


class PageTemplateError(ValueError):
    """A page shell names a translation or value that does not exist (a bug, found at start)."""


@dataclass(frozen=True, slots=True)
class Translations:
    """Every visible string of the UI in one language: key -> text with `{parameter}`s."""

    language: str
    strings: Mapping[str, str]

    def text(self, key: str, values: Mapping[str, str]) -> str:
        try:
            template = self.strings[key]
        except KeyError:
            raise PageTemplateError(f"no {self.language} translation for {key!r}") from None
        return _PARAMETER.sub(lambda match: values.get(match[1], match[0]), template)

    def with_prefixes(self, prefixes: list[str]) -> dict[str, str]:
        return {
            key: text
            for key, text in self.strings.items()
            if any(key.startswith(prefix) for prefix in prefixes)
        }


def load_translations(ui_dir: Path) -> dict[str, Translations]:
    books = {}
    for language in LANGUAGES:
        path = ui_dir / I18N_FOLDER / f"{language}.json"
        strings = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(strings, dict) or not all(
            isinstance(key, str) and isinstance(text, str) for key, text in strings.items()
        ):
            raise PageTemplateError(f"{path} must map keys to strings")
        books[language] = Translations(language, strings)
    return books


def choose_language(requested: str | None, accept_language: str) -> str:
    """`?lang=` when it names a language we have, else the best match of Accept-Language."""
    if requested in LANGUAGES:
        return requested
    best, best_quality = DEFAULT_LANGUAGE, 0.0
    for position, item in enumerate(accept_language.split(",")):
        tag, _, params = item.strip().partition(";")
        language = tag.strip().lower().split("-")[0]
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        # Earlier entries win ties, as the header's order is the browser's preference.
        quality -= position * 1e-6
        if language in LANGUAGES and quality > best_quality:
            best, best_quality = language, quality
    return best


def _json_block(strings: Mapping[str, str]) -> str:
    """JSON that cannot end its <script type="application/json"> element early."""
    text = json.dumps(strings, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(shell: str, book: Translations, values: Mapping[str, str]) -> str:
    """Fill a page shell; every substitution is escaped for where it lands."""

    def substitute(match: re.Match[str]) -> str:
        name, argument = match[1], match[2]
        if name == "t" and argument is not None:
            return html.escape(book.text(argument, values), quote=True)
        if name == "strings" and argument is not None:
            return _json_block(book.with_prefixes(argument.split(",")))
        if name in _VALUES and argument is None:
            return html.escape(values[name], quote=True)
        raise PageTemplateError(f"unknown placeholder {match[0]!r}")

    return _PLACEHOLDER.sub(substitute, shell)


class PageBook:
    """The page shells and translations, read and checked once at start-up."""

    def __init__(self, ui_dir: Path) -> None:
        self.translations = load_translations(ui_dir)
        self.shells = {
            name: (ui_dir / PAGES_FOLDER / f"{name}.html").read_text(encoding="utf-8")
            for name in (*ROUTES.values(), UNAVAILABLE_SHELL)
        }
        # A shell naming a missing translation fails the start, not a reporter's request.
        sample = dict.fromkeys(_VALUES, "")
        for shell in self.shells.values():
            for book in self.translations.values():
                render(shell, book, sample)

    def page(self, name: str, language: str, values: Mapping[str, str]) -> str:
        # The switch marks the page's own language for screen readers (aria-current).
        current = {f"current_{other}": str(other == language).lower() for other in LANGUAGES}
        return render(
            self.shells[name], self.translations[language], {**values, **current, "lang": language}
        )


PAGE_BOOK: Final = web.AppKey("page_book", PageBook)


def _answer(text: str, language: str, status: int = 200) -> web.Response:
    response = web.Response(text=text, status=status, headers={"Content-Type": HTML})
    response.headers["Content-Language"] = language
    response.headers["Vary"] = "Accept-Language"
    return response


def _page_handler(name: str) -> Handler:
    async def serve(request: web.Request) -> web.StreamResponse:
        files = request.app[STATIC_FILES]
        if not files.installed:
            return missing_assets_page()
        book = request.app[PAGE_BOOK]
        language = choose_language(
            request.query.get("lang"), request.headers.get("Accept-Language", "")
        )
        settings = request.app[SETTINGS]
        values = {
            "max_attachment_bytes": str(settings.max_attachment_bytes),
            "ack_minutes": str(max(1, round(settings.emergency_ack_seconds / 60))),
        }
        try:
            org_key = request.app[HOTLINE].directory.org_public_key
        except OrganisationNotConfigured:
            return _answer(book.page(UNAVAILABLE_SHELL, language, values), language, status=503)
        # The pin the page's scripts verify the directory against (docs/BROWSER.md: the pin).
        values["org_key"] = b64encode(org_key)
        values["org_fingerprint"] = fingerprint(org_key)
        return _answer(book.page(name, language, values), language)

    return serve


def register_page_routes(app: web.Application) -> None:
    """GET routes for the four pages; call after register_static_routes."""
    app[PAGE_BOOK] = PageBook(app[STATIC_FILES].ui_dir)
    for path, name in ROUTES.items():
        app.router.add_get(path, _page_handler(name))
