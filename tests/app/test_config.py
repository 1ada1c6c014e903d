"""Configuration comes only from the environment; every bad value names its variable."""

from __future__ import annotations

import pytest

from webstack.paths import APP_DIR
from webstack_app import create_app
from webstack_app.config import ConfigError, from_env

pytestmark = pytest.mark.app


def test_defaults_match_the_contract():
    config = from_env({})
    assert (config.db_host, config.db_port, config.db_name, config.db_user) == (
        "127.0.0.1", 3306, "webstack", "webstack")
    assert (config.db_pool_size, config.db_connect_timeout, config.log_level) == (5, 3, "INFO")
    assert config.max_content_length == 1024 * 1024
    assert config.app_version == (APP_DIR / "VERSION").read_text().strip()


def test_every_variable_is_read():
    config = from_env({
        "APP_VERSION": "9.9.9", "LOG_LEVEL": "debug", "DB_HOST": "mysql.ns.svc", "DB_PORT": "3307",
        "DB_NAME": "n", "DB_USER": "u", "DB_PASSWORD": "p@ss:/word", "DB_POOL_SIZE": "7",
        "DB_CONNECT_TIMEOUT": "2", "DB_READ_TIMEOUT": "4", "MAX_CONTENT_LENGTH": "4096",
        "DB_MAX_OVERFLOW": "0", "DB_POOL_TIMEOUT": "9",
    })
    assert config.app_version == "9.9.9" and config.log_level == "DEBUG"
    assert (config.db_host, config.db_port, config.db_name, config.db_user, config.db_password) == (
        "mysql.ns.svc", 3307, "n", "u", "p@ss:/word")
    assert (config.db_pool_size, config.db_max_overflow, config.db_pool_timeout) == (7, 0, 9.0)
    assert (config.db_connect_timeout, config.db_read_timeout, config.max_content_length) == (2, 4, 4096)
    # Special characters in the password survive URL building.
    url = config.sqlalchemy_url()
    assert url.startswith("mysql+pymysql://u:p%40ss%3A%2Fword@mysql.ns.svc:3307/n")


def test_password_file_wins_and_loses_one_trailing_newline(tmp_path):
    secret = tmp_path / "mysql-password"
    secret.write_text("s3cret \n")
    assert from_env({"DB_PASSWORD": "ignored", "DB_PASSWORD_FILE": str(secret)}).db_password == "s3cret "


@pytest.mark.parametrize(("env", "needle"), [
    ({"DB_PORT": "abc"}, "DB_PORT='abc': expected an integer between 1 and 65535"),
    ({"DB_PORT": "70000"}, "DB_PORT=70000"),
    ({"DB_POOL_SIZE": "0"}, "DB_POOL_SIZE=0"),
    ({"DB_CONNECT_TIMEOUT": "-1"}, "DB_CONNECT_TIMEOUT=-1"),
    ({"MAX_CONTENT_LENGTH": "1k"}, "MAX_CONTENT_LENGTH='1k'"),
    ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL='verbose': expected one of DEBUG, INFO"),
    ({"DB_HOST": "  "}, "DB_HOST is empty"),
    ({"DB_PASSWORD_FILE": "/nonexistent/secret"}, "DB_PASSWORD_FILE=/nonexistent/secret: cannot read"),
])
def test_bad_values_name_the_variable(env, needle):
    with pytest.raises(ConfigError) as err:
        from_env(env)
    assert needle in str(err.value)


def test_create_app_reads_the_environment(monkeypatch):
    monkeypatch.setenv("APP_VERSION", "3.1.4")
    monkeypatch.setenv("MAX_CONTENT_LENGTH", "2048")
    app = create_app()
    assert app.config["APP_VERSION"] == "3.1.4" and app.config["MAX_CONTENT_LENGTH"] == 2048
    monkeypatch.setenv("DB_PORT", "nope")
    with pytest.raises(ConfigError, match="DB_PORT"):
        create_app()


def test_migrate_command_exits_2_on_bad_configuration(run_migrate):
    proc = run_migrate("webstack", DB_POOL_SIZE="many")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "configuration error: DB_POOL_SIZE='many'" in err and "Traceback" not in err + out
