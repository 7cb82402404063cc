"""``ostiary serve``: the auth server in one uvicorn process (uvloop and httptools when
installed, as ``uvicorn[standard]`` does)."""

from __future__ import annotations

import copy
import ctypes
import ipaddress
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ostiary.cli._output import describe, fail
from ostiary.cli._server import load_settings
from ostiary.errors import OstiaryError

_M_ARENA_MAX = -8  # glibc's malloc.h

if TYPE_CHECKING:
    from ostiary.settings import Settings


def serve(
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="The port.")] = 8000,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo", help="Dev mode plus demo users, a demo API at /api and the walkthrough."
        ),
    ] = False,
) -> None:
    """Run the auth server; settings come from OSTIARY_* (docs/configuration.md)."""
    import uvicorn

    from ostiary.server import create_app

    settings = with_default_issuer(
        load_settings(demo=True) if demo else load_settings(), host, port
    )
    preflight(settings)
    share_one_malloc_arena()
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        workers=1,
        loop="auto",
        http="auto",
        log_config=log_config(),
        server_header=False,
    )


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


def with_default_issuer(settings: Settings, host: str, port: int) -> Settings:
    """Without ``OSTIARY_ISSUER``, the issuer is the URL this server listens on."""
    if "issuer" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"issuer": local_url(host, port)})


def local_url(host: str, port: int) -> str:
    """``http://host:port``, with 127.0.0.1 for a wildcard address and IPv6 in brackets."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}"
    if address.is_unspecified:
        return f"http://127.0.0.1:{port}"
    return f"http://[{host}]:{port}" if address.version == 6 else f"http://{host}:{port}"


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
    if settings.master_key is not None:
        try:
            MasterKey.from_text(settings.master_key.get_secret_value())
        except OstiaryError as exc:
            fail(f"OSTIARY_MASTER_KEY: {describe(exc)}", code=2)


def log_config() -> dict[str, Any]:
    """uvicorn's logging, plus Ostiary's own loggers at INFO on the same handler, and the
    access log with token and password values taken out of query strings."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["ostiary"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    config.setdefault("filters", {})["redact_query"] = {
        "()": "ostiary.server.logs.RedactQuerySecrets"
    }
    config["handlers"]["access"]["filters"] = ["redact_query"]
    return config
