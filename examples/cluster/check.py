"""``--check``: the walkthrough run by the launcher itself, against the cluster it started.

Alice logs in through the proxy; the service and each instance (directly) accept her token;
she logs out through the proxy; then each instance and the service are asked again and again,
concurrently, until they refuse the token. Printed: every status, which instance answered
through the proxy, and the time from the logout's answer to each refusal. True only if
everything answered as it should and every refusal came within :data:`REFUSAL_BOUND`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import httpx

from examples.cluster.stack import USERNAME, Cluster

REFUSAL_BOUND: Final = 10.0
POLL_INTERVAL: Final = 0.005
REQUEST_TIMEOUT: Final = 10.0


@dataclass(frozen=True)
class Target:
    """Where a token is tried: an instance's ``/auth/me`` or the service's ``/orders``."""

    name: str
    base_url: str
    path: str

    @property
    def url(self) -> str:
        return self.base_url + self.path


@dataclass(frozen=True)
class Refusal:
    status: int
    seconds: float
    description: str


def targets(cluster: Cluster) -> list[Target]:
    layout = cluster.layout
    instances = [
        Target(f"instance-{index}", url, "/auth/me")
        for index, url in enumerate(layout.instance_urls(), start=1)
    ]
    return [*instances, Target("service", layout.service_url, "/orders")]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def description(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("error_description", ""))
    except ValueError:
        return answer.text[:100]


async def refused(client: httpx.AsyncClient, target: Target, token: str, since: float) -> Refusal:
    """Ask ``target`` until it answers anything but 200, or :data:`REFUSAL_BOUND` passes."""
    loop = asyncio.get_running_loop()
    while True:
        answer = await client.get(target.url, headers=bearer(token))
        elapsed = loop.time() - since
        if answer.status_code != 200 or elapsed >= REFUSAL_BOUND:
            return Refusal(answer.status_code, elapsed, description(answer))
        await asyncio.sleep(POLL_INTERVAL)


class Report:
    """The lines of the check, each marked ok or FAIL; ``passed`` if none failed."""

    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out
        self.passed = True

    def step(
        self, what: str, status: int, expected: int, note: str = "", *, also: bool = True
    ) -> bool:
        ok = status == expected and also
        self.passed &= ok
        mark = "ok  " if ok else "FAIL"
        self.out(f"  {mark} {what:<34} {status}{f'  {note}' if note else ''}")
        return ok


async def run_check(cluster: Cluster, out: Callable[[str], None] = print) -> bool:
    report = Report(out)
    out("\nChecking: a logout through the proxy reaches every instance and the service")
    out("  (a time runs from the logout's answer to the first 401; each is asked again 5 ms")
    out("  after a 200, so a time includes up to 5 ms and one request's round trip)")
    proxy = cluster.layout.issuer
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as client:
        login = await client.post(
            f"{proxy}/auth/login", json={"username": USERNAME, "password": cluster.password}
        )
        served = f"(by {login.headers.get('x-served-by', '?')})"
        if not report.step("log in through the proxy", login.status_code, 200, served):
            out(f"  {login.text[:300]}")
            return False
        token = str(login.json()["access_token"])
        for target in targets(cluster):
            answer = await client.get(target.url, headers=bearer(token))
            report.step(f"GET {target.path} at {target.name}", answer.status_code, 200)

        logout = await client.post(f"{proxy}/auth/logout", headers=bearer(token))
        since = loop.time()
        served = f"(by {logout.headers.get('x-served-by', '?')})"
        report.step("log out through the proxy", logout.status_code, 204, served)
        refusals = await asyncio.gather(
            *(refused(client, target, token, since) for target in targets(cluster))
        )
    for target, refusal in zip(targets(cluster), refusals, strict=True):
        note = f"{refusal.seconds * 1000:7.1f} ms after the logout: {refusal.description}"
        revoked = "revoked" in refusal.description  # not refused for another reason
        report.step(f"refused by {target.name}", refusal.status, 401, note, also=revoked)
    if report.passed:
        out("Check passed: every instance and the service refused the token after the logout.")
    else:
        out("Check FAILED (see the lines marked FAIL).")
    return report.passed
