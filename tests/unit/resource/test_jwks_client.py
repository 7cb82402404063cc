"""JWKSClient against a real HTTP server on 127.0.0.1.

Time that the client reasons about (max-age, retry and unknown-kid intervals) is moved with a
FrozenClock; only the network timeouts are real, and short.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from ostiary.clock import FrozenClock
from ostiary.errors import ConfigurationError, KeySetUnavailable, UnknownKey
from ostiary.jose import JWK
from ostiary.keys import generate_key
from ostiary.resource import JWKSClient, JWKSPolicy, TokenVerifier

from ._jwks_server import JWKSServer, closed_port
from ._tokens import AUDIENCE, ISSUER, T0, jwks_of, mint

KEY = generate_key("ES256")
NEW_KEY = generate_key("ES256")
HMAC_KEY = JWK.from_secret(b"s" * 32, alg="HS256", kid="shared-secret")

#: How long the slow-server tests wait for a fetch: a hang fails the test, not the suite. A
#: bound on a wait, never a measure of speed.
HANG = 10.0
#: The slow server answers this long after a request: far past ``SHORT_TIMEOUT`` and ``HANG``,
#: so that a client that ignored its timeout would not give up (and the test would see it).
SLOW_ANSWER = 60.0

#: The slow-server tests' timeout: what they show is that the client gives up at it (their
#: servers answer after ``SLOW_ANSWER``), and a good fetch still fits in it on a loaded machine.
SHORT_TIMEOUT = 2.0

#: Bounds wide apart so that each clamp is visible; a timeout no loaded machine reaches for a
#: fetch from a server on this machine.
POLICY = JWKSPolicy(
    timeout=10.0,
    default_ttl=300,
    min_ttl=60,
    max_ttl=3600,
    unknown_kid_interval=30,
    retry_interval=10,
    max_bytes=4096,
)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def server(jwks_server: JWKSServer) -> JWKSServer:
    jwks_server.document = jwks_of(KEY)
    return jwks_server


def client_for(server: JWKSServer, clock: FrozenClock, **policy: Any) -> JWKSClient:
    return JWKSClient(server.url, policy=JWKSPolicy(**{**_fields(POLICY), **policy}), clock=clock)


def _fields(policy: JWKSPolicy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in policy.__dataclass_fields__}


def kids(client: JWKSClient) -> list[str] | None:
    """The kids of the client's current key set, None before the first good fetch."""
    keys = client.keys
    return None if keys is None else [k.kid for k in keys]


def verifier_for(client: JWKSClient, clock: FrozenClock) -> TokenVerifier:
    return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_client=client, clock=clock)


# --- fetching and verifying --------------------------------------------------------------------


async def test_fetches_once_and_verifies(server: JWKSServer, clock: FrozenClock) -> None:
    client = client_for(server, clock)
    assert kids(client) is None
    verifier = verifier_for(client, clock)
    claims = await verifier.verify(mint(KEY, now=clock.now(), sub="alice"))
    assert claims.sub == "alice"
    assert server.requests == 1
    assert server.accept_headers == ["application/jwk-set+json, application/json;q=0.9"]
    assert kids(client) == [KEY.kid]
    fetched = await client.get_key(KEY.kid)
    assert fetched is not None
    assert not fetched.is_private
    for _ in range(3):
        await verifier.verify(mint(KEY, now=clock.now()))
    assert server.requests == 1


def test_sync_path_fetches_once_and_verifies(server: JWKSServer, clock: FrozenClock) -> None:
    client = client_for(server, clock)
    verifier = verifier_for(client, clock)
    assert verifier.verify_sync(mint(KEY, now=clock.now(), sub="bob")).sub == "bob"
    assert client.get_key_sync(KEY.kid) == KEY.public()
    assert server.requests == 1


def test_verifier_builds_its_own_client_from_a_url(server: JWKSServer, clock: FrozenClock) -> None:
    verifier = TokenVerifier(
        issuer=ISSUER, audience=AUDIENCE, jwks_url=server.url, jwks_policy=POLICY, clock=clock
    )
    assert verifier.jwks is not None
    assert verifier.jwks.policy is POLICY
    assert verifier.verify_sync(mint(KEY, now=clock.now(), sub="carol")).sub == "carol"
    assert server.requests == 1


