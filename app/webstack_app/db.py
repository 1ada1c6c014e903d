"""The database layer: one pooled SQLAlchemy engine per app, the notes table, and the queries.

The pool pre-pings every checkout and every connection has connect/read/write timeouts, so a
database that goes away makes requests fail fast (503) and one that comes back is used again
without restarting the process.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Engine

from webstack_app.config import Config

metadata = sa.MetaData()

# The shape after the newest migration; migrations own the DDL, this is only for building queries.
notes = sa.Table(
    "notes",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", mysql.DATETIME(fsp=6), nullable=False),
    sa.Column("updated_at", mysql.DATETIME(fsp=6), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False, server_default="1"),
)

NOTE_COLUMNS = (notes.c.id, notes.c.title, notes.c.body, notes.c.created_at, notes.c.updated_at,
                notes.c.revision)


def make_engine(config: Config) -> Engine:
    return sa.create_engine(
        config.sqlalchemy_url(),
        pool_size=config.db_pool_size,
        max_overflow=config.db_max_overflow,
        pool_timeout=config.db_pool_timeout,
        pool_pre_ping=True,
        pool_recycle=280,  # below common proxy/server idle cut-offs
        connect_args={
            "connect_timeout": config.db_connect_timeout,
            "read_timeout": config.db_read_timeout,
            "write_timeout": config.db_read_timeout,
        },
    )


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def iso(value: datetime) -> str:
    return value.isoformat(timespec="microseconds") + "Z"


def to_json(row: sa.Row[Any]) -> dict[str, Any]:
    return {"id": row.id, "title": row.title, "body": row.body, "created_at": iso(row.created_at),
            "updated_at": iso(row.updated_at), "revision": row.revision}


def list_notes(conn: Connection, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    rows = conn.execute(sa.select(*NOTE_COLUMNS).order_by(notes.c.id.desc()).limit(limit).offset(offset))
    total = conn.execute(sa.select(sa.func.count()).select_from(notes)).scalar_one()
    return [to_json(r) for r in rows], int(total)


def get_note(conn: Connection, note_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(*NOTE_COLUMNS).where(notes.c.id == note_id)).first()
    return to_json(row) if row else None


def create_note(conn: Connection, title: str, body: str) -> dict[str, Any]:
    now = utcnow()
    result = conn.execute(sa.insert(notes).values(title=title, body=body, created_at=now, updated_at=now))
    note = get_note(conn, int(result.inserted_primary_key[0]))
    assert note is not None
    return note


def update_note(conn: Connection, note_id: int, changes: dict[str, str]) -> dict[str, Any] | None:
    result = conn.execute(sa.update(notes).where(notes.c.id == note_id)
                          .values(**changes, updated_at=utcnow(), revision=notes.c.revision + 1))
    return get_note(conn, note_id) if result.rowcount else None


def delete_note(conn: Connection, note_id: int) -> bool:
    return bool(conn.execute(sa.delete(notes).where(notes.c.id == note_id)).rowcount)


def schema_version(conn: Connection) -> str | None:
    """The Alembic revision recorded in the database, or None before the first migration."""
    try:
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except sa.exc.ProgrammingError:  # the table does not exist yet
        return None


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


def pool_state(engine: Engine) -> dict[str, int]:
    """Connections by state; QueuePool counts overflow from -size, so clamp it to what is really open."""
    pool = engine.pool
    state = {name: int(getattr(pool, name)()) for name in ("size", "checkedin", "checkedout", "overflow")
             if callable(getattr(pool, name, None))}
    if "overflow" in state:
        state["overflow"] = max(0, state["overflow"])
    return state
