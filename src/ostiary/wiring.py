"""Building Ostiary's services from its settings: storage, master key, signing keys,
accounts, tokens, the session lifecycle, revocations, and the verifier the server's own routes
use. The server's lifespan, the CLI and ``doctor`` all start here; it imports no web
framework (tests/unit/test_architecture.py checks it)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from ostiary.audit import AuditTrail
from ostiary.authn import Accounts, PasswordHasher, PasswordPolicy
from ostiary.authn.browser_sessions import BrowserSessions
from ostiary.authn.client_auth import ClientAuthenticator
from ostiary.authn.client_registry import ClientRegistry
from ostiary.authn.cookies import Cookies
from ostiary.authn.first_party import FirstParty
from ostiary.authn.throttle import CounterStorage, Throttle, ThrottlePolicy
from ostiary.authz.trust import EndpointRequirements, ServerAudiences
from ostiary.clock import DAY, SYSTEM_CLOCK, Clock
from ostiary.dpop import DPoPChecker, DPoPNonces, ProofRules
from ostiary.encoding import sha256_hex
from ostiary.grants import ClientCredentialsGrant, Grant, TokenEndpoint
from ostiary.grants.authorization_code import AuthorizationCodeGrant
from ostiary.grants.authorization_endpoint import Authorizations
from ostiary.grants.refresh_token import RefreshTokenGrant
from ostiary.keys.encryption import MasterKey
from ostiary.keys.live import LiveKeySet
from ostiary.keys.master_file import MASTER_KEY_FILE, load_or_create_master_key
from ostiary.keys.service import KeyEvents, KeyService
from ostiary.own_verifier import OwnTokenVerifier
from ostiary.resource import RevocationList, TokenVerifier
from ostiary.revocation.broadcast import RevocationBroadcast
from ostiary.revocation.client_requests import ClientTokenRevocation
from ostiary.revocation.relay import RevocationRelay
from ostiary.revocation.service import Revocations
from ostiary.settings import Settings
from ostiary.storage import MEMORY_URL, Storage, open_storage
from ostiary.storage.rate_limits import rate_limit_storage
from ostiary.tokens import AccessTokenIssuer, RefreshTokens
from ostiary.tokens.backchannel import BackChannelLogout
from ostiary.tokens.id_token import DEFAULT_ID_TOKEN_TTL, IdTokenIssuer
from ostiary.tokens.introspection import TokenInspector
from ostiary.tokens.lifecycle import SessionLifecycle
from ostiary.tokens.logout_token import LogoutTokenIssuer

#: How often every process runs the key schedule (and purges expired revocations).
KEY_TICK_SECONDS: Final = 60.0
#: How often every process checks whether another changed the signing keys (a rotation by
#: ``ostiary keys rotate`` where no notice carries it), and tells the others if so.
KEY_CHECK_SECONDS: Final = 5.0
#: A token naming a key this process lacks has the keys read again at most this often.
KEY_RELOAD_SECONDS: Final = 1.0
ACCESS_KEYS_LEASE: Final = "ostiary.keys"
ID_TOKEN_KEYS_LEASE: Final = "ostiary.keys.id_tokens"
#: How often a process polls for revocations while its notice channel is down (or
#: ``revocation_sync_seconds``, if shorter).
NOTICES_DOWN_POLL_SECONDS: Final = 1.0
#: The prefix of the DPoP proofs' ``jti`` entries in the storage's OnceStore, apart from the
#: client assertions' (``assertion:``).
DPOP_REPLAY_SCOPE: Final = "dpop-proof"


async def open_migrated_storage(settings: Settings) -> Storage:
    """The storage of ``settings.database_url``, migrated first unless ``auto_migrate`` is off."""
    if settings.auto_migrate and settings.database_url != MEMORY_URL:
        from ostiary.storage.sql import upgrade_async

        await upgrade_async(settings.database_url)
    return await open_storage(settings.database_url, pool_size=settings.database_pool_size)


def load_master_key(settings: Settings) -> MasterKey:
    """``OSTIARY_MASTER_KEY``; in dev/demo mode, ``dev_key_dir/master.key`` (created if need
    be, with a loud warning). Raises ConfigurationError when there is none."""
    text = settings.master_key.get_secret_value() if settings.master_key is not None else None
    dev_dir = settings.dev_key_dir if settings.dev_mode else None
    return load_or_create_master_key(text, dev_dir=dev_dir)


def key_service(
    settings: Settings,
    storage: Storage,
    master_key: MasterKey,
    *,
    clock: Clock,
    on_event: KeyEvents | None = None,
) -> KeyService:
    """The keys that sign access tokens (``OSTIARY_SIGNING_ALG``)."""
    separate = settings.id_token_signing_alg != settings.signing_alg
    id_alg = settings.id_token_signing_alg
    return _key_service(
        settings,
        storage,
        master_key,
        clock=clock,
        alg=settings.signing_alg,
        lifetime=settings.access_token_ttl,
        owns=(lambda alg: alg != id_alg) if separate else None,
        lease_name=ACCESS_KEYS_LEASE,
        on_event=on_event,
    )


def id_token_key_service(
    settings: Settings,
    storage: Storage,
    master_key: MasterKey,
    *,
    clock: Clock,
    access_keys: KeyService,
    on_event: KeyEvents | None = None,
) -> KeyService:
    """The keys that sign ID tokens (``OSTIARY_ID_TOKEN_SIGNING_ALG``): ``access_keys`` itself
    when both algorithms are the same, else a service of its own over the same store."""
    id_alg = settings.id_token_signing_alg
    if id_alg == settings.signing_alg:
        return access_keys
    return _key_service(
        settings,
        storage,
        master_key,
        clock=clock,
        alg=id_alg,
        lifetime=DEFAULT_ID_TOKEN_TTL,
        owns=lambda alg: alg == id_alg,
        lease_name=ID_TOKEN_KEYS_LEASE,
        on_event=on_event,
    )


def _key_service(
    settings: Settings,
    storage: Storage,
    master_key: MasterKey,
    *,
    clock: Clock,
    alg: str,
    lifetime: float,
    owns: Callable[[str], bool] | None,
    lease_name: str,
    on_event: KeyEvents | None = None,
) -> KeyService:
    interval = settings.key_rotation_days * DAY
    return KeyService(
        storage.keys,
        storage.leases,
        master_key,
        alg=alg,
        clock=clock,
        rotation_interval=interval,
        announce_ahead=min(DAY, interval / 2),
        # A retired key verifies every token it signed, including those signed by a process
        # that learns of the rotation only at its next tick.
        retire_after=lifetime + settings.leeway + KEY_TICK_SECONDS,
        rsa_bits=settings.rsa_key_bits,
        lease_name=lease_name,
        owns=owns,
        on_event=on_event,
    )


def key_services(services: Services) -> list[KeyService]:
    """Every key service of the server, each once."""
    return (
        [services.keys] if services.id_keys is services.keys else [services.keys, services.id_keys]
    )


def published_keys(services: Services) -> dict[str, Any]:
    """The JWKS: the access-token keys and the ID-token keys, public halves only."""
    keys = [key for service in key_services(services) for key in service.jwks()["keys"]]
    return {"keys": keys}


def password_hasher(settings: Settings) -> PasswordHasher:
    return PasswordHasher(
        memory_cost=settings.argon2_memory_kib,
        time_cost=settings.argon2_time_cost,
        parallelism=settings.argon2_parallelism,
        workers=settings.argon2_concurrency,
    )


def accounts(
    settings: Settings, storage: Storage, *, clock: Clock, hasher: PasswordHasher | None = None
) -> Accounts:
    return Accounts(
        storage.users,
        hasher if hasher is not None else password_hasher(settings),
        policy=PasswordPolicy(min_length=settings.password_min_length),
        clock=clock,
        registration_enabled=settings.registration_enabled,
    )


def refresh_tokens(settings: Settings, storage: Storage, *, clock: Clock) -> RefreshTokens:
    return RefreshTokens(
        storage.sessions,
        clock=clock,
        absolute_ttl=settings.refresh_absolute_ttl,
        idle_ttl=settings.refresh_idle_ttl,
        grace_seconds=settings.refresh_grace_seconds,
        secret=_grace_secret(settings) if settings.refresh_grace_enabled else None,
    )


def revocations(
    settings: Settings,
    storage: Storage,
    *,
    clock: Clock,
    local: RevocationList | None = None,
    relay: RevocationRelay | None = None,
) -> Revocations:
    return Revocations(
        storage.revocations,
        clock=clock,
        max_access_ttl=settings.access_token_ttl,
        leeway=settings.leeway,
        local=local,
        broadcast=RevocationBroadcast(max_subscribers=settings.revocation_stream_max_clients),
        announce=relay.announce if relay is not None else None,
    )


def revocation_relay(settings: Settings, storage: Storage) -> RevocationRelay | None:
    """How revocations travel between processes (docs/deployment.md): Redis pub/sub when
    ``OSTIARY_REDIS_URL`` is set, else the database's own (PostgreSQL LISTEN/NOTIFY, SQLite's
    file watch); None for memory storage, which one process owns."""
    fallback = min(NOTICES_DOWN_POLL_SECONDS, settings.revocation_sync_seconds)
    if settings.redis_url is not None:
        from ostiary.storage.redis.revocation_notices import RedisRevocationNotices

        # One channel per issuer: every instance of a deployment shares it, two deployments
        # on one Redis do not hear each other.
        digest = sha256_hex(settings.issuer)[:16]
        notices = RedisRevocationNotices(
            settings.redis_url, channel=f"ostiary:revocations:{digest}"
        )
        return RevocationRelay(notices, name="Redis pub/sub", fallback_poll=fallback)
    db = getattr(storage, "db", None)
    if db is None:
        return None
    from ostiary.storage.sql.revocation_notices import sql_revocation_notices

    sql_notices = sql_revocation_notices(db)
    if sql_notices is None:
        return None
    name = "PostgreSQL LISTEN" if db.dialect == "postgresql" else "the SQLite file"
    return RevocationRelay(sql_notices, name=name, fallback_poll=fallback)


def _grace_secret(settings: Settings) -> bytes:
    """The HMAC key of the refresh grace window."""
    return derived_secret(settings, b"ostiary refresh grace v1")


def throttle(settings: Settings, *, clock: Clock, storage: Storage | None = None) -> Throttle:
    """The rate limits of ``settings``: counted in Redis when ``OSTIARY_REDIS_URL`` is set,
    else in ``storage``'s SQL database when several worker processes share it, else in this
    process's memory."""
    policy = ThrottlePolicy(
        login=settings.login_rate_limit,
        login_address=settings.login_address_rate_limit,
        register=settings.register_rate_limit,
        refresh_address=settings.refresh_address_rate_limit,
        token=settings.token_rate_limit,
        backoff_after=settings.login_backoff_after,
        backoff_base_seconds=settings.login_backoff_base_seconds,
        backoff_max_seconds=settings.login_backoff_max_seconds,
    )
    return Throttle(
        counter_storage(settings, storage),
        policy,
        secret=derived_secret(settings, b"ostiary rate-limit keys v1"),
        clock=clock,
        enabled=settings.rate_limits_enabled,
    )


