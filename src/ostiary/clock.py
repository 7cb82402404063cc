"""An injectable clock, so that expiry is tested by moving time rather than by sleeping."""

from __future__ import annotations

import time
from typing import Final, Protocol


class Clock(Protocol):
    """Anything that tells the current time as seconds since the Unix epoch."""

    def now(self) -> float: ...


#: Seconds in a day: the unit of key rotation and refresh lifetimes.
DAY: Final = 86_400


class SystemClock:
    """The wall clock (`time.time`)."""

    __slots__ = ()

    def now(self) -> float:
        return time.time()


class FrozenClock:
    """A clock that stands still until moved: for tests and for replaying a past moment."""

    __slots__ = ("_now",)

    def __init__(self, now: float) -> None:
        self._now = float(now)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def set(self, now: float) -> None:
        self._now = float(now)


SYSTEM_CLOCK = SystemClock()
