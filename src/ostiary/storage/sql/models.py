"""The tables, as typed SQLAlchemy declarative models.

Alembic's ``versions/`` create these tables; the models only describe them to the stores (and to
``alembic revision --autogenerate``). Strings are unbounded ``TEXT`` so that SQLite and
PostgreSQL accept the same values; times are Unix seconds in double precision.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Text,
    TypeDecorator,
    false,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Seconds(TypeDecorator[float]):
    """Unix seconds as DOUBLE. SQLite may hand back a whole number as an int (RETURNING does):
    results are made floats again."""

    impl = Double
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> float | None:
        return None if value is None else float(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        str: Text(),
        float: Seconds(),
        bytes: LargeBinary(),
    }


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(unique=True)
    password_hash: Mapped[str]
    #: A JSON array of role names, sorted.
    roles: Mapped[str]
    disabled: Mapped[bool]
    created_at: Mapped[float] = mapped_column(index=True)
    password_changed_at: Mapped[float]


class SessionRow(Base):
    __tablename__ = "sessions"
    __table_args__ = (Index(None, "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(primary_key=True)
    user_id: Mapped[str]
    client_id: Mapped[str]
    scope: Mapped[str]
    created_at: Mapped[float]
    last_used_at: Mapped[float]
    expires_at: Mapped[float]
    revoked_at: Mapped[float | None]
    user_agent: Mapped[str | None]
    address: Mapped[str | None]
    browser_session_id: Mapped[str | None] = mapped_column(index=True)
    #: A JSON array, in the grant's order; NULL for none.
    audiences: Mapped[str | None]
    #: The RFC 7638 thumbprint of the DPoP key the family is bound to (RFC 9449 §5).
    dpop_jkt: Mapped[str | None]


class RefreshTokenRow(Base):
    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    issued_at: Mapped[float]
    used_at: Mapped[float | None]


class RevocationRow(Base):
    __tablename__ = "revocations"
    # AUTOINCREMENT: SQLite must never hand out a purged seq again (resource servers poll "since").
    __table_args__ = ({"sqlite_autoincrement": True},)

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str]
    value: Mapped[str]
    not_before: Mapped[float]
    expires_at: Mapped[float] = mapped_column(index=True)


class SigningKeyRow(Base):
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(primary_key=True)
    alg: Mapped[str]
    status: Mapped[str]
    sealed: Mapped[bytes]
    created_at: Mapped[float]
    activated_at: Mapped[float | None]
    retired_at: Mapped[float | None]


class LeaseRow(Base):
    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(primary_key=True)
    holder: Mapped[str]
    expires_at: Mapped[float]


class ClientRow(Base):
    __tablename__ = "clients"

    id: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str]
    auth_method: Mapped[str]
    secret_hash: Mapped[str | None]
    jwks: Mapped[str | None]
    #: JSON arrays, in the client's order.
    redirect_uris: Mapped[str]
    post_logout_redirect_uris: Mapped[str]
    #: JSON arrays, sorted.
    grant_types: Mapped[str]
    scopes: Mapped[str]
    audiences: Mapped[str]
    first_party: Mapped[bool]
    created_at: Mapped[float]
    updated_at: Mapped[float]
    backchannel_logout_uri: Mapped[str | None]
    backchannel_logout_session_required: Mapped[bool] = mapped_column(server_default=true())
    dpop_bound_access_tokens: Mapped[bool] = mapped_column(server_default=false())


class AuthorizationCodeRow(Base):
    __tablename__ = "authorization_codes"

    code_hash: Mapped[str] = mapped_column(primary_key=True)
    client_id: Mapped[str]
    user_id: Mapped[str]
    redirect_uri: Mapped[str]
    scope: Mapped[str]
    #: A JSON array, in order.
    audiences: Mapped[str]
    code_challenge: Mapped[str]
    nonce: Mapped[str | None]
    auth_time: Mapped[float]
    browser_session_id: Mapped[str | None]
    issued_at: Mapped[float]
    expires_at: Mapped[float] = mapped_column(index=True)
    used_at: Mapped[float | None]
    session_id: Mapped[str | None]
    #: The authorization request's ``dpop_jkt`` (RFC 9449 §10).
    dpop_jkt: Mapped[str | None]


class BrowserSessionRow(Base):
    __tablename__ = "browser_sessions"

    id: Mapped[str] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(index=True)
    auth_time: Mapped[float]
    created_at: Mapped[float]
    expires_at: Mapped[float] = mapped_column(index=True)  # purged by expiry
    revoked_at: Mapped[float | None]


class ConsentRow(Base):
    __tablename__ = "consents"

    user_id: Mapped[str] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(primary_key=True)
    #: A JSON array, sorted.
    scopes: Mapped[str]
    granted_at: Mapped[float]


class OnceKeyRow(Base):
    __tablename__ = "once_keys"

    key: Mapped[str] = mapped_column(primary_key=True)
    expires_at: Mapped[float] = mapped_column(index=True)


class AuditEventRow(Base):
    __tablename__ = "audit_events"
    # AUTOINCREMENT: SQLite must never hand out a purged seq again (``audit tail`` follows seq).
    __table_args__ = ({"sqlite_autoincrement": True},)

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(index=True)
    time: Mapped[float] = mapped_column(index=True)  # purged by age
    actor: Mapped[str] = mapped_column(index=True)
    outcome: Mapped[str]
    subject: Mapped[str | None] = mapped_column(index=True)
    address: Mapped[str | None]
    user_agent: Mapped[str | None]
    #: A JSON object of strings.
    data: Mapped[str]


class RateLimitCounterRow(Base):
    """A ``limits`` counter (``ostiary.storage.sql.counters``): the worker processes of one
    server share these when there is no Redis."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[float] = mapped_column(index=True)  # purged by expiry
