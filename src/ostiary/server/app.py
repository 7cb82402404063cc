"""The FastAPI app factory and its lifespan.

At start: load the master key (refusing to start without one outside dev/demo mode), open and
migrate the storage, make sure a signing key exists, build the services, seed the demo (with
several worker processes, :func:`start_once` does what must happen once, in the parent).
While running: a background task runs the key schedule, checks for keys other processes
changed, purges what has expired (revocations, authorization codes, once-keys, browser
sessions, the database's rate-limit counters) and pulls revocations other processes wrote;
another listens for their notices, revocations and key changes
(:mod:`ostiary.revocation.relay`). At shutdown the
tasks are cancelled, the hashing thread stopped and storage closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.types import ASGIApp

from ostiary.audit import AuditTrail, key_listener
from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.failures import log_failure
from ostiary.keys.live import LiveKeySet, RingReload
from ostiary.own_verifier import OwnTokenVerifier
from ostiary.resource import RevocationList
from ostiary.server.access_log import AccessLog, AccessLogMiddleware
from ostiary.server.cors import CORSMiddleware
from ostiary.server.demo import (
    alice_password_line,
    describe_clients,
    describe_users,
    seed_demo_clients,
    seed_demo_users,
)
from ostiary.server.errors import install_error_handlers
from ostiary.server.headers import SecurityHeadersMiddleware, docs_paths
from ostiary.server.hot_paths import HotPaths
from ostiary.server.metrics import (
    Metrics,
    ObservabilityMiddleware,
    metrics_route,
    route_templates,
)
from ostiary.server.middleware import (
    BodySizeLimitMiddleware,
    CatchAllMiddleware,
    HeaderLimitMiddleware,
)
from ostiary.server.pages import static_route
from ostiary.server.routes import (
    admin,
    auth,
    authorize,
    demo,
    health,
    logout,
    oauth,
    revocation_feed,
    revocation_stream,
    sessions,
    spa,
    token,
    wellknown,
)
from ostiary.server.walkthrough import walkthrough
from ostiary.settings import Settings
from ostiary.storage import Storage
from ostiary.wiring import (
    KEY_CHECK_SECONDS,
    KEY_RELOAD_SECONDS,
    KEY_TICK_SECONDS,
    Services,
    build_services,
    id_token_key_service,
    key_service,
    key_services,
    load_master_key,
    open_migrated_storage,
    server_verifier,
)

log = logging.getLogger("ostiary.server")
DEMO_PREFIX: Final = "/api"
#: FastAPI's native OpenTelemetry, off unless ``OSTIARY_OPENTELEMETRY`` is set.
NO_OPENTELEMETRY: Final[TelemetryConfig] = {"tracing": False, "metrics": False, "logs": False}
#: The background task that listens for other processes' revocations.
RELAY_TASK: Final = "ostiary-revocation-notices"


def create_app(
    settings: Settings,
    *,
    storage: Storage | None = None,
    clock: Clock = SYSTEM_CLOCK,
    freeze_gc: bool = False,
    seed_demo: bool = True,
    access_log: AccessLog | None = None,
) -> OstiaryApp:
    """The auth server. ``storage`` given: used as it is (not migrated, not closed).
    ``freeze_gc`` (for a server process, not for tests that build many apps): once started,
    move everything allocated so far out of the cyclic collector's sight (``gc.freeze``), so
    that its full collections stop walking the modules and services, which live as long as
    the process anyway. ``seed_demo`` False: in demo mode, neither seed the demo users and
    clients nor print the walkthrough (a worker process: :func:`start_once` did, once).
    ``access_log``: where the access log goes; by default stdout when
    ``settings.access_log``."""
    keys_view = LiveKeySet()
    metrics = Metrics() if settings.metrics_enabled else None
    if access_log is None and settings.access_log:
        access_log = AccessLog()  # stdout
    revoked = RevocationList()  # one list: the server's routes, the demo API and the feed
    verifier = server_verifier(settings, keys_view, clock=clock, revocations=revoked)
    # The demo API is a resource service of its own: its audience is OSTIARY_AUDIENCE's.
    demo_verifier = (
        OwnTokenVerifier(
            issuer=settings.issuer,
            audience=settings.audience,
            keys=keys_view,
            leeway=settings.leeway,
            clock=clock,
            revocations=revoked,
        )
        if settings.demo
        else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        master_key = load_master_key(settings)  # ConfigurationError: refuse to start
        store = storage if storage is not None else await open_migrated_storage(settings)
        audit = AuditTrail(store.audit, clock=clock)
        if metrics is not None:
            audit.listeners.append(metrics.observe)
        try:
            on_key_event = key_listener(audit)
            keys = key_service(settings, store, master_key, clock=clock, on_event=on_key_event)
            await keys.ensure_signing_key()
            id_keys = id_token_key_service(
                settings,
                store,
                master_key,
                clock=clock,
                access_keys=keys,
                on_event=on_key_event,
            )
            if id_keys is not keys:
                await id_keys.ensure_signing_key()
            services = build_services(
                settings,
                store,
                keys,
                verifier=verifier,
                clock=clock,
                id_keys=id_keys,
                audit=audit,
            )
            relay = services.revocation_relay
            # A token naming a key this process has not read yet (another worker or instance
            # rotated) has the keys read again, and the others told if they had changed.
            reload = RingReload(
                key_services(services),
                interval=KEY_RELOAD_SECONDS,
                on_change=relay.announce_keys if relay is not None else None,
            )
            keys_view.attach(keys, reload=reload)
            try:
                await services.revocations.sync()
                if settings.demo and seed_demo:
                    await _start_demo(services)
                app.state.services = services
                tasks = [asyncio.create_task(_maintain(services), name="ostiary-maintenance")]
                if relay is not None:
                    listen = relay.run(
                        services.revocation_sync.pull,
                        keys_changed=lambda: reload_keys(services, announce=False),
                    )
                    tasks.append(asyncio.create_task(listen, name=RELAY_TASK))
                if freeze_gc:
                    gc.collect()  # start-up's garbage (the migration's, the seed's) first
                    gc.freeze()
                try:
                    yield
                finally:
                    revocation_stream.end_streams(services)
                    for task in tasks:
                        task.cancel()
                    for task in tasks:
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
            finally:
                await close_services(services)
        finally:
            await audit.drain()
            if storage is None:
                await store.close()
            if access_log is not None:
                access_log.flush()  # on the loop, which owns its timer
                await asyncio.to_thread(access_log.close)

    dev = settings.dev_mode
    app = OstiaryApp(
        title="Ostiary",
        lifespan=lifespan,
        docs_url="/docs" if dev else None,
        redoc_url=None,
        openapi_url="/openapi.json" if dev else None,
        # FastAPI's native OpenTelemetry looks up the global providers at every request
        # (4 µs of a JWKS GET's 26 µs in the app); Ostiary's own metrics are Prometheus'.
        telemetry=None if settings.opentelemetry else NO_OPENTELEMETRY,
    )
    app.state.metrics = metrics
    published_keys = wellknown.PublishedKeys(settings.jwks_max_age)
    app.state.published_keys = published_keys
    install_error_handlers(app)
    routers = (
        *(auth, oauth, authorize, logout, sessions, revocation_feed, revocation_stream),
        *(wellknown, health, admin),
    )
    for router in (module.router for module in routers):
        app.include_router(router)
    # First, so that routing finds them at once (see ostiary.server.routes.token).
    app.router.routes.insert(0, token.token_route())
    app.router.routes.insert(1, wellknown.jwks_route())
    _document_token_endpoint(app)
    if metrics is not None:
        token_ = settings.metrics_token
        secret = token_.get_secret_value() if token_ is not None else None
        app.router.routes.insert(1, metrics_route(metrics, token=secret))
    app.router.routes.append(static_route())
    if demo_verifier is not None:
        app.mount(DEMO_PREFIX, demo.demo_api(demo_verifier))
        app.router.routes.extend(spa.spa_routes())
    # Added last, run first: the catch-all wraps everything, the header and body caps every
    # route.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        HeaderLimitMiddleware,
        max_bytes=settings.max_header_bytes,
        max_count=settings.max_header_count,
    )
    app.add_middleware(
        ObservabilityMiddleware, metrics=metrics, templates=route_templates(app.router.routes)
    )
    app.add_middleware(CatchAllMiddleware)
    # Outside the catch-all, so that its 500s and the caps' answers get them too.
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            origins=settings.cors_origins,
            allow_credentials=settings.cors_allow_credentials,
        )
    app.add_middleware(SecurityHeadersMiddleware, docs_paths=docs_paths(app))
    if access_log is not None:  # outermost: it logs every answer as sent, whoever made it
        app.add_middleware(AccessLogMiddleware, access_log=access_log)
    # In front of it all: the two hottest requests, answered as the stack would in one step.
    # Not with FastAPI's OpenTelemetry on: its spans are named by the route the router picks.
    if not settings.opentelemetry:
        app.hot_paths = functools.partial(
            HotPaths,
            handlers={
                ("GET", wellknown.JWKS_PATH): published_keys.hot_answer,
                ("POST", token.PATH): token.token_answer,
            },
            access_log=access_log,
            metrics=metrics,
            max_body_bytes=settings.max_body_bytes,
            max_header_bytes=settings.max_header_bytes,
            max_header_count=settings.max_header_count,
            cors=bool(settings.cors_origins),
        )
    return app


class OstiaryApp(FastAPI):
    """FastAPI with :class:`~ostiary.server.hot_paths.HotPaths` (made by ``hot_paths`` from
    the middleware stack) in front of its whole middleware stack."""

    hot_paths: Callable[[ASGIApp], ASGIApp] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return stack if self.hot_paths is None else self.hot_paths(stack)


def _document_token_endpoint(app: FastAPI) -> None:
    """Add ``POST /oauth/token`` (a plain Starlette route) to the OpenAPI document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            document["paths"][token.PATH] = {"post": token.openapi_operation()}
            document["paths"][wellknown.JWKS_PATH] = {"get": wellknown.jwks_openapi_operation()}
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


