"""VerifiedTokenCache and RevocationList as units."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from ostiary.resource import AccessClaims, RevocationList, VerifiedTokenCache

from ._tokens import T0, claims_for


def access(**overrides: Any) -> AccessClaims:
    return AccessClaims.from_claims(claims_for(now=T0, **overrides))


# --- VerifiedTokenCache ----------------------------------------------------------------------


def test_key_is_sha256_of_the_token() -> None:
    assert VerifiedTokenCache.key("a.b.c") == hashlib.sha256(b"a.b.c").digest()
    assert VerifiedTokenCache.key(b"a.b.c") == VerifiedTokenCache.key("a.b.c")
    assert VerifiedTokenCache.key("a.b.c") != VerifiedTokenCache.key("a.b.d")


def test_negative_size_is_refused() -> None:
    with pytest.raises(ValueError):
        VerifiedTokenCache(-1)


def test_put_and_get_until_exp() -> None:
    cache = VerifiedTokenCache(10)
    claims = access(ttl=60)
    key = VerifiedTokenCache.key("t1")
    cache.put(key, claims, T0)
    assert len(cache) == 1
    assert cache.get(key, T0) is claims
    assert cache.get(key, T0 + 59.999) is claims
    assert cache.get(VerifiedTokenCache.key("t2"), T0) is None
    assert cache.get(key, T0 + 60) is None  # at exp the entry is gone...
    assert len(cache) == 0  # ...and removed, not just hidden
    assert cache.get(key, T0) is None


def test_an_expired_token_is_never_stored() -> None:
    cache = VerifiedTokenCache(10)
    claims = access(ttl=60)
    cache.put(VerifiedTokenCache.key("late"), claims, T0 + 60)
    cache.put(VerifiedTokenCache.key("later"), claims, T0 + 61)
    assert len(cache) == 0


def test_size_zero_stores_nothing() -> None:
    cache = VerifiedTokenCache(0)
    cache.put(VerifiedTokenCache.key("t"), access(), T0)
    assert len(cache) == 0


def test_lru_eviction() -> None:
    cache = VerifiedTokenCache(3)
    keys = [VerifiedTokenCache.key(f"t{i}") for i in range(5)]
    entries = [access(jti=f"j{i}") for i in range(5)]
    for k, c in zip(keys[:3], entries[:3], strict=True):
        cache.put(k, c, T0)
    assert cache.get(keys[0], T0) is entries[0]  # t0 becomes the most recent
    cache.put(keys[3], entries[3], T0)  # evicts t1
    assert len(cache) == 3
    assert cache.get(keys[1], T0) is None
    assert [cache.get(k, T0) for k in (keys[0], keys[2], keys[3])] == [
        entries[0],
        entries[2],
        entries[3],
    ]
    cache.put(keys[2], entries[2], T0)  # a re-put refreshes t2 without growing
    cache.put(keys[4], entries[4], T0)  # evicts t0 (t3, t2 and t4 are more recent)
    assert len(cache) == 3
    assert cache.get(keys[0], T0) is None
    assert cache.get(keys[4], T0) is entries[4]


def test_drop_by_jti_sid_or_sub() -> None:
    cache = VerifiedTokenCache(10)
    rows = {
        "a": access(jti="j-a", sid="s-1", sub="alice"),
        "b": access(jti="j-b", sid="s-1", sub="bob"),
        "c": access(jti="j-c", sid="s-2", sub="alice"),
        "d": access(jti="j-d", sid=None, sub="dave"),
    }
    for token, claims in rows.items():
        cache.put(VerifiedTokenCache.key(token), claims, T0)
    assert cache.drop() == 0
    assert cache.drop(jti="j-none") == 0
    assert cache.drop(jti="j-d") == 1
    assert cache.get(VerifiedTokenCache.key("d"), T0) is None
    assert cache.drop(sid="s-1") == 2
    assert len(cache) == 1
    assert cache.drop(sub="alice") == 1
    assert len(cache) == 0
    for token, claims in rows.items():
        cache.put(VerifiedTokenCache.key(token), claims, T0)
    assert cache.drop(jti="j-d", sid="s-2") == 2  # any of the given matches
    cache.clear()
    assert len(cache) == 0


# --- RevocationList --------------------------------------------------------------------------


def test_empty_list_is_falsy_and_revokes_nothing() -> None:
    revoked = RevocationList()
    assert not revoked
    assert revoked.is_revoked(access()) is False


def test_revocations_by_jti_sid_and_subject() -> None:
    revoked = RevocationList()
    revoked.revoke_token("j-1", until=T0 + 100)
    assert revoked
    assert revoked.is_revoked(access(jti="j-1"))
    assert not revoked.is_revoked(access(jti="j-2"))
    revoked.revoke_session("s-1", until=T0 + 100)
    assert revoked.is_revoked(access(sid="s-1"))
    assert not revoked.is_revoked(access(sid=None))
    revoked.revoke_subject("carol", not_before=T0)
    assert revoked.is_revoked(access(sub="carol", iat=T0 - 1))
    assert not revoked.is_revoked(access(sub="carol", iat=T0))
    assert not revoked.is_revoked(access(sub="dave", iat=T0 - 1))
    # A subject revocation refuses a token whose iat it cannot read.
    no_iat = claims_for(now=T0, sub="carol")
    del no_iat["iat"]
    assert revoked.is_revoked(AccessClaims.from_claims(no_iat))


def test_purge_forgets_only_what_has_expired() -> None:
    revoked = RevocationList()
    revoked.revoke_token("j-old", until=T0 + 10)
    revoked.revoke_token("j-new", until=T0 + 100)
    revoked.revoke_session("s-old", until=T0 + 10)
    revoked.revoke_session("s-new", until=T0 + 100)
    revoked.revoke_subject("old", not_before=T0)
    revoked.revoke_subject("new", not_before=T0 + 50)

    revoked.purge(T0 + 9, max_token_lifetime=60)
    assert revoked._jti == {"j-old": T0 + 10, "j-new": T0 + 100}
    assert revoked._sid == {"s-old": T0 + 10, "s-new": T0 + 100}
    assert revoked._sub_not_before == {"old": T0, "new": T0 + 50}

    revoked.purge(T0 + 10, max_token_lifetime=60)  # "until" reached: those tokens expired
    assert revoked._jti == {"j-new": T0 + 100}
    assert revoked._sid == {"s-new": T0 + 100}
    assert not revoked.is_revoked(access(jti="j-old", sid="s-old"))
    assert revoked.is_revoked(access(jti="j-new"))

    # A subject entry lives until every token issued before it has expired: not_before +
    # the longest token lifetime.
    revoked.purge(T0 + 59, max_token_lifetime=60)
    assert revoked._sub_not_before == {"old": T0, "new": T0 + 50}
    revoked.purge(T0 + 60, max_token_lifetime=60)
    assert revoked._sub_not_before == {"new": T0 + 50}

    revoked.purge(T0 + 110, max_token_lifetime=60)
    assert not revoked
    assert revoked._jti == {}
    assert revoked._sid == {}
    assert revoked._sub_not_before == {}


def test_a_later_revocation_extends_an_earlier_one() -> None:
    revoked = RevocationList()
    revoked.revoke_token("j", until=T0 + 100)
    revoked.revoke_token("j", until=T0 + 50)  # an earlier "until" does not shorten it
    revoked.revoke_session("s", until=T0 + 100)
    revoked.revoke_session("s", until=T0 + 50)
    revoked.revoke_subject("u", not_before=T0 + 100)
    revoked.revoke_subject("u", not_before=T0 + 50)
    revoked.purge(T0 + 60, max_token_lifetime=0)
    assert revoked._jti == {"j": T0 + 100}
    assert revoked._sid == {"s": T0 + 100}
    assert revoked._sub_not_before == {"u": T0 + 100}