def counter_storage(settings: Settings, storage: Storage | None) -> CounterStorage:
    """Where the rate-limit counters live (docs/server.md, "Several worker processes"): Redis
    if set; the database when ``settings.workers`` > 1 share a SQL one (a limit is then the
    total of every worker); else this process's memory."""
    db = getattr(storage, "db", None)
    if settings.redis_url is None and settings.workers > 1 and db is not None:
        from ostiary.storage.sql.counters import SQLRateLimitCounters

        return SQLRateLimitCounters(db)
    return rate_limit_storage(settings.redis_url)


def derived_secret(settings: Settings, label: bytes) -> bytes:
    """A key for ``label``, the same in every process: derived from the master key's text
    (MasterKey does not expose its bytes)."""
    if settings.master_key is not None:
        text = settings.master_key.get_secret_value()
    else:
        text = (settings.dev_key_dir / MASTER_KEY_FILE).read_text(encoding="ascii")
    return hmac.new(text.strip().encode(), label, hashlib.sha256).digest()


def dpop_checker(settings: Settings, storage: Storage, *, clock: Clock) -> DPoPChecker:
    """The checker of the DPoP proofs sent to the server (RFC 9449 §4.3): the algorithms and
    ``iat`` window of ``settings``, the ``jti`` replay cache in the storage's OnceStore (shared
    by every worker and instance), and, with ``dpop_nonces``, nonces (§8) keyed from the
    master key, so that every process issues and accepts the same."""
    nonces = None
    if settings.dpop_nonces:
        nonces = DPoPNonces(
            derived_secret(settings, b"ostiary dpop nonces v1"),
            lifetime=settings.dpop_nonce_lifetime,
        )
    rules = ProofRules(
        algorithms=tuple(settings.dpop_signing_algs), max_age=settings.dpop_proof_max_age
    )
    return DPoPChecker(
        storage.once, rules=rules, nonces=nonces, clock=clock, scope=DPOP_REPLAY_SCOPE
    )


