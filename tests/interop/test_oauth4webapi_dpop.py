"""panva's ``oauth4webapi`` (the version pinned in node/package.json) gets DPoP-bound access
tokens (RFC 9449) from a real ``ostiary serve --demo`` and calls an API that Ostiary's resource
toolkit protects with them, every proof made by oauth4webapi.

The server asks for a DPoP nonce in every proof (``OSTIARY_DPOP_NONCES``, RFC 9449 §8), and so
does the API (a ``DPoPNonces`` of its own, §9), so oauth4webapi's nonce handling is exercised
against both: a first request is refused with ``use_dpop_nonce`` (the server's 400, the API's
401 challenge) and sent again with the nonce, as oauth4webapi documents. The API is a FastAPI
app under uvicorn on 127.0.0.1 with a ``TokenVerifier`` on the server's JWKS.

Node runs twice, as a browser application would around the sign-in: first it generates its
DPoP key pair and builds the authorization URL (PKCE S256, state, ``dpop_jkt`` of §10); the
person at the browser (Python, :mod:`tests.interop.user_agent`) signs in and consents; then
Node, with the key it kept, redeems the code as a public client, calls the API, refreshes
(the refresh token is bound to the key, §5), and gets tokens for confidential service clients
with the client credentials grant. A second authorization for the same key gives a code that
Node tries to redeem with another key's proof (§10).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import pytest

from ostiary.authn.client_settings import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    REFRESH_TOKEN,
    ClientSettings,
)
from ostiary.dpop import DPoPChecker, DPoPNonces, MemoryReplayCache
from ostiary.resource import TokenVerifier
from ostiary.storage.records import ClientAuthMethod
from tests._uvicorn import serve
from tests.http._live import LiveServer, claims_of, live_server, register_client, sqlite_url
from tests.interop.support import (
    DPoPAPI,
    NodeScripts,
    dpop_challenge,
    protected_api,
    thumbprint,
)
from tests.interop.user_agent import Visit, authorize

pytestmark = pytest.mark.interop

SCRIPT: Final = "oauth4webapi_dpop.mjs"
API_AUDIENCE: Final = "https://items.interop.example"
SCOPE: Final = "items:read"
APP: Final = "node-dpop-app"
REDIRECT_URI: Final = "http://127.0.0.1/oauth4webapi/callback"
#: The public client's proof algorithm.
APP_ALG: Final = "ES256"
#: The confidential service clients by the name the script reports them under: their proof
#: algorithm (None: no DPoP) and whether they are registered "DPoP required" (RFC 9449 §5.2).
SERVICES: Final = {
    "es256": ("ES256", True),
    "eddsa": ("EdDSA", False),
    "ps256": ("PS256", False),
    # An Ed25519 key under oauth4webapi's default JWS name for it, the RFC 9864 "Ed25519".
    "ed25519": ("Ed25519", False),
    "bearer": (None, False),
}
#: A "DPoP required" service that asks without a proof (the es256 client, without its key).
WITHOUT_PROOF: Final = "required_without_proof"


@dataclass(frozen=True, slots=True)
class Run:
    """Both of Node's runs and the browser visit between them."""

    server: LiveServer
    api: DPoPAPI
    started: dict[str, Any]
    visit: Visit
    steps: dict[str, Any]

    def value(self, step: str) -> Any:
        """What ``step`` gave; fails with oauth4webapi's error if it threw one."""
        result = self.steps[step]
        assert result["ok"], f"oauth4webapi failed at {step}: {result}"
        return result["value"]

    def failure(self, step: str) -> dict[str, Any]:
        """The error ``step`` threw; fails if it succeeded."""
        result: dict[str, Any] = self.steps[step]
        assert not result["ok"], f"{step} should have failed: {result}"
        return result


