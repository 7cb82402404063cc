"""OpenID Connect ID tokens (OpenID Connect Core §2 and §3.1.3.6).

An ID token tells a client who signed in: ``aud`` is the client, ``typ`` is ``JWT`` (never
``at+jwt``, so it can never pass as an access token, RFC 9068 §4), with ``nonce``,
``auth_time``, ``sid`` (the browser session, for logout) and ``at_hash`` binding the access
token issued beside it. An ID token comes back as the ``id_token_hint`` of a logout request
(:func:`read_id_token_hint`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.encoding import b64url
from ostiary.errors import InvalidToken
from ostiary.jose import JWK, AudienceMatch, ClaimRules, JWTVerifier, KeyLookup, sign_compact

DEFAULT_ID_TOKEN_TTL: Final = 600
#: The hash of ``at_hash`` is the one of the signing algorithm (Core §3.1.3.6); for EdDSA
#: with Ed25519, SHA-512 (OpenID Connect Core errata set 2).
_HASHES: Final = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


def token_hash(value: str, alg: str) -> str:
    """``at_hash``/``c_hash``: the left half of the hash of the ASCII token, base64url."""
    digest = (hashlib.sha512 if alg == "EdDSA" else _HASHES[alg[-3:]])(value.encode()).digest()
    return b64url(digest[: len(digest) // 2])


class IdTokenIssuer:
    def __init__(
        self,
        signing_key: Callable[[], JWK],
        *,
        issuer: str,
        ttl: int = DEFAULT_ID_TOKEN_TTL,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if ttl <= 0:
            raise ValueError("the ID token lifetime must be positive")
        self._signing_key = signing_key
        self._issuer = issuer
        self.ttl = ttl
        self._clock = clock

    def issue(
        self,
        *,
        subject: str,
        client_id: str,
        auth_time: float,
        nonce: str | None = None,
        access_token: str | None = None,
        session_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        key = self._signing_key()
        issued_at = int(self._clock.now())
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "sub": subject,
            "aud": client_id,
            "exp": issued_at + self.ttl,
            "iat": issued_at,
            "auth_time": int(auth_time),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if access_token is not None:
            claims["at_hash"] = token_hash(access_token, key.alg)
        if session_id is not None:
            claims["sid"] = session_id
        if extra:
            claims.update({k: v for k, v in extra.items() if k not in claims})
        return sign_compact(claims, key, typ="JWT")


@dataclass(frozen=True, slots=True)
class IdTokenHint:
    """What an ``id_token_hint`` this server signed says (RP-Initiated Logout 1.0 §2)."""

    #: ``aud``: the client the ID token was issued to.
    client_id: str
    #: ``sub``: the user.
    subject: str
    #: ``sid``: the browser session it was issued in, if it names one.
    session_id: str | None
    #: Past ``exp`` (beyond the leeway): it still identifies, it no longer vouches.
    expired: bool


def id_token_hint_rules(issuer: str, *, leeway: float) -> ClaimRules:
    """An ID token of ours (Core §2): ``typ`` ``JWT`` or none, ``iss`` exactly this issuer,
    ``aud`` present (a client id: checked by :func:`read_id_token_hint`). ``exp`` is not
    enforced: RP-Initiated Logout §2 accepts an expired hint, which the caller learns from
    :attr:`IdTokenHint.expired`."""
    return ClaimRules(
        issuer=issuer,
        audiences=frozenset(),
        audience_match=AudienceMatch.SHAPE_ONLY,
        required=("iss", "sub", "aud", "exp", "iat"),
        leeway=leeway,
        types=frozenset({"jwt"}),
        type_required=False,
        verify_exp=False,
    )


def read_id_token_hint(
    hint: str, keys: KeyLookup, *, issuer: str, leeway: float, clock: Clock = SYSTEM_CLOCK
) -> IdTokenHint | None:
    """The claims of ``hint`` if this server signed it as an ID token (expired or not) with
    one of ``keys``, else None: a hint that does not verify identifies nobody."""
    now = clock.now()
    try:
        claims = JWTVerifier(id_token_hint_rules(issuer, leeway=leeway)).verify(hint, keys, now=now)
    except InvalidToken:
        return None
    aud = claims["aud"]
    if not isinstance(aud, str):  # ours name one client
        return None
    return IdTokenHint(
        client_id=aud,
        subject=claims["sub"],
        session_id=claims.get("sid"),
        expired=now >= claims["exp"] + leeway,
    )