def audiences(settings: Settings) -> ServerAudiences:
    """The audiences of the server's own APIs and of first-party tokens (the trust model)."""
    return ServerAudiences.of(settings.issuer, [settings.audience])


@dataclass(frozen=True, slots=True)
class Services:
    """Everything the routes reach through ``app.state.services``."""

    settings: Settings
    storage: Storage
    keys: KeyService
    accounts: Accounts
    auth: FirstParty
    revocations: Revocations
    revocation_sync: RevocationSync
    #: Verifies tokens for the server's own APIs; :attr:`requirements` says which each wants.
    verifier: TokenVerifier
    #: The accounts' hasher, whose worker thread the lifespan stops at shutdown.
    hasher: PasswordHasher
    oauth: OAuthServices
    #: The keys that sign ID tokens (``keys`` itself when the algorithms are the same).
    id_keys: KeyService
    audit: AuditTrail
    #: Rate limits and the login back-off (docs/security.md, "Abuse protection").
    throttle: Throttle
    #: Ending sessions, one or all of a user's, and the live-user check.
    lifecycle: SessionLifecycle
    audiences: ServerAudiences
    requirements: EndpointRequirements
    #: Sends Logout Tokens when sessions end (a listener of :attr:`lifecycle`); the lifespan
    #: closes it.
    backchannel: BackChannelLogout
    #: Revocation notices to and from the other processes (None: memory storage); the
    #: lifespan runs and closes it.
    revocation_relay: RevocationRelay | None = None


