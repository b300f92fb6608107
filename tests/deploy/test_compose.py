"""deploy/compose.yaml: valid against the Compose specification's schema (the copy that
the check-jsonschema package vendors), and wired the way a hotline needs it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config import load_settings, new_secret_text
from gateway.web.shutdown import ABORT_SECONDS, GRACE_SECONDS
from tests.deploy.tools import DEPLOY

COMPOSE = DEPLOY / "compose.yaml"
GATEWAYS = ("gateway-1", "gateway-2")
SAMPLE_ORG_KEY = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def services() -> dict[str, Any]:
    found: dict[str, Any] = compose()["services"]
    return found


def check_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_compose_file_is_valid_against_the_compose_specification() -> None:
    result = check_schema(COMPOSE)

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_refuses_a_broken_compose_file(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("stop_grace_period:", "stop_grace_periode:"))

    result = check_schema(broken)

    assert result.returncode != 0
    assert "stop_grace_periode" in result.stdout + result.stderr


def test_two_gateways_share_one_postgresql_and_one_redis() -> None:
    everything = services()
    for name in GATEWAYS:
        environment = everything[name]["environment"]
        assert environment["TIPLINE_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert "@postgres:5432/" in environment["TIPLINE_DATABASE_URL"]
        assert environment["TIPLINE_REDIS_URL"] == "redis://redis:6379/0"
    assert everything["gateway-1"]["environment"] == everything["gateway-2"]["environment"]


def test_migrations_run_once_before_any_gateway_starts() -> None:
    everything = services()
    migrate = everything["migrate"]
    assert migrate["command"] == ["db", "upgrade"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in GATEWAYS:
        condition = everything[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully"
        assert everything[name]["environment"]["TIPLINE_AUTO_MIGRATE"] == "false"


def test_secrets_are_mounted_files_named_by_file_settings_never_values() -> None:
    declared = compose()["secrets"]
    for name in ("migrate", *GATEWAYS):
        service = services()[name]
        environment = service["environment"]
        for variable, secret in (
            ("TIPLINE_SERVER_PEPPER_FILE", "tipline_server_pepper"),
            ("TIPLINE_AUDIT_KEY_FILE", "tipline_audit_key"),
            ("PGPASSFILE", "tipline_pgpass"),
        ):
            assert environment[variable] == f"/run/secrets/{secret}"
            assert secret in service["secrets"]
            assert declared[secret]["file"].startswith("./secrets/")
        assert "PASSWORD" not in " ".join(environment)
        assert not re.search(r"://[^@/]*:[^@/]*@", environment["TIPLINE_DATABASE_URL"])
    assert "/secrets/" in (DEPLOY / ".gitignore").read_text()


def test_the_gateways_environment_passes_the_gateways_own_production_checks(
    tmp_path: Path,
) -> None:
    environment = {key: str(value) for key, value in services()["gateway-1"]["environment"].items()}
    for variable in ("TIPLINE_SERVER_PEPPER_FILE", "TIPLINE_AUDIT_KEY_FILE"):
        secret = tmp_path / variable.lower()
        secret.write_text(new_secret_text())
        environment[variable] = str(secret)
    environment["TIPLINE_PUBLIC_URL"] = "https://tips.example.org"
    environment["TIPLINE_ORG_PUBLIC_KEY"] = SAMPLE_ORG_KEY
    environment["TIPLINE_DATA_DIR"] = str(tmp_path / "data")

    settings = load_settings(None, environment)

    assert settings.profile == "production"
    assert settings.auto_migrate is False
    assert settings.redis_url is not None


def test_redis_keeps_nothing_on_disk() -> None:
    redis = services()["redis"]
    command = redis["command"]
    assert command[command.index("--save") + 1] == ""
    assert command[command.index("--appendonly") + 1] == "no"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert redis["tmpfs"] == ["/data"]
    assert "volumes" not in redis


def test_postgresql_archives_its_write_ahead_log_and_logs_no_statements() -> None:
    command = " ".join(services()["postgres"]["command"])
    for setting in ("archive_mode=on", "log_statement=none", "log_connections=off"):
        assert setting in command


def test_only_nginx_is_published_and_tor_enters_through_it() -> None:
    everything = services()
    published = {name for name, service in everything.items() if "ports" in service}
    assert published == {"nginx"}
    assert everything["tor"]["network_mode"] == "service:nginx"
    assert compose()["networks"]["backend"]["internal"] is True


def test_nginx_mounts_the_repositorys_configuration_and_reaches_both_gateways() -> None:
    mounts = services()["nginx"]["volumes"]
    for mount in mounts:
        source = mount.split(":", 1)[0]
        if source.startswith("./nginx/"):
            assert (DEPLOY / source).is_file(), source
    assert "./nginx/upstream.compose.conf:/etc/nginx/upstream.conf:ro" in mounts
    upstream = (DEPLOY / "nginx" / "upstream.compose.conf").read_text()
    addresses = re.findall(r"server (\d+\.\d+\.\d+\.\d+):8080;", upstream)
    fixed = [services()[name]["networks"]["backend"]["ipv4_address"] for name in GATEWAYS]
    assert addresses == fixed


@pytest.mark.parametrize("name", GATEWAYS)
def test_a_gateway_gets_longer_to_stop_than_its_graceful_shutdown_takes(name: str) -> None:
    service = services()[name]
    grace = int(service["stop_grace_period"].removesuffix("s"))

    assert service["stop_signal"] == "SIGTERM"
    assert grace > GRACE_SECONDS + ABORT_SECONDS + 5
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
