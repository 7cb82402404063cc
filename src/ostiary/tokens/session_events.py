"""What :class:`~ostiary.tokens.lifecycle.SessionLifecycle` tells the rest of the system when
sessions end, so that relying parties can be told too (OpenID Connect Back-Channel Logout,
:mod:`ostiary.tokens.backchannel`; later, perhaps, Shared Signals / CAEP ``session-revoked``:
docs/decisions/0002-session-events.md).

A listener is a plain callable run in the lifecycle's call: it must return at once (schedule
slow work) and never raise into it; :func:`notify` logs and swallows what one raises, so a
listener can never stop a session from ending.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ostiary.storage.records import LoginSession

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EndedFamily:
    """A refresh family that ended: its id (the access tokens' ``sid``) and its client."""

    id: str
    client_id: str


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """Sessions of one user under one browser session ended together: the browser session
    itself (if ``browser_session_id`` names one that ended, or whose families ended) and
    ``families``, the refresh families that ended now. ``browser_session_id`` is the ID
    token's ``sid``; None for families opened without one (a first-party login)."""

    user_id: str
    browser_session_id: str | None
    families: tuple[EndedFamily, ...] = ()

    @property
    def client_ids(self) -> tuple[str, ...]:
        """The clients that had a session here, each once, in the families' order."""
        return tuple(dict.fromkeys(family.client_id for family in self.families))


SessionListener = Callable[[SessionEnded], None]


def events_for(
    families: Iterable[LoginSession], *, browsers: Iterable[tuple[str, str]] = ()
) -> list[SessionEnded]:
    """One event per (user, browser session): the ``families`` grouped by the browser session
    they were issued under, and each of ``browsers`` (``(browser session id, user id)``) that
    ended, with or without families."""
    groups: dict[tuple[str, str | None], list[EndedFamily]] = {}
    for browser_id, user_id in browsers:
        groups.setdefault((user_id, browser_id), [])
    for family in families:
        key = (family.user_id, family.browser_session_id)
        groups.setdefault(key, []).append(EndedFamily(family.id, family.client_id))
    return [
        SessionEnded(user_id, browser_id, tuple(ended))
        for (user_id, browser_id), ended in groups.items()
    ]


def notify(listeners: Sequence[SessionListener], events: Iterable[SessionEnded]) -> None:
    """Give every event to every listener; a listener that raises is logged and skipped."""
    for event in events:
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                logger.exception("a session listener failed on an ended session")
