"""Expand: a revision counter per note and an index for newest-first listing (app 1.0).

Additive only, so app 0.9 (schema 0001) keeps working on this schema after a rollback: the new
column has a server default, so its INSERTs that do not name it still succeed.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notes", sa.Column("revision", sa.Integer, nullable=False, server_default="1"))
    op.create_index("ix_notes_created_at", "notes", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_notes_created_at", table_name="notes")
    op.drop_column("notes", "revision")
