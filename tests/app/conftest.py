"""App tier fixtures: a real MariaDB, a fresh database per test module, the app and real gunicorn."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from webstack.paths import APP_DIR
from webstack.servers import LOOPBACK, MariaDB, Process, free_port, port_open, start_process, wait_until

if str(APP_DIR) not in sys.path:  # the image sets PYTHONPATH=/app; here app/ plays that part
    sys.path.insert(0, str(APP_DIR))

from webstack_app import create_app
from webstack_app.config import Config, from_env
from webstack_app.migrate import migrate

GUNICORN = Path(sys.executable).parent / "gunicorn"


def db_env(server: MariaDB, database: str, **extra: str) -> dict[str, str]:
    """The environment the chart's Deployment would set, pointed at `database` on the test server."""
    return {"DB_HOST": LOOPBACK, "DB_PORT": str(server.port), "DB_NAME": database, "DB_USER": "root",
            "DB_PASSWORD": "", "LOG_LEVEL": "INFO", **extra}


@pytest.fixture(scope="session")
def new_database(mariadb_server: MariaDB) -> Callable[[], str]:
    """Create an empty database with a unique name; returns its name."""
    def make() -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        mariadb_server.sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        return name
    return make


@pytest.fixture(scope="module")
def database(new_database: Callable[[], str], mariadb_server: MariaDB) -> str:
    """A database for this test module, migrated to head."""
    name = new_database()
    migrate(config_for(mariadb_server, name))
    return name


def config_for(server: MariaDB, database: str, **extra: str) -> Config:
    return from_env(db_env(server, database, **extra))


@pytest.fixture(scope="session")
def app_config(mariadb_server: MariaDB) -> Callable[..., Config]:
    """The app's Config for `database` on the test server, plus extra environment."""
    return lambda database, **extra: config_for(mariadb_server, database, **extra)


@pytest.fixture(scope="module")
def app(mariadb_server: MariaDB, database: str):
    application = create_app(config_for(mariadb_server, database))
    yield application
    application.extensions["webstack_engine"].dispose()


@pytest.fixture
def app_with(mariadb_server: MariaDB, database: str) -> Iterator[Callable[..., object]]:
    """Build another app on this module's database with extra environment (MAX_CONTENT_LENGTH=...)."""
    apps = []

    def make(**extra: str):
        apps.append(create_app(config_for(mariadb_server, database, **extra)))
        return apps[-1]

    yield make
    for application in apps:
        application.extensions["webstack_engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def empty_notes(mariadb_server: MariaDB, database: str) -> None:
    mariadb_server.sql("DELETE FROM notes", database=database)


def app_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "GUNICORN_", "PROMETHEUS_"))}
    env.update(PYTHONPATH=str(APP_DIR), PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


@pytest.fixture(scope="session")
def run_migrate(mariadb_server: MariaDB) -> Callable[..., subprocess.Popen[str]]:
    """Start `python -m webstack_app migrate ARGS` (the migration Job's command) on `database`."""
    def start(database: str, *args: str, **extra: str) -> subprocess.Popen[str]:
        env = app_env(**{**db_env(mariadb_server, database), **extra})
        return subprocess.Popen([sys.executable, "-m", "webstack_app", "migrate", *args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return start


@pytest.fixture
def gunicorn(tmp_path: Path, mariadb_server: MariaDB) -> Iterator[Callable[..., tuple[Process, str]]]:
    """Start real gunicorn (the image's command) with an environment; returns (process, base URL)."""
    started: list[Process] = []

    def start(database: str, wait: bool = True, **extra: str) -> tuple[Process, str]:
        port = free_port()
        shm, cwd = tmp_path / "shm", tmp_path / "cwd"  # worker tmp dir; working dir (must stay empty)
        shm.mkdir(exist_ok=True)
        cwd.mkdir(exist_ok=True)
        env = app_env(**db_env(mariadb_server, database), GUNICORN_BIND=f"{LOOPBACK}:{port}",
                      GUNICORN_WORKERS="1", GUNICORN_THREADS="4", GUNICORN_WORKER_TMP_DIR=str(shm))
        env.update(extra)
        log = tmp_path / f"gunicorn-{port}.log"
        proc = start_process("gunicorn", [str(GUNICORN), "-c", "python:webstack_app.gunicorn_conf",
                                          "webstack_app.wsgi:app"], log, env=env, cwd=cwd)
        started.append(proc)
        if wait:
            wait_until(lambda: port_open(port), 30, "gunicorn", log=log, alive=proc.alive)
        return proc, f"http://{LOOPBACK}:{port}"

    yield start
    for proc in started:
        proc.stop()
