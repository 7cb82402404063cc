"""The server's settings, read once at start-up from ``OSTIARY_*`` environment variables and
passed down; nothing deeper in the code reads the environment. Every field is documented in
``docs/configuration.md``."""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ostiary.authz.scopes import parse_scope
from ostiary.clock import DAY

DEFAULT_DATABASE_URL: Final = "sqlite+aiosqlite:///./ostiary.db"
DEFAULT_ISSUER: Final = "http://127.0.0.1:8000"

SigningAlg = Literal["ES256", "EdDSA", "RS256", "PS256", "HS256", "HS384", "HS512"]


class Settings(BaseSettings):
    """Everything an operator can set. Frozen: read once, then only passed around."""

    model_config = SettingsConfigDict(
        env_prefix="OSTIARY_",
        frozen=True,
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,
    )

    # --- where things are ----------------------------------------------------------------
    database_url: str = DEFAULT_DATABASE_URL
    #: PostgreSQL connections each process keeps open; ``--workers N`` opens N times this (plus
    #: one LISTEN connection each): keep it within the server's ``max_connections``.
    database_pool_size: int = Field(default=16, ge=1, le=1000)
    auto_migrate: bool = True
    master_key: SecretStr | None = None
    #: Where dev/demo mode keeps its generated master key (``master.key``, mode 0600).
    dev_key_dir: Path = Path(".ostiary")

    # --- modes ---------------------------------------------------------------------------
    dev: bool = False
    demo: bool = False
    demo_alice_password: SecretStr | None = None
    demo_admin_password: SecretStr | None = None
    demo_service_secret: SecretStr | None = None
    #: Worker processes of ``ostiary serve`` (its ``--workers`` sets it for them). Above 1,
    #: without Redis, the rate-limit counters are kept in the database so that the workers
    #: share them.
    workers: int = Field(default=1, ge=1, le=1024)

    # --- tokens --------------------------------------------------------------------------
    issuer: str = DEFAULT_ISSUER
    #: The audience of your own APIs, which first-party sessions (``/auth/login``) call: a
    #: login's access token is for it and for the server's account API (``{issuer}/auth``).
    #: Never one of the server's own audiences (docs/security.md, "Who may use which token
    #: where").
    audience: str = "api"
    #: The first-party client's id (the ``client_id`` of login tokens).
    client_id: str = "ostiary"
    access_token_ttl: int = Field(default=900, ge=60, le=DAY)
    refresh_absolute_ttl: int = Field(default=30 * DAY, ge=60)
    refresh_idle_ttl: int = Field(default=7 * DAY, ge=60)
    #: A retry of a refresh within this many seconds gets the same successor, not reuse
    #: detection (docs/security.md, "Refresh-token rotation"); 0 turns it off.
    refresh_grace_seconds: float = Field(default=10.0, ge=0, le=60)
    leeway: int = Field(default=30, ge=0, le=300)
    default_scope: str = "profile"
    #: The scopes each role adds to a first-party token; ``admin`` (the scope) is what the
    #: admin API wants, with the admin role and the admin audience.
    role_scopes: dict[str, str] = Field(default_factory=lambda: {"admin": "admin reports:read"})
    include_username_claim: bool = False
    revocation_sync_seconds: float = Field(default=1.0, gt=0, le=60)
    #: ``GET /auth/revocations/stream``: a comment line this often keeps idle streams open
    #: through proxies; at most this many streams per process (more get 503).
    revocation_stream_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)
    revocation_stream_max_clients: int = Field(default=100, ge=0, le=10_000)
    #: How long a browser stays signed in at the authorization endpoint (single sign-on).
    sso_session_ttl: int = Field(default=12 * 3600, ge=60, le=30 * DAY)

    # --- DPoP (RFC 9449; docs/server.md, "DPoP") -------------------------------------------
    #: Every DPoP proof sent to the server must carry a nonce it provided (§8): a proof made
    #: ahead of time is then useless. Nonces are an HMAC of the time window under a key derived
    #: from the master key, so every worker and instance issues and accepts the same ones.
    dpop_nonces: bool = False
    #: Seconds a nonce is current; the previous one is accepted as long again.
    dpop_nonce_lifetime: int = Field(default=300, ge=10, le=DAY)
    #: The algorithms a DPoP proof may be signed with (asymmetric only), advertised as
    #: ``dpop_signing_alg_values_supported`` (§5.1).
    dpop_signing_algs: list[str] = Field(default_factory=lambda: list(_dpop_defaults()))
    #: Seconds a proof is accepted after its ``iat`` (§11.1), plus 5 s of clock skew.
    dpop_proof_max_age: int = Field(default=60, ge=5, le=600)

    # --- keys ----------------------------------------------------------------------------
    signing_alg: SigningAlg = "ES256"
    #: ID tokens have keys of their own: OpenID Connect makes RS256 the one every client
    #: must understand (Core §15.1, Discovery §3), and a symmetric key could not do at all.
    id_token_signing_alg: Literal["RS256", "PS256", "ES256", "EdDSA"] = "RS256"
    rsa_key_bits: int = Field(default=3072, ge=2048, le=8192)
    key_rotation_days: float = Field(default=30, gt=0)
    jwks_max_age: int = Field(default=300, ge=0, le=DAY)

    # --- accounts ------------------------------------------------------------------------
    registration_enabled: bool = True
    password_min_length: int = Field(default=12, ge=8, le=1024)
    argon2_memory_kib: int = Field(default=19456, ge=8)
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_parallelism: int = Field(default=1, ge=1)
    #: Hashes computed at once (each holds ``argon2_memory_kib`` while it runs; more logins
    #: wait their turn): by default one per CPU this process may run on.
    argon2_concurrency: int | None = Field(default=None, ge=1, le=256)

    # --- audit trail and metrics (docs/security.md, "Audit trail") --------------------------
    #: Audit events older than this are purged by the maintenance task.
    audit_retention_days: float = Field(default=365, gt=0)
    metrics_enabled: bool = False
    #: ``GET /metrics`` wants ``Authorization: Bearer <token>``; unset: loopback clients only.
    metrics_token: SecretStr | None = None
    #: One JSON line per request on stdout (``ostiary.server.access_log``), written in batches.
    access_log: bool = True
    #: FastAPI's native OpenTelemetry (traces, metrics and logs to the global providers an
    #: OpenTelemetry SDK set up); off, it costs nothing per request.
    opentelemetry: bool = False

    # --- abuse protection (docs/security.md, "Abuse protection") ---------------------------
    #: Shared rate-limit counters (``redis://``/``rediss://``); unset: each process its own.
    redis_url: str | None = None
    rate_limits_enabled: bool = True
    login_rate_limit: str = "10/minute"  # per account and address
    login_address_rate_limit: str = "60/minute"
    register_rate_limit: str = "10/hour"  # per address
    refresh_address_rate_limit: str = "300/minute"
    token_rate_limit: str = "600/minute"  # per client id and address
    login_backoff_after: int = Field(default=5, ge=1, le=1000)
    login_backoff_base_seconds: float = Field(default=1.0, gt=0, le=3600)
    login_backoff_max_seconds: float = Field(default=900.0, gt=0, le=86_400)

    # --- HTTP ----------------------------------------------------------------------------
    max_body_bytes: int = Field(default=65536, ge=1024)
    #: Browser origins allowed to call the server cross-origin (exact match; empty: no CORS).
    cors_origins: list[str] = Field(default_factory=list)
    #: Whether those origins may send cookies along (``Access-Control-Allow-Credentials``).
    cors_allow_credentials: bool = False
    max_header_bytes: int = Field(default=16384, ge=4096, le=1048576)
    max_header_count: int = Field(default=100, ge=16, le=1000)
    max_json_depth: int = Field(default=32, ge=4, le=512)

    @property
    def dev_mode(self) -> bool:
        """Demo mode implies dev mode."""
        return self.dev or self.demo

    @property
    def refresh_grace_enabled(self) -> bool:
        return self.refresh_grace_seconds > 0

    def scope_for(self, roles: frozenset[str] | set[str]) -> str:
        """The scope an access token of a user with ``roles`` carries: ``default_scope`` plus
        the scopes ``role_scopes`` maps each role to."""
        scopes = set(parse_scope(self.default_scope))
        for role in roles:
            scopes |= parse_scope(self.role_scopes.get(role, ""))
        return " ".join(sorted(scopes))

    @field_validator("issuer", "audience", "client_id")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip() or value != value.strip():
            raise ValueError("must be non-empty without surrounding spaces")
        return value

    @field_validator("default_scope")
    @classmethod
    def _a_scope(cls, value: str) -> str:
        parse_scope(value)  # ValueError names the rule
        return value

    @field_validator(
        "login_rate_limit",
        "login_address_rate_limit",
        "register_rate_limit",
        "refresh_address_rate_limit",
        "token_rate_limit",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse_many  # the server extra, as this module's pydantic-settings

        parse_many(value)  # ValueError: e.g. "10/minute", several joined by ";"
        return value

    @field_validator("role_scopes")
    @classmethod
    def _scopes_per_role(cls, value: dict[str, str]) -> dict[str, str]:
        for scope in value.values():
            parse_scope(scope)
        return value

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            check_origin_setting(origin)
        return value

    @field_validator("dpop_signing_algs")
    @classmethod
    def _dpop_algorithms(cls, value: list[str]) -> list[str]:
        from ostiary.jose.dpop import DPOP_ALGORITHMS

        if not value:
            raise ValueError("list at least one algorithm")
        refused = [alg for alg in value if alg not in DPOP_ALGORITHMS]
        if refused:
            raise ValueError(
                f"{refused[0]!r} is not an asymmetric algorithm: use {', '.join(DPOP_ALGORITHMS)}"
            )
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        base = self.issuer.rstrip("/")
        own = (
            f"{base}/auth",
            f"{base}/admin",
            f"{base}/oauth/userinfo",
            f"{base}/auth/revocations",
        )
        if self.audience in own:
            raise ValueError(f"audience may not be one of the server's own: {', '.join(own)}")
        if self.refresh_idle_ttl > self.refresh_absolute_ttl:
            raise ValueError("refresh_idle_ttl must not exceed refresh_absolute_ttl")
        # The next key is announced a day (or half the interval) ahead; caches must see it.
        if min(DAY, self.key_rotation_days * DAY / 2) <= self.jwks_max_age:
            raise ValueError("key_rotation_days is too short for jwks_max_age")
        return self


def check_origin_setting(origin: str) -> None:
    """ValueError unless ``origin`` is one exact ``scheme://host[:port]`` as browsers send it.
    ``*`` is refused outright: an auth server's answers are never for any origin at all."""
    if origin in ("*", "null"):
        raise ValueError(f"{origin!r} is not allowed: list each origin (https://app.example.com)")
    parts = urlsplit(origin)
    try:
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        port = "!"
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    exact = f"{parts.scheme}://{host}{port}"
    if parts.scheme not in ("http", "https") or not parts.hostname or origin != exact:
        raise ValueError(f"{origin!r} is not an origin like https://app.example.com")


def _dpop_defaults() -> tuple[str, ...]:
    from ostiary.jose.dpop import DEFAULT_DPOP_ALGORITHMS  # imported when needed only

    return DEFAULT_DPOP_ALGORITHMS
