"""Typed, frozen settings: built once from a TOML file, then TIPLINE_* environment variables.

Secrets are never read from the TOML file or the environment directly, only from files
named by `*_file` settings, so that they do not end up in shell history, process listings
or a committed configuration.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final, Literal, cast
from urllib.parse import urlsplit

ENV_PREFIX: Final = "TIPLINE_"
SECRET_BYTES: Final = 32

Profile = Literal["embedded", "production"]
LogFormat = Literal["json", "text"]


class ConfigError(Exception):
    """A setting is missing, malformed or inconsistent; the message names the setting."""


class Secret:
    """Bytes that never show up in a repr, a log line or a traceback's locals."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(Secret)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the gateway can be configured with. See config/gateway.example.toml."""

    profile: Profile
    host: str
    port: int
    workers: int
    public_url: str | None
    data_dir: Path
    blob_dir: Path
    database_url: str
    auto_migrate: bool
    redis_url: str | None
    redis_key_prefix: str
    server_pepper: Secret = field(repr=False)
    audit_key: Secret = field(repr=False)
    org_public_key: str | None
    demo: bool
    max_body_bytes: int
    max_attachment_bytes: int
    pow_difficulty: int
    pow_max_difficulty: int
    pow_load_threshold: int
    anonymous_per_minute: int
    network_per_minute: int
    locator_per_hour: int
    sockets_per_session: int
    idle_connection_seconds: int
    body_read_seconds: int
    upload_idle_seconds: int
    upload_min_bytes_per_second: int
    session_idle_seconds: int
    session_absolute_seconds: int
    log_level: str
    log_format: LogFormat
    emergency_ack_seconds: int
    escalation_interval_seconds: int
    escalation_scan_seconds: int
    webhook_url: str | None
    webhook_secret: Secret | None = field(repr=False)
    webhook_timeout_seconds: int
    retention_closed_after_days: int | None
    retention_idle_after_days: int | None
    retention_withdrawn_after_days: int | None
    retention_interval_seconds: int

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@dataclass(frozen=True, slots=True)
class _Option:
    """One setting: where it lives in the TOML file, its environment name and its parser."""

    section: str
    key: str
    name: str
    parse: Callable[[str, object], object]

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def where(self) -> str:
        return f"{self.env} ([{self.section}] {self.key})"


def _text(where: str, raw: object) -> str:
    if not isinstance(raw, str):
        raise ConfigError(f"{where}: expected text, got {type(raw).__name__}")
    return raw.strip()


def _optional_text(where: str, raw: object) -> str | None:
    value = _text(where, raw)
    return value or None


def _integer(low: int, high: int) -> Callable[[str, object], int]:
    def parse(where: str, raw: object) -> int:
        if isinstance(raw, bool):
            raise ConfigError(f"{where}: expected a whole number, got {raw!r}")
        if isinstance(raw, int):
            value = raw
        else:
            try:
                value = int(_text(where, raw))
            except ValueError:
                raise ConfigError(f"{where}: expected a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{where}: must be between {low} and {high}, got {value}")
        return value

    return parse


