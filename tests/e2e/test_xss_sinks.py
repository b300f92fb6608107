"""No script of the UI can write HTML or evaluate text, and no page shell carries an inline
script, event handler or style: tip content reaches the page only as text (test_xss.py shows it
in the browser).
"""

from __future__ import annotations

import re
from pathlib import Path

from gateway.web.static import UI_DIR

# Sinks that parse strings as HTML or code. The UI builds DOM with createElement/textContent.
SINKS = re.compile(
    r"\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write|\.srcdoc\b"
    r"|createContextualFragment|DOMParser|\beval\s*\(|new\s+Function\s*\("
    r"|set(?:Timeout|Interval)\s*\(\s*[\"'`]|\.setHTML\b|parseHTMLUnsafe"
)


def test_no_script_of_the_ui_writes_html_or_evaluates_text() -> None:
    scripts = sorted((UI_DIR / "js").rglob("*.js"))
    assert len(scripts) > 20, "the UI's scripts were not found"
    found = [
        f"{path.relative_to(UI_DIR)}:{number}: {line.strip()}"
        for path in scripts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SINKS.search(line)
    ]
    assert found == []


def test_the_sink_check_finds_what_it_looks_for() -> None:
    for line in ("el.innerHTML = x;", "node.insertAdjacentHTML('a', b)", "setTimeout('go()', 1)"):
        assert SINKS.search(line), line


def test_page_shells_carry_no_inline_script_handler_or_style() -> None:
    for shell in sorted(Path(UI_DIR / "pages").glob("*.html")):
        text = shell.read_text(encoding="utf-8")
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert " src=" in tag or 'type="application/json"' in tag, f"{shell.name}: {tag}"
        assert re.search(r"\son[a-z]+\s*=", text) is None, shell.name
        assert re.search(r"\sstyle\s*=", text) is None, shell.name
        assert "javascript:" not in text, shell.name
