"""DPoP (RFC 9449): the key a refresh family (§5) and an authorization code (§10) are bound
to, by its RFC 7638 thumbprint, and a client's ``dpop_bound_access_tokens`` (§5.2).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Batch mode, as in 0004: SQLite adds the columns with ALTER TABLE. Existing families and
    # codes are bound to no key, existing clients need no proof.
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("dpop_jkt", sa.Text(), nullable=True))
    with op.batch_alter_table("authorization_codes") as batch:
        batch.add_column(sa.Column("dpop_jkt", sa.Text(), nullable=True))
    with op.batch_alter_table("clients") as batch:
        batch.add_column(
            sa.Column(
                "dpop_bound_access_tokens",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("dpop_bound_access_tokens")
    with op.batch_alter_table("authorization_codes") as batch:
        batch.drop_column("dpop_jkt")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("dpop_jkt")
