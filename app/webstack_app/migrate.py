"""Schema migrations: Alembic under a MySQL named lock, so concurrent runs (two migration Jobs,
or a Job racing a manual run) apply each revision exactly once. Idempotent: at head it does nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from webstack_app import db
from webstack_app.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
LOCK_NAME = "webstack_app.migrate"
log = logging.getLogger("webstack_app.migrate")


class MigrationError(RuntimeError):
    """The migration could not run (lock not acquired, unknown revision, database error)."""


@dataclass(frozen=True)
class MigrationResult:
    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    head_rev = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head_rev is not None
    return head_rev


def wait_for_database(engine: sa.engine.Engine, seconds: float, where: str) -> None:
    """On install the migration Job can start before MySQL accepts connections: retry until `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            db.ping(engine)
            return
        except sa.exc.OperationalError as exc:
            if time.monotonic() >= deadline:
                raise
            log.info("waiting for the database", extra={"database": where, "detail": str(exc.orig)[:200]})
            time.sleep(2)


def migrate(config: Config, revision: str = "head", lock_timeout: int = 300,
            wait: float = 0) -> MigrationResult:
    """Upgrade (or downgrade, for a named older revision) the schema while holding GET_LOCK."""
    engine = db.make_engine(config)
    where = f"{config.db_host}:{config.db_port}/{config.db_name}"
    try:
        wait_for_database(engine, wait, where)
        with engine.connect() as conn:
            got = conn.execute(sa.text("SELECT GET_LOCK(:name, :timeout)"),
                               {"name": LOCK_NAME, "timeout": lock_timeout}).scalar()
            if got != 1:
                raise MigrationError(f"another migration held the lock {LOCK_NAME!r} for more than "
                                     f"{lock_timeout}s; is one stuck? (see SHOW PROCESSLIST)")
            conn.commit()  # GET_LOCK is per session: it survives the commit that ends autobegin
            try:
                before = db.schema_version(conn)
                conn.commit()
                cfg = alembic_config(conn)
                if revision == "head" or _is_ahead(revision, before):
                    command.upgrade(cfg, revision)
                else:
                    command.downgrade(cfg, revision)
                conn.commit()
                after = db.schema_version(conn)
                conn.commit()
            finally:
                conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": LOCK_NAME})
                conn.commit()
    except sa.exc.SQLAlchemyError as exc:
        raise MigrationError(f"migration failed on {where}: "
                             f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}") from exc
    finally:
        engine.dispose()
    result = MigrationResult(before, after)
    log.info("schema migrated" if result.changed else "schema already current",
             extra={"schema_before": before, "schema_after": after})
    return result


def _is_ahead(target: str, current: str | None) -> bool:
    """True when `target` comes after `current` in the revision history (so it is an upgrade)."""
    script = ScriptDirectory.from_config(alembic_config())
    try:
        script.get_revision(target)
    except Exception as exc:
        raise MigrationError(f"unknown schema revision {target!r}; known: "
                             f"{', '.join(r.revision for r in script.walk_revisions())}") from exc
    if current is None or target == current:
        return True
    return current in {rev.revision for rev in script.iterate_revisions(target, "base")}
