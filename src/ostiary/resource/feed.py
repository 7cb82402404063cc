"""Pulling the issuer's revocation feed (``GET /auth/revocations?since=``) into a verifier.

Access tokens are short-lived, but a logout, a detected refresh-token reuse or a disabled user
must take effect everywhere before they expire. A resource service polls the feed (every few
seconds) and each entry reaches :class:`~ostiary.resource.TokenVerifier`, which refuses the
tokens it covers and drops them from its cache.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from ostiary.errors import TemporarilyUnavailable
from ostiary.resource.verifier import TokenVerifier

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("ostiary.resource.feed")

_MAX_PAGES: Final = 50  # per poll: a backlog is drained over several polls, never unbounded


class RevocationFeed:
    """Keeps one verifier in step with the issuer's feed.

    ``auth`` authenticates the poll (the feed needs a Bearer token: for example an
    ``httpx.Auth`` that fetches a service token). ``max_token_lifetime`` bounds how long a
    "not before" entry for a user is kept.
    """

    def __init__(
        self,
        url: str,
        verifier: TokenVerifier,
        *,
        auth: httpx.Auth | None = None,
        timeout: float = 5.0,
        max_token_lifetime: float = 86_400.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.verifier = verifier
        self.cursor = 0
        self._auth = auth
        self._timeout = timeout
        self._max_lifetime = max_token_lifetime
        self._transport = transport

    async def poll(self) -> int:
        """Fetch and apply every entry after the cursor; return how many were applied.

        Raises :class:`TemporarilyUnavailable` when the feed cannot be read; what was applied
        before the failure stays applied and the cursor stays where it got to.
        """
        import httpx  # here: a process that never polls a feed never loads it

        applied = 0
        async with httpx.AsyncClient(
            timeout=self._timeout, transport=self._transport, auth=self._auth
        ) as client:
            for _ in range(_MAX_PAGES):
                page = await self._fetch(client)
                entries = page["revocations"]
                for entry in entries:
                    self.apply(entry)
                    applied += 1
                self.cursor = max(self.cursor, int(page["next"]))
                if not entries:
                    break
        self.verifier.revocations.purge(
            self.verifier.clock.now(), max_token_lifetime=self._max_lifetime
        )
        return applied

    async def _fetch(self, client: httpx.AsyncClient) -> dict[str, Any]:
        import httpx

        try:
            response = await client.get(self.url, params={"since": self.cursor})
            response.raise_for_status()
            page: Any = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise _unreadable(self.url, str(exc)) from exc
        if not isinstance(page, dict) or not isinstance(page.get("revocations"), list):
            raise _unreadable(self.url, "not a revocation feed page")
        if not isinstance(page.get("next"), int):
            raise _unreadable(self.url, "no integer 'next' cursor")
        return page

    def apply(self, entry: Any) -> None:
        """Pass one entry of the feed (a decoded JSON object) to the verifier; a malformed
        one is logged and skipped."""
        try:
            kind, value = entry["kind"], str(entry["value"])
            not_before, expires_at = float(entry["not_before"]), float(entry["expires_at"])
        except (KeyError, TypeError, ValueError):
            log.warning("skipping a malformed revocation entry")
            return
        if kind == "jti":
            self.verifier.revoke_token(value, expires_at=expires_at)
        elif kind == "sid":
            self.verifier.revoke_session(value, until=expires_at)
        elif kind == "sub":
            self.verifier.revoke_subject(value, not_before=not_before)
        else:
            log.warning("skipping a revocation of unknown kind %r", str(kind)[:16])


def _unreadable(url: str, why: str) -> TemporarilyUnavailable:
    return TemporarilyUnavailable("The revocation feed cannot be read.", detail=f"{url}: {why}")