async def test_refresh_fetches_whatever_the_cache_says(
    server: JWKSServer, clock: FrozenClock
) -> None:
    client = client_for(server, clock)
    assert [k.kid for k in await client.refresh()] == [KEY.kid]
    server.document = jwks_of(NEW_KEY)
    assert [k.kid for k in await client.refresh()] == [NEW_KEY.kid]
    assert [k.kid for k in client.refresh_sync()] == [NEW_KEY.kid]
    assert server.requests == 3


# --- Cache-Control ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cache_control", "ttl"),
    [
        ("max-age=120", 120),
        ("public, max-age=600, must-revalidate", 600),
        ('max-age="900"', 900),
        ("max-age=5", 60),  # clamped up to min_ttl
        ("max-age=999999", 3600),  # clamped down to max_ttl
        (None, 300),  # default_ttl
        ("public", 300),
        ("no-store", 60),
        ("no-cache, max-age=900", 60),
    ],
)
async def test_max_age_is_honoured_within_bounds(
    server: JWKSServer, clock: FrozenClock, cache_control: str | None, ttl: int
) -> None:
    server.cache_control = cache_control
    client = client_for(server, clock)
    assert await client.get_key(KEY.kid) == KEY.public()
    assert server.requests == 1
    clock.advance(ttl - 1)
    await client.get_key(KEY.kid)
    assert server.requests == 1
    clock.advance(1)
    await client.get_key(KEY.kid)
    assert server.requests == 2
    clock.advance(ttl - 1)
    await client.get_key(KEY.kid)
    assert server.requests == 2


def test_max_age_is_honoured_on_the_sync_path(server: JWKSServer, clock: FrozenClock) -> None:
    server.cache_control = "max-age=90"
    client = client_for(server, clock)
    client.get_key_sync(KEY.kid)
    clock.advance(89)
    client.get_key_sync(KEY.kid)
    assert server.requests == 1
    clock.advance(1)
    client.get_key_sync(KEY.kid)
    assert server.requests == 2


async def test_a_stale_key_set_picks_up_a_rotation(server: JWKSServer, clock: FrozenClock) -> None:
    client = client_for(server, clock)
    await client.get_key(KEY.kid)
    server.document = jwks_of(NEW_KEY)
    clock.advance(300)
    assert await client.get_key(KEY.kid) is None  # the old key is gone from the new set
    assert await client.get_key(NEW_KEY.kid) == NEW_KEY.public()
    assert server.requests == 2


# --- rotation and unknown kids ---------------------------------------------------------------


async def test_unknown_kid_triggers_exactly_one_refetch(
    server: JWKSServer, clock: FrozenClock
) -> None:
    client = client_for(server, clock)
    verifier = verifier_for(client, clock)
    await verifier.verify(mint(KEY, now=clock.now()))
    assert server.requests == 1

    server.document = jwks_of(KEY, NEW_KEY)  # the issuer publishes a new key and signs with it
    clock.advance(5)
    assert (await verifier.verify(mint(NEW_KEY, now=clock.now(), sub="rotated"))).sub == "rotated"
    assert server.requests == 2

    # Within unknown_kid_interval another unknown kid does not cause a fetch.
    unpublished = generate_key("ES256")
    clock.advance(29)
    with pytest.raises(UnknownKey):
        await verifier.verify(mint(unpublished, now=clock.now()))
    assert await client.get_key("made-up-kid") is None
    assert server.requests == 2

    # Once the interval has passed, one more refetch is allowed, and only one.
    clock.advance(1)
    assert await client.get_key("another-made-up-kid") is None
    assert await client.get_key("yet-another") is None
    assert server.requests == 3
    # The known keys are still served from the cache.
    assert await client.get_key(NEW_KEY.kid) == NEW_KEY.public()
    assert server.requests == 3


def test_unknown_kid_on_the_sync_path(server: JWKSServer, clock: FrozenClock) -> None:
    client = client_for(server, clock)
    client.get_key_sync(KEY.kid)
    server.document = jwks_of(KEY, NEW_KEY)
    clock.advance(1)
    assert client.get_key_sync(NEW_KEY.kid) == NEW_KEY.public()
    assert server.requests == 2
    assert client.get_key_sync("made-up") is None
    clock.advance(29)
    assert client.get_key_sync("made-up-2") is None
    assert server.requests == 2
    clock.advance(1)
    assert client.get_key_sync("made-up-3") is None
    assert server.requests == 3


