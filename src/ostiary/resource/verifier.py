"""`TokenVerifier`: everything a resource server needs to trust an Ostiary access token.

Strict RFC 9068 verification (:class:`ostiary.jose.JWTVerifier`, the one pipeline every
token goes through, split around the key lookup so that the JWKS may be fetched), keys from a
JWKS URL or given up front, a cache of verified tokens, and revocations fed in by the caller.

Two ways to present a token: as a bearer token (RFC 6750, :meth:`TokenVerifier.verify`), which
refuses a sender-constrained token (RFC 9449 §7.2), and with a DPoP proof (RFC 9449 §7,
:meth:`TokenVerifier.verify_dpop`), which wants a DPoP-bound token and a proof by its key.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable, Mapping, Sequence
from hashlib import sha256
from typing import Any, Final

from ostiary.access_claims import AccessClaims
from ostiary.clock import SYSTEM_CLOCK, Clock, SystemClock
from ostiary.dpop import DPoPChecker, MemoryReplayCache
from ostiary.errors import (
    BoundTokenAsBearer,
    ConfigurationError,
    DPoPKeyMismatch,
    InvalidClaim,
    MalformedToken,
    NotDPoPBound,
    Revoked,
)
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
from ostiary.revocation.known import RevocationList

KeysArgument = Mapping[str, Any] | Iterable[JWK | Mapping[str, Any]] | JWKSet
#: The verified-token cache holds a DPoP-bound token's claims under another key than a bearer
#: token's, so that the bearer path (whose cache hit checks nothing more) never finds them.
_BOUND_CACHE_PREFIX: Final = b"DPoP\x00"
#: The replay-cache scope of the proofs a resource server sees.
DPOP_REPLAY_SCOPE: Final = "dpop-resource"


class TokenVerifier:
    """Verifies JWT access tokens of one issuer for one or more audiences.

    ``keys`` is a JWKS document (``{"keys": [...]}``), a list of keys (``JWK`` objects or JWK
    dicts) or a :class:`~ostiary.jose.JWKSet`; ``jwks_url`` fetches and caches them instead.
    Raises :class:`~ostiary.errors.InvalidToken` (with a ``reason``) for a bad token and
    :class:`~ostiary.errors.KeySetUnavailable` when no keys could be fetched at all.

    ``dpop`` checks the proofs of :meth:`verify_dpop` (RFC 9449 §4.3): by default a
    :class:`~ostiary.dpop.DPoPChecker` with an in-process
    :class:`~ostiary.dpop.MemoryReplayCache` on this verifier's clock, right for one process.
    Several processes or instances of a service share one replay cache (any object with
    ``first_use``, and ``first_use_sync`` for :meth:`verify_dpop_sync`) and, with
    resource-server nonces (§9), one :class:`~ostiary.dpop.DPoPNonces` secret.
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
        dpop: DPoPChecker | None = None,
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
        #: Checks DPoP proofs (RFC 9449 §4.3) and remembers their ``jti`` (§11.1).
        self.dpop = (
            dpop
            if dpop is not None
            else DPoPChecker(MemoryReplayCache(), clock=clock, scope=DPOP_REPLAY_SCOPE)
        )

    async def verify(self, token: str | bytes) -> AccessClaims:
        """Verify ``token`` presented as a bearer token (RFC 6750); may fetch the issuer's
        JWKS. A token bound to a key (``cnf``) is refused: RFC 9449 §7.2."""
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
        """:meth:`verify` without an event loop; may fetch the JWKS with a blocking call."""
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

    async def verify_dpop(
        self, token: str, proofs: str | Sequence[str], *, method: str, url: str
    ) -> AccessClaims:
        """Verify a DPoP-bound ``token`` presented with the ``DPoP`` scheme and its proof
        (RFC 9449 §7.1): ``proofs`` is every ``DPoP`` header value of the request, ``method``
        and ``url`` the request's (the URL as the client addressed it: scheme, host, path).

        In order: the token, as :meth:`verify` checks it (:class:`~ostiary.errors.InvalidToken`);
        its ``cnf.jkt`` (:class:`~ostiary.errors.NotDPoPBound` without one); the proof's
        checks of §4.3 with ``ath`` the token's hash and the nonce when the checker asks for
        nonces (:class:`~ostiary.errors.InvalidDPoPProof`,
        :class:`~ostiary.errors.UseDPoPNonce`); the proof's key equal to ``cnf.jkt``
        (:class:`~ostiary.errors.DPoPKeyMismatch`, §6.1); and last the proof's ``jti``, never
        seen before (§11.1), so that only a proof that passed everything is remembered.
        The claims' ``dpop_jkt`` names the key."""
        claims = await self._bound_claims(token)
        proof = self.dpop.verify(_proof_list(proofs), method=method, url=url, access_token=token)
        _check_binding(claims, proof.jkt)
        await self.dpop.remember(proof)
        return claims

    def verify_dpop_sync(
        self, token: str, proofs: str | Sequence[str], *, method: str, url: str
    ) -> AccessClaims:
        """:meth:`verify_dpop` without an event loop: the checker's replay cache must answer
        without awaiting (``first_use_sync``, as :class:`~ostiary.dpop.MemoryReplayCache`)."""
        if not self.dpop.supports_sync:
            raise ConfigurationError("verify_dpop_sync needs a replay cache with first_use_sync")
        claims = self._bound_claims_sync(token)
        proof = self.dpop.verify(_proof_list(proofs), method=method, url=url, access_token=token)
        _check_binding(claims, proof.jkt)
        self.dpop.remember_sync(proof)
        return claims

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

    def _finish(
        self, cache_key: bytes, parsed: ParsedJWS, key: JWK | None, *, bound: bool = False
    ) -> AccessClaims:
        """The verified claims, cached. ``bound`` is the DPoP path, which wants a ``cnf.jkt``;
        the bearer path refuses any ``cnf``, so that no cache hit of it can be a bound token."""
        now = self.clock.now()
        claims = AccessClaims.from_claims(self._jwt.finish(parsed, key, now=now))
        if self.revocations.active and self.revocations.is_revoked(claims):
            raise Revoked()
        if bound:
            _bound_jkt(claims)
        elif "cnf" in claims.raw:
            raise BoundTokenAsBearer(detail="a token with cnf presented as a bearer token")
        self.cache.put(cache_key, claims, now)
        return claims

    async def _bound_claims(self, token: str) -> AccessClaims:
        cache_key = _bound_cache_key(token)
        hit = self._checked_hit(cache_key)
        if hit is not None:
            return hit
        parsed = self._parse(token)
        key = (
            self._static.get(parsed.kid)
            if self._static is not None
            else await self._jwks().get_key(parsed.kid)
        )
        return self._finish(cache_key, parsed, key, bound=True)

    def _bound_claims_sync(self, token: str) -> AccessClaims:
        cache_key = _bound_cache_key(token)
        hit = self._checked_hit(cache_key)
        if hit is not None:
            return hit
        parsed = self._parse(token)
        key = (
            self._static.get(parsed.kid)
            if self._static is not None
            else self._jwks().get_key_sync(parsed.kid)
        )
        return self._finish(cache_key, parsed, key, bound=True)

    def _jwks(self) -> JWKSClient:
        assert self.jwks is not None  # one of the sources is always set (checked in __init__)
        return self.jwks


