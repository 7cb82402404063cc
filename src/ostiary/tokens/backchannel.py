"""OpenID Connect Back-Channel Logout 1.0: telling relying parties that a session ended.

:class:`BackChannelLogout` is a session listener (:mod:`ostiary.tokens.session_events`). For
each client that had a refresh family under the ended session (§2.3 "Remembering Logged-In
RPs": every code exchange opens one, with or without a refresh token, so the families are the
record of who signed in under a browser session) and registered a ``backchannel_logout_uri``
(§2.2), it POSTs a Logout Token (:mod:`ostiary.tokens.logout_token`) as
``application/x-www-form-urlencoded`` ``logout_token=...`` (§2.5).

Delivery happens in the background, never in the request that ended the session: a few
attempts with exponential back-off on a network error, a timeout, 408, 429 or 5xx; 200 or 204
is success (§2.8); any other answer (400: the relying party refused the token) ends the
attempts. At most ``concurrency`` requests are in flight and ``max_pending`` sessions wait;
beyond that a notice is dropped and logged. Failures are logged with the client and the
reason, never the token. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ostiary.storage.records import Client
from ostiary.tokens.logout_token import LogoutTokenIssuer
from ostiary.tokens.session_events import SessionEnded

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

#: §2.8: 200 OK, or 204 No Content from frameworks that answer an empty body so.
SUCCESS: Final = frozenset({200, 204})
#: Answers worth another attempt: the relying party is busy or failing, not refusing.
RETRYABLE: Final = frozenset({408, 425, 429, 500, 502, 503, 504})

ClientLookup = Callable[[str], Awaitable[Client | None]]


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How hard the server tries to reach a relying party."""

    #: Attempts per client and session, the first included. Default 3.
    attempts: int = 3
    #: Seconds before the second attempt; doubled before each next one. Default 1.
    first_delay: float = 1.0
    #: Seconds one request may take (connect, send, answer). Default 5.
    timeout: float = 5.0
    #: Requests in flight at once, over every relying party. Default 8.
    concurrency: int = 8
    #: Ended sessions waiting to be announced; beyond, a notice is dropped. Default 1000.
    max_pending: int = 1000
    #: Seconds :meth:`BackChannelLogout.aclose` waits for deliveries in progress. Default 5.
    shutdown_grace: float = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.concurrency < 1 or self.max_pending < 1:
            raise ValueError("attempts, concurrency and max_pending are at least 1")
        if self.first_delay < 0 or self.timeout <= 0 or self.shutdown_grace < 0:
            raise ValueError("delays are not negative and the timeout is positive")


class BackChannelLogout:
    """A session listener that sends Logout Tokens; see the module's docstring."""

    def __init__(
        self,
        clients: ClientLookup,
        tokens: LogoutTokenIssuer,
        *,
        policy: DeliveryPolicy | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._clients = clients
        self._tokens = tokens
        self.policy = policy if policy is not None else DeliveryPolicy()
        self._own_http = http is None
        self._http = http
        self._slots: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, event: SessionEnded) -> None:
        """Schedule the notices of ``event`` and return at once."""
        if not event.families:
            return
        if len(self._tasks) >= self.policy.max_pending:
            logger.warning(
                "back-channel logout: %d sessions already waiting; not announcing the end of "
                "browser session %s to %s",
                len(self._tasks),
                event.browser_session_id,
                ", ".join(event.client_ids),
            )
            return
        task = asyncio.get_running_loop().create_task(self._announce(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every notice scheduled so far is delivered or given up."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose(self) -> None:
        """Give deliveries in progress ``shutdown_grace`` seconds, cancel the rest, and close
        the HTTP client if it is this notifier's own."""
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=self.policy.shutdown_grace)
            for task in late:
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    # --- delivery ------------------------------------------------------------------------

    async def _announce(self, event: SessionEnded) -> None:
        try:
            deliveries = []
            for client_id in event.client_ids:
                client = await self._clients(client_id)
                if client is None or client.backchannel_logout_uri is None:
                    continue
                if event.browser_session_id is None and client.backchannel_logout_session_required:
                    continue  # §2.2: it needs a sid, and this session had none
                deliveries.append(self._deliver(client, event))
            await asyncio.gather(*deliveries)
        except Exception:  # a background task: nobody else would see it
            logger.exception("back-channel logout failed for user %s", event.user_id)

    async def _deliver(self, client: Client, event: SessionEnded) -> None:
        policy = self.policy
        reason = "not attempted"
        for attempt in range(policy.attempts):
            if attempt:
                await asyncio.sleep(policy.first_delay * 2 ** (attempt - 1))
            async with self._semaphore():
                # A fresh token per attempt: a wait in the queue must not expire it.
                token = self._tokens.issue(
                    client_id=client.id, subject=event.user_id, session_id=event.browser_session_id
                )
                reason, retry = await self._post(client, token)
            if not reason:
                return
            if not retry:
                break
        logger.warning(
            "back-channel logout of client %s (browser session %s) failed after %d attempt(s): %s",
            client.id,
            event.browser_session_id,
            attempt + 1,
            reason,
        )

    async def _post(self, client: Client, token: str) -> tuple[str, bool]:
        """One POST (§2.5): ``("", False)`` on success, else why and whether to retry."""
        assert client.backchannel_logout_uri is not None
        form = {"logout_token": token}
        import httpx  # here: a server whose clients have no back-channel URI never loads it

        try:
            # Streamed and closed unread: the answer's body says nothing the status does not.
            async with self._client().stream(
                "POST", client.backchannel_logout_uri, data=form
            ) as answer:
                status = answer.status_code
        except httpx.HTTPError as exc:
            return type(exc).__name__, True
        if status in SUCCESS:
            return "", False
        return f"HTTP {status}", status in RETRYABLE

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(
                timeout=self.policy.timeout,
                follow_redirects=False,
                headers={"Accept": "application/json"},
            )
        return self._http

    def _semaphore(self) -> asyncio.Semaphore:
        # Made on first use, inside the loop that runs the deliveries.
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.policy.concurrency)
        return self._slots
