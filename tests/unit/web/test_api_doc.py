"""docs/API.md lists every endpoint the gateway serves, and its links lead somewhere."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.web.app import all_endpoints

API_DOC = Path(__file__).parents[3] / "docs" / "API.md"


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to '-'."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def test_every_endpoint_the_gateway_serves_is_in_the_index() -> None:
    text = API_DOC.read_text(encoding="utf-8")
    index = text.split("## Every endpoint", 1)[1].split("\n## ", 1)[0]
    missing = [
        f"{endpoint.method} {endpoint.path}"
        for endpoint in all_endpoints()
        if f"`{endpoint.method} {endpoint.path}`" not in index
    ]
    assert missing == []


def test_every_link_of_the_page_to_itself_names_one_of_its_headings() -> None:
    text = API_DOC.read_text(encoding="utf-8")
    headings = {
        github_anchor(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")
    }
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert links
    assert sorted(links - headings) == []
