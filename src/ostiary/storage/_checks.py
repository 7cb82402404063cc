"""Argument checks that every storage backend applies the same way."""

from __future__ import annotations

from ostiary.storage.records import LoginSession, RefreshToken


def check_page(*, offset: int = 0, limit: int) -> None:
    if offset < 0 or limit < 0:
        raise ValueError("offset and limit must not be negative")


def check_revoke_target(
    session_id: str | None,
    user_id: str | None,
    browser_session_id: str | None = None,
    client_id: str | None = None,
) -> None:
    given = [t for t in (session_id, user_id, browser_session_id, client_id) if t is not None]
    if len(given) != 1:
        raise ValueError(
            "give exactly one of session_id, user_id, browser_session_id and client_id"
        )


def check_family(token: RefreshToken, session_id: str) -> None:
    if token.session_id != session_id:
        raise ValueError("the refresh token belongs to another session")


def is_live(session: LoginSession, now: float) -> bool:
    """Unrevoked and unexpired: the family may still rotate its tokens."""
    return session.revoked_at is None and session.expires_at > now
