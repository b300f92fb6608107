"""Settings for emergencies, the webhook and retention: defaults, "off", and refusals by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, load_settings, new_secret_text


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"TIPLINE_DATA_DIR": str(tmp_path), **values}


def _secret_file(tmp_path: Path) -> str:
    path = tmp_path / "webhook.secret"
    path.write_text(new_secret_text() + "\n", encoding="ascii")
    return str(path)


def test_the_defaults_escalate_after_ten_minutes_and_keep_closed_cases_thirty_days(
    tmp_path: Path,
) -> None:
    settings = load_settings(None, _env(tmp_path))

    assert settings.emergency_ack_seconds == 600
    assert settings.escalation_interval_seconds == 900
    assert settings.webhook_url is None
    assert settings.webhook_secret is None
    assert settings.retention_closed_after_days == 30
    assert settings.retention_idle_after_days == 90
    assert settings.retention_withdrawn_after_days == 0


def test_a_retention_rule_can_be_switched_off(tmp_path: Path) -> None:
    settings = load_settings(None, _env(tmp_path, TIPLINE_RETENTION_IDLE_AFTER_DAYS="off"))

    assert settings.retention_idle_after_days is None


def test_a_webhook_reads_its_secret_from_a_file_and_never_shows_it(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        _env(
            tmp_path,
            TIPLINE_WEBHOOK_URL="http://127.0.0.1:9/hook",
            TIPLINE_WEBHOOK_SECRET_FILE=_secret_file(tmp_path),
        ),
    )

    assert settings.webhook_url == "http://127.0.0.1:9/hook"
    assert settings.webhook_secret is not None
    assert len(settings.webhook_secret.reveal()) == 32
    assert "webhook_secret" not in repr(settings)


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"TIPLINE_WEBHOOK_URL": "https://pager.example.org/x"}, "TIPLINE_WEBHOOK_SECRET_FILE"),
        ({"TIPLINE_WEBHOOK_SECRET_FILE": "SECRET"}, "TIPLINE_WEBHOOK_SECRET_FILE"),
        (
            {
                "TIPLINE_WEBHOOK_URL": "ftp://pager.example.org",
                "TIPLINE_WEBHOOK_SECRET_FILE": "SECRET",
            },
            "TIPLINE_WEBHOOK_URL",
        ),
        ({"TIPLINE_EMERGENCY_ACK_SECONDS": "5"}, "TIPLINE_EMERGENCY_ACK_SECONDS"),
        ({"TIPLINE_RETENTION_CLOSED_AFTER_DAYS": "soon"}, "TIPLINE_RETENTION_CLOSED_AFTER_DAYS"),
    ],
)
def test_inconsistent_emergency_settings_are_refused_by_name(
    tmp_path: Path, values: dict[str, str], named: str
) -> None:
    secret = _secret_file(tmp_path)
    env = _env(tmp_path, **{k: secret if v == "SECRET" else v for k, v in values.items()})

    with pytest.raises(ConfigError, match=named):
        load_settings(None, env)


def test_production_sends_webhooks_only_over_tls_or_to_loopback(tmp_path: Path) -> None:
    production = {
        "TIPLINE_PROFILE": "production",
        "TIPLINE_DATABASE_URL": "postgresql+asyncpg://tipline@db/tipline",
        "TIPLINE_PUBLIC_URL": "https://tips.example.org",
        "TIPLINE_ORG_PUBLIC_KEY": "A" * 43,
        "TIPLINE_SERVER_PEPPER_FILE": _secret_file(tmp_path),
        "TIPLINE_AUDIT_KEY_FILE": _secret_file(tmp_path),
        "TIPLINE_WEBHOOK_SECRET_FILE": _secret_file(tmp_path),
    }
    with pytest.raises(ConfigError, match="TIPLINE_WEBHOOK_URL"):
        load_settings(
            None, _env(tmp_path, **production, TIPLINE_WEBHOOK_URL="http://pager.example.org")
        )

    for url in ("https://pager.example.org/x", "http://127.0.0.1:8999/x", "http://[::1]:8999/"):
        assert load_settings(
            None, _env(tmp_path, **production, TIPLINE_WEBHOOK_URL=url)
        ).webhook_url
