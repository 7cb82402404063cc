"""RevocationRelay: notices wake a catch-up; a channel that is down means polling, reconnects
with back-off, and one log line per change of state."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Final

import pytest

from ostiary.revocation.relay import RevocationRelay
from ostiary.storage.protocols import KEYS_CHANGED

TIMEOUT: Final = 10.0
#: Put in a FakeNotices' queue: the connection is lost.
LOST: Final = -1000


class FakeNotices:
    """A channel the test controls: ``down`` makes listen() fail; ``sent`` feeds listeners."""

    def __init__(self) -> None:
        self.down = False
        self.published: list[int] = []
        self.queue: asyncio.Queue[int] = asyncio.Queue()
        self.attempts = 0
        self.closed = False

    async def publish(self, seq: int) -> None:
        if self.down:
            raise ConnectionError("down")
        self.published.append(seq)
        self.queue.put_nowait(seq)

    async def listen(self) -> AsyncGenerator[int, None]:
        self.attempts += 1
        if self.down:
            raise ConnectionError("connection refused")
        yield 0
        while True:
            seq = await self.queue.get()
            if seq == LOST:
                raise ConnectionError("lost")
            yield seq

    async def close(self) -> None:
        self.closed = True


class CatchUps:
    def __init__(self) -> None:
        self.calls: list[int | None] = []
        self.changed = asyncio.Event()

    async def __call__(self, seq: int | None) -> None:
        self.calls.append(seq)
        self.changed.set()

    async def until(self, predicate: object) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not predicate():  # type: ignore[operator]
                self.changed.clear()
                await self.changed.wait()


def relay_of(notices: FakeNotices) -> RevocationRelay:
    return RevocationRelay(
        notices, name="fake", fallback_poll=0.01, backoff_min=0.01, backoff_max=0.04
    )


async def test_it_catches_up_when_subscribed_and_at_each_notice() -> None:
    notices, catch_up = FakeNotices(), CatchUps()
    relay = relay_of(notices)
    task = asyncio.create_task(relay.run(catch_up))
    try:
        await catch_up.until(lambda: catch_up.calls == [None])
        relay.announce(7)
        await relay.flush()
        await catch_up.until(lambda: catch_up.calls == [None, 7])
        assert notices.published == [7]
        assert relay.up is True
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await relay.close()
    assert notices.closed


async def test_while_down_it_polls_and_logs_once_until_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    notices, catch_up = FakeNotices(), CatchUps()
    notices.down = True
    relay = relay_of(notices)
    with caplog.at_level(logging.INFO, logger="ostiary.revocations"):
        task = asyncio.create_task(relay.run(catch_up))
        try:
            await catch_up.until(lambda: len(catch_up.calls) >= 5 and notices.attempts >= 3)
            assert set(catch_up.calls) == {None}  # polls
            assert relay.up is False
            relay.announce(3)  # fails quietly: the others poll
            await relay.flush()
            notices.down = False
            await catch_up.until(lambda: relay.up is True)
            notices.queue.put_nowait(9)
            await catch_up.until(lambda: 9 in catch_up.calls)
            notices.down = True
            notices.queue.put_nowait(LOST)  # the connection is lost, and stays so
            await catch_up.until(lambda: relay.up is False)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    messages = [r.getMessage() for r in caplog.records]
    assert [m.split(" on ")[0] for m in messages] == [
        "revocation notices unavailable",
        "revocation notices: listening",
        "revocation notices unavailable",
    ]


async def test_a_failed_catch_up_does_not_take_the_channel_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    notices = FakeNotices()
    relay = relay_of(notices)
    calls: list[int | None] = []

    async def failing(seq: int | None) -> None:
        calls.append(seq)
        raise RuntimeError("database unavailable")

    task = asyncio.create_task(relay.run(failing))
    try:
        notices.queue.put_nowait(4)
        async with asyncio.timeout(TIMEOUT):
            while len(calls) < 2:
                await asyncio.sleep(0.01)
        assert relay.up is True and notices.attempts == 1
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert "revocation sync failed" in caplog.text


async def test_a_keys_notice_reloads_the_keys_instead_of_reading_revocations() -> None:
    """Another process changed the signing keys: read them again (the JWKS every process
    serves must agree), and tell the others when this process finds a change itself."""
    notices, catch_up = FakeNotices(), CatchUps()
    relay = relay_of(notices)
    reloads: list[str] = []

    async def keys_changed() -> None:
        reloads.append("keys")
        catch_up.changed.set()

    task = asyncio.create_task(relay.run(catch_up, keys_changed=keys_changed))
    try:
        await catch_up.until(lambda: catch_up.calls == [None])
        relay.announce_keys()
        await relay.flush()
        await catch_up.until(lambda: reloads == ["keys"])
        assert notices.published == [KEYS_CHANGED]
        assert catch_up.calls == [None]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
