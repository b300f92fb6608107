"""Settings: defaults, file, environment, secret files, and refusals that name the setting."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gateway.config import (
    ConfigError,
    Secret,
    decode_secret,
    describe,
    load_settings,
    new_secret_text,
)

REPO = Path(__file__).resolve().parents[2]


def write_secret(path: Path) -> Path:
    path.write_text(new_secret_text() + "\n", encoding="ascii")
    return path


def test_the_embedded_default_needs_no_file_and_creates_its_secrets(tmp_path: Path) -> None:
    settings = load_settings(None, {"HOME": str(tmp_path)})

    assert settings.profile == "embedded"
    assert settings.data_dir == tmp_path / ".local" / "share" / "tipline"
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.redis_url is None
    pepper_file = settings.data_dir / "secrets" / "server_pepper"
    assert stat.S_IMODE(pepper_file.stat().st_mode) == 0o600
    assert len(settings.server_pepper.reveal()) == 32
    assert settings.server_pepper != settings.audit_key


def test_embedded_secrets_are_stable_across_starts(tmp_path: Path) -> None:
    env = {"TIPLINE_DATA_DIR": str(tmp_path)}
    assert load_settings(None, env).server_pepper == load_settings(None, env).server_pepper


def test_the_environment_overrides_the_file(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[server]\nport = 9000\nhost = "localhost"\n[storage]\ndata_dir = "d"\n')

    settings = load_settings(config, {"TIPLINE_PORT": "9100"})

    assert settings.port == 9100
    assert settings.host == "localhost"
    assert settings.data_dir == tmp_path / "d"


def test_secrets_are_read_from_files_and_never_shown(tmp_path: Path) -> None:
    pepper = write_secret(tmp_path / "pepper")
    settings = load_settings(
        None, {"TIPLINE_DATA_DIR": str(tmp_path), "TIPLINE_SERVER_PEPPER_FILE": str(pepper)}
    )

    assert settings.server_pepper.reveal() == decode_secret(pepper.read_text().strip())
    assert "reveal" not in repr(settings)
    assert repr(settings.server_pepper) == "Secret(***)"
    assert "server_pepper" not in describe(settings)


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(None, {"TIPLINE_DATA_DIR": str(tmp_path)})
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        "TIPLINE_PROFILE": "production",
        "TIPLINE_DATA_DIR": str(tmp_path),
        "TIPLINE_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1/tipline",
        "TIPLINE_REDIS_URL": "redis://127.0.0.1:6379/0",
        "TIPLINE_PUBLIC_URL": "https://tips.example.org",
        "TIPLINE_ORG_PUBLIC_KEY": "A" * 43,
        "TIPLINE_SERVER_PEPPER_FILE": str(write_secret(tmp_path / "pepper")),
        "TIPLINE_AUDIT_KEY_FILE": str(write_secret(tmp_path / "audit")),
    }
    env.update(overrides)
    return env


def test_a_complete_production_configuration_is_accepted(tmp_path: Path) -> None:
    settings = load_settings(None, production_env(tmp_path))
    assert settings.profile == "production"
    assert settings.auto_migrate is False


def test_an_onion_address_counts_as_a_protected_public_url(tmp_path: Path) -> None:
    env = production_env(tmp_path, TIPLINE_PUBLIC_URL="http://abcdefghijklmnop.onion")
    assert load_settings(None, env).public_url == "http://abcdefghijklmnop.onion"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"TIPLINE_DATABASE_URL": "sqlite+aiosqlite:///x.db"}, "TIPLINE_DATABASE_URL"),
        ({"TIPLINE_SERVER_PEPPER_FILE": ""}, "TIPLINE_SERVER_PEPPER_FILE"),
        ({"TIPLINE_AUDIT_KEY_FILE": ""}, "TIPLINE_AUDIT_KEY_FILE"),
        ({"TIPLINE_PUBLIC_URL": "http://tips.example.org"}, "TIPLINE_PUBLIC_URL"),
        ({"TIPLINE_ORG_PUBLIC_KEY": ""}, "TIPLINE_ORG_PUBLIC_KEY"),
    ],
)
def test_production_refuses_unsafe_settings_naming_them(
    tmp_path: Path, overrides: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(None, production_env(tmp_path, **overrides))


def test_several_workers_need_redis(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"TIPLINE_WORKERS.*TIPLINE_REDIS_URL"):
        load_settings(None, {"TIPLINE_DATA_DIR": str(tmp_path), "TIPLINE_WORKERS": "2"})


def test_an_unreadable_secret_file_is_refused_by_name(tmp_path: Path) -> None:
    env = {
        "TIPLINE_DATA_DIR": str(tmp_path),
        "TIPLINE_SERVER_PEPPER_FILE": str(tmp_path / "missing"),
    }
    with pytest.raises(ConfigError, match=r"TIPLINE_SERVER_PEPPER_FILE.*missing"):
        load_settings(None, env)


def test_a_secret_file_with_too_little_secret_is_refused(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_text("c2hvcnQ\n")
    env = {"TIPLINE_DATA_DIR": str(tmp_path), "TIPLINE_AUDIT_KEY_FILE": str(short)}
    with pytest.raises(ConfigError, match=r"TIPLINE_AUDIT_KEY_FILE.*at least 32"):
        load_settings(None, env)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[server]\nprot = 1\n", r"unknown setting \[server\] prot"),
        ("[server]\nport = 70000\n", "TIPLINE_PORT.*between 0 and 65535"),
        ("[server]\nport = 'eighty'\n", "TIPLINE_PORT.*whole number"),
        ("[demo]\nenabled = 'perhaps'\n", "TIPLINE_DEMO.*true or false"),
        ("[logging]\nlevel = 'chatty'\n", "TIPLINE_LOG_LEVEL.*one of"),
        ("server = 1\n", r"\[server\] must be a table"),
        ("[server\n", "not valid TOML"),
    ],
)
def test_a_malformed_file_is_refused_with_the_setting_named(
    tmp_path: Path, toml: str, message: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError, match=message):
        load_settings(config, {"TIPLINE_DATA_DIR": str(tmp_path)})


def test_a_bad_database_url_is_refused(tmp_path: Path) -> None:
    env = {"TIPLINE_DATA_DIR": str(tmp_path), "TIPLINE_DATABASE_URL": "mysql://x"}
    with pytest.raises(ConfigError, match="TIPLINE_DATABASE_URL"):
        load_settings(None, env)


def test_the_example_file_documents_every_setting_and_loads(tmp_path: Path) -> None:
    settings = load_settings(REPO / "config" / "gateway.example.toml", {"HOME": str(tmp_path)})
    assert settings.profile == "embedded"
    example = (REPO / "config" / "gateway.example.toml").read_text()
    for name in describe(settings):
        if name in {"uses_sqlite"}:
            continue
        assert f"TIPLINE_{name.upper()}" in example, f"{name} is not documented"
    for secret_setting in ("TIPLINE_SERVER_PEPPER_FILE", "TIPLINE_AUDIT_KEY_FILE"):
        assert secret_setting in example


def test_secret_equality_is_by_value() -> None:
    assert Secret(b"a" * 32) == Secret(b"a" * 32)
    assert Secret(b"a" * 32) != Secret(b"b" * 32)
