"""deploy/systemd, checked by systemd itself: `systemd-analyze verify` finds nothing to say
about the units, `systemd-analyze security` rates the gateway's exposure low, and the units
hand the gateway its secrets as credentials."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from gateway.web.shutdown import ABORT_SECONDS, GRACE_SECONDS
from tests.deploy.tools import DEPLOY, debian_tool, run

SYSTEMD = DEPLOY / "systemd"
UNITS = ("tipline@.service", "tipline-migrate.service")
INSTALLED_COMMAND = "/opt/tipline/venv/bin/tipline"
# systemd-analyze security rates exposure from 0 (locked down) to 10; 2 and below is "OK".
MOST_EXPOSURE_TENTHS = 20


def directives(unit: str) -> list[tuple[str, str]]:
    lines = (line.strip() for line in (SYSTEMD / unit).read_text().splitlines())
    return [
        (key.strip(), value.strip())
        for key, _, value in (line.partition("=") for line in lines if "=" in line)
        if key[0] not in "#;["
    ]


def values(unit: str, key: str) -> list[str]:
    return [value for name, value in directives(unit) if name == key]


def installable_copy(tmp_path: Path, *, edit: tuple[str, str] | None = None) -> Path:
    """The units with ExecStart pointing at this checkout's `tipline` (verify checks it exists)."""
    tipline = Path(sys.executable).parent / "tipline"
    assert tipline.exists(), "the gateway is not installed in this virtual environment"
    for unit in UNITS:
        text = (SYSTEMD / unit).read_text()
        assert text.count(INSTALLED_COMMAND) == 1
        text = text.replace(INSTALLED_COMMAND, str(tipline))
        if edit is not None:
            text = text.replace(*edit)
        (tmp_path / unit).write_text(text)
    return tmp_path


def verify(folder: Path) -> tuple[int, str]:
    result = run(
        debian_tool("systemd-analyze", "systemd"),
        "verify",
        "--man=no",
        "./tipline@8001.service",
        "./tipline-migrate.service",
        cwd=folder,
    )
    return result.returncode, result.stdout + result.stderr


def test_systemd_analyze_verify_has_nothing_to_say_about_the_units(tmp_path: Path) -> None:
    code, output = verify(installable_copy(tmp_path))

    assert code == 0
    assert output == ""


def test_systemd_analyze_verify_notices_a_mistake(tmp_path: Path) -> None:
    """The check above can fail: a misspelt hardening option is reported."""
    code, output = verify(installable_copy(tmp_path, edit=("ProtectHome=yes", "ProtectHome=maybe")))

    assert "protect home value" in output, (code, output)


@pytest.mark.parametrize("unit", ["tipline@8001.service", "tipline-migrate.service"])
def test_the_units_exposure_is_rated_low(tmp_path: Path, unit: str) -> None:
    folder = installable_copy(tmp_path)

    result = run(
        debian_tool("systemd-analyze", "systemd"),
        "security",
        "--offline=true",
        "--no-pager",
        f"--threshold={MOST_EXPOSURE_TENTHS}",
        f"./{unit}",
        cwd=folder,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    rating = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert rating is not None, result.stdout[-500:]
    assert float(rating.group(1)) <= MOST_EXPOSURE_TENTHS / 10


def test_the_exposure_check_fails_an_unhardened_unit(tmp_path: Path) -> None:
    folder = installable_copy(tmp_path)
    unit = folder / "tipline@.service"
    kept = [
        line
        for line in unit.read_text().splitlines()
        if not line.startswith(("Protect", "Private", "Restrict", "SystemCall", "Capability"))
    ]
    unit.write_text("\n".join(kept) + "\n")

    result = run(
        debian_tool("systemd-analyze", "systemd"),
        "security",
        "--offline=true",
        "--no-pager",
        f"--threshold={MOST_EXPOSURE_TENTHS}",
        "./tipline@8001.service",
        cwd=folder,
    )

    assert result.returncode != 0


@pytest.mark.parametrize("unit", UNITS)
def test_secrets_arrive_as_credentials_named_by_the_gateways_file_settings(unit: str) -> None:
    credentials = dict(value.split(":", 1) for value in values(unit, "LoadCredential"))
    environment = dict(value.split("=", 1) for value in values(unit, "Environment"))

    assert credentials == {
        "server_pepper": "/etc/tipline/credentials/server_pepper",
        "audit_key": "/etc/tipline/credentials/audit_key",
        "pgpass": "/etc/tipline/credentials/pgpass",
    }
    assert environment["TIPLINE_SERVER_PEPPER_FILE"] == "%d/server_pepper"
    assert environment["TIPLINE_AUDIT_KEY_FILE"] == "%d/audit_key"
    assert environment["PGPASSFILE"] == "%d/pgpass"
    assert not any("PEPPER=" in value or "KEY=" in value for value in values(unit, "Environment"))


def test_the_gateway_unit_is_hardened_as_required() -> None:
    unit = "tipline@.service"
    required = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "Restart": "on-failure",
        "User": "tipline",
        "ReadWritePaths": "/var/lib/tipline",
    }
    for key, value in required.items():
        assert values(unit, key) == [value], key
    assert values(unit, "CapabilityBoundingSet") == [""]


def test_the_gateway_unit_waits_for_migrations_and_gives_shutdown_its_grace() -> None:
    unit = "tipline@.service"
    assert "tipline-migrate.service" in values(unit, "Requires")[0]
    assert "tipline-migrate.service" in values(unit, "After")[0]
    assert values(unit, "ExecStart")[0].endswith("--port %i")
    stop_seconds = int(values(unit, "TimeoutStopSec")[0].removesuffix("s"))
    assert stop_seconds > GRACE_SECONDS + ABORT_SECONDS + 5
    assert values("tipline-migrate.service", "Type") == ["oneshot"]
    assert values("tipline-migrate.service", "ExecStart")[0].split()[1:3] == ["db", "upgrade"]


def test_the_system_user_has_the_container_images_uid() -> None:
    sysusers = (SYSTEMD / "tipline.sysusers.conf").read_text()
    containerfile = (DEPLOY / "Containerfile").read_text()

    assert re.search(r"^u tipline 10001:10001 ", sysusers, re.MULTILINE)
    assert "--uid 10001" in containerfile
    assert "USER 10001:10001" in containerfile


def test_the_instances_nginx_forwards_to_are_the_documented_ones() -> None:
    upstream = (DEPLOY / "nginx" / "upstream.conf").read_text()
    documentation = (DEPLOY.parent / "docs" / "DEPLOY.md").read_text()

    ports = re.findall(r"server 127\.0\.0\.1:(\d+);", upstream)
    assert ports == ["8001", "8002"]
    assert "tipline@8001 tipline@8002" in documentation
