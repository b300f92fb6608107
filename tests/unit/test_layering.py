"""The layering is a checked rule, not a convention: web -> domain -> (store, broker).

crypto depends on nothing of ours; only store speaks SQL; only broker speaks Redis; the
domain imports no framework; the client uses crypto and HTTP only.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "gateway"

SQL = {"sqlalchemy", "alembic", "asyncpg", "aiosqlite"}
REDIS = {"redis"}
HTTP = {"aiohttp"}

# For each layer: third-party modules it must not import, and our layers it must not import.
RULES: dict[str, tuple[set[str], set[str]]] = {
    "crypto": (SQL | REDIS | HTTP | {"prometheus_client"}, {"*"}),
    "domain": (SQL | REDIS | HTTP, {"web", "cli", "client"}),
    "store": (REDIS | HTTP, {"web", "cli", "client", "broker", "domain"}),
    "broker": (SQL | HTTP, {"web", "cli", "client", "store", "domain"}),
    "blobs": (SQL | REDIS | HTTP, {"web", "cli", "client", "store", "broker", "domain"}),
    "client": (SQL | REDIS, {"web", "cli", "store", "broker", "domain"}),
    "web": (SQL | REDIS, {"cli", "client"}),
    "cli": (SQL | REDIS, set()),
}


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        layer = parts[0] if len(parts) > 1 else "(top)"
        yield layer, path


def imported_names(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def violations(layer: str, source: Path, shown_as: str) -> list[str]:
    banned_external, banned_internal = RULES.get(layer, (set(), set()))
    found = []
    for name in imported_names(source):
        parts = name.split(".")
        if parts[0] in banned_external:
            found.append(f"{shown_as} imports {name}")
        elif parts[0] == "gateway":
            target = parts[1] if len(parts) > 1 else "(top)"
            if target != layer and ("*" in banned_internal or target in banned_internal):
                found.append(f"{shown_as} imports {name}")
        elif layer == "crypto" and parts[0] not in sys.stdlib_module_names | {"nacl"}:
            found.append(f"{shown_as} imports {name} (crypto is stdlib + PyNaCl only)")
    return found


@pytest.mark.parametrize("layer", sorted(RULES))
def test_each_layer_imports_only_what_the_design_allows(layer: str) -> None:
    problems = [
        problem
        for module_layer, path in modules()
        if module_layer == layer
        for problem in violations(layer, path, str(path.relative_to(PACKAGE.parent)))
    ]
    assert problems == []


def test_sql_lives_only_in_store_and_redis_only_in_broker() -> None:
    problems = []
    for layer, path in modules():
        for name in imported_names(path):
            root = name.split(".")[0]
            if root in SQL and layer != "store":
                problems.append(f"{path} imports {name}")
            if root in REDIS and layer != "broker":
                problems.append(f"{path} imports {name}")
    assert problems == []


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    offending = tmp_path / "bad.py"
    offending.write_text("import sqlalchemy\nfrom gateway.web import app\nimport gateway.crypto\n")

    assert violations("domain", offending, "bad.py") == [
        "bad.py imports sqlalchemy",
        "bad.py imports gateway.web",
    ]
    assert violations("crypto", offending, "bad.py") == [
        "bad.py imports sqlalchemy",
        "bad.py imports gateway.web",
    ]
