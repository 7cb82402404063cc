"""What every operator command sets up: settings from the environment (in dev mode in a dev/demo
folder, see :mod:`ostiary.cli._dev_folder`), storage opened (and migrated unless
``OSTIARY_AUTO_MIGRATE=false``) for the length of one command, and errors turned into one line
on stderr.

The server's modules (FastAPI, SQLAlchemy, pydantic) are imported only when a command needs
them, so that ``ostiary token ...`` stays quick to start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ostiary.cli._dev_folder import (
    ADOPTED,
    dev_key_file,
    in_dev_mode,
    is_dev_folder,
    local_database,
)
from ostiary.cli._output import describe, fail, warn
from ostiary.errors import OstiaryError
from ostiary.storage import Storage, StorageError

if TYPE_CHECKING:
    from ostiary.settings import Settings

T = TypeVar("T")


def load_settings(**overrides: Any) -> Settings:
    """``Settings`` from ``OSTIARY_*``, with command-line ``overrides``; exit 2 if invalid."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from ostiary.settings import Settings

    try:
        return Settings(**overrides)
    except SettingsError as exc:  # a JSON-valued setting that is not JSON
        fail(f"invalid settings: {exc}", code=2)
    except ValidationError as exc:
        lines = [
            f"OSTIARY_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors(include_input=False)
        ]
        fail("invalid settings:\n  " + "\n  ".join(lines), code=2)


def operator_settings() -> Settings:
    """The settings of an operator command (any but ``serve``): :func:`load_settings`, in dev
    mode when run in a dev/demo folder, which is said on stderr."""
    settings = load_settings()
    if not is_dev_folder(settings):
        return settings
    warn(ADOPTED.format(key=dev_key_file(settings), database=local_database(settings)))
    return in_dev_mode(settings)


def with_storage(settings: Settings, work: Callable[[Storage], Awaitable[T]]) -> T:
    """Run ``work`` on the storage of ``settings`` and close it; exit 1 on a failure."""
    from ostiary.wiring import open_migrated_storage

    async def run() -> T:
        storage = await open_migrated_storage(settings)
        try:
            return await work(storage)
        finally:
            await storage.close()

    try:
        return asyncio.run(run())
    except OstiaryError as exc:
        fail(describe(exc))
    except StorageError as exc:
        fail(f"the database failed: {exc}")


def iso(timestamp: float | None) -> str | None:
    """A Unix time as ISO 8601 UTC, for people reading the output."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")
