"""Interoperability with panva's ``openid-client`` (the version pinned in node/package.json),
the certified OpenID Connect relying party for Node, against a real ``ostiary serve --demo``.

Node runs twice, as a web application would between two requests: first it discovers the
provider and builds the authorization URL with PKCE S256, state and nonce; the person at the
browser (Python, :mod:`tests.interop.user_agent`) signs in and consents; then Node takes the
callback URL and does the authorization code grant, which validates the authorization
response (state, RFC 9207 ``iss``) and the ID token (signature through the JWKS, ``iss``,
``aud``, ``nonce``, ``at_hash``), then UserInfo, introspection, refresh, revocation, and the
client credentials grant with ``client_secret_basic`` and ``private_key_jwt``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest
from joserfc.jwk import ECKey

from ostiary.authn.client_registry import Registered
from ostiary.authn.client_settings import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    REFRESH_TOKEN,
    ClientSettings,
)
from ostiary.storage.records import ClientAuthMethod
from tests.http._live import LiveServer, claims_of, live_server, register_client, sqlite_url
from tests.interop.support import NodeScripts
from tests.interop.user_agent import Visit, authorize

pytestmark = pytest.mark.interop

SCRIPT: Final = "openid_client.mjs"
REDIRECT_URI: Final = "http://127.0.0.1/openid-client/callback"
WEB_SCOPE: Final = "openid profile"
SERVICE_SCOPE: Final = "reports:read"
#: The API the service clients are registered for (none: no token at all, RFC 9700 §2.3).
SERVICE_AUDIENCE: Final = "https://reports.example.test"
#: The service clients by the name the script reports them under.
SERVICES: Final = {"basic": "node-basic", "private_key_jwt": "node-jwt"}


@dataclass(frozen=True, slots=True)
class Run:
    """Both of Node's runs and the browser visit between them."""

    server: LiveServer
    #: The first run's results: the authorization URL and what the client kept.
    started: dict[str, Any]
    visit: Visit
    #: The second run's results, one per step.
    steps: dict[str, Any]

    def value(self, step: str) -> Any:
        """What ``step`` gave; fails with openid-client's error if it threw one."""
        result = self.steps[step]
        assert result["ok"], f"openid-client failed at {step}: {result}"
        return result["value"]


@pytest.fixture(scope="module")
def run(node_openid_client: NodeScripts, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    workdir = tmp_path_factory.mktemp("openid-client-live")
    database = sqlite_url(workdir)
    key = ECKey.generate_key("P-256", parameters={"kid": "node-1", "alg": "ES256", "use": "sig"})
    web, basic = _register_clients(database, key)
    with live_server(workdir, database_url=database) as server:
        job: dict[str, Any] = {
            "issuer": server.issuer,
            "web": {
                "client_id": "node-web",
                "client_secret": web.secret,
                "redirect_uri": REDIRECT_URI,
                "scope": WEB_SCOPE,
            },
        }
        started = node_openid_client.run(SCRIPT, {**job, "phase": "authorize"})
        visit = _visit(started["authorization_url"], server)
        services = [
            {
                "name": "basic",
                "client_id": SERVICES["basic"],
                "client_secret": basic.secret,
                "scope": SERVICE_SCOPE,
            },
            {
                "name": "private_key_jwt",
                "client_id": SERVICES["private_key_jwt"],
                "private_jwk": key.as_dict(private=True),
                "scope": SERVICE_SCOPE,
            },
        ]
        callback = {
            **job,
            "phase": "callback",
            "callback_url": visit.callback_url,
            "code_verifier": started["code_verifier"],
            "state": started["state"],
            "nonce": started["nonce"],
            "services": services,
        }
        steps = node_openid_client.run(SCRIPT, callback)
        yield Run(server=server, started=started, visit=visit, steps=steps)


def _register_clients(database: str, key: ECKey) -> tuple[Registered, Registered]:
    """The web application (``client_secret_post``, openid-client's default) and the service
    clients; the web application's and the ``client_secret_basic`` service's registrations."""
    web = register_client(
        database,
        ClientSettings(
            name="openid-client web app",
            auth_method=ClientAuthMethod.CLIENT_SECRET_POST,
            grant_types=frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN}),
            redirect_uris=(REDIRECT_URI,),
            scopes=frozenset(WEB_SCOPE.split()),
        ),
        client_id="node-web",
    )
    service = frozenset({CLIENT_CREDENTIALS})
    basic = register_client(
        database,
        ClientSettings(
            name="openid-client service (basic)",
            grant_types=service,
            scopes=frozenset({SERVICE_SCOPE}),
            audiences=frozenset({SERVICE_AUDIENCE}),
        ),
        client_id=SERVICES["basic"],
    )
    register_client(
        database,
        ClientSettings(
            name="openid-client service (private_key_jwt)",
            auth_method=ClientAuthMethod.PRIVATE_KEY_JWT,
            grant_types=service,
            scopes=frozenset({SERVICE_SCOPE}),
            audiences=frozenset({SERVICE_AUDIENCE}),
            jwks={"keys": [key.as_dict(private=False)]},
        ),
        client_id=SERVICES["private_key_jwt"],
    )
    return web, basic


