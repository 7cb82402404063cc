"""TokenVerifier: key sources, the claims it returns, its cache and its revocation hooks."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from ostiary.clock import FrozenClock
from ostiary.errors import (
    BadSignature,
    ConfigurationError,
    Expired,
    InvalidToken,
    Revoked,
    UnknownKey,
    WrongAudience,
    WrongTokenType,
)
from ostiary.jose import JWK, JWKSet
from ostiary.keys import generate_key
from ostiary.resource import AccessClaims, TokenVerifier, VerifiedTokenCache

from ._tokens import AUDIENCE, CLIENT_ID, ISSUER, T0, jwks_of, mint

KEY = generate_key("ES256")
OTHER_KEY = generate_key("ES256")


class CountingKeySet(JWKSet):
    """A key set that counts how often the verifier looks a key up."""

    def __init__(self, keys: list[JWK]) -> None:
        super().__init__(keys)
        self.lookups = 0

    def get(self, kid: str | None) -> JWK | None:
        self.lookups += 1
        return super().get(kid)


def make_verifier(
    clock: FrozenClock, *, keys: Any = None, cache_size: int = 100, leeway: float = 30.0
) -> TokenVerifier:
    return TokenVerifier(
        issuer=ISSUER,
        audience=AUDIENCE,
        keys=keys if keys is not None else jwks_of(KEY),
        clock=clock,
        cache_size=cache_size,
        leeway=leeway,
    )


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


# --- key sources ---------------------------------------------------------------------------


def _key_arguments() -> list[Any]:
    return [
        pytest.param(jwks_of(KEY, OTHER_KEY), id="jwks-dict"),
        pytest.param(jwks_of(KEY, OTHER_KEY)["keys"], id="list-of-jwk-dicts"),
        pytest.param([KEY, OTHER_KEY], id="list-of-private-JWK-objects"),
        pytest.param([KEY.public(), OTHER_KEY.public()], id="list-of-public-JWK-objects"),
        pytest.param(JWKSet([KEY.public(), OTHER_KEY.public()]), id="JWKSet"),
    ]


@pytest.mark.parametrize("keys", _key_arguments())
async def test_verify_async_with_each_key_form(clock: FrozenClock, keys: Any) -> None:
    verifier = make_verifier(clock, keys=keys)
    for key in (KEY, OTHER_KEY):
        claims = await verifier.verify(mint(key, now=clock.now(), sub=f"user-{key.kid[:6]}"))
        assert claims.sub == f"user-{key.kid[:6]}"


@pytest.mark.parametrize("keys", _key_arguments())
def test_verify_sync_with_each_key_form(clock: FrozenClock, keys: Any) -> None:
    verifier = make_verifier(clock, keys=keys)
    for key in (KEY, OTHER_KEY):
        claims = verifier.verify_sync(mint(key, now=clock.now(), sub=f"user-{key.kid[:6]}"))
        assert claims.sub == f"user-{key.kid[:6]}"


def test_private_key_objects_are_kept_only_in_public_form(clock: FrozenClock) -> None:
    verifier = make_verifier(clock, keys=[KEY])
    assert verifier._static is not None
    assert [k.is_private for k in verifier._static] == [False]


def test_exactly_one_key_source_is_required() -> None:
    with pytest.raises(ConfigurationError):
        TokenVerifier(issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(ConfigurationError):
        TokenVerifier(
            issuer=ISSUER,
            audience=AUDIENCE,
            keys=jwks_of(KEY),
            jwks_url="https://auth.example.test/jwks",
        )


def test_a_jwks_url_must_use_https_off_loopback() -> None:
    with pytest.raises(ConfigurationError):
        TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url="http://auth.example.test/jwks")


# --- AccessClaims ----------------------------------------------------------------------------


async def test_access_claims_fields(clock: FrozenClock) -> None:
    verifier = make_verifier(clock)
    token = mint(
        KEY,
        now=clock.now(),
        sub="bob",
        scope="orders:read  orders:write profile",
        roles=["admin", "viewer"],
        jti="jti-fields",
        sid="session-7",
        ttl=600,
        audience=[AUDIENCE, "other-api"],
        extra_claim={"nested": [1, 2]},
    )
    claims = await verifier.verify(token)
    assert isinstance(claims, AccessClaims)
    assert claims.sub == "bob"
    assert claims.scopes == frozenset({"orders:read", "orders:write", "profile"})
    assert claims.roles == frozenset({"admin", "viewer"})
    assert claims.client_id == CLIENT_ID
    assert claims.jti == "jti-fields"
    assert claims.sid == "session-7"
    assert claims.exp == T0 + 600
    assert claims.iss == ISSUER
    assert claims.audiences == (AUDIENCE, "other-api")
    assert dict(claims.raw) == {
        "iss": ISSUER,
        "sub": "bob",
        "aud": [AUDIENCE, "other-api"],
        "exp": T0 + 600,
        "iat": T0,
        "jti": "jti-fields",
        "client_id": CLIENT_ID,
        "scope": "orders:read  orders:write profile",
        "roles": ["admin", "viewer"],
        "sid": "session-7",
        "extra_claim": {"nested": [1, 2]},
    }
    with pytest.raises(TypeError):
        claims.raw["sub"] = "mallory"  # type: ignore[index]
    assert claims.has_scopes("orders:read", "profile")
    assert not claims.has_scopes("orders:read", "orders:delete")
    assert claims.has_roles("admin")
    assert not claims.has_roles("root")
    assert token not in repr(claims)


async def test_claims_without_scope_roles_or_sid(clock: FrozenClock) -> None:
    verifier = make_verifier(clock)
    claims = await verifier.verify(mint(KEY, now=clock.now(), scope=None, roles=None, sid=None))
    assert claims.scopes == frozenset()
    assert claims.roles == frozenset()
    assert claims.sid is None


# --- refusals --------------------------------------------------------------------------------


async def test_expired_token_is_refused(clock: FrozenClock) -> None:
    verifier = make_verifier(clock)
    token = mint(KEY, now=clock.now() - 400, ttl=300)  # expired 100 s ago, beyond the 30 s leeway
    with pytest.raises(Expired) as info:
        await verifier.verify(token)
    assert info.value.reason == "expired"
    with pytest.raises(Expired):
        verifier.verify_sync(token)
    assert len(verifier.cache) == 0


async def test_leeway_applies_to_exp(clock: FrozenClock) -> None:
    verifier = make_verifier(clock, leeway=30)
    token = mint(KEY, now=clock.now() - 320, ttl=300)  # expired 20 s ago: within the leeway
    assert (await verifier.verify(token)).exp == T0 - 20
    assert len(verifier.cache) == 0  # past exp: never cached
    clock.advance(10)
    with pytest.raises(Expired):
        await verifier.verify(token)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"audience": "someone-else"}, WrongAudience),
        ({"typ": "JWT"}, WrongTokenType),
    ],
)
async def test_other_refusals(
    clock: FrozenClock, overrides: dict[str, Any], error: type[InvalidToken]
) -> None:
    verifier = make_verifier(clock)
    with pytest.raises(error):
        await verifier.verify(mint(KEY, now=clock.now(), **overrides))


async def test_unknown_key_and_bad_signature(clock: FrozenClock) -> None:
    verifier = make_verifier(clock, keys=jwks_of(KEY))
    with pytest.raises(UnknownKey):
        await verifier.verify(mint(OTHER_KEY, now=clock.now()))
    # A token naming KEY's kid but signed by OTHER_KEY.
    impostor = JWK.from_dict({**OTHER_KEY.private_dict(), "kid": KEY.kid})
    with pytest.raises(BadSignature):
        await verifier.verify(mint(impostor, now=clock.now()))
    assert len(verifier.cache) == 0


# --- the cache -------------------------------------------------------------------------------


async def test_repeated_token_is_served_from_the_cache(clock: FrozenClock) -> None:
    keys = CountingKeySet([KEY.public()])
    verifier = make_verifier(clock, keys=keys)
    token = mint(KEY, now=clock.now())
    first = await verifier.verify(token)
    assert keys.lookups == 1
    assert len(verifier.cache) == 1
    second = await verifier.verify(token)
    third = verifier.verify_sync(token)
    assert keys.lookups == 1  # no key lookup, hence no signature check, for a cache hit
    assert second is first
    assert third is first
    other = mint(KEY, now=clock.now())
    await verifier.verify(other)
    assert keys.lookups == 2
    assert len(verifier.cache) == 2


async def test_sync_verification_fills_the_cache_too(clock: FrozenClock) -> None:
    keys = CountingKeySet([KEY.public()])
    verifier = make_verifier(clock, keys=keys)
    token = mint(KEY, now=clock.now())
    first = verifier.verify_sync(token)
    assert await verifier.verify(token) is first
    assert keys.lookups == 1


async def test_cache_entry_never_outlives_exp(clock: FrozenClock) -> None:
    keys = CountingKeySet([KEY.public()])
    verifier = make_verifier(clock, keys=keys, leeway=0)
    token = mint(KEY, now=clock.now(), ttl=60)
    await verifier.verify(token)
    clock.advance(59)
    await verifier.verify(token)
    assert keys.lookups == 1
    assert len(verifier.cache) == 1
    clock.advance(1)  # now == exp
    with pytest.raises(Expired):
        await verifier.verify(token)
    assert keys.lookups == 2  # the cache did not answer
    assert len(verifier.cache) == 0
    with pytest.raises(Expired):
        verifier.verify_sync(token)


async def test_cache_entry_expires_at_exp_even_with_leeway(clock: FrozenClock) -> None:
    keys = CountingKeySet([KEY.public()])
    verifier = make_verifier(clock, keys=keys, leeway=30)
    token = mint(KEY, now=clock.now(), ttl=60)
    await verifier.verify(token)
    clock.advance(60 + 30)  # past exp and the leeway
    with pytest.raises(Expired):
        await verifier.verify(token)
    assert keys.lookups == 2
    assert len(verifier.cache) == 0


async def test_cache_is_a_bounded_lru(clock: FrozenClock) -> None:
    keys = CountingKeySet([KEY.public()])
    verifier = make_verifier(clock, keys=keys, cache_size=3)
    tokens = [mint(KEY, now=clock.now()) for _ in range(5)]
    for token in tokens[:3]:
        await verifier.verify(token)
    assert len(verifier.cache) == 3
    await verifier.verify(tokens[0])  # a hit: tokens[0] becomes the most recent
    assert keys.lookups == 3
    await verifier.verify(tokens[3])  # evicts the least recent, tokens[1]
    assert len(verifier.cache) == 3
    assert keys.lookups == 4
    cached = set(verifier.cache.entries)
    assert cached == {VerifiedTokenCache.key(t) for t in (tokens[0], tokens[2], tokens[3])}
    await verifier.verify(tokens[1])  # evicted, so verified again
    assert keys.lookups == 5
    await verifier.verify(tokens[3])  # still cached
    assert keys.lookups == 5
    for token in tokens:
        await verifier.verify(token)
    assert len(verifier.cache) == 3


async def test_cache_size_zero_turns_the_cache_off(clock: FrozenClock) -> None:
    keys = CountingKeySet([KEY.public()])
    verifier = make_verifier(clock, keys=keys, cache_size=0)
    token = mint(KEY, now=clock.now())
    await verifier.verify(token)
    await verifier.verify(token)
    assert keys.lookups == 2
    assert len(verifier.cache) == 0


async def test_cache_key_is_the_sha256_of_the_token(clock: FrozenClock) -> None:
    verifier = make_verifier(clock)
    token = mint(KEY, now=clock.now())
    await verifier.verify(token)
    digest = hashlib.sha256(token.encode("ascii")).digest()
    assert VerifiedTokenCache.key(token) == digest
    assert VerifiedTokenCache.key(token.encode("ascii")) == digest
    assert list(verifier.cache.entries) == [digest]
    for stored in verifier.cache.entries:
        assert len(stored) == 32
        assert token.encode() not in stored
        assert stored != token.encode()


# --- revocation hooks ------------------------------------------------------------------------


async def test_revoke_token_refuses_a_cached_token(clock: FrozenClock) -> None:
    verifier = make_verifier(clock)
    token = mint(KEY, now=clock.now(), jti="jti-revoked")
    kept = mint(KEY, now=clock.now(), jti="jti-kept")
    await verifier.verify(token)
    await verifier.verify(kept)
    assert len(verifier.cache) == 2
    verifier.revoke_token("jti-revoked", expires_at=T0 + 300)
    assert len(verifier.cache) == 1
    with pytest.raises(Revoked) as info:
        await verifier.verify(token)
    assert info.value.reason == "revoked"
    with pytest.raises(Revoked):
        verifier.verify_sync(token)
    assert (await verifier.verify(kept)).jti == "jti-kept"
    assert len(verifier.cache) == 1


async def test_revoke_session_refuses_every_token_of_it(clock: FrozenClock) -> None:
    verifier = make_verifier(clock)
    a = mint(KEY, now=clock.now(), sid="s-1")
    b = mint(KEY, now=clock.now(), sid="s-1")
    other = mint(KEY, now=clock.now(), sid="s-2")
    no_sid = mint(KEY, now=clock.now(), sid=None)
    for token in (a, other, no_sid):
        await verifier.verify(token)
    verifier.revoke_session("s-1", until=T0 + 300)
    for token in (a, b):  # a was cached, b never seen
        with pytest.raises(Revoked):
            await verifier.verify(token)
    assert (await verifier.verify(other)).sid == "s-2"
    assert (await verifier.verify(no_sid)).sid is None


async def test_revoke_subject_refuses_tokens_issued_before(clock: FrozenClock) -> None:
    verifier = make_verifier(clock)
    old = mint(KEY, now=clock.now(), sub="carol", iat=T0 - 10)
    at_cutoff = mint(KEY, now=clock.now(), sub="carol", iat=T0)
    other_user = mint(KEY, now=clock.now(), sub="dave", iat=T0 - 10)
    await verifier.verify(old)
    await verifier.verify(other_user)
    verifier.revoke_subject("carol", not_before=T0)
    with pytest.raises(Revoked):
        await verifier.verify(old)
    with pytest.raises(Revoked):
        verifier.verify_sync(old)
    assert (await verifier.verify(at_cutoff)).sub == "carol"
    assert (await verifier.verify(other_user)).sub == "dave"


async def test_revocation_is_checked_on_cache_hits(clock: FrozenClock) -> None:
    """A revocation fed in directly, without the hooks' cache drop, still refuses a cached
    token: the cache path itself checks the revocation list."""
    keys = CountingKeySet([KEY.public()])
    verifier = make_verifier(clock, keys=keys)
    token = mint(KEY, now=clock.now(), jti="jti-hit")
    await verifier.verify(token)
    verifier.revocations.revoke_token("jti-hit", until=T0 + 300)
    assert len(verifier.cache) == 1
    with pytest.raises(Revoked):
        await verifier.verify(token)
    with pytest.raises(Revoked):
        verifier.verify_sync(token)
    assert keys.lookups == 1  # refused on the cache path, never re-verified


@pytest.mark.parametrize("kind", ["session", "subject"])
async def test_session_and_subject_revocations_are_checked_on_cache_hits(
    clock: FrozenClock, kind: str
) -> None:
    keys = CountingKeySet([KEY.public()])
    verifier = make_verifier(clock, keys=keys)
    token = mint(KEY, now=clock.now(), sid="sid-hit", sub="frank")
    await verifier.verify(token)
    if kind == "session":
        verifier.revocations.revoke_session("sid-hit", until=T0 + 300)
    else:
        verifier.revocations.revoke_subject("frank", not_before=T0 + 1)
    assert len(verifier.cache) == 1
    with pytest.raises(Revoked):
        await verifier.verify(token)
    assert keys.lookups == 1
