"""Black-box: the README walkthrough against the real ``ostiary serve --demo`` over real HTTP,
once with httpx step by step, and once as the shell block the server printed at start, run
with bash, curl and python3 exactly as a user would paste it."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..docs._markdown import blocks_of
from ._live import (
    BASH_TIMEOUT,
    LiveServer,
    claims_of,
    clean_environment,
    header_of,
    live_server,
    login_audiences,
    printed_walkthrough,
    run_printed_walkthrough,
    walk_readme,
)
from ._server import BAD_GRANT, NO_STORE, REVOKED, oauth

pytestmark = pytest.mark.slow

ADMIN_ONLY = oauth("insufficient_scope", "The token does not carry a role this resource requires.")
QUICKSTART = Path(__file__).parents[2] / "docs" / "quickstart.md"
README = Path(__file__).parents[2] / "README.md"
DEFAULT_URL = "http://127.0.0.1:8000"
NEEDS_REPORTS = {
    **oauth("insufficient_scope", "The token does not grant the scope this resource requires."),
    "scope": "reports:read",
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # The defaults, grace window included: step 3 refreshes twice, so step 4's old token is
    # reuse, not a retry (docs/security.md).
    with live_server(tmp_path_factory.mktemp("live-walkthrough")) as server:
        yield server


def assert_token_response(
    body: dict[str, Any], live: LiveServer, scope: str, *, admin: bool = False
) -> None:
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == scope
    assert len(body["refresh_token"]) >= 43  # 256 random bits, base64url
    header, claims = header_of(body["access_token"]), claims_of(body["access_token"])
    assert (header["typ"], header["alg"]) == ("at+jwt", "ES256")
    audiences = login_audiences(live.issuer)
    if admin:  # the admin API's audience comes with the admin scope
        audiences = sorted([*audiences, f"{live.issuer}/admin"])
    assert (claims["iss"], claims["aud"], claims["scope"]) == (live.issuer, audiences, scope)


def test_the_readme_walkthrough_over_http(live: LiveServer) -> None:
    with live.client() as client:
        walk = walk_readme(client, live)

    # 1. log in
    assert walk["login"].status_code == 200, walk["login"].text
    assert {k: walk["login"].headers[k] for k in NO_STORE} == NO_STORE
    assert_token_response(walk.json("login"), live, "profile")
    access, refresh = walk.tokens("login")

    # 2. the demo API: any valid token for the profile, a scope for reports, a role for stats
    assert walk["profile"].status_code == 200, walk["profile"].text
    profile = walk.json("profile")
    assert profile["sub"] == claims_of(access)["sub"]
    assert (profile["roles"], profile["scope"], profile["session"]) == (
        ["user"],
        "profile",
        claims_of(access)["sid"],
    )
    assert (walk["reports"].status_code, walk.json("reports")) == (403, NEEDS_REPORTS)
    assert 'error="insufficient_scope"' in walk["reports"].headers["www-authenticate"]
    assert (walk["admin stats as alice"].status_code, walk.json("admin stats as alice")) == (
        403,
        ADMIN_ONLY,
    )
    assert walk["admin login"].status_code == 200, walk["admin login"].text
    admin_scope = "admin profile reports:read"
    assert_token_response(walk.json("admin login"), live, admin_scope, admin=True)
    assert walk["admin stats"].status_code == 200, walk["admin stats"].text
    assert "requests_served" in walk.json("admin stats")
    assert walk["reports as admin"].status_code == 200, walk["reports as admin"].text

    # 3. refresh: a new pair in the same session
    assert walk["refresh"].status_code == 200, walk["refresh"].text
    assert {k: walk["refresh"].headers[k] for k in NO_STORE} == NO_STORE
    assert_token_response(walk.json("refresh"), live, "profile")
    new_access, new_refresh = walk.tokens("refresh")
    assert (new_access, new_refresh) != (access, refresh)
    assert new_refresh != refresh and new_access != access
    assert claims_of(new_access)["sid"] == claims_of(access)["sid"]
    assert walk["refresh again"].status_code == 200, walk["refresh again"].text
    assert walk.tokens("refresh again")[1] != new_refresh
    assert walk["profile after refresh"].status_code == 200

    # 4. the old refresh token again: reuse; the session is revoked, its tokens refused at once
    assert (walk["reuse"].status_code, walk.json("reuse")) == (400, BAD_GRANT)
    assert (walk["profile after reuse"].status_code, walk.json("profile after reuse")) == (
        401,
        REVOKED,
    )
    assert walk["profile after reuse"].headers["www-authenticate"].startswith('Bearer realm="api"')
    assert (walk["me after reuse"].status_code, walk.json("me after reuse")) == (401, REVOKED)
    assert (walk["refresh after reuse"].status_code, walk.json("refresh after reuse")) == (
        400,
        BAD_GRANT,
    )

    # 5. log in again: the session list shows this session, not the revoked one; log out
    assert walk["login again"].status_code == 200
    again_access, _ = walk.tokens("login again")
    assert walk.json("me")["username"] == "alice"
    assert walk.json("me")["id"] == claims_of(again_access)["sub"]
    assert walk["sessions"].status_code == 200, walk["sessions"].text
    sessions = {s["id"]: s for s in walk.json("sessions")}
    current = sessions[claims_of(again_access)["sid"]]
    assert current["current"] is True
    assert current["address"] == "127.0.0.1"
    assert current["user_agent"].startswith("python-httpx/")
    assert [s["id"] for s in sessions.values() if s["current"]] == [current["id"]]
    assert claims_of(access)["sid"] not in sessions
    assert walk["logout"].status_code == 204
    assert walk["logout"].content == b""

    # 6. refused at once, by the demo API and by the server's own routes; the session is over
    assert (walk["profile after logout"].status_code, walk.json("profile after logout")) == (
        401,
        REVOKED,
    )
    assert (walk["me after logout"].status_code, walk.json("me after logout")) == (401, REVOKED)
    assert (walk["refresh after logout"].status_code, walk.json("refresh after logout")) == (
        400,
        BAD_GRANT,
    )

    # the public keys, cacheable, with the key every token names
    jwks = walk["jwks"]
    assert jwks.status_code == 200
    assert jwks.headers["cache-control"] == "public, max-age=300"
    assert jwks.headers["content-type"] == "application/jwk-set+json"
    kids = {key["kid"] for key in jwks.json()["keys"]}
    for token in (access, new_access, again_access):
        assert header_of(token)["kid"] in kids
    assert all("d" not in key for key in jwks.json()["keys"])


def test_the_admin_has_a_session_list_of_its_own(live: LiveServer) -> None:
    with live.client() as client:
        alice = client.post(
            "/auth/login", json={"username": "alice", "password": live.alice_password}
        ).json()
        admin = client.post(
            "/auth/login", json={"username": "admin", "password": live.admin_password}
        ).json()
        listed = client.get(
            "/auth/sessions", headers={"Authorization": f"Bearer {admin['access_token']}"}
        )
    assert listed.status_code == 200
    ids = {s["id"] for s in listed.json()}
    assert claims_of(admin["access_token"])["sid"] in ids
    assert claims_of(alice["access_token"])["sid"] not in ids


# --- the walkthrough as printed ----------------------------------------------------------


def test_the_printed_walkthrough_names_this_server(live: LiveServer) -> None:
    block = printed_walkthrough(live.stdout())
    urls = re.findall(r"https?://[^\s\"']+", block)
    assert len(urls) == 10
    for url in urls:
        assert url.startswith(live.base_url + "/"), url
    assert 'export ALICE_PASSWORD="$OSTIARY_DEMO_ALICE_PASSWORD"' in block
    assert live.alice_password not in live.stdout()


def test_the_quickstart_shows_the_walkthrough_the_server_prints(live: LiveServer) -> None:
    """docs/quickstart.md holds the same block, for the default URL, all of it shell: the line
    that sets the password is the one the server printed, which the reader pastes first."""
    section = QUICKSTART.read_text(encoding="utf-8").split("## The walkthrough", 1)[1]
    documented = section.split("```sh\n", 1)[1].split("```", 1)[0]
    printed = printed_walkthrough(live.stdout()).replace(live.base_url, DEFAULT_URL)
    printed_password, *printed_steps = printed.splitlines()
    assert printed_password.startswith("export ALICE_PASSWORD=")
    assert documented.splitlines() == printed_steps


def test_the_printed_service_secret_gets_the_readme_a_token(live: LiveServer) -> None:
    """The README's client-credentials curl, pasted after the export line the server printed,
    gets the demo service account a token."""
    exports = [
        line.strip()
        for line in live.stdout().splitlines()
        if line.strip().startswith("export SERVICE_SECRET=")
    ]
    assert len(exports) == 1, live.stdout()
    (curl,) = [b.code for b in blocks_of(README) if "grant_type=client_credentials" in b.code]
    script = exports[0] + "\n" + curl.replace(DEFAULT_URL, live.base_url)
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-euc", script],
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=BASH_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    issued = json.loads(done.stdout)
    assert (issued["token_type"], issued["scope"]) == ("Bearer", "reports:read")
    claims = claims_of(issued["access_token"])
    assert (claims["sub"], claims["client_id"]) == ("demo-service", "demo-service")
    assert "refresh_token" not in issued


def test_the_printed_walkthrough_runs_as_printed(live: LiveServer, tmp_path: Path) -> None:
    run = run_printed_walkthrough(live, tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    lines = run.lines
    assert len(lines) == 9, run.stdout
    (login, profile, reports, refreshed, reuse, revoked, logout, refused, jwks) = lines

    # 1. log in
    tokens = json.loads(login)
    assert set(tokens) >= {"access_token", "refresh_token", "expires_in", "scope"}
    # 2. call the API; "# 403: no reports:read"
    assert json.loads(profile)["sub"] == claims_of(tokens["access_token"])["sub"]
    assert json.loads(reports) == NEEDS_REPORTS
    # 3. refresh: a new pair
    pair = json.loads(refreshed)
    assert pair["refresh_token"] != tokens["refresh_token"]
    assert claims_of(pair["access_token"])["sid"] == claims_of(tokens["access_token"])["sid"]
    # 4. "# 400 invalid_grant", then "# 401: revoked with it"
    assert json.loads(reuse) == BAD_GRANT
    assert json.loads(revoked) == REVOKED
    # 5. "# 204"
    assert logout == "204"
    # 6. "# 401 revoked"
    assert json.loads(refused) == REVOKED
    # the keys
    assert {key["kid"] for key in json.loads(jwks)["keys"]} >= {
        header_of(pair["access_token"])["kid"]
    }
    # the second login.json (step 5) is another session than the first
    second = json.loads(run.files["login.json"])
    assert claims_of(second["access_token"])["sid"] != claims_of(tokens["access_token"])["sid"]
