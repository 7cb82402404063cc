from __future__ import annotations

import pytest

from ostiary.clock import FrozenClock

T0 = 1_700_000_000.0


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)
