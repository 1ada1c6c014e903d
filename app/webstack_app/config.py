"""Configuration, read only from the environment (the chart's Deployment sets these variables).

Every bad value is a ConfigError that names the variable and what was expected, so a pod that
cannot start says why in its first log line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

VERSION_FILE = Path(__file__).resolve().parent.parent / "VERSION"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """An environment variable is missing or malformed."""


@dataclass(frozen=True)
class Config:
    app_version: str = "unknown"
    log_level: str = "INFO"
    db_host: str = "127.0.0.1"
    db_port: int = 3306
    db_name: str = "webstack"
    db_user: str = "webstack"
    db_password: str = ""
    db_pool_size: int = 5
    db_max_overflow: int = 5
    db_pool_timeout: float = 5.0
    db_connect_timeout: int = 3
    db_read_timeout: int = 10
    max_content_length: int = 1024 * 1024

    def sqlalchemy_url(self) -> str:
        from sqlalchemy.engine import URL

        url = URL.create("mysql+pymysql", username=self.db_user, password=self.db_password or None,
                         host=self.db_host, port=self.db_port, database=self.db_name,
                         query={"charset": "utf8mb4"})
        return url.render_as_string(hide_password=False)


def _int(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected an integer between {minimum} and {maximum}") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name}={value}: expected an integer between {minimum} and {maximum}")
    return value


def _password(env: Mapping[str, str]) -> str:
    """DB_PASSWORD_FILE (a mounted Secret) wins over DB_PASSWORD; one trailing newline is dropped."""
    if path := env.get("DB_PASSWORD_FILE", "").strip():
        try:
            return Path(path).read_text(encoding="utf-8").removesuffix("\n")
        except OSError as exc:
            raise ConfigError(f"DB_PASSWORD_FILE={path}: cannot read the password file "
                              f"({exc.strerror})") from None
    return env.get("DB_PASSWORD", "")


def default_version() -> str:
    try:
        return VERSION_FILE.read_text(encoding="utf-8").strip() or "unknown"
    except OSError:
        return "unknown"


def from_env(env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    level = env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL={env.get('LOG_LEVEL')!r}: expected one of {', '.join(LOG_LEVELS)}")
    host = env.get("DB_HOST", "127.0.0.1").strip()
    if not host:
        raise ConfigError("DB_HOST is empty: expected the database host name")
    pool_size = _int(env, "DB_POOL_SIZE", 5, 1, 100)
    return Config(
        app_version=env.get("APP_VERSION", "").strip() or default_version(),
        log_level=level,
        db_host=host,
        db_port=_int(env, "DB_PORT", 3306, 1, 65535),
        db_name=env.get("DB_NAME", "webstack").strip() or "webstack",
        db_user=env.get("DB_USER", "webstack").strip() or "webstack",
        db_password=_password(env),
        db_pool_size=pool_size,
        db_max_overflow=_int(env, "DB_MAX_OVERFLOW", pool_size, 0, 100),
        db_pool_timeout=float(_int(env, "DB_POOL_TIMEOUT", 5, 1, 300)),
        db_connect_timeout=_int(env, "DB_CONNECT_TIMEOUT", 3, 1, 300),
        db_read_timeout=_int(env, "DB_READ_TIMEOUT", 10, 1, 3600),
        max_content_length=_int(env, "MAX_CONTENT_LENGTH", 1024 * 1024, 1024, 1024 * 1024 * 1024),
    )