# --- failures --------------------------------------------------------------------------------


async def test_last_good_keys_stay_in_use_when_refresh_fails(
    server: JWKSServer, clock: FrozenClock
) -> None:
    client = client_for(server, clock)
    verifier = verifier_for(client, clock)
    await verifier.verify(mint(KEY, now=clock.now()))
    good = client.keys

    server.mode = "error"  # 500
    clock.advance(300)
    assert (await verifier.verify(mint(KEY, now=clock.now(), sub="during-500"))).sub == (
        "during-500"
    )
    assert server.requests == 2
    assert client.keys is good
    # Not retried before retry_interval, even though the set is stale.
    clock.advance(9)
    await client.get_key(KEY.kid)
    assert server.requests == 2

    server.mode = "close"  # the connection is closed without an answer
    clock.advance(1)
    assert await client.get_key(KEY.kid) == KEY.public()
    assert server.requests == 3
    assert client.keys is good

    server.stop()  # connection refused from now on
    clock.advance(10)
    assert (await verifier.verify(mint(KEY, now=clock.now(), sub="refused"))).sub == "refused"
    assert verifier.verify_sync(mint(KEY, now=clock.now(), sub="refused2")).sub == "refused2"
    assert client.keys is good
    assert server.requests == 3


async def test_recovers_after_the_retry_interval(server: JWKSServer, clock: FrozenClock) -> None:
    client = client_for(server, clock)
    await client.get_key(KEY.kid)
    server.mode = "error"
    server.document = jwks_of(NEW_KEY)
    clock.advance(300)
    assert await client.get_key(KEY.kid) == KEY.public()
    server.mode = "ok"
    clock.advance(10)
    assert await client.get_key(KEY.kid) is None
    assert await client.get_key(NEW_KEY.kid) == NEW_KEY.public()
    assert server.requests == 3


@pytest.mark.parametrize("mode", ["error", "close"])
async def test_nothing_fetched_yet_raises_key_set_unavailable(
    server: JWKSServer, clock: FrozenClock, mode: Any
) -> None:
    server.mode = mode
    client = client_for(server, clock)
    verifier = verifier_for(client, clock)
    token = mint(KEY, now=clock.now())
    with pytest.raises(KeySetUnavailable):
        await verifier.verify(token)
    with pytest.raises(KeySetUnavailable):
        verifier.verify_sync(token)
    with pytest.raises(KeySetUnavailable):
        await client.get_key(KEY.kid)
    with pytest.raises(KeySetUnavailable):
        await client.refresh()
    assert kids(client) is None
    # The first failure set the retry clock; refresh() is a forced fetch and was the only
    # other request.
    assert server.requests == 2
    server.mode = "ok"
    clock.advance(10)
    assert (await verifier.verify(token)).sub == "alice"
    assert server.requests == 3


async def test_connection_refused_before_any_fetch(clock: FrozenClock) -> None:
    client = JWKSClient(f"http://127.0.0.1:{closed_port()}/jwks", policy=POLICY, clock=clock)
    with pytest.raises(KeySetUnavailable) as info:
        await client.get_key(KEY.kid)
    assert info.value.status_code == 503
    assert info.value.error == "temporarily_unavailable"
    with pytest.raises(KeySetUnavailable):
        client.get_key_sync(KEY.kid)


async def test_slow_server_times_out(server: JWKSServer, clock: FrozenClock) -> None:
    """A server that would answer, with good keys, long after the timeout: a client that
    waited for it would get them; one that keeps its timeout gives up."""
    server.mode = "slow"
    server.delay = SLOW_ANSWER
    client = client_for(server, clock, timeout=SHORT_TIMEOUT)
    with pytest.raises(KeySetUnavailable):
        await asyncio.wait_for(client.get_key(KEY.kid), timeout=HANG)
    clock.advance(10)
    with pytest.raises(KeySetUnavailable):
        client.get_key_sync(KEY.kid)
    assert server.requests == 2


