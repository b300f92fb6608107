"""deploy/systemd/gateway.toml, loaded by the gateway's own settings code: it is a valid
production configuration, and it refuses to run until the organisation key is filled in."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, load_settings, new_secret_text
from gateway.web.app import create_app
from tests.deploy.tools import DEPLOY

GATEWAY_TOML = DEPLOY / "systemd" / "gateway.toml"
SAMPLE_ORG_KEY = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"


@pytest.fixture
def credentials(tmp_path: Path) -> dict[str, str]:
    """What the systemd unit passes: the secrets' files, as TIPLINE_*_FILE."""
    environment = {}
    for name in ("server_pepper", "audit_key"):
        path = tmp_path / name
        path.write_text(new_secret_text() + "\n")
        path.chmod(0o400)
        environment[f"TIPLINE_{name.upper()}_FILE"] = str(path)
    return environment


def test_the_shipped_configuration_is_a_production_configuration(
    credentials: dict[str, str],
) -> None:
    settings = load_settings(GATEWAY_TOML, credentials)

    assert settings.profile == "production"
    assert settings.host == "127.0.0.1"
    assert settings.auto_migrate is False
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.redis_url is not None
    assert settings.blob_dir == Path("/var/lib/tipline/blobs")
    assert ":" not in settings.database_url.split("//", 1)[1].split("@", 1)[0]


def test_the_gateway_refuses_to_start_until_the_organisation_key_is_filled_in(
    credentials: dict[str, str],
) -> None:
    settings = load_settings(GATEWAY_TOML, credentials)

    with pytest.raises(ConfigError, match="TIPLINE_ORG_PUBLIC_KEY"):
        create_app(settings)

    filled_in = load_settings(
        GATEWAY_TOML, credentials | {"TIPLINE_ORG_PUBLIC_KEY": SAMPLE_ORG_KEY}
    )
    create_app(filled_in)


def test_the_configuration_without_its_secrets_is_refused() -> None:
    with pytest.raises(ConfigError, match="TIPLINE_SERVER_PEPPER_FILE"):
        load_settings(GATEWAY_TOML, {})
