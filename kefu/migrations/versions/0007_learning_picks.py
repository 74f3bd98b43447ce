"""learning queue: which suggestion visitors picked for a question

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kb_learning_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("picks", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
    with op.batch_alter_table("kb_learning_items", schema=None) as batch_op:
        batch_op.alter_column("picks", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("kb_learning_items", schema=None) as batch_op:
        batch_op.drop_column("picks")
