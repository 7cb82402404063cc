"""A bounded load on the cluster during a fault, and the ledger of everything it saw.

A few workers log in (each login a fresh account of a pool registered beforehand, so that no
account reaches its login limit), refresh, call the demo API and log out, through HAProxy
and directly to the instances. Every answer is checked as it arrives: no 500, no traceback in
a body, a 503 only with ``Retry-After``; every refresh token sent and every successor it got
is recorded, so that a token that yielded two distinct successors is found.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import httpx

from ..http._live import REQUEST_TIMEOUT
from ._accounts import Account, login, logout, profile, refresh

WORKERS: Final = 4
#: Between two requests of one worker: the load is steady, not a CPU hog on two cores.
PAUSE: Final = 0.01
#: Any answer else is a defect (429 cannot come: every login is a fresh account).
EXPECTED: Final = {
    "login": {200, 503},
    "refresh": {200, 503},
    "profile": {200, 503},
    "logout": {204, 503},
}


@dataclass
class LiveSession:
    account: Account
    access: str
    refresh: str
    busy: bool = False
    logged_out: bool = False
    #: A logout whose answer never came: done or not, nobody knows.
    logout_unknown: bool = False
    #: When a refresh was last sent without an answer (it may have rotated).
    unanswered_at: float | None = None


@dataclass
class Revoked:
    access: str
    refresh: str
    at: float
    during_fault: bool


@dataclass
class Ledger:
    """What the load saw."""

    answers: Counter[str] = field(default_factory=Counter)
    unavailable: int = 0
    #: 500s, tracebacks, 503s without Retry-After, statuses not in EXPECTED: each a defect.
    defects: list[str] = field(default_factory=list)
    timeouts: int = 0
    #: Transport errors by target (``proxy`` or an instance's URL).
    transport_errors: Counter[str] = field(default_factory=Counter)
    successors: dict[str, set[str]] = field(default_factory=dict)
    sessions: list[LiveSession] = field(default_factory=list)
    revoked: list[Revoked] = field(default_factory=list)
    fault_on: bool = False

    def check(self, action: str, target: str, answer: httpx.Response) -> None:
        self.answers[f"{action} {answer.status_code}"] += 1
        where = f"{action} at {target}: {answer.status_code} {answer.text[:300]!r}"
        if "Traceback" in answer.text:
            self.defects.append("traceback in " + where)
        if answer.status_code == 503:
            self.unavailable += 1
            if not answer.headers.get("retry-after", "").isdigit():
                self.defects.append("503 without Retry-After: " + where)
        elif answer.status_code not in EXPECTED[action]:
            self.defects.append("unexpected " + where)

    def two_successors(self) -> dict[str, set[str]]:
        return {t: s for t, s in self.successors.items() if len(s) > 1}


class Load:
    """``WORKERS`` tasks over a proxy client and one client per instance URL in ``direct``
    (the test removes one it takes down on purpose)."""

    def __init__(
        self,
        proxy: str,
        direct: Sequence[str],
        accounts: list[Account],
        ledger: Ledger,
        *,
        seed: int = 7,
    ) -> None:
        self._proxy = httpx.AsyncClient(base_url=proxy, timeout=REQUEST_TIMEOUT)
        self._direct = {u: httpx.AsyncClient(base_url=u, timeout=REQUEST_TIMEOUT) for u in direct}
        self.targets: list[str] = ["proxy", *direct]
        self._accounts = accounts
        self.ledger = ledger
        self._random = random.Random(seed)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def client(self, target: str) -> httpx.AsyncClient:
        return self._proxy if target == "proxy" else self._direct[target]

    async def __aenter__(self) -> Load:
        self._tasks = [asyncio.create_task(self._work()) for _ in range(WORKERS)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        # Each request is bounded by the client timeout, so the workers end within it.
        await asyncio.wait_for(asyncio.gather(*self._tasks), REQUEST_TIMEOUT * 3)
        await self._proxy.aclose()
        for client in self._direct.values():
            await client.aclose()

    async def _work(self) -> None:
        while not self._stop.is_set():
            target = self._random.choice(self.targets)
            live = [s for s in self.ledger.sessions if not s.busy and not s.logged_out]
            roll = self._random.random()
            if not live or roll < 0.2:
                await self._login(target)
            else:
                session = self._random.choice(live)
                session.busy = True
                try:
                    if roll < 0.55:
                        await self._refresh(target, session)
                    elif roll < 0.95:
                        await self._call(target, "profile", profile, session.access)
                    else:
                        await self._logout(target, session)
                finally:
                    session.busy = False
            await asyncio.sleep(PAUSE)

    async def _call(
        self, target: str, action: str, call: object, argument: object
    ) -> httpx.Response | None:
        """One request; None if it got no answer (its error counted)."""
        try:
            answer: httpx.Response = await call(self.client(target), argument)  # type: ignore[operator]
        except httpx.TimeoutException:
            self.ledger.timeouts += 1
            return None
        except httpx.TransportError:
            self.ledger.transport_errors[target] += 1
            return None
        self.ledger.check(action, target, answer)
        return answer

    async def _login(self, target: str) -> None:
        if not self._accounts:
            return
        account = self._accounts.pop()
        answer = await self._call(target, "login", login, account)
        if answer is not None and answer.status_code == 200:
            body = answer.json()
            session = LiveSession(account, body["access_token"], body["refresh_token"])
            self.ledger.sessions.append(session)

    async def _refresh(self, target: str, session: LiveSession) -> None:
        sent = session.refresh
        answer = await self._call(target, "refresh", refresh, sent)
        if answer is None:
            session.unanswered_at = time.monotonic()
            return
        if answer.status_code != 200:
            return
        body = answer.json()
        self.ledger.successors.setdefault(sent, set()).add(body["refresh_token"])
        session.refresh, session.access = body["refresh_token"], body["access_token"]
        session.unanswered_at = None

    async def _logout(self, target: str, session: LiveSession) -> None:
        answer = await self._call(target, "logout", logout, session.access)
        if answer is None:
            session.logged_out = session.logout_unknown = True
        elif answer.status_code == 204:
            session.logged_out = True
            self.ledger.revoked.append(
                Revoked(session.access, session.refresh, time.monotonic(), self.ledger.fault_on)
            )


async def register_accounts(client: httpx.AsyncClient, count: int) -> list[Account]:
    """``count`` fresh accounts, registered a few at a time."""
    from ._accounts import register

    accounts: list[Account] = []
    for _ in range(0, count, 8):
        accounts += await asyncio.gather(*(register(client, "load") for _ in range(8)))
    return accounts[:count]