def _boolean(where: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    value = _text(where, raw).lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{where}: expected true or false, got {raw!r}")


def _days_or_off(where: str, raw: object) -> int | None:
    """Whole days (0 = at once), or "off" to switch a retention rule off."""
    if isinstance(raw, str) and raw.strip().lower() in {"off", "never"}:
        return None
    return _integer(0, 36_500)(where, raw)


def _choice(*allowed: str) -> Callable[[str, object], str]:
    def parse(where: str, raw: object) -> str:
        value = _text(where, raw).lower()
        if value not in allowed:
            raise ConfigError(f"{where}: must be one of {', '.join(allowed)}, got {raw!r}")
        return value

    return parse


_OPTIONS: Final = (
    _Option("server", "profile", "profile", _choice("embedded", "production")),
    _Option("server", "host", "host", _text),
    _Option("server", "port", "port", _integer(0, 65535)),
    _Option("server", "workers", "workers", _integer(1, 64)),
    _Option("server", "public_url", "public_url", _optional_text),
    _Option("storage", "data_dir", "data_dir", _text),
    _Option("storage", "blob_dir", "blob_dir", _optional_text),
    _Option("database", "url", "database_url", _optional_text),
    _Option("database", "auto_migrate", "auto_migrate", _boolean),
    _Option("broker", "redis_url", "redis_url", _optional_text),
    _Option("broker", "key_prefix", "redis_key_prefix", _text),
    _Option("secrets", "server_pepper_file", "server_pepper_file", _optional_text),
    _Option("secrets", "audit_key_file", "audit_key_file", _optional_text),
    _Option("organisation", "public_key", "org_public_key", _optional_text),
    _Option("demo", "enabled", "demo", _boolean),
    _Option("limits", "max_body_bytes", "max_body_bytes", _integer(4096, 64 * 2**20)),
    _Option("limits", "max_attachment_bytes", "max_attachment_bytes", _integer(2**16, 2**40)),
    _Option("limits", "pow_difficulty", "pow_difficulty", _integer(0, 32)),
    # Clients refuse challenges above 26 bits (gateway/client/reporter.py).
    _Option("limits", "pow_max_difficulty", "pow_max_difficulty", _integer(0, 26)),
    _Option("limits", "pow_load_threshold", "pow_load_threshold", _integer(1, 1_000_000)),
    # The broker keeps one entry per counted attempt: limits stay in the thousands.
    _Option("limits", "anonymous_per_minute", "anonymous_per_minute", _integer(1, 20_000)),
    _Option("limits", "network_per_minute", "network_per_minute", _integer(1, 20_000)),
    _Option("limits", "locator_per_hour", "locator_per_hour", _integer(1, 20_000)),
    _Option("limits", "sockets_per_session", "sockets_per_session", _integer(1, 64)),
    _Option("limits", "idle_connection_seconds", "idle_connection_seconds", _integer(1, 3600)),
    _Option("limits", "body_read_seconds", "body_read_seconds", _integer(1, 600)),
    _Option("limits", "upload_idle_seconds", "upload_idle_seconds", _integer(1, 3600)),
    _Option(
        "limits",
        "upload_min_bytes_per_second",
        "upload_min_bytes_per_second",
        _integer(0, 2**30),
    ),
    _Option("sessions", "idle_seconds", "session_idle_seconds", _integer(60, 86_400)),
    _Option("sessions", "absolute_seconds", "session_absolute_seconds", _integer(300, 7 * 86_400)),
    _Option("logging", "level", "log_level", _choice("debug", "info", "warning", "error")),
    _Option("logging", "format", "log_format", _choice("json", "text")),
    _Option("emergencies", "ack_seconds", "emergency_ack_seconds", _integer(30, 86_400)),
    _Option(
        "emergencies",
        "escalation_interval_seconds",
        "escalation_interval_seconds",
        _integer(30, 86_400),
    ),
    _Option("emergencies", "scan_seconds", "escalation_scan_seconds", _integer(1, 3600)),
    _Option("webhook", "url", "webhook_url", _optional_text),
    _Option("webhook", "secret_file", "webhook_secret_file", _optional_text),
    _Option("webhook", "timeout_seconds", "webhook_timeout_seconds", _integer(1, 120)),
    _Option("retention", "closed_after_days", "retention_closed_after_days", _days_or_off),
    _Option("retention", "idle_after_days", "retention_idle_after_days", _days_or_off),
    _Option("retention", "withdrawn_after_days", "retention_withdrawn_after_days", _days_or_off),
    _Option("retention", "interval_seconds", "retention_interval_seconds", _integer(60, 86_400)),
)

_DEFAULTS: Final[Mapping[str, object]] = {
    "profile": "embedded",
    "host": "127.0.0.1",
    "port": 8080,
    "workers": 1,
    "public_url": None,
    "data_dir": None,
    "blob_dir": None,
    "database_url": None,
    "auto_migrate": None,
    "redis_url": None,
    "redis_key_prefix": "tipline:",
    "server_pepper_file": None,
    "audit_key_file": None,
    "org_public_key": None,
    "demo": False,
    "max_body_bytes": 2 * 2**20,
    "max_attachment_bytes": 2 * 2**30,
    "pow_difficulty": 18,
    "pow_max_difficulty": 22,
    "pow_load_threshold": 240,
    "anonymous_per_minute": 1200,
    "network_per_minute": 300,
    "locator_per_hour": 120,
    "sockets_per_session": 4,
    "idle_connection_seconds": 75,
    "body_read_seconds": 30,
    "upload_idle_seconds": 150,
    "upload_min_bytes_per_second": 1024,
    "session_idle_seconds": 30 * 60,
    "session_absolute_seconds": 12 * 3600,
    "log_level": "info",
    "log_format": "json",
    "emergency_ack_seconds": 600,
    "escalation_interval_seconds": 900,
    "escalation_scan_seconds": 5,
    "webhook_url": None,
    "webhook_secret_file": None,
    "webhook_timeout_seconds": 10,
    "retention_closed_after_days": 30,
    "retention_idle_after_days": 90,
    "retention_withdrawn_after_days": 0,
    "retention_interval_seconds": 3600,
}


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """Where the embedded default keeps its data when nothing says otherwise."""
    xdg = environ.get("XDG_DATA_HOME")
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    base = Path(xdg) if xdg else home / ".local" / "share"
    return base / "tipline"


def load_settings(
    config_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build the settings: defaults, then the TOML file, then TIPLINE_* variables.

    In the embedded profile, missing secrets are created once inside the data folder
    (mode 0600) so that the one-command start works; production refuses to start instead.
    """
    env = dict(os.environ if environ is None else environ)
    if config_file is None and env.get(ENV_PREFIX + "CONFIG"):
        config_file = Path(env[ENV_PREFIX + "CONFIG"])
    raw: dict[str, object] = dict(_DEFAULTS)
    base_dir = Path.cwd()
    if config_file is not None:
        raw.update(_read_toml(config_file))
        base_dir = config_file.resolve().parent
    for option in _OPTIONS:
        if option.env in env:
            raw[option.name] = option.parse(option.where, env[option.env])
    return _assemble(raw, base_dir, env)


def _read_toml(path: Path) -> dict[str, object]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"config file {path}: cannot be read ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path}: not valid TOML ({error})") from None
    by_place = {(option.section, option.key): option for option in _OPTIONS}
    values: dict[str, object] = {}
    for section, table in document.items():
        if not isinstance(table, dict):
            raise ConfigError(f"config file {path}: [{section}] must be a table")
        for key, value in table.items():
            option = by_place.get((section, key))
            if option is None:
                # A typo in a security setting must not be silently ignored.
                raise ConfigError(f"config file {path}: unknown setting [{section}] {key}")
            values[option.name] = option.parse(option.where, value)
    return values


def _resolve(base_dir: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base_dir / path).resolve()


def _assemble(raw: Mapping[str, object], base_dir: Path, env: Mapping[str, str]) -> Settings:
    profile = cast(Profile, raw["profile"])
    production = profile == "production"
    data_dir_raw = raw["data_dir"]
    data_dir = (
        _resolve(base_dir, cast(str, data_dir_raw)) if data_dir_raw else default_data_dir(env)
    )
    blob_dir_raw = raw["blob_dir"]
    blob_dir = _resolve(base_dir, cast(str, blob_dir_raw)) if blob_dir_raw else data_dir / "blobs"
    database_url = cast(str | None, raw["database_url"]) or (
        f"sqlite+aiosqlite:///{data_dir / 'gateway.sqlite3'}"
    )
    redis_url = cast(str | None, raw["redis_url"])
    workers = cast(int, raw["workers"])
    public_url = cast(str | None, raw["public_url"])

    if workers > 1 and redis_url is None:
        raise ConfigError(
            "TIPLINE_WORKERS ([server] workers): more than one worker needs Redis; "
            "set TIPLINE_REDIS_URL ([broker] redis_url) or use one worker"
        )
    if workers > 1 and database_url.startswith("sqlite"):
        raise ConfigError(
            "TIPLINE_WORKERS ([server] workers): more than one worker needs PostgreSQL; "
            "set TIPLINE_DATABASE_URL ([database] url)"
        )
    if not database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ConfigError(
            "TIPLINE_DATABASE_URL ([database] url): must start with sqlite+aiosqlite:// "
            "or postgresql+asyncpg://"
        )
    if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            "TIPLINE_REDIS_URL ([broker] redis_url): must start with redis://, rediss:// or unix://"
        )
    if production:
        if database_url.startswith("sqlite"):
            raise ConfigError(
                "TIPLINE_DATABASE_URL ([database] url): the production profile needs "
                "PostgreSQL; SQLite is only for the embedded default"
            )
        if public_url is None or not _is_tls_or_onion(public_url):
            raise ConfigError(
                "TIPLINE_PUBLIC_URL ([server] public_url): the production profile needs the "
                "public https:// address or the .onion address the gateway is reached at"
            )
        if not raw["org_public_key"]:
            raise ConfigError(
                "TIPLINE_ORG_PUBLIC_KEY ([organisation] public_key): the production profile "
                "needs the organisation's public key pinned"
            )
        if raw["demo"]:
            raise ConfigError(
                "TIPLINE_DEMO ([demo] enabled): the demo organisation keeps its keys and "
                "passphrases in clear; the production profile refuses it"
            )

    secrets_dir = data_dir / "secrets"
    server_pepper = _secret(
        "server_pepper", raw["server_pepper_file"], base_dir, production, secrets_dir
    )
    audit_key = _secret("audit_key", raw["audit_key_file"], base_dir, production, secrets_dir)
    webhook_url, webhook_secret = _webhook(raw, base_dir, production)
    auto_migrate_raw = raw["auto_migrate"]
    auto_migrate = (not production) if auto_migrate_raw is None else bool(auto_migrate_raw)

    return Settings(
        profile=profile,
        host=cast(str, raw["host"]),
        port=cast(int, raw["port"]),
        workers=workers,
        public_url=public_url,
        data_dir=data_dir,
        blob_dir=blob_dir,
        database_url=database_url,
        auto_migrate=auto_migrate,
        redis_url=redis_url,
        redis_key_prefix=cast(str, raw["redis_key_prefix"]),
        server_pepper=server_pepper,
        audit_key=audit_key,
        org_public_key=cast(str | None, raw["org_public_key"]),
        demo=cast(bool, raw["demo"]),
        max_body_bytes=cast(int, raw["max_body_bytes"]),
        max_attachment_bytes=cast(int, raw["max_attachment_bytes"]),
        pow_difficulty=cast(int, raw["pow_difficulty"]),
        pow_max_difficulty=cast(int, raw["pow_max_difficulty"]),
        pow_load_threshold=cast(int, raw["pow_load_threshold"]),
        anonymous_per_minute=cast(int, raw["anonymous_per_minute"]),
        network_per_minute=cast(int, raw["network_per_minute"]),
        locator_per_hour=cast(int, raw["locator_per_hour"]),
        sockets_per_session=cast(int, raw["sockets_per_session"]),
        idle_connection_seconds=cast(int, raw["idle_connection_seconds"]),
        body_read_seconds=cast(int, raw["body_read_seconds"]),
        upload_idle_seconds=cast(int, raw["upload_idle_seconds"]),
        upload_min_bytes_per_second=cast(int, raw["upload_min_bytes_per_second"]),
        session_idle_seconds=cast(int, raw["session_idle_seconds"]),
        session_absolute_seconds=cast(int, raw["session_absolute_seconds"]),
        log_level=cast(str, raw["log_level"]),
        log_format=cast(LogFormat, raw["log_format"]),
        emergency_ack_seconds=cast(int, raw["emergency_ack_seconds"]),
        escalation_interval_seconds=cast(int, raw["escalation_interval_seconds"]),
        escalation_scan_seconds=cast(int, raw["escalation_scan_seconds"]),
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        webhook_timeout_seconds=cast(int, raw["webhook_timeout_seconds"]),
        retention_closed_after_days=cast(int | None, raw["retention_closed_after_days"]),
        retention_idle_after_days=cast(int | None, raw["retention_idle_after_days"]),
        retention_withdrawn_after_days=cast(int | None, raw["retention_withdrawn_after_days"]),
        retention_interval_seconds=cast(int, raw["retention_interval_seconds"]),
    )


_LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})


def _webhook(
    raw: Mapping[str, object], base_dir: Path, production: bool
) -> tuple[str | None, Secret | None]:
    """The emergency webhook's address and signing secret: both or neither."""
    url = cast(str | None, raw["webhook_url"])
    secret_file = cast(str | None, raw["webhook_secret_file"])
    where_url = f"{ENV_PREFIX}WEBHOOK_URL ([webhook] url)"
    where_secret = f"{ENV_PREFIX}WEBHOOK_SECRET_FILE ([webhook] secret_file)"
    if url is None:
        if secret_file:
            raise ConfigError(f"{where_secret}: set only together with {where_url}")
        return None, None
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"{where_url}: must be an http:// or https:// address")
    # Even content-free alarms tell an observer when emergencies happen: protect them in transit.
    if production and not _is_tls_or_onion(url) and parts.hostname not in _LOOPBACK_HOSTS:
        raise ConfigError(
            f"{where_url}: the production profile sends webhooks only over https:// "
            "(or to a .onion or loopback address)"
        )
    if not secret_file:
        raise ConfigError(f"{where_secret}: a webhook needs a signing secret file")
    return url, _read_secret_file(where_secret, _resolve(base_dir, secret_file))


def _is_tls_or_onion(url: str) -> bool:
    lowered = url.lower().rstrip("/")
    if lowered.startswith("https://"):
        return True
    return lowered.startswith("http://") and lowered.split("/")[2].split(":")[0].endswith(".onion")


def _secret(
    name: str, file_raw: object, base_dir: Path, production: bool, secrets_dir: Path
) -> Secret:
    where = f"{ENV_PREFIX}{name.upper()}_FILE ([secrets] {name}_file)"
    if file_raw:
        return _read_secret_file(where, _resolve(base_dir, cast(str, file_raw)))
    if production:
        raise ConfigError(f"{where}: the production profile needs this secret file")
    return _embedded_secret(where, secrets_dir / name)


def _read_secret_file(where: str, path: Path) -> Secret:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not ASCII text"
        raise ConfigError(f"{where}: cannot read {path} ({reason})") from None
    value = decode_secret(text)
    if value is None:
        raise ConfigError(
            f"{where}: {path} must hold at least {SECRET_BYTES} random bytes as unpadded "
            "base64url text (make one with `tipline secret new`)"
        )
    return Secret(value)


def _embedded_secret(where: str, path: Path) -> Secret:
    if path.exists():
        return _read_secret_file(where, path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # O_EXCL: two processes starting at once must not overwrite each other's secret.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret_file(where, path)
    except OSError as error:
        raise ConfigError(f"{where}: cannot create {path} ({error.strerror})") from None
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(new_secret_text() + "\n")
    return _read_secret_file(where, path)


def new_secret_text() -> str:
    """A fresh secret from the OS CSPRNG, as unpadded base64url text."""
    return base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).rstrip(b"=").decode()


def decode_secret(text: str) -> bytes | None:
    """Decode a secret file's text; None when it is not base64url of enough bytes."""
    try:
        value = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return value if len(value) >= SECRET_BYTES else None


def describe(settings: Settings) -> dict[str, Any]:
    """A printable view of the settings with secrets left out (for `tipline config show`)."""
    view: dict[str, Any] = {}
    for item in fields(settings):
        value = getattr(settings, item.name)
        if isinstance(value, Secret):
            continue
        view[item.name] = str(value) if isinstance(value, Path) else value
    return view