async def test_slow_refresh_keeps_the_old_keys(server: JWKSServer, clock: FrozenClock) -> None:
    client = client_for(server, clock, timeout=SHORT_TIMEOUT)
    await client.get_key(KEY.kid)
    server.mode = "slow"
    server.delay = SLOW_ANSWER
    server.document = jwks_of(NEW_KEY)  # what a client that waited would get: no KEY
    clock.advance(300)
    assert await asyncio.wait_for(client.get_key(KEY.kid), timeout=HANG) == KEY.public()
    assert kids(client) == [KEY.kid]
    assert server.requests == 2


async def test_trickling_server_is_bounded_by_the_timeout(
    server: JWKSServer, clock: FrozenClock
) -> None:
    """``timeout`` bounds the whole response, not each read: a server that sends one byte
    every 0.2 s never trips a per-read timeout of 2 s, and would finish sending good keys
    after longer than these tests wait; the client gives up at its timeout instead."""
    server.mode = "trickle"
    server.delay = 0.2
    assert len(json.dumps(server.document)) * server.delay > HANG
    client = client_for(server, clock, timeout=SHORT_TIMEOUT)
    with pytest.raises(KeySetUnavailable):
        await asyncio.wait_for(client.get_key(KEY.kid), timeout=HANG)
    clock.advance(10)
    with pytest.raises(KeySetUnavailable):
        client.get_key_sync(KEY.kid)
    assert server.requests == 2


@pytest.mark.parametrize("mode", ["oversized", "oversized_unframed"])
async def test_oversized_body_is_refused(server: JWKSServer, clock: FrozenClock, mode: Any) -> None:
    server.mode = mode
    server.oversize = 10_000  # policy.max_bytes is 4096
    client = client_for(server, clock)
    with pytest.raises(KeySetUnavailable):
        await client.get_key(KEY.kid)
    clock.advance(10)
    with pytest.raises(KeySetUnavailable):
        client.get_key_sync(KEY.kid)
    assert server.requests == 2


@pytest.mark.parametrize("mode", ["oversized", "oversized_unframed"])
async def test_oversized_refresh_keeps_the_old_keys(
    server: JWKSServer, clock: FrozenClock, mode: Any
) -> None:
    client = client_for(server, clock)
    await client.get_key(KEY.kid)
    good = client.keys
    server.mode = mode
    server.oversize = 10_000
    clock.advance(300)
    assert await client.get_key(KEY.kid) == KEY.public()
    assert client.keys is good
    assert server.requests == 2


def _padded(document: dict[str, Any], size: int) -> bytes:
    body = json.dumps(document).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


@pytest.mark.parametrize("framed", [True, False])
def test_max_bytes_boundary(server: JWKSServer, clock: FrozenClock, framed: bool) -> None:
    server.mode = "raw"
    server.raw_framed = framed
    server.raw_body = _padded(jwks_of(KEY), POLICY.max_bytes)
    assert len(server.raw_body) == POLICY.max_bytes
    client = client_for(server, clock)
    assert client.get_key_sync(KEY.kid) == KEY.public()
    server.raw_body = _padded(jwks_of(NEW_KEY), POLICY.max_bytes + 1)
    assert client.refresh_sync() is client.keys
    assert client.get_key_sync(NEW_KEY.kid) is None  # the one byte too many was refused


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b'{"keys": "nope"}', id="keys-not-a-list"),
        pytest.param(b"[1, 2, 3]", id="array"),
        pytest.param(b'{"keys": []}', id="empty"),
        pytest.param(b'{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA"}]}', id="bad-key"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param(b"[" * 3000 + b"]" * 3000, id="deeply-nested"),
    ],
)
async def test_unusable_documents_are_fetch_failures(
    server: JWKSServer, clock: FrozenClock, body: bytes
) -> None:
    server.mode = "raw"
    server.raw_body = body
    client = client_for(server, clock, max_bytes=8192)
    with pytest.raises(KeySetUnavailable):
        await client.get_key(KEY.kid)
    with pytest.raises(KeySetUnavailable):
        await client.get_key(KEY.kid)
    assert server.requests == 1  # a failure, so the retry interval applies