@pytest.fixture(scope="module")
def run(node_oauth4webapi: NodeScripts, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    workdir = tmp_path_factory.mktemp("oauth4webapi-dpop")
    database = sqlite_url(workdir)
    service_secrets = _register_clients(database)
    with live_server(workdir, database_url=database, env={"OSTIARY_DPOP_NONCES": "true"}) as server:
        # The API asks for its own nonces too (RFC 9449 §9).
        nonces = DPoPNonces(secrets.token_bytes(32))
        verifier = TokenVerifier(
            issuer=server.issuer,
            audience=API_AUDIENCE,
            jwks_url=server.jwks_url,
            dpop=DPoPChecker(MemoryReplayCache(), nonces=nonces),
        )
        with serve(protected_api(verifier)) as base_url:
            api = DPoPAPI(base_url)
            job: dict[str, Any] = {
                "issuer": server.issuer,
                "app": {
                    "client_id": APP,
                    "redirect_uri": REDIRECT_URI,
                    "scope": SCOPE,
                    "alg": APP_ALG,
                },
                "api": {"items": api.items, "dpop_only": api.dpop_only},
            }
            started = node_oauth4webapi.run(SCRIPT, {**job, "phase": "authorize"})
            visit = _visit(started["authorization_url"], server)
            other = started["other"]
            other_visit = _visit(other["authorization_url"], server)
            services = [
                {
                    "name": name,
                    "client_id": f"node-{name}",
                    "client_secret": service_secrets[name],
                    "scope": SCOPE,
                    "alg": alg,
                }
                for name, (alg, _) in SERVICES.items()
            ]
            services.append({**services[0], "name": WITHOUT_PROOF, "alg": None})
            callback = {
                **job,
                "phase": "callback",
                "callback_url": visit.callback_url,
                **{
                    name: started[name]
                    for name in ("code_verifier", "state", "private_jwk", "public_jwk")
                },
                "other": {**other, "callback_url": other_visit.callback_url},
                "services": services,
            }
            steps = node_oauth4webapi.run(SCRIPT, callback)
            yield Run(server=server, api=api, started=started, visit=visit, steps=steps)


def _visit(authorization_url: str, server: LiveServer) -> Visit:
    return asyncio.run(
        authorize(authorization_url, username="alice", password=server.alice_password)
    )


def _register_clients(database: str) -> dict[str, str]:
    """The public application and the service clients; the services' secrets by name."""
    register_client(
        database,
        ClientSettings(
            name="oauth4webapi browser app",
            auth_method=ClientAuthMethod.NONE,
            grant_types=frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN}),
            redirect_uris=(REDIRECT_URI,),
            scopes=frozenset({SCOPE}),
            audiences=frozenset({API_AUDIENCE}),
        ),
        client_id=APP,
    )
    found: dict[str, str] = {}
    for name, (_, required) in SERVICES.items():
        registered = register_client(
            database,
            ClientSettings(
                name=f"oauth4webapi service ({name})",
                grant_types=frozenset({CLIENT_CREDENTIALS}),
                scopes=frozenset({SCOPE}),
                audiences=frozenset({API_AUDIENCE}),
                dpop_bound_access_tokens=required,
            ),
            client_id=f"node-{name}",
        )
        assert registered.secret is not None
        found[name] = registered.secret
    return found


# --- discovery and the authorization request ------------------------------------------------


def test_discovery_advertises_dpop(run: Run) -> None:
    """RFC 9449 §5.1, as oauth4webapi read it."""
    algs = run.started["metadata"]["dpop_signing_alg_values_supported"]
    assert {"ES256", "EdDSA", "PS256"} <= set(algs)


def test_the_authorization_request_names_the_key(run: Run) -> None:
    """RFC 9449 §10: ``dpop_jkt`` is the RFC 7638 thumbprint of the app's key, as oauth4webapi
    and Ostiary compute it; the person signed in and consented."""
    jkt = run.started["jkt"]
    assert thumbprint(run.started["public_jwk"], APP_ALG) == jkt
    query = parse_qs(urlsplit(run.started["authorization_url"]).query)
    assert query["dpop_jkt"] == [jkt]
    assert run.visit.steps == ("login", "consent")
    other = parse_qs(urlsplit(run.started["other"]["authorization_url"]).query)
    assert other["dpop_jkt"] == [jkt]


def test_the_code_is_bound_to_the_named_key(run: Run) -> None:
    """RFC 9449 §10: the code of a request that named ``dpop_jkt`` is not redeemed with a
    proof of another key."""
    failure = run.failure("authorization_code_other_key")
    assert failure["name"] == "ResponseBodyError", failure
    assert failure["error"] == "invalid_dpop_proof", failure


# --- the authorization code grant and the refresh, a public client --------------------------


def test_the_code_is_exchanged_for_a_dpop_bound_token(run: Run) -> None:
    """The first proof had no nonce: Ostiary asked for one (``use_dpop_nonce`` and a
    ``DPoP-Nonce`` header), oauth4webapi sent the request again with it, and got a DPoP token
    (RFC 9449 §5) bound to its key (§6.1) and a refresh token."""
    tokens = run.value("authorization_code")
    assert tokens["nonce_retries"] == 1
    assert tokens["token_type"] == "dpop"  # oauth4webapi lower-cases it
    assert tokens["scope"] == SCOPE
    assert tokens["refresh_token"]
    claims = claims_of(tokens["access_token"])
    assert claims["cnf"] == {"jkt": run.started["jkt"]}
    assert claims["client_id"] == APP
    assert API_AUDIENCE in claims["aud"]


