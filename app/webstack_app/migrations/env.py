"""Alembic environment: runs only on the connection `webstack_app.migrate` hands over (it holds the lock)."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `python -m webstack_app migrate`, which takes the database lock")

context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()
