"""Fetching and caching an issuer's JWKS (RFC 7517 §5) for a resource server.

The cache follows ``Cache-Control: max-age`` within bounds. A token with an unknown ``kid``
triggers at most one refetch per ``unknown_kid_interval`` (a rotation is picked up at once,
a flood of made-up ``kid`` values is not turned into a flood of fetches). When a refresh fails
the last good key set stays in use: an outage of the JWKS endpoint must not take down every API
that trusts it. Symmetric keys in a remote JWKS are ignored (they would be shared secrets sent
over the network, and an invitation to algorithm confusion).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.errors import ConfigurationError, InvalidKey, KeySetUnavailable
from ostiary.hosts import LOOPBACK_HOSTS
from ostiary.jose import JWK, JWKSet
from ostiary.resource._loops import LoopLocks

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("ostiary.resource.jwks")

_MAX_AGE: Final = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.I)
_NO_CACHE: Final = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)", re.I)
_ACCEPT: Final = "application/jwk-set+json, application/json;q=0.9"


@dataclass(frozen=True, slots=True)
class JWKSPolicy:
    """How a :class:`JWKSClient` caches and fetches; each field says its default."""

    #: Seconds to wait for the whole response.
    timeout: float = 5.0
    #: Cache lifetime when the response has no usable ``max-age``.
    default_ttl: float = 300.0
    #: ``max-age`` is clamped into ``[min_ttl, max_ttl]``.
    min_ttl: float = 30.0
    max_ttl: float = 86_400.0
    #: At most one refetch for an unknown ``kid`` per this many seconds.
    unknown_kid_interval: float = 30.0
    #: After a failed refresh, wait this long before trying again (the old keys stay in use).
    retry_interval: float = 10.0
    #: Largest JWKS body accepted, in bytes.
    max_bytes: int = 256 * 1024


class JWKSClient:
    """One issuer's key set, fetched with httpx and kept fresh."""

    def __init__(
        self,
        url: str,
        *,
        policy: JWKSPolicy | None = None,
        clock: Clock = SYSTEM_CLOCK,
        allow_insecure_http: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        sync_transport: httpx.BaseTransport | None = None,
    ) -> None:
        parts = urlsplit(url)
        insecure_ok = allow_insecure_http or parts.hostname in LOOPBACK_HOSTS
        if parts.scheme != "https" and not (parts.scheme == "http" and insecure_ok):
            raise ConfigurationError("the JWKS URL must use https (plain http only on loopback)")
        self.url = url
        self.policy = policy or JWKSPolicy()
        self._clock = clock
        self._transport = transport
        self._sync_transport = sync_transport
        self._keys: JWKSet | None = None
        self._expires_at = 0.0
        self._retry_at = 0.0
        self._unknown_kid_at = float("-inf")
        self._generation = 0
        # One asyncio lock per event loop: a lock is bound to the loop it first waited on.
        self._alocks = LoopLocks()
        self._lock = threading.Lock()

    @property
    def keys(self) -> JWKSet | None:
        """The last good key set, or None before the first successful fetch."""
        return self._keys

    # --- async -----------------------------------------------------------------------------

    async def get_key(self, kid: str | None) -> JWK | None:
        """The key for ``kid``, fetching the key set when stale or when ``kid`` is unknown."""
        fetched = self._is_stale()
        if fetched:
            await self._refresh_async(self._generation)
        key = self._lookup(kid)
        # A set fetched just now for this very call is not fetched again for an unknown kid.
        if key is None and not fetched and self._may_refetch_unknown():
            await self._refresh_async(self._generation, forced=True)
            key = self._lookup(kid)
        return key

    async def refresh(self) -> JWKSet:
        """Fetch now, whatever the cache says; raise if that fails and nothing is cached."""
        await self._refresh_async(self._generation, forced=True)
        return self._require_keys()

    async def _refresh_async(self, seen: int, *, forced: bool = False) -> None:
        async with self._alocks.get():
            if self._generation != seen:  # another task refreshed while this one waited
                return
            if not forced and not self._is_stale():
                return
            import httpx  # here: a process that never fetches a key set never loads it

            try:
                # httpx's timeout bounds each read; this bounds the whole response.
                async with (
                    asyncio.timeout(self.policy.timeout),
                    httpx.AsyncClient(timeout=self.policy.timeout, transport=self._transport) as c,
                    c.stream("GET", self.url, headers={"Accept": _ACCEPT}) as r,
                ):
                    body = await _read_capped_async(r, self.policy.max_bytes)
                    self._accept(r, body)
            except (httpx.HTTPError, _FetchError, TimeoutError) as exc:
                self._reject(exc)

    # --- sync ------------------------------------------------------------------------------

    def get_key_sync(self, kid: str | None) -> JWK | None:
        fetched = self._is_stale()
        if fetched:
            self._refresh_sync(self._generation)
        key = self._lookup(kid)
        if key is None and not fetched and self._may_refetch_unknown():
            self._refresh_sync(self._generation, forced=True)
            key = self._lookup(kid)
        return key

    def refresh_sync(self) -> JWKSet:
        self._refresh_sync(self._generation, forced=True)
        return self._require_keys()

    def _refresh_sync(self, seen: int, *, forced: bool = False) -> None:
        with self._lock:
            if self._generation != seen:
                return
            if not forced and not self._is_stale():
                return
            deadline = time.monotonic() + self.policy.timeout
            import httpx

            try:
                with (
                    httpx.Client(
                        timeout=self.policy.timeout, transport=self._sync_transport
                    ) as client,
                    client.stream("GET", self.url, headers={"Accept": _ACCEPT}) as r,
                ):
                    body = _read_capped_sync(r, self.policy.max_bytes, deadline)
                    self._accept(r, body)
            except (httpx.HTTPError, _FetchError) as exc:
                self._reject(exc)

    # --- the state machine both share ------------------------------------------------------

    def _is_stale(self) -> bool:
        now = self._clock.now()
        return (self._keys is None or now >= self._expires_at) and now >= self._retry_at

    def _may_refetch_unknown(self) -> bool:
        now = self._clock.now()
        if now - self._unknown_kid_at < self.policy.unknown_kid_interval:
            return False
        self._unknown_kid_at = now
        return True

    def _lookup(self, kid: str | None) -> JWK | None:
        if self._keys is None:
            raise KeySetUnavailable(detail=f"no key set fetched yet from {self.url}")
        return self._keys.get(kid)

    def _require_keys(self) -> JWKSet:
        if self._keys is None:
            raise KeySetUnavailable(detail=f"no key set fetched yet from {self.url}")
        return self._keys

    def _accept(self, response: httpx.Response, body: bytes) -> None:
        if response.status_code != 200:
            raise _FetchError(f"HTTP {response.status_code}")
        try:
            document: Any = json.loads(body)
            keys = JWKSet.from_dict(document, skip_invalid=True)
        except (ValueError, InvalidKey, RecursionError) as exc:  # RecursionError: deep nesting
            raise _FetchError(f"not a JWKS document: {exc}") from exc
        keys = JWKSet(k for k in keys if not k.is_symmetric)
        if len(keys) == 0:
            raise _FetchError("the JWKS holds no usable signing key")
        now = self._clock.now()
        self._keys = keys
        self._expires_at = now + self._ttl(response.headers.get("cache-control", ""))
        self._retry_at = 0.0
        self._generation += 1
        log.debug("fetched %d keys from %s", len(keys), self.url)

    def _reject(self, exc: Exception) -> None:
        self._retry_at = self._clock.now() + self.policy.retry_interval
        self._generation += 1
        if self._keys is None:
            log.warning("JWKS fetch from %s failed: %s", self.url, exc)
        else:
            log.warning(
                "JWKS refresh from %s failed, keeping the last good keys: %s", self.url, exc
            )

    def _ttl(self, cache_control: str) -> float:
        p = self.policy
        if _NO_CACHE.search(cache_control):
            return p.min_ttl
        match = _MAX_AGE.search(cache_control)
        ttl = float(match.group(1)) if match else p.default_ttl
        return min(max(ttl, p.min_ttl), p.max_ttl)


class _FetchError(Exception):
    """A response that arrived but cannot be used."""


async def _read_capped_async(response: httpx.Response, limit: int) -> bytes:
    _check_declared_length(response, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise _FetchError(f"JWKS body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _read_capped_sync(response: httpx.Response, limit: int, deadline: float) -> bytes:
    """Like the async reader; ``deadline`` (``time.monotonic``) bounds the whole body, as
    httpx's own timeout bounds only each read."""
    _check_declared_length(response, limit)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise _FetchError(f"JWKS body over {limit} bytes")
        if time.monotonic() > deadline:
            raise _FetchError("the JWKS response took longer than the timeout")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_declared_length(response: httpx.Response, limit: int) -> None:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _FetchError(f"JWKS body of {declared} bytes, over {limit}")