def _visit(authorization_url: str, server: LiveServer) -> Visit:
    return asyncio.run(
        authorize(authorization_url, username="alice", password=server.alice_password)
    )


# --- discovery and the authorization request ------------------------------------------------


def test_discovery_found_the_server(run: Run) -> None:
    metadata = run.started["metadata"]
    assert metadata["issuer"] == run.server.issuer
    assert metadata["jwks_uri"] == run.server.jwks_url


def test_authorization_url_asks_for_code_with_pkce_s256(run: Run) -> None:
    url = urlsplit(run.started["authorization_url"])
    assert urlunsplit((*url[:3], "", "")) == run.server.base_url + "/oauth/authorize"
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    verifier = run.started["code_verifier"].encode("ascii")
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
    assert query == {
        "client_id": "node-web",
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": WEB_SCOPE,
        "code_challenge": challenge.decode("ascii"),
        "code_challenge_method": "S256",
        "state": run.started["state"],
        "nonce": run.started["nonce"],
    }


def test_the_server_asked_to_sign_in_and_consent(run: Run) -> None:
    assert run.visit.steps == ("login", "consent")
    callback = urlsplit(run.visit.callback_url)
    assert urlunsplit((*callback[:3], "", "")) == REDIRECT_URI
    assert set(parse_qs(callback.query)) == {"code", "state", "iss"}


# --- the authorization code grant and what follows -------------------------------------------


def test_authorization_code_grant_validates_the_id_token(run: Run) -> None:
    """openid-client accepted the response and the ID token; the claims it checked are there."""
    tokens = run.value("authorization_code")
    claims = tokens["id_token_claims"]
    assert claims["iss"] == run.server.issuer
    assert claims["aud"] == "node-web"
    assert claims["nonce"] == run.started["nonce"]
    assert "at_hash" in claims  # openid-client checked it against the access token
    assert claims["sub"] == claims_of(tokens["access_token"])["sub"]
    assert claims["preferred_username"] == "alice"
    assert tokens["token_type"].lower() == "bearer"
    assert tokens["scope"] == WEB_SCOPE
    assert tokens["refresh_token"]


def test_userinfo(run: Run) -> None:
    """fetchUserInfo also checks that ``sub`` is the ID token's (Core §5.3.2)."""
    sub = run.value("authorization_code")["id_token_claims"]["sub"]
    assert run.value("userinfo") == {"sub": sub, "preferred_username": "alice"}


def test_introspection_of_the_access_token(run: Run) -> None:
    answer = run.value("introspection")
    tokens = run.value("authorization_code")
    assert answer["active"] is True
    assert answer["client_id"] == "node-web"
    assert answer["sub"] == tokens["id_token_claims"]["sub"]
    assert answer["jti"] == claims_of(tokens["access_token"])["jti"]


def test_refresh_rotates_the_refresh_token(run: Run) -> None:
    first, refreshed = run.value("authorization_code"), run.value("refresh")
    assert refreshed["access_token"] != first["access_token"]
    assert refreshed["refresh_token"] != first["refresh_token"]
    assert refreshed["scope"] == WEB_SCOPE


def test_revoked_refresh_token_no_longer_refreshes(run: Run) -> None:
    assert run.value("revocation") is None
    failed = run.steps["refresh_after_revocation"]
    assert not failed["ok"]
    assert failed["name"] == "ResponseBodyError"
    assert failed["error"] == "invalid_grant"


def test_revocation_ends_the_grants_access_token(run: Run) -> None:
    """RFC 7009 §2.1; the UserInfo endpoint answers with an RFC 6750 challenge."""
    failed = run.steps["userinfo_after_revocation"]
    assert not failed["ok"]
    assert failed["name"] == "WWWAuthenticateChallengeError"
    [challenge] = failed["cause"]
    assert challenge["scheme"] == "bearer"
    assert challenge["parameters"]["error"] == "invalid_token"


# --- the client credentials grant -----------------------------------------------------------


@pytest.mark.parametrize("method", sorted(SERVICES))
def test_client_credentials(run: Run, method: str) -> None:
    token = run.value(f"client_credentials_{method}")
    assert token["scope"] == SERVICE_SCOPE
    assert "refresh_token" not in token  # RFC 6749 §4.4.3
    claims = claims_of(token["access_token"])
    assert claims["sub"] == claims["client_id"] == SERVICES[method]
    assert claims["iss"] == run.server.issuer
