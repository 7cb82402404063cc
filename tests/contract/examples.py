"""Records for the contract suites, with defaults so that each test names only what matters."""

from __future__ import annotations

from ostiary.storage.records import (
    KeyStatus,
    RefreshToken,
    Revocation,
    RevocationKind,
    Session,
    StoredKey,
    User,
)

NOW = 1_700_000_000.25
DAY = 86_400.0


def user(
    user_id: str = "u-1",
    *,
    username: str = "alice",
    roles: frozenset[str] = frozenset({"admin", "reader"}),
    disabled: bool = False,
    created_at: float = NOW,
) -> User:
    return User(
        id=user_id,
        username=username,
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        roles=roles,
        disabled=disabled,
        created_at=created_at,
        password_changed_at=created_at,
    )


def session(
    session_id: str = "s-1",
    *,
    user_id: str = "u-1",
    created_at: float = NOW,
    expires_at: float = NOW + 30 * DAY,
    revoked_at: float | None = None,
) -> Session:
    return Session(
        id=session_id,
        user_id=user_id,
        client_id="web",
        scope="openid profile",
        created_at=created_at,
        last_used_at=created_at,
        expires_at=expires_at,
        revoked_at=revoked_at,
        user_agent="Mozilla/5.0",
        address="192.0.2.7",
    )


def token(token_hash: str, *, session_id: str = "s-1", issued_at: float = NOW) -> RefreshToken:
    return RefreshToken(token_hash=token_hash, session_id=session_id, issued_at=issued_at)


def revocation(
    value: str = "jti-1",
    *,
    kind: RevocationKind = RevocationKind.TOKEN,
    expires_at: float = NOW + 600,
) -> Revocation:
    return Revocation(kind=kind, value=value, not_before=NOW, expires_at=expires_at)


def stored_key(
    kid: str = "kid-1", *, status: KeyStatus = KeyStatus.NEXT, created_at: float = NOW
) -> StoredKey:
    return StoredKey(
        kid=kid,
        alg="EdDSA",
        status=status,
        sealed=b"\x00sealed\xff" + kid.encode(),
        created_at=created_at,
    )
