"""OpenID Connect Back-Channel Logout 1.0 (§2.2): a client's ``backchannel_logout_uri`` and
``backchannel_logout_session_required``.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Batch mode: SQLite adds the columns with ALTER TABLE, and would rebuild the table for
    # what it cannot alter (the downgrade's drops). Existing clients get no URI, and
    # "session required" (Ostiary always sends sid with a browser session).
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("backchannel_logout_uri", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column(
                "backchannel_logout_session_required",
                sa.Boolean(),
                server_default=sa.true(),
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("backchannel_logout_session_required")
        batch.drop_column("backchannel_logout_uri")
