"""Rate-limit counters in the SQL database: a ``limits`` async storage, for the worker processes
of one server (``ostiary serve --workers N``) to share when there is no Redis.

Every counter is one row (key, count, expiry). An increment is one atomic upsert that starts
the count again when the row has expired; a sliding-window hit reads both windows and
increments the current one in one write transaction, so two processes hitting the same limit
at once never both get the last slot: on SQLite ``BEGIN IMMEDIATE`` makes writers take turns
(waiting up to the busy timeout, never failing with "database is locked" under a burst); on
PostgreSQL the upsert locks the row until commit, and a hit that finds itself over the limit
once incremented rolls back. Writes are relaxed (SQLite's ``synchronous=NORMAL``): a count
lost to a power failure costs nothing worth an fsync per request.

Expired rows are deleted by :meth:`SQLRateLimitCounters.purge` (the server's maintenance).
"""

from __future__ import annotations

import math
from typing import Final, cast

from limits.aio.storage import SlidingWindowCounterSupport, Storage
from limits.storage.base import TimestampedSlidingWindow
from sqlalchemy import Table, case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.storage.protocols import StorageError
from ostiary.storage.sql.engine import Database
from ostiary.storage.sql.models import RateLimitCounterRow

_COUNTERS: Final = cast(Table, RateLimitCounterRow.__table__)
_C: Final = _COUNTERS.c


class _OverLimit(Exception):
    """Raised inside a hit's transaction to roll its increment back."""


class SQLRateLimitCounters(Storage, SlidingWindowCounterSupport, TimestampedSlidingWindow):
    """``limits``' async storage interface (fixed-window counters and the sliding window
    counter the throttle uses) on ``db``. ``clock`` must be the one ``limits`` keeps its
    windows on, the wall clock; it is a parameter only to be named, not to be changed.
    Failures are raised as ``limits.errors.StorageError``, which the throttle survives."""

    STORAGE_SCHEME = None  # made by the wiring, never from a URL

    def __init__(self, db: Database, *, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(wrap_exceptions=True)
        self._db = db
        self._clock = clock
        self._insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return StorageError

    # --- counters ---------------------------------------------------------------------------

    async def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = self._clock.now()
        return await self._db.write(
            lambda conn: self._add(conn, key, expiry, amount, now), relaxed=True
        )

    async def get(self, key: str) -> int:
        now = self._clock.now()
        return await self._db.read(lambda conn: _count(conn, key, now))

    async def get_expiry(self, key: str) -> float:
        now = self._clock.now()
        stmt = select(_C.expires_at).where(_C.key == key, _C.expires_at > now)

        def expiry(conn: Connection) -> float:
            found = conn.execute(stmt).scalar()
            return now if found is None else float(found)

        return await self._db.read(expiry)

    async def clear(self, key: str) -> None:
        stmt = delete(_COUNTERS).where(_C.key == key)
        await self._db.write(lambda conn: conn.execute(stmt), relaxed=True)

    async def check(self) -> bool:
        try:
            await self._db.read(lambda conn: conn.execute(select(1)).scalar())
        except StorageError:
            return False
        return True

    async def reset(self) -> int | None:
        def reset(conn: Connection) -> int:
            return conn.execute(delete(_COUNTERS)).rowcount

        return await self._db.write(reset)

    async def purge(self, *, now: float) -> int:
        """Delete the counters that expired before ``now``; returns how many."""
        stmt = delete(_COUNTERS).where(_C.expires_at <= now)
        return await self._db.write(lambda conn: conn.execute(stmt).rowcount, relaxed=True)

    # --- the sliding window counter ---------------------------------------------------------

    async def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        if amount > limit:
            return False
        now = self._clock.now()
        previous_key, current_key = self.sliding_window_keys(key, expiry, now)

        def hit(conn: Connection) -> bool:
            previous = _count(conn, previous_key, now) * _previous_ttl(now, expiry) / expiry
            if math.floor(previous + _count(conn, current_key, now)) + amount > limit:
                return False  # spent already: nothing written
            # Twice the window: the current window is the next one's previous.
            current = self._add(conn, current_key, 2 * expiry, amount, now)
            if math.floor(previous + current) > limit:  # a concurrent hit took the last slot
                raise _OverLimit
            return True

        try:
            return await self._db.write(hit, relaxed=True)
        except _OverLimit:
            return False

    async def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        now = self._clock.now()
        previous_key, current_key = self.sliding_window_keys(key, expiry, now)

        def window(conn: Connection) -> tuple[int, float, int, float]:
            previous = _count(conn, previous_key, now)
            current = _count(conn, current_key, now)
            previous_ttl = _previous_ttl(now, expiry) if previous else 0.0
            current_ttl = (1 - ((now / expiry) % 1)) * expiry + expiry
            return previous, previous_ttl, current, current_ttl

        return await self._db.read(window)

    async def clear_sliding_window(self, key: str, expiry: int) -> None:
        keys = self.sliding_window_keys(key, expiry, self._clock.now())
        stmt = delete(_COUNTERS).where(_C.key.in_(keys))
        await self._db.write(lambda conn: conn.execute(stmt), relaxed=True)

    # --- statements -------------------------------------------------------------------------

    def _add(self, conn: Connection, key: str, expiry: float, amount: int, now: float) -> int:
        """Add ``amount`` to ``key``'s count (started afresh, expiring ``expiry`` seconds from
        ``now``, when there is none or it has expired); returns the new count. One statement,
        atomic on both databases."""
        new = self._insert(_COUNTERS).values(key=key, count=amount, expires_at=now + expiry)
        expired = _C.expires_at <= now
        stmt = new.on_conflict_do_update(
            index_elements=[_C.key],
            set_={
                "count": case((expired, new.excluded.count), else_=_C.count + new.excluded.count),
                "expires_at": case((expired, new.excluded.expires_at), else_=_C.expires_at),
            },
        ).returning(_C.count)
        return int(conn.execute(stmt).scalar_one())


def _count(conn: Connection, key: str, now: float) -> int:
    stmt = select(func.coalesce(func.max(_C.count), 0)).where(_C.key == key, _C.expires_at > now)
    return int(conn.execute(stmt).scalar_one())


def _previous_ttl(now: float, expiry: int) -> float:
    """What is left of the previous window's weight (``limits``' own formula)."""
    return (1 - (((now - expiry) / expiry) % 1)) * expiry