@dataclass(frozen=True, slots=True)
class OAuthServices:
    """The OAuth 2.0 authorization server and OpenID Connect provider."""

    clients: ClientRegistry
    authenticator: ClientAuthenticator
    token_endpoint: TokenEndpoint
    authorizations: Authorizations
    inspector: TokenInspector
    revocation: ClientTokenRevocation
    id_tokens: IdTokenIssuer
    browser_sessions: BrowserSessions
    cookies: Cookies
    clock: Clock
    #: Checks the DPoP proofs of the token endpoint and of ``/auth`` (RFC 9449).
    dpop: DPoPChecker


def build_services(
    settings: Settings,
    storage: Storage,
    keys: KeyService,
    *,
    verifier: TokenVerifier,
    clock: Clock,
    id_keys: KeyService | None = None,
    audit: AuditTrail | None = None,
) -> Services:
    """Wire the services; ``verifier`` (built before start-up, see :func:`server_verifier`)
    shares the revocation list kept here."""
    relay = revocation_relay(settings, storage)
    revoked = revocations(settings, storage, clock=clock, local=verifier.revocations, relay=relay)
    server_audiences = audiences(settings)
    issuer = AccessTokenIssuer(
        keys.signing_key,
        issuer=settings.issuer,
        audience=server_audiences.account,
        ttl=settings.access_token_ttl,
        clock=clock,
    )
    hasher = password_hasher(settings)
    users = accounts(settings, storage, clock=clock, hasher=hasher)
    audit = audit if audit is not None else AuditTrail(storage.audit, clock=clock)
    lifecycle = session_lifecycle(settings, storage, revoked, clock=clock)
    dpop = dpop_checker(settings, storage, clock=clock)
    # The server's own APIs check the proofs sent with DPoP-bound tokens (RFC 9449 §7.1)
    # with the same rules, nonces and shared replay cache as its token endpoints.
    verifier.dpop = dpop
    auth = FirstParty(
        settings,
        accounts=users,
        issuer=issuer,
        lifecycle=lifecycle,
        revocations=revoked,
        audiences=server_audiences,
        audit=audit,
        dpop=dpop,
    )
    sync = RevocationSync(revoked, interval=settings.revocation_sync_seconds)
    id_keys = keys if id_keys is None else id_keys
    oauth = oauth_services(
        settings, storage, keys, id_keys, issuer, revoked, lifecycle, clock=clock, dpop=dpop
    )
    backchannel = BackChannelLogout(
        oauth.clients.get,
        LogoutTokenIssuer(id_keys.signing_key, issuer=settings.issuer, clock=clock),
    )
    lifecycle.listeners.append(backchannel)
    return Services(
        settings,
        storage,
        keys,
        users,
        auth,
        revoked,
        sync,
        verifier,
        hasher,
        oauth,
        id_keys,
        audit,
        throttle=throttle(settings, clock=clock, storage=storage),
        lifecycle=lifecycle,
        audiences=server_audiences,
        requirements=server_audiences.requirements(settings.client_id),
        backchannel=backchannel,
        revocation_relay=relay,
    )


def session_lifecycle(
    settings: Settings, storage: Storage, revoked: Revocations, *, clock: Clock
) -> SessionLifecycle:
    return SessionLifecycle(
        refresh_tokens(settings, storage, clock=clock),
        revoked,
        storage.browser_sessions,
        storage.users,
        clock=clock,
    )