def test_the_api_accepts_the_token_with_its_proof(run: Run) -> None:
    """oauth4webapi's proofs carry ``ath`` (§4.2) and the URL without its query (§4.3). The
    API asked for its nonce first (§9: 401 with a ``DPoP`` ``use_dpop_nonce`` challenge and a
    ``DPoP-Nonce`` header), which oauth4webapi recognized and used; each answer brings the
    current nonce, so the next call needs no retry."""
    tokens = run.value("authorization_code")
    sub = claims_of(tokens["access_token"])["sub"]
    got = run.value("get")
    assert got["status"] == 200, got
    assert got["nonce_retries"] == 1
    assert got["dpop_nonce"]
    assert got["body"] == {
        "method": "GET",
        "scheme": "DPoP",
        "sub": sub,
        "client_id": APP,
        "scope": SCOPE,
        "cnf": {"jkt": run.started["jkt"]},
        "query": "page=2",
    }
    posted = run.value("post")
    assert posted["status"] == 200, posted
    assert posted["nonce_retries"] == 0
    assert posted["body"]["json"] == {"name": "oauth4webapi"}


def test_the_token_as_bearer_is_refused(run: Run) -> None:
    """RFC 9449 §7.2: the bound token without its proof (oauth4webapi sends it as Bearer)."""
    answer = run.value("bearer_downgrade")
    assert answer["status"] == 401
    assert dpop_challenge(answer)["error"] == "invalid_token"


def test_the_token_with_another_keys_proof_is_refused(run: Run) -> None:
    """RFC 9449 §7.1: the proof's key is not the token's ``cnf.jkt`` (after the nonce)."""
    answer = run.value("other_key")
    assert answer["nonce_retries"] == 1
    assert answer["status"] == 401
    assert dpop_challenge(answer)["error"] == "invalid_token"


def test_the_refresh_token_needs_the_key(run: Run) -> None:
    """RFC 9449 §5: a public client's refresh token is bound to its key; a proof by another
    key, or none, is refused, and the token stays usable (the next test refreshes it)."""
    for step in ("refresh_other_key", "refresh_without_proof"):
        failure = run.failure(step)
        assert failure["name"] == "ResponseBodyError", failure
        assert failure["error"] == "invalid_dpop_proof", failure


def test_the_refresh_gives_a_token_bound_to_the_same_key(run: Run) -> None:
    first, refreshed = run.value("authorization_code"), run.value("refresh")
    assert refreshed["nonce_retries"] == 0  # oauth4webapi kept the nonce
    assert refreshed["token_type"] == "dpop"
    assert refreshed["refresh_token"] not in (first["refresh_token"], None)
    assert claims_of(refreshed["access_token"])["cnf"] == {"jkt": run.started["jkt"]}
    got = run.value("get_refreshed")
    assert got["status"] == 200, got
    assert got["body"]["cnf"] == {"jkt": run.started["jkt"]}
    again = run.value("refresh_again")
    assert again["token_type"] == "dpop"


# --- the client credentials grant, confidential clients -------------------------------------


@pytest.mark.parametrize(
    "name",
    [name for name, (alg, _) in SERVICES.items() if alg is not None],
)
def test_client_credentials_with_dpop(run: Run, name: str) -> None:
    token = run.value(f"client_credentials_{name}")
    assert token["nonce_retries"] == 1  # a new key: no nonce yet
    assert token["token_type"] == "dpop"
    assert "refresh_token" not in token  # RFC 6749 §4.4.3
    claims = claims_of(token["access_token"])
    assert claims["cnf"] == {"jkt": token["jkt"]}
    assert claims["sub"] == claims["client_id"] == f"node-{name}"
    answer = run.value(f"api_{name}")
    assert answer["status"] == 200, answer
    assert answer["nonce_retries"] == 1  # the API's nonce, another server's
    assert answer["body"]["scheme"] == "DPoP"
    assert answer["body"]["cnf"] == {"jkt": token["jkt"]}


@pytest.mark.parametrize("name", ["es256", "bearer"])
def test_introspection_names_the_key(run: Run, name: str) -> None:
    """RFC 9449 §6.2: the introspection of a bound token has its ``cnf.jkt`` (RFC 7800 §3.1);
    a bearer token's has none."""
    token = run.value(f"client_credentials_{name}")
    answer = run.value(f"introspection_{name}")
    assert answer["active"] is True
    assert answer["client_id"] == f"node-{name}"
    if token["jkt"] is None:
        assert answer["token_type"] == "Bearer"
        assert "cnf" not in answer
    else:
        assert answer["token_type"] == "DPoP"
        assert answer["cnf"] == {"jkt": token["jkt"]}


def test_client_credentials_without_dpop_is_a_bearer_token(run: Run) -> None:
    token = run.value("client_credentials_bearer")
    assert token["token_type"] == "bearer"
    assert "cnf" not in claims_of(token["access_token"])
    answer = run.value("api_bearer")
    assert answer["status"] == 200, answer
    assert answer["body"]["scheme"] == "Bearer"
    assert answer["body"]["cnf"] is None


def test_a_dpop_required_client_gets_nothing_without_a_proof(run: Run) -> None:
    """RFC 9449 §5.2 ``dpop_bound_access_tokens``."""
    failure = run.failure(f"client_credentials_{WITHOUT_PROOF}")
    assert failure["name"] == "ResponseBodyError", failure
    assert failure["error"] == "invalid_dpop_proof", failure
