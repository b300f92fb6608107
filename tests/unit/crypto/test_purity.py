"""gateway.crypto stays pure: only the standard library and PyNaCl, no I/O, no logging, no print."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

CRYPTO = Path(__file__).resolve().parents[3] / "gateway" / "crypto"
MODULES = sorted(CRYPTO.glob("*.py"))
# Standard-library modules that do I/O, talk to the network or the clock have no place here.
FORBIDDEN_STDLIB = {
    "logging", "os", "io", "socket", "time", "datetime", "random", "subprocess",
    "pathlib", "shutil", "tempfile", "asyncio", "secrets", "urllib", "http",
}  # fmt: skip


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module)
    return roots


def test_the_package_has_its_modules() -> None:
    expected = {"encoding", "errors", "keys", "pickup", "padding", "envelope", "directory",
                "keybundle", "stream", "pow"}  # fmt: skip
    assert {p.stem for p in MODULES} >= expected


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_a_crypto_module_imports_only_the_stdlib_pynacl_and_its_siblings(path: Path) -> None:
    for name in imported_roots(path):
        top = name.split(".")[0]
        if name.startswith("gateway."):
            assert name.startswith("gateway.crypto."), f"{path.name} imports {name}"
        elif top not in {"nacl", "__future__"}:
            assert top in sys.stdlib_module_names, f"{path.name} imports {name}"
            assert top not in FORBIDDEN_STDLIB, f"{path.name} imports {name}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_a_crypto_module_neither_prints_nor_opens_files(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"print", "open", "input"}, (
                f"{path.name} calls {node.func.id}"
            )


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_a_crypto_module_says_what_it_is_for(path: Path) -> None:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert docstring, f"{path.name} has no module docstring"
