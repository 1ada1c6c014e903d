"""Migrations: from empty, from the previous version, concurrent runs, and rollback safety."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pymysql
import pytest

from webstack_app import create_app
from webstack_app.migrate import LOCK_NAME, MigrationError, head, migrate

pytestmark = pytest.mark.app
PREVIOUS = "0001"  # the schema app 0.9 shipped with

# The queries app 0.9 ran, verbatim: after `helm rollback` this app runs on the newest schema.
PREVIOUS_APP_SQL = {
    "insert": "INSERT INTO notes (title, body, created_at, updated_at) VALUES (%s, %s, %s, %s)",
    "list": "SELECT id, title, body, created_at, updated_at FROM notes ORDER BY id DESC LIMIT %s OFFSET %s",
    "count": "SELECT COUNT(*) FROM notes",
    "get": "SELECT id, title, body, created_at, updated_at FROM notes WHERE id = %s",
    "update": "UPDATE notes SET title = %s, body = %s, updated_at = %s WHERE id = %s",
    "delete": "DELETE FROM notes WHERE id = %s",
}


def connect(server, database):
    return pymysql.connect(host="127.0.0.1", port=server.port, user="root", database=database,
                           charset="utf8mb4", autocommit=True)


def previous_app_round_trip(server, database: str, title: str) -> int:
    """Everything app 0.9 does to a note; returns the id of a note it leaves behind."""
    now = datetime.now(UTC).replace(tzinfo=None)
    with connect(server, database) as conn, conn.cursor() as cur:
        cur.execute(PREVIOUS_APP_SQL["insert"], (title, "old body", now, now))
        kept = cur.lastrowid
        cur.execute(PREVIOUS_APP_SQL["insert"], ("to delete", "", now, now))
        doomed = cur.lastrowid
        cur.execute(PREVIOUS_APP_SQL["update"], (title, "edited by 0.9", now, kept))
        assert cur.rowcount == 1
        cur.execute(PREVIOUS_APP_SQL["get"], (kept,))
        assert cur.fetchone()[1:3] == (title, "edited by 0.9")
        cur.execute(PREVIOUS_APP_SQL["delete"], (doomed,))
        assert cur.rowcount == 1
        cur.execute(PREVIOUS_APP_SQL["list"], (10, 0))
        rows = cur.fetchall()
        cur.execute(PREVIOUS_APP_SQL["count"])
        assert cur.fetchone()[0] == len(rows) >= 1
        assert kept in [r[0] for r in rows] and doomed not in [r[0] for r in rows]
    return kept


def columns(server, database: str) -> dict[str, str]:
    out = server.sql("SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COALESCE(COLUMN_DEFAULT, '-') "
                     f"FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{database}' "
                     "AND TABLE_NAME = 'notes' ORDER BY ORDINAL_POSITION")
    return {line.split("\t")[0]: "\t".join(line.split("\t")[1:]) for line in out.splitlines()}


def version_in_db(server, database: str) -> str:
    return server.sql("SELECT version_num FROM alembic_version", database=database).strip()


def log_entries(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_from_empty_then_idempotent(new_database, run_migrate, mariadb_server):
    database = new_database()
    first = run_migrate(database)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert version_in_db(mariadb_server, database) == head() == "0002"
    assert list(columns(mariadb_server, database)) == ["id", "title", "body", "created_at", "updated_at",
                                                        "revision"]
    done = [e for e in log_entries(out) if e["logger"] == "webstack_app.migrate"]
    assert done[-1]["message"] == "schema migrated" and done[-1]["schema_before"] is None

    again = run_migrate(database)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    done = [e for e in log_entries(out) if e["logger"] == "webstack_app.migrate"]
    assert done[-1]["message"] == "schema already current"
    assert done[-1]["schema_before"] == done[-1]["schema_after"] == "0002"
    assert "Running upgrade" not in out


def test_from_the_previous_version_keeps_the_data(new_database, run_migrate, mariadb_server, app_config):
    database = new_database()
    old = run_migrate(database, "--revision", PREVIOUS)
    assert old.wait(120) == 0
    assert version_in_db(mariadb_server, database) == PREVIOUS
    assert "revision" not in columns(mariadb_server, database)
    kept = previous_app_round_trip(mariadb_server, database, "written by 0.9")

    new = run_migrate(database)
    _, err = new.communicate(timeout=120)
    assert new.returncode == 0, err
    assert version_in_db(mariadb_server, database) == head()
    client = create_app(app_config(database)).test_client()
    note = client.get(f"/api/notes/{kept}").get_json()
    assert (note["title"], note["body"], note["revision"]) == ("written by 0.9", "edited by 0.9", 1)


def test_previous_app_queries_work_on_the_migrated_schema(new_database, mariadb_server, app_config):
    """Rollback safety: after `helm rollback` app 0.9 runs on schema 0002, next to data 1.0 wrote."""
    database = new_database()
    migrate(app_config(database))
    client = create_app(app_config(database)).test_client()
    by_new = client.post("/api/notes", json={"title": "written by 1.0"}).get_json()
    client.put(f"/api/notes/{by_new['id']}", json={"body": "twice"})

    kept = previous_app_round_trip(mariadb_server, database, "written by 0.9 after rollback")

    with connect(mariadb_server, database) as conn, conn.cursor() as cur:
        cur.execute(PREVIOUS_APP_SQL["get"], (by_new["id"],))
        assert cur.fetchone()[1:3] == ("written by 1.0", "twice")
    # And forward again: 1.0 reads what 0.9 wrote, with the new column's default.
    note = client.get(f"/api/notes/{kept}").get_json()
    assert note["title"] == "written by 0.9 after rollback" and note["revision"] == 1


def test_every_revision_only_adds(new_database, mariadb_server, app_config):
    """Expand/contract: nothing the previous schema had is removed or changed by the newer one."""
    database = new_database()
    migrate(app_config(database), PREVIOUS)
    before = columns(mariadb_server, database)
    migrate(app_config(database))
    after = columns(mariadb_server, database)
    assert {k: after[k] for k in before} == before
    added = set(after) - set(before)
    assert added == {"revision"}
    for name in added:  # a NOT NULL column without a default would break the old INSERTs
        nullable, default = after[name].split("\t")[1:]
        assert nullable == "YES" or default != "-", f"{name} is NOT NULL without a default"


def test_downgrade_to_the_previous_revision_keeps_notes(new_database, mariadb_server, app_config):
    database = new_database()
    migrate(app_config(database))
    create_app(app_config(database)).test_client().post("/api/notes", json={"title": "survivor"})
    result = migrate(app_config(database), PREVIOUS)
    assert (result.before, result.after) == (head(), PREVIOUS)
    assert "survivor" in mariadb_server.sql("SELECT title FROM notes", database=database)


def test_two_concurrent_runs_end_in_one_correct_schema(new_database, run_migrate, mariadb_server):
    database = new_database()
    procs = [run_migrate(database), run_migrate(database)]
    results = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    outcomes = sorted(e["message"] for out, _ in results for e in log_entries(out)
                      if e["logger"] == "webstack_app.migrate")
    # The lock serialises them: exactly one applies the revisions, the other finds them done.
    assert outcomes == ["schema already current", "schema migrated"]
    assert sum(out.count("Running upgrade  -> 0001") for out, _ in results) == 1
    assert version_in_db(mariadb_server, database) == head()
    assert mariadb_server.sql("SELECT COUNT(*) FROM alembic_version", database=database).strip() == "1"
    assert "revision" in columns(mariadb_server, database)


def test_a_held_lock_makes_migrate_wait_then_fail_clearly(new_database, mariadb_server, app_config,
                                                          run_migrate):
    database = new_database()
    with connect(mariadb_server, database) as holder, holder.cursor() as cur:
        cur.execute("SELECT GET_LOCK(%s, 0)", (LOCK_NAME,))
        assert cur.fetchone()[0] == 1
        held = re.escape("held the lock 'webstack_app.migrate' for more than 1s")
        with pytest.raises(MigrationError, match=held):
            migrate(app_config(database), lock_timeout=1)
        proc = run_migrate(database, "--lock-timeout", "1")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 1 and "held the lock" in out and "Traceback" not in out + err
    assert mariadb_server.sql("SHOW TABLES", database=database).strip() == ""  # nothing half-done
    assert migrate(app_config(database)).after == head()  # and the lock is free again


def test_unknown_revision_and_unreachable_database_fail_with_exit_1(new_database, run_migrate):
    database = new_database()
    proc = run_migrate(database, "--revision", "9999")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "unknown schema revision '9999'" in out
    proc = run_migrate(database, "--wait", "0", DB_PORT="1", DB_CONNECT_TIMEOUT="1")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "migration failed on 127.0.0.1:1/" in out
    assert "Traceback" not in out + err


def test_waits_for_a_database_that_is_not_up_yet(new_database, run_migrate, mariadb_server):
    """The install-time Job may start before MySQL accepts connections: migrate retries, then runs."""
    database = new_database()
    mariadb_server.stop()
    try:
        proc = run_migrate(database, "--wait", "120")
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())  # blocks until the first attempt has failed
        assert first["message"] == "waiting for the database"
        assert f":{mariadb_server.port}/{database}" in first["database"]
        assert proc.poll() is None
    finally:
        mariadb_server.start()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert version_in_db(mariadb_server, database) == head()
