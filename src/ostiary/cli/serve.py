"""``ostiary serve``: the auth server in one uvicorn process, or in ``--workers N`` of them on
one port (uvloop and httptools when installed, as ``uvicorn[standard]`` does).

With several workers this process is their supervisor (:mod:`ostiary.server.workers`): it does
the one-time start-up work first (migration, first signing keys, the demo's seed and printout),
then starts the workers with the very same settings, passed in the ``OSTIARY_*`` environment.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import errno
import ipaddress
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

from ostiary.cli._command_setup import load_settings
from ostiary.cli._output import describe, fail, warn
from ostiary.errors import OstiaryError

_M_ARENA_MAX = -8  # glibc's malloc.h
PLAIN_HTTP_WARNING = (
    "serving plain HTTP on {host}:{port}, beyond this machine: passwords and tokens would "
    "cross the network in the clear. Use --tls-cert/--tls-key, or a TLS-terminating proxy "
    "in front (with --forwarded-allow-ips) that alone can reach this port."
)

#: What ``--workers auto`` means: one per CPU this process may run on.
AUTO_WORKERS: Final = "auto"

if TYPE_CHECKING:
    from ostiary.keys.encryption import MasterKey
    from ostiary.settings import Settings


def serve(
    host: Annotated[
        str, typer.Option(metavar="ADDRESS", help="The address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, metavar="PORT", help="The port.")] = 8000,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo", help="Dev mode plus demo users, a demo API at /api and the walkthrough."
        ),
    ] = False,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            "--tls-cert",
            exists=True,
            dir_okay=False,
            metavar="FILE",
            help="Serve HTTPS with this PEM certificate.",
        ),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option(
            "--tls-key",
            exists=True,
            dir_okay=False,
            metavar="FILE",
            help="The certificate's PEM key.",
        ),
    ] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            "--forwarded-allow-ips",
            metavar="ADDRESSES",
            help="Comma-separated proxy addresses whose X-Forwarded-For/-Proto are trusted "
            "(default: none, the headers are ignored).",
        ),
    ] = None,
    workers: Annotated[
        str | None,
        typer.Option(
            "--workers",
            metavar="N|auto",
            help="Worker processes serving the one port; auto: one per CPU "
            "(default: OSTIARY_WORKERS, else 1).",
        ),
    ] = None,
) -> None:
    """Run the auth server; settings come from OSTIARY_* (docs/configuration.md)."""
    if (tls_cert is None) != (tls_key is None):
        fail("--tls-cert and --tls-key go together", code=2)
    tls = tls_cert is not None
    settings = with_default_issuer(
        load_settings(demo=True) if demo else load_settings(), host, port, tls=tls
    )
    count = worker_count(workers, settings.workers)
    if count > 1:
        check_shared_database(settings.database_url)
        settings = settings.model_copy(update={"workers": count})
    if count == 1:
        share_one_malloc_arena()  # before preflight's threads (its storage runs on threads)
    check_port_free(host, port)
    preflight(settings)
    if not tls and not is_loopback(host):
        warn(PLAIN_HTTP_WARNING.format(host=host, port=port))
    options = uvicorn_options(
        settings,
        host=host,
        port=port,
        tls=(tls_cert, tls_key) if tls_cert is not None and tls_key is not None else None,
        forwarded_allow_ips=forwarded_allow_ips,
    )
    if count == 1:
        from ostiary.server import create_app

        run_uvicorn(create_app(settings, freeze_gc=True), workers=1, **options)
        return
    run_several(settings, count, options)


def uvicorn_options(
    settings: Settings,
    *,
    host: str,
    port: int,
    tls: tuple[Path, Path] | None = None,
    forwarded_allow_ips: str | None = None,
) -> dict[str, Any]:
    """What every uvicorn server of ``serve`` runs with, one process or each worker."""
    return {
        "host": host,
        "port": port,
        "loop": "auto",
        "http": "auto",
        "log_config": log_config(),
        # The app writes the access log (ostiary.server.access_log, OSTIARY_ACCESS_LOG):
        # structured and in batches, where uvicorn's writes a record per request on the loop.
        "access_log": False,
        "server_header": False,
        # X-Forwarded-* only from the proxies named: from anyone else they are forgeries.
        "proxy_headers": forwarded_allow_ips is not None,
        "forwarded_allow_ips": forwarded_allow_ips,
        "ssl_certfile": tls[0] if tls else None,
        "ssl_keyfile": tls[1] if tls else None,
        "h11_max_incomplete_event_size": parser_header_limit(settings),
    }


def worker_count(option: str | None, configured: int) -> int:
    """``--workers``: a number from 1 up, or ``auto`` (the CPUs this process may use);
    without it, ``OSTIARY_WORKERS`` (``configured``)."""
    if option is None:
        return configured
    if option.strip().lower() == AUTO_WORKERS:
        cpus = getattr(os, "process_cpu_count", os.cpu_count)()  # the former from 3.13
        return max(1, cpus or 1)
    try:
        count = int(option)
    except ValueError:
        count = 0
    if not 1 <= count <= 1024:
        raise typer.BadParameter("a number from 1 to 1024, or auto", param_hint="'--workers'")
    return count


def check_shared_database(url: str) -> None:
    """Several workers must share their state: a database each process opens, not memory."""
    from ostiary.storage import MEMORY_URL

    if url == MEMORY_URL or ":memory:" in url or "mode=memory" in url:
        fail(
            "--workers above 1 needs a database the workers share (a SQLite file or "
            "PostgreSQL): with OSTIARY_DATABASE_URL in memory each worker would have its own",
            code=2,
        )


def run_several(settings: Settings, count: int, options: dict[str, Any]) -> None:
    """Do the one-time start-up work here, then run ``count`` worker processes with the same
    settings (exported as ``OSTIARY_*`` for them) until SIGTERM or SIGINT."""
    import asyncio

    from ostiary.server.app import start_once
    from ostiary.server.workers import WorkerPool

    export_settings(settings)
    if load_settings() != settings:  # what each worker will read
        fail("the settings the workers would read differ from this process's", code=1)
    try:
        asyncio.run(start_once(settings))
    except OstiaryError as exc:
        fail(describe(exc), code=3)
    code = WorkerPool(count, options).run()
    if code:
        raise typer.Exit(code=code)


def export_settings(settings: Settings) -> None:
    """Put what the command line decided into the environment the workers inherit: the
    worker count, demo mode and the default issuer. Nothing secret is added (the secrets the
    workers need are in the environment already, or in files they read)."""
    os.environ["OSTIARY_WORKERS"] = str(settings.workers)
    os.environ["OSTIARY_ISSUER"] = settings.issuer
    if settings.demo:
        os.environ["OSTIARY_DEMO"] = "true"


def run_uvicorn(app: Any, **options: Any) -> None:
    """``uvicorn.run(app, **options)`` for one process, whose shutdown first ends the open
    revocation streams (:class:`~ostiary.server.workers.StreamEndingServer`)."""
    import uvicorn

    from ostiary.server.workers import StreamEndingServer

    server = StreamEndingServer(uvicorn.Config(app, **options), app)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise typer.Exit(code=3)  # what uvicorn.run exits with when start-up fails


def parser_header_limit(settings: Settings) -> int:
    """What h11 (uvicorn's parser without httptools) may buffer of a request line and headers.
    Its default, 16 KiB, is the app's own header cap: a request just over it would get h11's
    bare 400 instead of the app's 431. Four times the cap leaves that answer to the app and
    still bounds the buffer. (httptools sets no limit: the app's check is the one there.)"""
    return 4 * settings.max_header_bytes


def share_one_malloc_arena() -> None:
    """Before any thread starts, have glibc give every thread the main malloc arena (like
    ``MALLOC_ARENA_MAX=1``). Otherwise each argon2 thread keeps its 19 MiB block in an arena of
    its own that ``malloc_trim`` cannot return; with one arena the hasher's idle-time trim gives
    it back. The server is one event loop plus the hashing threads: one arena costs it no
    contention worth measuring. A no-op without glibc."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_ARENA_MAX, 1)


def with_default_issuer(settings: Settings, host: str, port: int, *, tls: bool = False) -> Settings:
    """Without ``OSTIARY_ISSUER``, the issuer is the URL this server listens on."""
    if "issuer" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"issuer": local_url(host, port, tls=tls)})


def local_url(host: str, port: int, *, tls: bool = False) -> str:
    """``http://host:port`` (``https`` with TLS), with 127.0.0.1 for a wildcard address and
    IPv6 in brackets."""
    scheme = "https" if tls else "http"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"{scheme}://{host}:{port}"
    if address.is_unspecified:
        return f"{scheme}://127.0.0.1:{port}"
    return f"{scheme}://[{host}]:{port}" if address.version == 6 else f"{scheme}://{host}:{port}"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback address (a name is assumed not to be)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port_free(host: str, port: int) -> None:
    """Exit 1 with one line if ``host:port`` cannot be bound, before any start-up work: the
    demo's walkthrough printed for a server that then fails to listen would be a lie. Bound
    as uvicorn binds (``SO_REUSEADDR``, IPv6 for an address with a colon), then let go: the
    server (or the workers' supervisor) binds it again a moment later."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            fail(
                f"cannot listen on {where}: address already in use (another program, or "
                "another `ostiary serve`, listens there). Stop it, or choose another port "
                "with --port (make run PORT=...)."
            )
        fail(f"cannot listen on {where}: {exc.strerror or exc}")


def preflight(settings: Settings) -> None:
    """Refuse to start, with one clear line, what the lifespan would refuse with a traceback."""
    from ostiary.keys.encryption import MasterKey
    from ostiary.keys.master_file import GENERATE_HINT

    if settings.master_key is None and not settings.dev_mode:
        fail(
            "OSTIARY_MASTER_KEY is not set: the signing keys are stored encrypted under it.\n"
            + GENERATE_HINT
            + "\nFor a local try-out, `ostiary serve --demo` (or OSTIARY_DEV=true) makes one.",
            code=2,
        )
    master: MasterKey | None = None
    if settings.master_key is not None:
        try:
            master = MasterKey.from_text(settings.master_key.get_secret_value())
        except OstiaryError as exc:
            fail(f"OSTIARY_MASTER_KEY: {describe(exc)}", code=2)
    migrate_apart(settings)
    if master is not None:
        check_master_key_opens_keys(settings, master)


def migrate_apart(settings: Settings) -> None:
    """The start-up migration (``OSTIARY_AUTO_MIGRATE``), run in a child process so that
    alembic and mako never load into the server's, which keeps what it imports for as long
    as it runs. Afterwards the lifespan finds the database at the latest revision with one
    plain query. If the child failed, nothing is said here: the lifespan migrates in its own
    process and reports the failure as it would have."""
    from ostiary.storage import MEMORY_URL

    if settings.auto_migrate and settings.database_url != MEMORY_URL:
        from ostiary.storage.sql.migrate import upgrade_in_child

        upgrade_in_child(settings.database_url)


def check_master_key_opens_keys(settings: Settings, master: MasterKey) -> None:
    """Open every signing key in the database with ``master``: a wrong key (one from another
    environment, a rotation done in one place only) is a configuration error, told in one line
    with exit 2 instead of a traceback from the lifespan and uvicorn's exit 3. Any other
    failure (a database that cannot be reached) is left to the lifespan to report."""
    import asyncio

    from ostiary.errors import InvalidKey
    from ostiary.storage import StorageError
    from ostiary.wiring import open_migrated_storage

    async def open_all() -> None:
        storage = await open_migrated_storage(settings)
        try:
            for row in await storage.keys.list():
                master.open_key(row.sealed, kid=row.kid)
        finally:
            await storage.close()

    try:
        asyncio.run(open_all())
    except InvalidKey as exc:
        fail(
            "OSTIARY_MASTER_KEY does not open the signing keys in the database: " + describe(exc),
            code=2,
        )
    except (OstiaryError, StorageError):
        return


def log_config() -> dict[str, Any]:
    """uvicorn's logging, plus Ostiary's own loggers at INFO on the same handler. (The access
    log is the app's: :mod:`ostiary.server.access_log`.)"""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["ostiary"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
