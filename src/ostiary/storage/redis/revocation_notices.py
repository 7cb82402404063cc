"""Revocation notices over Redis pub/sub: one channel, each message the ``seq`` in ASCII (or
``-1``, :data:`~ostiary.storage.protocols.KEYS_CHANGED`: the signing keys changed).

Pub/sub keeps nothing: a listener that is not subscribed when a notice is sent never gets it.
That is why :meth:`RedisRevocationNotices.listen` yields ``0`` only once Redis has confirmed
the subscription (the listener then reads the store), and why a lost connection ends the
listening instead of being retried quietly inside redis-py: the relay reads the store again
when it subscribes again.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Final

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from ostiary.storage.protocols import KEYS_CHANGED

#: Seconds to connect (and for a PUBLISH to answer); a listener idle this long pings Redis.
CONNECT_TIMEOUT: Final = 1.0
HEALTH_CHECK_SECONDS: Final = 10
#: How long one wait for a message lasts before the loop goes round (and health-checks).
WAIT_SECONDS: Final = 5.0


class RedisRevocationNotices:
    """:class:`~ostiary.storage.protocols.RevocationNotices` on Redis at ``url``
    (``redis://`` or ``rediss://``), on ``channel``: every instance of one deployment must use
    the same channel, and two deployments on one Redis different ones."""

    def __init__(self, url: str, *, channel: str) -> None:
        self.channel = channel
        self._client: Redis = Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=CONNECT_TIMEOUT,
            health_check_interval=HEALTH_CHECK_SECONDS,
            # Fail, not reconnect silently: the relay must read the store after a gap.
            retry=Retry(NoBackoff(), 0),
        )

    async def publish(self, seq: int) -> None:
        await self._client.publish(self.channel, str(seq))

    async def listen(self) -> AsyncGenerator[int, None]:
        pubsub = self._client.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            while True:  # until Redis confirms: only then are later notices sure to come
                message = await pubsub.get_message(timeout=WAIT_SECONDS)
                if message is not None and message["type"] == "subscribe":
                    break
            yield 0
            while True:
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=WAIT_SECONDS
                )
                if message is not None and message["type"] == "message":
                    seq = _seq(message["data"])
                    if seq is not None:
                        yield seq
        finally:
            await pubsub.aclose()

    async def close(self) -> None:
        await self._client.aclose()


def _seq(data: object) -> int | None:
    """The ``seq`` of a message; anything else on the channel is ignored."""
    try:
        seq = int(data) if isinstance(data, bytes | str) else None
    except ValueError:
        return None
    return seq if seq is not None and (seq > 0 or seq == KEYS_CHANGED) else None
