"""Logout Tokens (OpenID Connect Back-Channel Logout 1.0 §2.4).

A Logout Token tells a relying party that a user's session with it ended. It is signed with the
ID-token keys (§2.4: "the same keys as are used for ID Tokens"), explicitly typed
``logout+jwt`` (§2.4, §4.1 "Cross-JWT Confusion", RFC 8417 §2.3) so that it can never pass as
an ID token (``JWT``) or an access token (``at+jwt``), carries the ``events`` claim that makes
it a logout, ``sid`` and ``sub``, lives two minutes, and never has a ``nonce`` (§2.4: its
absence keeps a Logout Token from being replayed as an ID token in an authentication response).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, Final

from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.jose import JWK, ClaimRules, sign_compact

#: §2.4: the member of ``events`` that declares a Logout Token.
BACKCHANNEL_LOGOUT_EVENT: Final = "http://schemas.openid.net/event/backchannel-logout"
#: §2.4 / §4.1: the explicit type (media type ``application/logout+jwt``).
LOGOUT_TOKEN_TYPE: Final = "logout+jwt"
#: Short: it is sent at once, and a captured one is soon worthless (OWASP ASVS 5.0 V10.5.5
#: suggests two minutes).
DEFAULT_LOGOUT_TOKEN_TTL: Final = 120


class LogoutTokenIssuer:
    def __init__(
        self,
        signing_key: Callable[[], JWK],
        *,
        issuer: str,
        ttl: int = DEFAULT_LOGOUT_TOKEN_TTL,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if ttl <= 0:
            raise ValueError("the Logout Token lifetime must be positive")
        self._signing_key = signing_key
        self._issuer = issuer
        self.ttl = ttl
        self._clock = clock

    def issue(self, *, client_id: str, subject: str, session_id: str | None) -> str:
        """A Logout Token for ``client_id`` (``aud``) ending the session ``session_id`` (the
        browser session, the ID token's ``sid``) of ``subject``. §2.4: ``sub`` or ``sid``, or
        both; Ostiary always knows the user, so ``sub`` is always there."""
        issued_at = int(self._clock.now())
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "sub": subject,
            "aud": client_id,
            "iat": issued_at,
            "exp": issued_at + self.ttl,
            "jti": secrets.token_urlsafe(16),
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        }
        if session_id is not None:
            claims["sid"] = session_id
        return sign_compact(claims, self._signing_key(), typ=LOGOUT_TOKEN_TYPE)


def logout_token_rules(issuer: str, client_id: str, *, leeway: float) -> ClaimRules:
    """What a relying party checks of a Logout Token (§2.6), for tests and the curious: typed
    ``logout+jwt``, from ``issuer``, for ``client_id``; the caller checks ``events`` and the
    absence of ``nonce``."""
    return ClaimRules(
        issuer=issuer,
        audiences=frozenset({client_id}),
        required=("iss", "aud", "iat", "exp", "jti", "events"),
        leeway=leeway,
        types=frozenset({LOGOUT_TOKEN_TYPE}),
        type_required=True,
    )
