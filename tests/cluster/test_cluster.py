"""Three real instances behind a real HAProxy, on PostgreSQL and Redis (issue 10 §3): a session
moves between instances, a revocation reaches every instance, a key rotation made by the CLI
is agreed on, the per-account login limit is counted once for all, and concurrent refreshes
of one token spread over the instances continue one family only.

Measured figures (logout to refusal at each instance) are printed (``-s``) and appended to
:func:`~tests.cluster._cluster.figures_path`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
from collections.abc import Iterator
from typing import Any, Final

import httpx
import pytest

from .._haproxy import HAProxyUnavailable
from .._postgres import PostgresUnavailable, postgres_database
from .._redis import RedisUnavailable, own_redis
from ..http._live import JWKS_PATH, header_of
from ._accounts import Account, login, logout, profile, refresh, register
from ._cluster import Cluster, figures_path, poll, running_cluster

pytestmark = pytest.mark.slow

#: Low, so that "within one JWKS cache lifetime" is a bound a test can wait for.
JWKS_MAX_AGE: Final = 5
REVOCATION_BOUND: Final = 10.0
ROUNDS: Final = 4
RACERS_PER_INSTANCE: Final = 6


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """On a fresh database of the shared PostgreSQL and a Redis of the module's own. Without
    PostgreSQL, redis-server or haproxy this skips, and so fails under CI."""
    workdir = tmp_path_factory.mktemp("cluster")
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_database("ostiary_cluster"))
            redis = stack.enter_context(own_redis(workdir / "redis"))
            yield stack.enter_context(
                running_cluster(
                    workdir,
                    database_url=url,
                    redis_url=redis.url,
                    env={"OSTIARY_JWKS_MAX_AGE": str(JWKS_MAX_AGE)},
                )
            )
        except (PostgresUnavailable, RedisUnavailable, HAProxyUnavailable) as exc:
            pytest.skip(str(exc))


def record(test: str, **figures: Any) -> None:
    line = json.dumps({"test": test, **figures})
    print(f"\nFIGURES {line}")
    with figures_path().open("a", encoding="utf-8") as out:
        out.write(line + "\n")


def direct(cluster: Cluster) -> list[httpx.AsyncClient]:
    return [server.async_client() for server in cluster.live()]


async def refused_everywhere(
    clients: list[httpx.AsyncClient], access: str, since: float
) -> list[float]:
    """Poll each instance until it refuses ``access``; the seconds from ``since`` each took."""
    loop = asyncio.get_running_loop()

    async def one(client: httpx.AsyncClient) -> float:
        async def refused() -> bool:
            answer = await profile(client, access)
            assert answer.status_code in (200, 401), answer.text
            return answer.status_code == 401

        polled = await poll(refused, bound=REVOCATION_BOUND, interval=0.01)
        assert polled.ok, f"{client.base_url} still accepts a token revoked {polled.elapsed} s ago"
        return loop.time() - since

    return list(await asyncio.gather(*(one(c) for c in clients)))


async def test_a_session_moves_across_instances_and_its_logout_reaches_all(
    cluster: Cluster,
) -> None:
    """Login on one instance, refresh on another, logout on a third; then every instance
    refuses the access tokens and the refresh token of the session."""
    delays: list[float] = []
    async with contextlib.AsyncExitStack() as stack:
        proxy = await stack.enter_async_context(cluster.proxy_client())
        a, b, c = [await stack.enter_async_context(x) for x in direct(cluster)]
        loop = asyncio.get_running_loop()
        for round_ in range(ROUNDS):
            first, second, third = [(a, b, c), (b, c, a), (c, a, b), (a, c, b)][round_ % 4]
            account = await register(proxy)
            signed_in = await login(first, account)
            assert signed_in.status_code == 200, signed_in.text
            refreshed = await refresh(second, signed_in.json()["refresh_token"])
            assert refreshed.status_code == 200, refreshed.text
            access, refresh_token = (
                refreshed.json()["access_token"],
                refreshed.json()["refresh_token"],
            )
            for client in (a, b, c):  # the refreshed pair works everywhere
                assert (await profile(client, access)).status_code == 200

            ended = await logout(third, access)
            assert ended.status_code == 204, ended.text
            since = loop.time()
            delays += await refused_everywhere([a, b, c], access, since)
            for client in (a, b, c):
                login_access = signed_in.json()["access_token"]
                assert (await profile(client, login_access)).status_code == 401
                again = await refresh(client, refresh_token)
                assert again.status_code == 400, again.text
    record(
        "logout_to_refusal",
        samples=len(delays),
        p50_ms=round(statistics.median(delays) * 1000, 1),
        max_ms=round(max(delays) * 1000, 1),
    )
    assert_clean_logs(cluster)


async def test_concurrent_refreshes_over_instances_continue_one_family(cluster: Cluster) -> None:
    """One refresh token sent at once to every instance, several times each: whatever each
    racer gets, at most one successor exists, and it continues the session."""
    async with contextlib.AsyncExitStack() as stack:
        proxy = await stack.enter_async_context(cluster.proxy_client())
        limits = httpx.Limits(max_connections=RACERS_PER_INSTANCE)
        clients = [
            await stack.enter_async_context(server.async_client(limits=limits))
            for server in cluster.live()
        ]
        for _ in range(3):
            account = await register(proxy)
            signed_in = await login(proxy, account)
            token = signed_in.json()["refresh_token"]
            answers = await asyncio.gather(
                *(refresh(c, token) for c in clients for _ in range(RACERS_PER_INSTANCE))
            )
            assert {a.status_code for a in answers} <= {200, 400}, [a.text for a in answers]
            successors = {a.json()["refresh_token"] for a in answers if a.status_code == 200}
            assert len(successors) == 1, f"{len(successors)} distinct successors of one token"
            (successor,) = successors
            # Within the grace window every racer is a retry: each got the same successor.
            assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
            for client in clients:  # the family goes on, from any instance
                answer = await refresh(client, successor)
                assert answer.status_code == 200, answer.text
                assert answer.json()["refresh_token"] != successor
                successor = answer.json()["refresh_token"]
    assert_clean_logs(cluster)


async def test_the_per_account_login_limit_is_counted_across_instances(
    cluster: Cluster,
) -> None:
    """10 logins a minute per account (and address), spread round-robin over the instances
    directly: the 11th is refused by whichever instance gets it."""
    async with contextlib.AsyncExitStack() as stack:
        proxy = await stack.enter_async_context(cluster.proxy_client())
        clients = [await stack.enter_async_context(c) for c in direct(cluster)]
        account: Account = await register(proxy)
        for attempt in range(10):
            answer = await login(clients[attempt % len(clients)], account)
            assert answer.status_code == 200, (attempt, answer.text)
        for client in [*clients, proxy]:
            refused = await login(client, account)
            assert refused.status_code == 429, refused.text
            assert int(refused.headers["retry-after"]) > 0
    assert_clean_logs(cluster)


async def test_a_cli_rotation_is_agreed_on_within_one_jwks_cache_lifetime(
    cluster: Cluster,
) -> None:
    """``ostiary keys rotate`` against the database: within ``jwks_max_age`` every instance
    serves the same JWKS, with the new key, signs with it, and verifies the others' tokens."""
    async with contextlib.AsyncExitStack() as stack:
        proxy = await stack.enter_async_context(cluster.proxy_client())
        clients = [await stack.enter_async_context(c) for c in direct(cluster)]
        rotated = await asyncio.to_thread(cluster.cli, "keys", "rotate")
        assert rotated.returncode == 0, rotated.stderr
        keys = json.loads(rotated.stdout)  # the ID-token keys (RS256) are listed too
        (active,) = [k["kid"] for k in keys if k["status"] == "active" and k["alg"] == "ES256"]
        loop = asyncio.get_running_loop()
        since = loop.time()

        async def agreed() -> bool:
            documents = [(await c.get(JWKS_PATH)).json() for c in clients]
            kids = [{k["kid"] for k in d["keys"]} for d in documents]
            return all(d == documents[0] for d in documents) and active in kids[0]

        polled = await poll(agreed, bound=JWKS_MAX_AGE, interval=0.2)
        record("key_rotation", agreed=polled.ok, seconds=round(loop.time() - since, 2))
        assert polled.ok, f"the instances did not agree on the JWKS in {JWKS_MAX_AGE} s"

        account = await register(proxy)
        for signer in clients:
            access = (await login(signer, account)).json()["access_token"]
            assert header_of(access)["kid"] == active
            for verifier in clients:
                assert (await profile(verifier, access)).status_code == 200
    assert_clean_logs(cluster)


def assert_clean_logs(cluster: Cluster) -> None:
    for name, text in cluster.all_logs().items():
        assert "Traceback" not in text, f"{name}:\n{text[-3000:]}"
        assert " 500 " not in text, f"{name}:\n{text[-3000:]}"
