"""events: the index on conversation_id also holds type and time

A conversation's events of one type, and the first of them, are then read from the index alone (the bot's
daily KPIs ask that of every conversation in the period). It replaces the single-column index, which it
serves as well: no more index to keep up on the busiest table than before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_conversation_type_time", "events", ["conversation_id", "type", "occurred_at"])
    op.drop_index("ix_events_conversation_id", table_name="events")


def downgrade() -> None:
    op.create_index("ix_events_conversation_id", "events", ["conversation_id"])
    op.drop_index("ix_events_conversation_type_time", table_name="events")
