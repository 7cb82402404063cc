"""The OAuth 2.0 / OpenID Connect provider: clients, authorization codes, browser sessions,
consents, once-only keys, and the browser session of a refresh-token family.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

# Unix seconds. PostgreSQL: DOUBLE PRECISION; SQLite: DOUBLE, which has REAL affinity.
TIME: sa.Double[float] = sa.Double()


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("auth_method", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=True),
        sa.Column("jwks", sa.Text(), nullable=True),
        sa.Column("redirect_uris", sa.Text(), nullable=False),  # JSON array
        sa.Column("post_logout_redirect_uris", sa.Text(), nullable=False),  # JSON array
        sa.Column("grant_types", sa.Text(), nullable=False),  # JSON array, sorted
        sa.Column("scopes", sa.Text(), nullable=False),  # JSON array, sorted
        sa.Column("audiences", sa.Text(), nullable=False),  # JSON array, sorted
        sa.Column("first_party", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_clients"),
    )

    op.create_table(
        "authorization_codes",
        sa.Column("code_hash", sa.Text(), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("audiences", sa.Text(), nullable=False),  # JSON array
        sa.Column("code_challenge", sa.Text(), nullable=False),
        sa.Column("nonce", sa.Text(), nullable=True),
        sa.Column("auth_time", TIME, nullable=False),
        sa.Column("browser_session_id", sa.Text(), nullable=True),
        sa.Column("issued_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("used_at", TIME, nullable=True),
        sa.Column("session_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("code_hash", name="pk_authorization_codes"),
    )
    op.create_index("ix_authorization_codes_expires_at", "authorization_codes", ["expires_at"])

    op.create_table(
        "browser_sessions",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("auth_time", TIME, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("revoked_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_browser_sessions"),
    )
    op.create_index("ix_browser_sessions_user_id", "browser_sessions", ["user_id"])
    op.create_index("ix_browser_sessions_expires_at", "browser_sessions", ["expires_at"])

    op.create_table(
        "consents",
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),  # JSON array, sorted
        sa.Column("granted_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "client_id", name="pk_consents"),
    )

    op.create_table(
        "once_keys",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_once_keys"),
    )
    op.create_index("ix_once_keys_expires_at", "once_keys", ["expires_at"])

    # Batch mode: SQLite adds the column with ALTER TABLE, and would rebuild the table for
    # what it cannot alter (the downgrade's drop).
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("browser_session_id", sa.Text(), nullable=True))
        batch.add_column(sa.Column("audiences", sa.Text(), nullable=True))  # JSON array
        batch.create_index("ix_sessions_browser_session_id", ["browser_session_id"])


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_index("ix_sessions_browser_session_id")
        batch.drop_column("audiences")
        batch.drop_column("browser_session_id")
    op.drop_index("ix_once_keys_expires_at", table_name="once_keys")
    op.drop_table("once_keys")
    op.drop_table("consents")
    op.drop_index("ix_browser_sessions_expires_at", table_name="browser_sessions")
    op.drop_index("ix_browser_sessions_user_id", table_name="browser_sessions")
    op.drop_table("browser_sessions")
    op.drop_index("ix_authorization_codes_expires_at", table_name="authorization_codes")
    op.drop_table("authorization_codes")
    op.drop_table("clients")