async def test_symmetric_keys_in_a_remote_jwks_are_ignored(
    server: JWKSServer, clock: FrozenClock
) -> None:
    oct_jwk = {"kty": "oct", "k": "c" * 43, "alg": "HS256", "kid": HMAC_KEY.kid}
    server.document = {"keys": [oct_jwk, KEY.public_dict()]}
    client = client_for(server, clock)
    verifier = verifier_for(client, clock)
    assert await client.get_key(KEY.kid) == KEY.public()
    assert kids(client) == [KEY.kid]
    with pytest.raises(UnknownKey):
        await verifier.verify(mint(HMAC_KEY, now=clock.now()))


async def test_a_jwks_of_only_symmetric_keys_is_a_failure(
    server: JWKSServer, clock: FrozenClock
) -> None:
    server.document = {"keys": [{"kty": "oct", "k": "c" * 43, "alg": "HS256", "kid": "k1"}]}
    client = client_for(server, clock)
    with pytest.raises(KeySetUnavailable):
        await client.get_key("k1")


async def test_encryption_and_foreign_keys_are_skipped(
    server: JWKSServer, clock: FrozenClock
) -> None:
    enc = {**NEW_KEY.public_dict(), "use": "enc"}
    foreign = {"kty": "RSA", "kid": "rsa-without-alg", "n": "AQAB", "e": "AQAB"}
    server.document = {"keys": [enc, foreign, KEY.public_dict()]}
    client = client_for(server, clock)
    assert await client.get_key(KEY.kid) == KEY.public()
    assert kids(client) == [KEY.kid]


# --- the URL rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://auth.example.test/jwks",
        "http://127.0.0.2/jwks",
        "http://localhost.example.test/jwks",
        "http://127.0.0.1@auth.example.test/jwks",
        "ftp://127.0.0.1/jwks",
        "file:///etc/jwks.json",
        "auth.example.test/jwks",
    ],
)
def test_plain_http_is_refused_off_loopback(url: str) -> None:
    with pytest.raises(ConfigurationError):
        JWKSClient(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://auth.example.test/jwks",
        "http://127.0.0.1:8080/jwks",
        "http://localhost/jwks",
        "http://LOCALHOST:9000/jwks",
        "http://[::1]:8080/jwks",
    ],
)
def test_https_anywhere_and_http_on_loopback_are_accepted(url: str) -> None:
    assert JWKSClient(url).url == url


def test_insecure_http_can_be_allowed_explicitly() -> None:
    url = "http://auth.example.test/jwks"
    assert JWKSClient(url, allow_insecure_http=True).url == url


# --- concurrency -----------------------------------------------------------------------------


async def test_concurrent_cold_lookups_cause_one_fetch(
    server: JWKSServer, clock: FrozenClock
) -> None:
    server.mode = "slow"
    server.delay = 0.2  # long enough that every task is waiting while the fetch is under way
    client = client_for(server, clock)
    keys = await asyncio.wait_for(
        asyncio.gather(*(client.get_key(KEY.kid) for _ in range(20))), timeout=10
    )
    assert keys == [KEY.public()] * 20
    assert server.requests == 1


async def test_concurrent_verifications_cause_one_fetch(
    server: JWKSServer, clock: FrozenClock
) -> None:
    server.mode = "slow"
    server.delay = 0.2
    verifier = verifier_for(client_for(server, clock), clock)
    tokens = [mint(KEY, now=clock.now(), sub=f"user-{i}") for i in range(20)]
    results = await asyncio.wait_for(
        asyncio.gather(*(verifier.verify(t) for t in tokens)), timeout=10
    )
    assert [c.sub for c in results] == [f"user-{i}" for i in range(20)]
    assert server.requests == 1


def test_concurrent_sync_lookups_cause_one_fetch(server: JWKSServer, clock: FrozenClock) -> None:
    server.mode = "slow"
    server.delay = 0.2
    client = client_for(server, clock)
    results: list[JWK | None] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def look_up() -> None:
        try:
            key = client.get_key_sync(KEY.kid)
        except BaseException as exc:  # pragma: no cover - reported below
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(key)

    threads = [threading.Thread(target=look_up) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert results == [KEY.public()] * 8
    assert server.requests == 1
