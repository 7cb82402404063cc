"""Records for the contract suites, with defaults so that each test names only what matters."""

from __future__ import annotations

from ostiary.storage.records import (
    AuthorizationCode,
    BrowserSession,
    Client,
    ClientAuthMethod,
    Consent,
    KeyStatus,
    LoginSession,
    RefreshToken,
    Revocation,
    RevocationKind,
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
    browser_session_id: str | None = None,
    client_id: str = "web",
) -> LoginSession:
    return LoginSession(
        id=session_id,
        user_id=user_id,
        client_id=client_id,
        scope="openid profile",
        created_at=created_at,
        last_used_at=created_at,
        expires_at=expires_at,
        revoked_at=revoked_at,
        user_agent="Mozilla/5.0",
        address="192.0.2.7",
        browser_session_id=browser_session_id,
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


def client(
    client_id: str = "app-1",
    *,
    auth_method: ClientAuthMethod = ClientAuthMethod.CLIENT_SECRET_BASIC,
    created_at: float = NOW,
) -> Client:
    return Client(
        id=client_id,
        name="Example App",
        auth_method=auth_method,
        secret_hash="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        jwks=None,
        # Not in sorted order: the order of a tuple is kept.
        redirect_uris=("https://app.example/cb", "https://app.example/a-cb"),
        post_logout_redirect_uris=("https://app.example/bye",),
        grant_types=frozenset({"authorization_code", "refresh_token"}),
        scopes=frozenset({"openid", "profile", "email"}),
        audiences=frozenset({"https://api.example"}),
        first_party=False,
        created_at=created_at,
        updated_at=created_at,
    )


def code(
    code_hash: str = "c-hash-1",
    *,
    expires_at: float = NOW + 60,
    used_at: float | None = None,
    session_id: str | None = None,
) -> AuthorizationCode:
    return AuthorizationCode(
        code_hash=code_hash,
        client_id="app-1",
        user_id="u-1",
        redirect_uri="https://app.example/cb",
        scope="openid profile",
        audiences=("https://api.example", "https://other.example"),
        code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        nonce="n-0S6_WzA2Mj",
        auth_time=NOW - 30,
        browser_session_id="b-1",
        issued_at=NOW,
        expires_at=expires_at,
        used_at=used_at,
        session_id=session_id,
    )


def browser_session(
    session_id: str = "b-1",
    *,
    user_id: str = "u-1",
    expires_at: float = NOW + DAY,
    revoked_at: float | None = None,
    created_at: float = NOW,
) -> BrowserSession:
    return BrowserSession(
        id=session_id,
        user_id=user_id,
        auth_time=created_at - 30,
        created_at=created_at,
        expires_at=expires_at,
        revoked_at=revoked_at,
    )


def consent(
    user_id: str = "u-1",
    client_id: str = "app-1",
    *,
    scopes: frozenset[str] = frozenset({"openid", "profile"}),
    granted_at: float = NOW,
) -> Consent:
    return Consent(user_id=user_id, client_id=client_id, scopes=scopes, granted_at=granted_at)