def _bound_cache_key(token: str) -> bytes:
    if not isinstance(token, str):
        raise MalformedToken(detail="a token is ASCII text")
    try:
        return sha256(_BOUND_CACHE_PREFIX + token.encode("ascii")).digest()
    except UnicodeEncodeError:
        raise MalformedToken(detail="a token is ASCII text") from None


def _bound_jkt(claims: AccessClaims) -> str:
    """The token's ``cnf.jkt`` (RFC 9449 §6.1), a base64url SHA-256 thumbprint."""
    cnf = claims.raw.get("cnf")
    if cnf is None:
        raise NotDPoPBound(detail="no cnf claim")
    if not isinstance(cnf, dict):
        raise InvalidClaim(detail="cnf is not an object")
    jkt = claims.dpop_jkt
    if jkt is None:
        raise NotDPoPBound(detail="cnf without jkt")
    if len(jkt) != 43:  # 32 bytes of SHA-256 in unpadded base64url
        raise InvalidClaim(detail="cnf.jkt is not a SHA-256 thumbprint")
    return jkt


def _check_binding(claims: AccessClaims, proof_jkt: str) -> None:
    """RFC 9449 §7.1: the proof's key is the one the token is bound to."""
    jkt = claims.dpop_jkt
    if jkt is None or not hmac.compare_digest(jkt.encode(), proof_jkt.encode()):
        raise DPoPKeyMismatch(detail="the proof's key is not the token's cnf.jkt")


def _proof_list(proofs: str | Sequence[str]) -> Sequence[str]:
    return [proofs] if isinstance(proofs, str) else proofs


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
