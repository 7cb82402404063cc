"""Everything the server keeps, behind small async Protocols (:mod:`.protocols`).

:func:`open_storage` picks the backend from a URL: ``memory://`` for the in-process reference
implementation, ``sqlite://...`` or ``postgresql://...`` for SQL (which needs the ``server``
extra, and ``postgres`` for PostgreSQL).
"""

from __future__ import annotations

from ostiary.storage.memory import MemoryStorage
from ostiary.storage.protocols import (
    Conflict,
    KeyStore,
    LeaseStore,
    RevocationStore,
    SessionStore,
    Storage,
    StorageError,
    UserStore,
)

MEMORY_URL = "memory://"


async def open_storage(url: str, *, pool_size: int | None = None) -> Storage:
    """The storage at ``url``. SQL schemas must be migrated first
    (:func:`ostiary.storage.sql.upgrade`); nothing connects until the first call.
    ``pool_size``: PostgreSQL connections each process keeps open (by default 16)."""
    if url == MEMORY_URL:
        return MemoryStorage()
    # Imported here: the resource toolkit imports ostiary.storage without SQLAlchemy installed.
    from ostiary.storage.sql import SQLStorage

    if pool_size is None:
        return SQLStorage.from_url(url)
    return SQLStorage.from_url(url, pool_size=pool_size)


__all__ = [
    "MEMORY_URL",
    "Conflict",
    "KeyStore",
    "LeaseStore",
    "MemoryStorage",
    "RevocationStore",
    "SessionStore",
    "Storage",
    "StorageError",
    "UserStore",
    "open_storage",
]
