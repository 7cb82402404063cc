"""The audit trail: who did what to which account, client, session or key, from where, and how
it ended. Each event is stored (:class:`~ostiary.storage.protocols.AuditStore`) and written as
one JSON line to the ``ostiary.audit`` logger, both before :meth:`AuditTrail.record` returns,
that is before the answer that reports the change is sent: a process killed a moment later
loses no event it answered for. Only routine events (a successful refresh or token grant) are
stored in batches a moment later, and their line is logged at once all the same.

An event never carries a secret: callers pass ids, never tokens, passwords, client secrets or
hashes, and ``data`` keys that name one are dropped. Recording never raises: a store that fails
is logged, so that an audit outage cannot turn a successful login into an error.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from typing import Any, Final

from ostiary.clock import Clock
from ostiary.failures import log_failure
from ostiary.storage.protocols import AuditStore
from ostiary.storage.records import AuditEvent

log = logging.getLogger("ostiary.audit")

#: The actor of what the command line does.
OPERATOR: Final = "operator"
#: The actor of what the server does on its own (key schedule, reuse detection).
SYSTEM: Final = "system"
#: Longest user agent kept; the rest is cut.
MAX_USER_AGENT: Final = 256
# A data key containing one of these is dropped: its value might be a secret.
_SECRET_WORDS: Final = ("password", "secret", "token", "hash", "code", "assertion", "key")
# Exceptions: ids whose names contain those words but are not secrets.
_ALLOWED_KEYS: Final = frozenset({"tokens", "kid", "grant", "reason"})

#: The HTTP request being served (its ASGI scope), set by the server's middleware: where the
#: trail finds the client's address and user agent when a flow does not pass them.
current_request: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "ostiary_audit_request", default=None
)


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"


def address_and_agent(scope: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """The client address and the user agent of an ASGI scope."""
    if scope is None:
        return None, None
    client = scope.get("client")
    address = str(client[0]) if client else None
    agent = None
    for name, value in scope.get("headers", ()):
        if name == b"user-agent":
            agent = value.decode("latin-1")[:MAX_USER_AGENT]
            break
    return address, agent


def event_fields(event: AuditEvent) -> dict[str, Any]:
    """The event as its JSON line has it: ``{seq, time, kind, actor, subject, outcome,
    address, user_agent, data}``."""
    return {
        "seq": event.seq or None,
        "time": event.time,
        "kind": event.kind,
        "actor": event.actor,
        "subject": event.subject,
        "outcome": event.outcome,
        "address": event.address,
        "user_agent": event.user_agent,
        "data": dict(event.data),
    }


def event_line(event: AuditEvent) -> str:
    """The event as one JSON line (non-ASCII and control characters escaped)."""
    return json.dumps(event_fields(event), separators=(",", ":"))


def _safe(data: Mapping[str, str] | None) -> dict[str, str]:
    if not data:
        return {}
    kept = {}
    for name, value in data.items():
        lowered = name.lower()
        if lowered in _ALLOWED_KEYS or not any(w in lowered for w in _SECRET_WORDS):
            kept[name] = str(value)[:200]
        else:
            log.error("audit data key %r dropped: it may hold a secret", name)
    return kept


def is_routine(event: AuditEvent) -> bool:
    """A successful refresh or token grant: the hot path, stored in batches (its log line is
    written at once). Every other event (sign-ins, reuse, logouts, account, client and key
    changes, and every failure) is stored before :meth:`AuditTrail.record` returns."""
    routine = event.kind == "refresh" or event.kind.startswith("oauth.")
    return routine and event.outcome == Outcome.SUCCESS.value


class AuditTrail:
    """Records events to the store and the log; ``listeners`` (metrics) see every event."""

    def __init__(self, store: AuditStore, *, clock: Clock, batch_delay: float = 0.05) -> None:
        self._store = store
        self._clock = clock
        self.listeners: list[Callable[[AuditEvent], None]] = []
        # Batched storage: events waiting for the writer, and the writer while it runs.
        self._queue: list[AuditEvent] = []
        self._writer: asyncio.Task[None] | None = None
        #: Seconds the first event of a batch waits for others to join it.
        self.batch_delay = batch_delay

    def event(
        self,
        kind: str,
        *,
        actor: str,
        subject: str | None = None,
        outcome: Outcome = Outcome.SUCCESS,
        address: str | None = None,
        user_agent: str | None = None,
        data: Mapping[str, str] | None = None,
    ) -> AuditEvent:
        """The event, its address and user agent taken from the current request if not given."""
        if address is None and user_agent is None:
            address, user_agent = address_and_agent(current_request.get())
        return AuditEvent(
            kind=kind,
            time=self._clock.now(),
            actor=actor,
            outcome=outcome.value,
            subject=subject,
            address=address,
            user_agent=user_agent[:MAX_USER_AGENT] if user_agent else user_agent,
            data=_safe(data),
        )

    async def record(
        self,
        kind: str,
        *,
        actor: str,
        subject: str | None = None,
        outcome: Outcome = Outcome.SUCCESS,
        address: str | None = None,
        user_agent: str | None = None,
        data: Mapping[str, str] | None = None,
    ) -> AuditEvent | None:
        """Store and log the event; None if it could not be built (logged)."""
        try:
            event = self.event(
                kind,
                actor=actor,
                subject=subject,
                outcome=outcome,
                address=address,
                user_agent=user_agent,
                data=data,
            )
        except Exception:
            log.exception("audit event %s could not be built", kind)
            return None
        return await self.store(event)

    async def store(self, event: AuditEvent) -> AuditEvent | None:
        """Store and log a built event, and return it (with its ``seq`` once stored); never
        raises (a failure to store is logged with the event).

        A routine event (:func:`is_routine`) is logged now and queued: events are written in
        batches, one transaction each, ``batch_delay`` seconds after the first of a batch
        arrives, so that a busy server pays one commit for dozens of refreshes and no request
        waits for it. :meth:`drain` waits for the queue to empty (at shutdown, and in tests
        before reading the store). Any other event is stored now, with the routine events
        still queued before it (so that ``seq`` keeps the order of what happened), then
        logged with its ``seq``."""
        self._notify(event)  # the metrics count it now
        if is_routine(event):
            self._log(event)
            self._queue.append(event)
            if self._writer is None or self._writer.done():
                self._writer = asyncio.get_running_loop().create_task(self._write_queued())
            return event
        queued, self._queue = self._queue, []
        try:
            stored = (await self._store.add_many([*queued, event]))[-1]
        except Exception:
            count = len(queued) + 1
            log_failure(log, "%d audit event(s) not stored:\n%s", count, event_line(event))
            return event
        self._log(stored)
        return stored

    async def _write_queued(self) -> None:
        await asyncio.sleep(self.batch_delay)
        while self._queue:
            events, self._queue = self._queue, []
            try:
                await self._store.add_many(events)
            except Exception:
                # Their lines were logged when recorded: the log has them all the same.
                log_failure(log, "%d audit event(s) not stored (logged already)", len(events))

    def _log(self, event: AuditEvent) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info("%s", event_line(event))

    def notify(self, event: AuditEvent) -> None:
        """Tell the listeners only: no log line, no store (for events too frequent for both)."""
        self._notify(event)

    def _notify(self, event: AuditEvent) -> None:
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:
                log.exception("audit listener failed")

    async def drain(self) -> None:
        """Wait for the events being stored in the background (shutdown, tests)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.gather(self._writer, return_exceptions=True)


def key_listener(
    trail: AuditTrail, *, actor: str = SYSTEM
) -> Callable[[str, str, Mapping[str, str]], Awaitable[None]]:
    """A :class:`~ostiary.keys.service.KeyService` ``on_event`` that records to ``trail``."""

    async def on_event(kind: str, kid: str, facts: Mapping[str, str]) -> None:
        await trail.record(kind, actor=actor, subject=kid, data=facts)

    return on_event
