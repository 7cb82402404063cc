"""The records that storage keeps. Plain frozen dataclasses: no ORM, no framework.

Times are Unix seconds (float). Secrets are never stored: refresh tokens as SHA-256 hex digests,
passwords as argon2id hashes, private keys sealed under the master key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, NamedTuple

#: Every user id starts so, and no client id may (RFC 9068 §5: a client-credentials token's
#: ``sub``, its client id, must never name a user).
USER_ID_PREFIX: Final = "usr_"


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
class LoginSession:
    """A login session (a refresh-token family): one login. Its id is the access token's ``sid``.

    Not the :class:`BrowserSession`, the signed-in browser's SSO session at the authorization
    server, under which a login session may be issued (``browser_session_id``)."""

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
    #: The browser (SSO) session the family was issued under (authorization code grant):
    #: ending that session revokes the family (OpenID Connect RP-initiated logout).
    browser_session_id: str | None = None
    #: The audiences (RFC 8707 ``resource``) the grant was given for; a refresh may narrow
    #: them, never widen them. Empty: the client's registered audiences.
    audiences: tuple[str, ...] = ()
    #: The RFC 7638 thumbprint of the DPoP key the family is bound to (RFC 9449 §5: a public
    #: client's, or a first-party session's): each refresh needs a proof signed by it.
    dpop_jkt: str | None = None


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
    session: LoginSession
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


class KeyStatus(StrEnum):
    """A stored key's place in the lifecycle, as stored: the values of
    :class:`ostiary.keys.KeyState` (the storage layer does not import the key ring)."""

    NEXT = "next"
    ACTIVE = "active"
    RETIRED = "retired"


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


class ClientAuthMethod(StrEnum):
    """How a client authenticates at the token endpoint (RFC 7591 §2 names, RFC 7523)."""

    CLIENT_SECRET_BASIC = "client_secret_basic"
    CLIENT_SECRET_POST = "client_secret_post"
    PRIVATE_KEY_JWT = "private_key_jwt"
    #: A public client (a single-page or native app): no secret; PKCE binds its codes.
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Client:
    """A registered OAuth client (RFC 6749 §2)."""

    id: str
    name: str
    auth_method: ClientAuthMethod
    #: SHA-256 hex digest of the client secret (``client_secret_*`` methods), else None.
    secret_hash: str | None
    #: The client's public JWK Set as JSON text (``private_key_jwt``), else None.
    jwks: str | None
    #: Exact-match redirect URIs (RFC 9700 §4.1.3).
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    grant_types: frozenset[str]
    #: The scopes the client may ask for.
    scopes: frozenset[str]
    #: The audiences (RFC 8707 ``resource`` values) it may ask tokens for.
    audiences: frozenset[str]
    #: First-party clients skip the consent page.
    first_party: bool
    created_at: float
    updated_at: float
    #: Where the server POSTs a Logout Token when a session of the client ends (OpenID
    #: Connect Back-Channel Logout 1.0 §2.2), else None.
    backchannel_logout_uri: str | None = None
    #: The client wants ``sid`` in every Logout Token (§2.2); Ostiary sends it whenever the
    #: session was opened under a browser session, which every code flow's is.
    backchannel_logout_session_required: bool = True
    #: RFC 9449 §5.2 ``dpop_bound_access_tokens``: every token request of the client must
    #: carry a DPoP proof, so that all its access tokens are bound to a key.
    dpop_bound_access_tokens: bool = False

    @property
    def public(self) -> bool:
        return self.auth_method is ClientAuthMethod.NONE


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    """An authorization code (RFC 6749 §4.1.2), stored by the SHA-256 hex of its value."""

    code_hash: str
    client_id: str
    user_id: str
    redirect_uri: str
    scope: str
    #: The audiences (``resource`` values, RFC 8707) the tokens will carry.
    audiences: tuple[str, ...]
    #: PKCE S256 challenge (RFC 7636 §4.2).
    code_challenge: str
    nonce: str | None
    #: When the user last authenticated (OIDC ``auth_time``).
    auth_time: float
    browser_session_id: str | None
    issued_at: float
    expires_at: float
    used_at: float | None = None
    #: The refresh family issued for the code: revoked if the code is presented again.
    session_id: str | None = None
    #: The ``dpop_jkt`` of the authorization request (RFC 9449 §10): the code is redeemed
    #: only with a DPoP proof signed by the key of this thumbprint.
    dpop_jkt: str | None = None


@dataclass(frozen=True, slots=True)
class BrowserSession:
    """A user's signed-in browser (the SSO cookie names it); its id is the ID token's ``sid``."""

    id: str
    user_id: str
    auth_time: float
    created_at: float
    expires_at: float
    revoked_at: float | None = None


@dataclass(frozen=True, slots=True)
class Consent:
    """The scopes a user granted a third-party client."""

    user_id: str
    client_id: str
    scopes: frozenset[str]
    granted_at: float


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """Something that happened to an account, a client, a session or a key: who did it, to
    what, from where, and how it ended. Never a secret: no token, password, secret or hash."""

    #: What happened, dotted: ``login``, ``refresh.reuse``, ``user.create``, ``key.rotated``...
    kind: str
    time: float
    #: Who: a user id, a client id, ``operator`` (the CLI) or ``system``.
    actor: str
    #: ``success`` or ``failure``.
    outcome: str
    #: What it was done to (a user id, a client id, a kid), if anything.
    subject: str | None = None
    address: str | None = None
    user_agent: str | None = None
    #: A few more facts (``session``, ``grant``, ``reason``...), never a secret.
    data: Mapping[str, str] = field(default_factory=dict)
    #: Position in the trail, assigned by the store.
    seq: int = 0
