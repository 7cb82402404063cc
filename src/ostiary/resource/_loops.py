"""An ``asyncio.Lock`` per event loop, for objects used from several loops (an asyncio lock
belongs to the loop it first waited on)."""

from __future__ import annotations

import asyncio


class LoopLocks:
    """``get()`` gives the running loop's lock; locks of closed loops are dropped."""

    __slots__ = ("_locks",)

    def __init__(self) -> None:
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    def get(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            for old in [lp for lp in self._locks if lp.is_closed()]:
                del self._locks[old]
            lock = self._locks[loop] = asyncio.Lock()
        return lock