async def start_once(settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> None:
    """What a server of several worker processes does once, in the parent, before it starts
    them (each would otherwise do it again, and race): migrate the storage, create the dev
    master key and the first signing keys, and in demo mode seed the demo users and clients
    and print the walkthrough with their passwords, once."""
    master_key = load_master_key(settings)
    store = await open_migrated_storage(settings)
    audit = AuditTrail(store.audit, clock=clock)
    try:
        on_key_event = key_listener(audit)
        keys = key_service(settings, store, master_key, clock=clock, on_event=on_key_event)
        await keys.ensure_signing_key()
        id_keys = id_token_key_service(
            settings, store, master_key, clock=clock, access_keys=keys, on_event=on_key_event
        )
        if id_keys is not keys:
            await id_keys.ensure_signing_key()
        if settings.demo:
            verifier = server_verifier(settings, LiveKeySet(), clock=clock)
            services = build_services(
                settings, store, keys, verifier=verifier, clock=clock, id_keys=id_keys, audit=audit
            )
            try:
                await _start_demo(services)
            finally:
                await close_services(services)
    finally:
        await audit.drain()
        await store.close()


async def close_services(services: Services) -> None:
    """Release what the services hold: the notice channel, the back-channel client, the
    hashing thread and the rate-limit storage (the storage itself is its owner's to close)."""
    if services.revocation_relay is not None:
        await services.revocation_relay.close()
    await services.backchannel.aclose()
    services.hasher.close()
    await services.throttle.close()


async def _start_demo(services: Services) -> None:
    users = await seed_demo_users(services.accounts, services.settings)
    clients = await seed_demo_clients(services.oauth.clients, services.settings)
    password_line = alice_password_line(users)
    # print, not log: the passwords belong on the console once, never in a log file.
    print(describe_users(users), flush=True)
    print(describe_clients(clients), flush=True)
    print(walkthrough(services.settings.issuer, password_line=password_line), flush=True)


async def _maintain(services: Services) -> None:
    """Pull revocations every ``revocation_sync_seconds``; check every ``KEY_CHECK_SECONDS``
    whether another process changed the signing keys; run the key schedule and purge what has
    expired every ``KEY_TICK_SECONDS``. Each job is guarded: a failure is logged, does not
    hold up the others and is retried at its next turn."""
    loop = asyncio.get_running_loop()
    next_tick = loop.time() + KEY_TICK_SECONDS
    next_check = loop.time() + KEY_CHECK_SECONDS
    while True:
        await asyncio.sleep(services.settings.revocation_sync_seconds)
        try:
            await services.revocation_sync.refresh_if_stale()
        except Exception:
            log_failure(log, "background maintenance failed (revocation sync); retrying")
        if loop.time() >= next_tick:
            next_tick = loop.time() + KEY_TICK_SECONDS
            for key_service_ in key_services(services):
                try:
                    await key_service_.tick()
                except Exception:
                    log_failure(log, "background maintenance failed (key schedule); retrying")
            await purge_expired(services)
            next_check = loop.time()  # at once: the others hear of what the schedule did
        if loop.time() >= next_check:
            next_check = loop.time() + KEY_CHECK_SECONDS
            try:
                await reload_keys(services, announce=True)
            except Exception:
                log_failure(log, "background maintenance failed (key check); retrying")


async def reload_keys(services: Services, *, announce: bool) -> bool:
    """Read the signing keys again if another process (or this one's schedule) changed them;
    with ``announce``, then tell the other processes too. Returns whether they had changed."""
    changed = False
    for key_service_ in key_services(services):
        changed = await key_service_.reload_if_changed() or changed
    if changed and announce and services.revocation_relay is not None:
        services.revocation_relay.announce_keys()
    return changed


async def purge_expired(services: Services) -> dict[str, int]:
    """Delete the revocation entries, authorization codes, once-keys (client assertions'
    ``jti``) and browser sessions that expired before the services' clock's now. Each purge is
    guarded: a failure is logged and the others still run. Returns how many each deleted,
    leaving out those that failed."""
    storage = services.storage
    now = services.oauth.clock.now()
    purges: dict[str, Callable[[], Awaitable[int]]] = {
        "revocations": services.revocations.purge,
        "authorization codes": lambda: storage.codes.purge(now=now),
        "once-keys": lambda: storage.once.purge(now=now),
        "browser sessions": lambda: storage.browser_sessions.purge(now=now),
        "audit events": lambda: storage.audit.purge(
            before=now - services.settings.audit_retention_days * 86_400
        ),
    }
    if services.throttle.keeps_expired:  # the database's, shared by worker processes
        purges["rate-limit counters"] = lambda: services.throttle.purge(now=now)
    purged: dict[str, int] = {}
    for what, purge in purges.items():
        try:
            purged[what] = await purge()
        except Exception:
            log_failure(log, "background maintenance failed (purging expired %s); retrying", what)
    return purged
