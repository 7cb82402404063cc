"""The records that storage keeps. Plain frozen dataclasses: no ORM, no framework.

Times are Unix seconds (float). Secrets are never stored: refresh tokens as SHA-256 hex digests,
passwords as argon2id hashes, private keys sealed under the master key.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from ostiary.keys.ring import KeyState


@dataclass(frozen=True, slots=True)
class User:
    #: Stable opaque id (the access token's ``sub``); never the username or email.
    id: str
    #: Normalized (NFKC, case-folded, trimmed) and unique.
    username: str
    password_hash: str
    roles: frozenset[str]
    disabled: bool
    created_at: float
    #: Tokens issued before this time are refused ("not before" after a password change).
    password_changed_at: float


@dataclass(frozen=True, slots=True)
class Session:
    """A refresh-token family (one login). Its id is the access token's ``sid``."""

    id: str
    user_id: str
    client_id: str
    scope: str
    created_at: float
    last_used_at: float
    #: Absolute end of the family, whatever its use.
    expires_at: float
    revoked_at: float | None = None
    user_agent: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """One refresh token of a family, by the SHA-256 hex digest of its value."""

    token_hash: str
    session_id: str
    issued_at: float
    #: Set when the token was exchanged; presenting it again is reuse (RFC 9700 §4.14.2).
    used_at: float | None = None


class Rotation(NamedTuple):
    """What :meth:`SessionStore.rotate` found, and whether it rotated."""

    #: The presented token as it was found (before being marked used).
    token: RefreshToken
    #: Its family as it was found (before being touched).
    session: Session
    rotated: bool


class RevocationKind(StrEnum):
    TOKEN = "jti"  # one access token
    SESSION = "sid"  # every access token of a session
    SUBJECT = "sub"  # every access token of a user issued before ``not_before``


@dataclass(frozen=True, slots=True)
class Revocation:
    """An access-token revocation, published to resource servers in ``seq`` order."""

    kind: RevocationKind
    value: str
    #: For ``sub``: tokens issued before this are revoked. Else the time of revocation.
    not_before: float
    #: When every token the entry covers has expired; the entry may be purged after.
    expires_at: float
    #: Position in the feed, assigned by the store.
    seq: int = 0


#: A stored key's place in the lifecycle: the same states as the domain's key ring.
KeyStatus = KeyState


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A signing key at rest: its private JWK sealed by :class:`ostiary.keys.MasterKey`."""

    kid: str
    alg: str
    status: KeyStatus
    sealed: bytes
    created_at: float
    activated_at: float | None = None
    retired_at: float | None = None
