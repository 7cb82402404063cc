"""`TokenVerifier`: everything a resource server needs to trust an Ostiary access token.

Strict RFC 9068 verification (:class:`ostiary.jose.JWTVerifier`, the one pipeline every
token goes through, split around the key lookup so that the JWKS may be fetched), keys from a
JWKS URL or given up front, a cache of verified tokens, and revocations fed in by the caller.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from hashlib import sha256
from typing import Any

from ostiary.access_claims import AccessClaims
from ostiary.clock import SYSTEM_CLOCK, Clock, SystemClock
from ostiary.errors import ConfigurationError, MalformedToken, Revoked
from ostiary.jose import (
    DEFAULT_LEEWAY,
    DEFAULT_MAX_TOKEN_SIZE,
    JWK,
    ClaimRules,
    JWKSet,
    JWTVerifier,
    ParsedJWS,
)
from ostiary.resource.cache import DEFAULT_CACHE_SIZE, VerifiedTokenCache
from ostiary.resource.jwks_client import JWKSClient, JWKSPolicy
from ostiary.revocation_list import RevocationList

KeysArgument = Mapping[str, Any] | Iterable[JWK | Mapping[str, Any]] | JWKSet


class TokenVerifier:
    """Verifies JWT access tokens of one issuer for one or more audiences.

    ``keys`` is a JWKS document (``{"keys": [...]}``), a list of keys (``JWK`` objects or JWK
    dicts) or a :class:`~ostiary.jose.JWKSet`; ``jwks_url`` fetches and caches them instead.
    Raises :class:`~ostiary.errors.InvalidToken` (with a ``reason``) for a bad token and
    :class:`~ostiary.errors.KeySetUnavailable` when no keys could be fetched at all.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str | Iterable[str],
        jwks_url: str | None = None,
        keys: KeysArgument | None = None,
        leeway: float = DEFAULT_LEEWAY,
        clock: Clock = SYSTEM_CLOCK,
        cache_size: int = DEFAULT_CACHE_SIZE,
        max_token_size: int = DEFAULT_MAX_TOKEN_SIZE,
        jwks_policy: JWKSPolicy | None = None,
        jwks_client: JWKSClient | None = None,
        revocations: RevocationList | None = None,
    ) -> None:
        sources = sum(x is not None for x in (jwks_url, keys, jwks_client))
        if sources != 1:
            raise ConfigurationError("give exactly one of jwks_url=, keys= or jwks_client=")
        self.rules = ClaimRules.for_access_tokens(issuer=issuer, audience=audience, leeway=leeway)
        self.clock = clock
        # The wall clock is read as time.time itself: one call less on every cache hit.
        self._now = time.time if isinstance(clock, SystemClock) else clock.now
        self.max_token_size = max_token_size
        self._jwt = JWTVerifier(self.rules, max_token_size)
        self._parse = self._jwt.parse
        self.cache = VerifiedTokenCache(cache_size)
        self._cache_entries = self.cache.entries
        self._cache_touch = self.cache.entries.move_to_end
        #: Revocations this verifier honours; several verifiers (and a revocation feed) may
        #: share one list.
        self.revocations = revocations if revocations is not None else RevocationList()
        self._static: JWKSet | None = _key_set(keys) if keys is not None else None
        if jwks_url is not None:
            jwks_client = JWKSClient(jwks_url, policy=jwks_policy, clock=clock)
        self.jwks = jwks_client

    async def verify(self, token: str | bytes) -> AccessClaims:
        """Verify ``token``; may fetch the issuer's JWKS."""
        # The cache hit is written out here and in verify_sync: it is the hottest path there
        # is, and every call avoided is a measurable share of it.
        try:
            cache_key = sha256(token.encode() if isinstance(token, str) else token).digest()
        except (TypeError, UnicodeEncodeError):  # not text, or a lone surrogate
            raise MalformedToken(detail="a token is ASCII text") from None
        entry = self._cache_entries.get(cache_key)
        if entry is not None:
            if self._now() < entry[0] and not self.revocations.active:
                try:
                    self._cache_touch(cache_key)
                except KeyError:  # dropped by another thread meanwhile: verify afresh
                    pass
                else:
                    return entry[1]
            else:
                hit = self._checked_hit(cache_key)
                if hit is not None:
                    return hit
        parsed = self._parse(token)
        key = (
            self._static.get(parsed.kid)
            if self._static is not None
            else await self._jwks().get_key(parsed.kid)
        )
        return self._finish(cache_key, parsed, key)

    def verify_sync(self, token: str | bytes) -> AccessClaims:
        """Verify ``token`` without an event loop; may fetch the JWKS with a blocking call."""
        # The cache hit is written out here and in verify_sync: it is the hottest path there
        # is, and every call avoided is a measurable share of it.
        try:
            cache_key = sha256(token.encode() if isinstance(token, str) else token).digest()
        except (TypeError, UnicodeEncodeError):  # not text, or a lone surrogate
            raise MalformedToken(detail="a token is ASCII text") from None
        entry = self._cache_entries.get(cache_key)
        if entry is not None:
            if self._now() < entry[0] and not self.revocations.active:
                try:
                    self._cache_touch(cache_key)
                except KeyError:  # dropped by another thread meanwhile: verify afresh
                    pass
                else:
                    return entry[1]
            else:
                hit = self._checked_hit(cache_key)
                if hit is not None:
                    return hit
        parsed = self._parse(token)
        key = (
            self._static.get(parsed.kid)
            if self._static is not None
            else self._jwks().get_key_sync(parsed.kid)
        )
        return self._finish(cache_key, parsed, key)

    # --- revocation hooks ------------------------------------------------------------------

    def revoke_token(self, jti: str, *, expires_at: float) -> None:
        """Refuse the token ``jti`` from now on (until it would have expired anyway)."""
        self.revocations.revoke_token(jti, until=expires_at)
        self.cache.drop(jti=jti)

    def revoke_session(self, sid: str, *, until: float) -> None:
        """Refuse every token of session ``sid``."""
        self.revocations.revoke_session(sid, until=until)
        self.cache.drop(sid=sid)

    def revoke_subject(self, sub: str, *, not_before: float) -> None:
        """Refuse every token of ``sub`` issued before ``not_before``."""
        self.revocations.revoke_subject(sub, not_before=not_before)
        self.cache.drop(sub=sub)

    # --- steps -----------------------------------------------------------------------------

    def _checked_hit(self, cache_key: bytes) -> AccessClaims | None:
        """A cached entry that may have expired or been revoked."""
        claims = self.cache.get(cache_key, self._now())  # evicts an expired entry
        if claims is not None and self.revocations.is_revoked(claims):
            raise Revoked()
        return claims

    def _finish(self, cache_key: bytes, parsed: ParsedJWS, key: JWK | None) -> AccessClaims:
        now = self.clock.now()
        claims = AccessClaims.from_claims(self._jwt.finish(parsed, key, now=now))
        if self.revocations.active and self.revocations.is_revoked(claims):
            raise Revoked()
        self.cache.put(cache_key, claims, now)
        return claims

    def _jwks(self) -> JWKSClient:
        assert self.jwks is not None  # one of the sources is always set (checked in __init__)
        return self.jwks


def _key_set(keys: KeysArgument) -> JWKSet:
    """The verification keys, reduced to their public halves whatever form they came in."""
    if isinstance(keys, JWKSet):
        if not any(k.is_private and not k.is_symmetric for k in keys):
            return keys  # already public: keep the caller's set (it may be a live view)
        found: list[JWK] = list(keys)
    elif isinstance(keys, Mapping):
        found = list(JWKSet.from_dict(keys))
    else:
        found = [item if isinstance(item, JWK) else JWK.from_dict(item) for item in keys]
    return JWKSet(k.public() for k in found)
