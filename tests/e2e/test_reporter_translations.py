"""Every visible string of the web UI — the reporter's pages and the staff app — comes from
gateway/web/ui/i18n/{en,nl}.json: both languages have the same keys with the same parameters, no
page shell or script holds literal text of its own, every key the pages use exists and every key
is used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.web.app import create_app
from gateway.web.pages import LANGUAGES, PageBook, choose_language
from gateway.web.static import UI_DIR
from tests.fixtures.app import make_settings

STRINGS = {
    language: json.loads((UI_DIR / "i18n" / f"{language}.json").read_text())
    for language in LANGUAGES
}
SHELLS = sorted((UI_DIR / "pages").glob("*.html"))
SCRIPTS = sorted(path for path in (UI_DIR / "js").rglob("*.js") if "protocol" not in path.parts)
PLACEHOLDER = re.compile(r"\{\{[^}]*\}\}")
# Attributes a person reads or hears (screen readers) must be translated too.
READ_ATTRIBUTES = {"aria-label", "title", "alt", "placeholder"}


class LiteralText(HTMLParser):
    """Collects text and read attributes of a shell that are not placeholders."""

    def __init__(self) -> None:
        super().__init__()
        self.literal: list[str] = []
        self.raw = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style"}:
            self.raw += 1
        for name, value in attrs:
            if name in READ_ATTRIBUTES and value and PLACEHOLDER.sub("", value).strip():
                self.literal.append(f"{tag}[{name}]={value!r}")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"}:
            self.raw -= 1

    def handle_data(self, data: str) -> None:
        if not self.raw and PLACEHOLDER.sub("", data).strip():
            self.literal.append(repr(data.strip()))


def test_both_languages_have_the_same_keys_each_with_text_and_the_same_parameters() -> None:
    english, dutch = STRINGS["en"], STRINGS["nl"]
    assert sorted(english) == sorted(dutch)
    for key in english:
        assert english[key].strip(), key
        assert dutch[key].strip(), key
        assert set(re.findall(r"\{[a-z_]+\}", english[key])) == set(
            re.findall(r"\{[a-z_]+\}", dutch[key])
        ), key


@pytest.mark.parametrize("shell", SHELLS, ids=lambda path: path.name)
def test_no_page_shell_has_untranslated_text(shell: Path) -> None:
    parser = LiteralText()
    parser.feed(shell.read_text(encoding="utf-8"))
    assert parser.literal == []


def test_no_script_puts_literal_text_on_the_page() -> None:
    literal = re.compile(
        r"textContent\s*=\s*[\"'`][^\"'`]*[A-Za-z]"
        r"|\bh\(\s*\"[a-z0-9]+\"\s*,\s*\{[^}]*\}\s*,\s*[\"'`][^\"'`$]*[A-Za-z]"
    )
    found = [
        f"{path.name}: {line.strip()}"
        for path in SCRIPTS
        for line in path.read_text(encoding="utf-8").splitlines()
        if literal.search(line) and not line.lstrip().startswith(("*", "/*", "//"))
    ]
    assert found == []


def used_keys() -> tuple[set[str], set[str]]:
    """Keys named whole (in shells or as string literals in scripts) and dynamic key prefixes."""
    whole: set[str] = set()
    prefixes: set[str] = set()
    for shell in SHELLS:
        text = shell.read_text(encoding="utf-8")
        whole |= set(re.findall(r"\{\{t:([a-z0-9_.]+)\}\}", text))
        for group in re.findall(r"\{\{strings:([a-z0-9_.,]+)\}\}", text):
            assert all(prefix.endswith(".") for prefix in group.split(",")), shell.name
    for script in SCRIPTS:
        text = script.read_text(encoding="utf-8")
        whole |= set(re.findall(r"[\"'`]([a-z]+(?:\.[a-z0-9_]+)+)[\"'`]", text))
        prefixes |= set(re.findall(r"\b(?:t|has)\(\s*`([a-z0-9_.]+)\$\{", text))
    return whole, prefixes


def test_every_key_the_pages_use_exists_and_every_key_is_used() -> None:
    keys = set(STRINGS["en"])
    whole, prefixes = used_keys()
    named_in_scripts = {
        key
        for script in SCRIPTS
        for key in re.findall(r"\bt\(\s*\"([a-z0-9_.]+)\"", script.read_text(encoding="utf-8"))
    }
    assert named_in_scripts - keys == set()
    assert {
        prefix for prefix in prefixes if not any(key.startswith(prefix) for key in keys)
    } == set()
    unused = {
        key for key in keys if key not in whole and not any(key.startswith(p) for p in prefixes)
    }
    assert unused == set()


def test_every_shell_renders_in_both_languages() -> None:
    book = PageBook(UI_DIR)  # raises on a key or value a shell names but nobody has
    values = {
        "org_key": "k",
        "org_fingerprint": "f",
        "max_attachment_bytes": "1",
        "ack_minutes": "10",
    }
    for name in ("landing", "report", "return", "staff", "unavailable"):
        for language in LANGUAGES:
            page = book.page(name, language, values)
            assert f'<html lang="{language}">' in page
            assert "{{" not in page


@pytest.mark.parametrize(
    ("query", "header", "chosen"),
    [
        (None, "nl-NL,nl;q=0.9,en;q=0.8", "nl"),
        (None, "en-GB,en;q=0.9", "en"),
        (None, "de-DE,de;q=0.9,nl;q=0.5,en;q=0.4", "nl"),
        (None, "fr-FR,en;q=0.3,nl;q=0.6", "nl"),
        (None, "de-DE", "en"),
        (None, "", "en"),
        (None, "nl;q=garbage, en", "en"),
        ("nl", "en-GB", "nl"),
        ("en", "nl-NL", "en"),
        ("fr", "nl-NL", "nl"),
    ],
)
def test_the_language_is_the_switchs_choice_else_the_browsers_best_match(
    query: str | None, header: str, chosen: str
) -> None:
    assert choose_language(query, header) == chosen


async def test_without_an_organisation_key_every_page_says_the_hotline_is_not_set_up(
    tmp_path: Path,
    database_url: str,
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    app = create_app(make_settings(tmp_path, database_url, redis_prefix=None))
    client = await aiohttp_client(app)
    for path in ("/", "/report", "/return", "/staff"):
        for language in LANGUAGES:
            answer = await client.get(path, headers={"Accept-Language": language})
            assert answer.status == 503
            assert answer.headers["Content-Language"] == language
            page = await answer.text()
            assert STRINGS[language]["unavailable.title"] in page
            assert "tipline-org-key" not in page