def oauth_services(
    settings: Settings,
    storage: Storage,
    keys: KeyService,
    id_keys: KeyService,
    issuer: AccessTokenIssuer,
    revoked: Revocations,
    lifecycle: SessionLifecycle,
    *,
    clock: Clock,
    dpop: DPoPChecker | None = None,
) -> OAuthServices:
    server_audiences = audiences(settings)
    dpop = dpop if dpop is not None else dpop_checker(settings, storage, clock=clock)
    clients = client_registry(settings, storage, lifecycle, clock=clock)
    authenticator = ClientAuthenticator(clients, storage.once, issuer=settings.issuer, clock=clock)
    id_tokens = IdTokenIssuer(id_keys.signing_key, issuer=settings.issuer, clock=clock)
    grants: list[Grant] = [
        ClientCredentialsGrant(issuer),
        AuthorizationCodeGrant(
            storage.codes,
            lifecycle,
            issuer,
            id_tokens,
            storage.browser_sessions,
            clock=clock,
        ),
        RefreshTokenGrant(lifecycle, issuer),
    ]
    authorizations = Authorizations(
        clients,
        storage.codes,
        storage.consents,
        userinfo_audience=server_audiences.userinfo,
        clock=clock,
    )
    own_keys = LiveKeySet()
    own_keys.attach(keys)
    inspector = TokenInspector(
        own_keys,
        lifecycle,
        revoked,
        issuer=settings.issuer,
        leeway=settings.leeway,
        clock=clock,
    )
    browser_sessions = BrowserSessions(
        storage.browser_sessions,
        secret=derived_secret(settings, b"ostiary sso cookie v1"),
        clock=clock,
        ttl=settings.sso_session_ttl,
    )
    return OAuthServices(
        clients,
        authenticator,
        TokenEndpoint(authenticator, grants, dpop=dpop),
        authorizations,
        inspector,
        ClientTokenRevocation(inspector, lifecycle, revoked),
        id_tokens,
        browser_sessions,
        Cookies(settings.issuer, dev_mode=settings.dev_mode),
        clock,
        dpop,
    )


def cli_lifecycle(settings: Settings, storage: Storage) -> SessionLifecycle:
    """The session lifecycle for a command-line process (no local revocation list: running
    servers pull what it revokes)."""
    # It never rotates a refresh token: no grace window, whose secret needs the master key.
    settings = settings.model_copy(update={"refresh_grace_seconds": 0.0})
    revoked = revocations(settings, storage, clock=SYSTEM_CLOCK)
    return session_lifecycle(settings, storage, revoked, clock=SYSTEM_CLOCK)


def client_registry(
    settings: Settings, storage: Storage, lifecycle: SessionLifecycle, *, clock: Clock
) -> ClientRegistry:
    """The client registry: deleting a client ends its sessions through ``lifecycle``."""
    return ClientRegistry(
        storage.clients,
        audiences=audiences(settings),
        end_sessions=lifecycle.end_client_sessions,
        clock=clock,
    )


def server_verifier(
    settings: Settings,
    keys: LiveKeySet,
    *,
    clock: Clock,
    revocations: RevocationList | None = None,
) -> OwnTokenVerifier:
    """A verifier of this server's own tokens for its own APIs (account, admin, revocation
    feed), over the live key ring (read again, bounded, for a token naming a key it lacks);
    verifiers given the same ``revocations`` list refuse a revoked token together. Which of
    those audiences, scopes and roles each endpoint wants is
    :class:`~ostiary.authz.trust.EndpointRequirements`' to say."""
    own = audiences(settings)
    return OwnTokenVerifier(
        issuer=settings.issuer,
        audience=(own.account, own.admin, own.revocations),
        keys=keys,
        leeway=settings.leeway,
        clock=clock,
        revocations=revocations,
    )


class RevocationSync:
    """Pulls revocations other processes wrote into the local list, at most once per
    ``interval`` seconds however many requests ask (revocations made in this process are
    applied at once anyway)."""

    def __init__(self, revocations: Revocations, *, interval: float) -> None:
        self._revocations = revocations
        self._interval = interval
        self._last = float("-inf")
        self._lock = asyncio.Lock()

    async def refresh_if_stale(self) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._last < self._interval or self._lock.locked():
            return
        async with self._lock:
            self._last = now
            await self._revocations.sync()

    async def pull(self, seq: int | None = None) -> None:
        """Read the store now, after any read under way, unless it was read past ``seq``
        already (a notice of another process; None: whatever is new)."""
        if seq is not None and seq <= self._revocations.cursor:
            return
        async with self._lock:
            if seq is not None and seq <= self._revocations.cursor:
                return
            self._last = asyncio.get_running_loop().time()
            await self._revocations.sync()
