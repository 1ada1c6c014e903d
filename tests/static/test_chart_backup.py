"""The mysql chart's rendered backup.sh and restore.sh, my.cnf and init script, run for real against
MariaDB (the MySQL-compatible server available without containers): the documented restore path works.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from webstack import helm
from webstack.paths import CHART_DIR
from webstack.render import RELEASE
from webstack.servers import LOOPBACK, MariaDB

pytestmark = pytest.mark.static

DB = "chart_backup_test"
USER, PASSWORD = "chart_backup", "s3cret-Backup-pw"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """File name -> content of the three mysql ConfigMaps (my.cnf, init scripts, backup scripts)."""
    only = "charts/mysql/templates/configmap.yaml"
    out = helm.run(["template", RELEASE, str(CHART_DIR), "--show-only", only])
    data: dict[str, str] = {}
    for doc in yaml.safe_load_all(out.stdout):
        data |= doc["data"]
    return data


@pytest.fixture(scope="module")
def scripts(rendered: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scripts")
    for name in ("backup.sh", "restore.sh"):
        (folder / name).write_text(rendered[name])
        (folder / name).chmod(stat.S_IRWXU)
    return folder


@pytest.fixture(scope="module")
def database(mariadb_server: MariaDB, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database and a password-protected user; returns the password file the scripts read."""
    mariadb_server.sql(
        f"DROP DATABASE IF EXISTS {DB}; CREATE DATABASE {DB};"
        f"CREATE OR REPLACE USER '{USER}'@'{LOOPBACK}' IDENTIFIED BY '{PASSWORD}';"
        f"GRANT ALL ON {DB}.* TO '{USER}'@'{LOOPBACK}';"
    )
    pw = tmp_path_factory.mktemp("secret") / "password"
    pw.write_text(PASSWORD)
    return pw


def _env(server: MariaDB, password_file: Path, backup_dir: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "MYSQL_HOST": LOOPBACK, "MYSQL_PORT": str(server.port), "MYSQL_USER": USER,
            "MYSQL_PASSWORD_FILE": str(password_file), "MYSQL_DATABASE": DB, "BACKUP_DIR": str(backup_dir),
            "BACKUP_RETENTION": "2", "WAIT_SECONDS": "10", **extra}


def _run(script: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(script), *args], env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def test_backup_then_restore_round_trip(mariadb_server: MariaDB, scripts: Path, database: Path,
                                        tmp_path: Path) -> None:
    mariadb_server.sql("CREATE TABLE notes (id INT PRIMARY KEY, title VARCHAR(50));"
                       "INSERT INTO notes VALUES (1, 'kept'), (2, 'also kept');", database=DB)
    # Two older dumps already there: retention 2 keeps the newest one of them plus the new dump.
    for stamp in ("20200101T000000Z", "20210101T000000Z"):
        (tmp_path / f"{DB}-{stamp}.sql").write_text("-- old\n")
    env = _env(mariadb_server, database, tmp_path)

    res = _run(scripts / "backup.sh", env)
    assert res.returncode == 0, res.stderr
    dumps = sorted(p.name for p in tmp_path.glob(f"{DB}-*.sql"))
    assert len(dumps) == 2 and dumps[0] == f"{DB}-20210101T000000Z.sql", dumps
    new_dump = tmp_path / dumps[1]
    assert new_dump.read_text().rstrip().splitlines()[-1].startswith("-- Dump completed")
    assert PASSWORD not in new_dump.read_text() and PASSWORD not in res.stdout + res.stderr

    mariadb_server.sql("DELETE FROM notes WHERE id = 1; UPDATE notes SET title = 'changed' WHERE id = 2;",
                       database=DB)
    res = _run(scripts / "restore.sh", env)  # no argument: the newest dump
    assert res.returncode == 0, res.stderr
    assert f"loaded {new_dump}" in res.stdout
    rows = mariadb_server.sql("SELECT id, title FROM notes ORDER BY id;", database=DB)
    assert rows.splitlines() == ["1\tkept", "2\talso kept"]

    # By name, as restore.file / RESTORE_FILE gives it.
    mariadb_server.sql("DELETE FROM notes;", database=DB)
    res = _run(scripts / "restore.sh", {**env, "RESTORE_FILE": new_dump.name})
    assert res.returncode == 0, res.stderr
    assert mariadb_server.sql("SELECT COUNT(*) FROM notes;", database=DB).strip() == "2"


def test_incomplete_dump_is_not_kept(mariadb_server: MariaDB, scripts: Path, database: Path,
                                     tmp_path: Path) -> None:
    fake = tmp_path / "fake-dump"
    fake.write_text("#!/bin/sh\necho 'CREATE TABLE half ('\n")
    fake.chmod(stat.S_IRWXU)
    backups = tmp_path / "backups"
    backups.mkdir()
    res = _run(scripts / "backup.sh", _env(mariadb_server, database, backups, MYSQLDUMP=str(fake)))
    assert res.returncode != 0 and "incomplete" in res.stderr
    assert not list(backups.glob("*.sql")), "a partial dump must never count as a backup"


def test_failed_dump_fails_the_job(mariadb_server: MariaDB, scripts: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password")
    res = _run(scripts / "backup.sh", _env(mariadb_server, wrong, tmp_path))
    assert res.returncode != 0
    assert not list(tmp_path.glob("*.sql"))


def test_restore_without_a_dump_says_so(mariadb_server: MariaDB, scripts: Path, database: Path,
                                        tmp_path: Path) -> None:
    res = _run(scripts / "restore.sh", _env(mariadb_server, database, tmp_path))
    assert res.returncode == 1 and f"no {DB}-*.sql dump in {tmp_path}" in res.stderr
    res = _run(scripts / "restore.sh", _env(mariadb_server, database, tmp_path), "missing.sql")
    assert res.returncode == 1 and "does not exist" in res.stderr


def test_mycnf_is_valid_for_mariadb(rendered: dict[str, str], tmp_path: Path) -> None:
    """Every my.cnf option is known to MariaDB 10.11 (the stack tier runs it); an unknown one fails here."""
    from webstack.servers import _mariadb_program

    cnf = tmp_path / "my.cnf"
    cnf.write_text(rendered["webstack.cnf"])
    server = _mariadb_program("mariadbd", "mysqld")
    res = subprocess.run([server, f"--defaults-file={cnf}", "--verbose", "--help"], capture_output=True,
                         text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    bad = tmp_path / "bad.cnf"
    bad.write_text(rendered["webstack.cnf"].replace("[mysqld]", "[mysqld]\nno_such_option = 1", 1))
    res = subprocess.run([server, f"--defaults-file={bad}", "--verbose", "--help"], capture_output=True,
                         text=True, timeout=60, check=False)
    assert res.returncode != 0 and "no_such_option" in res.stderr


def test_init_script_runs_on_mariadb(mariadb_server: MariaDB, rendered: dict[str, str]) -> None:
    mariadb_server.sql("DROP DATABASE IF EXISTS webstack_init_test; CREATE DATABASE webstack_init_test "
                       "CHARACTER SET latin1;")
    sql = rendered["01-webstack.sql"].replace("`webstack`", "`webstack_init_test`")
    mariadb_server.sql(sql)
    charset = mariadb_server.sql("SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA "
                                 "WHERE SCHEMA_NAME = 'webstack_init_test';")
    assert charset.strip() == "utf8mb4"
    mariadb_server.sql("DROP DATABASE webstack_init_test;")
