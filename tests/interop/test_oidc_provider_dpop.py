"""Ostiary's resource toolkit verifies DPoP-bound access tokens (RFC 9449) issued by panva's
``oidc-provider`` and the proofs of clients nobody here wrote (the versions pinned in
node/package.json).

``oidc-provider`` runs on 127.0.0.1 with its DPoP feature on and RFC 9068 JWT access tokens
signed ES256 for one resource server (node/oidc_provider_dpop_server.mjs). The API is
protected by ``ostiary.resource`` with a ``TokenVerifier`` that fetches oidc-provider's JWKS,
once as a FastAPI app under uvicorn and once as a Flask app under werkzeug, on 127.0.0.1. One
Node process per API is the client (node/oidc_provider_dpop_client.mjs): it gets tokens from
oidc-provider with the client credentials grant and calls the API, its proofs made by panva's
``oauth4webapi`` (one key per proof algorithm) and by hand with Node's ``jose`` (including
proofs that are wrong in one way each). What the API answered, status, challenge and body,
comes back to Python.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import pytest

from ostiary.resource import TokenVerifier
from tests._uvicorn import serve
from tests.http._live import claims_of, header_of
from tests.interop.support import (
    DPoPAPI,
    NodeScripts,
    dpop_challenge,
    protected_api,
    protected_flask_api,
    serve_wsgi,
    thumbprint,
)

pytestmark = pytest.mark.interop

SERVER_SCRIPT: Final = "oidc_provider_dpop_server.mjs"
CLIENT_SCRIPT: Final = "oidc_provider_dpop_client.mjs"
RESOURCE: Final = "https://items.interop.example"
SCOPE: Final = "items:read"
DPOP_CLIENT: Final = "dpop-service"
BEARER_CLIENT: Final = "bearer-service"
#: The proof algorithms oauth4webapi signs with, one key each (EdDSA: an Ed25519 key).
ALGS: Final = ("ES256", "EdDSA", "PS256", "RS256")
#: The API is served by each integration of the toolkit: the ASGI middleware and FastAPI
#: dependencies (``TokenVerifier.verify_dpop``), and Flask (``verify_dpop_sync``).
FRAMEWORKS: Final = ("fastapi", "flask")


@dataclass(frozen=True, slots=True)
class Run:
    issuer: str
    api: DPoPAPI
    results: dict[str, Any]

    def value(self, step: str) -> Any:
        """What ``step`` gave; fails with the Node error if it threw one."""
        result = self.results[step]
        assert result["ok"], f"the client failed at {step}: {result}"
        return result["value"]

    def answer(self, step: str) -> dict[str, Any]:
        """The API's answer to the call of ``step``."""
        answer: dict[str, Any] = self.value(step)
        return answer


@dataclass(frozen=True, slots=True)
class Provider:
    issuer: str
    jwks_uri: str
    secrets: dict[str, str]


@pytest.fixture(scope="module")
def provider(
    node_oidc_provider: NodeScripts, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Provider]:
    """oidc-provider with DPoP on, on 127.0.0.1; one confidential client bound to DPoP
    (``dpop_bound_access_tokens``), one that uses none."""
    workdir = tmp_path_factory.mktemp("oidc-provider-dpop")
    client_secrets = {c: secrets.token_urlsafe(32) for c in (DPOP_CLIENT, BEARER_CLIENT)}
    job = {
        "resource": RESOURCE,
        "scope": SCOPE,
        "clients": [
            {"client_id": c, "client_secret": s, "dpop_bound": c == DPOP_CLIENT}
            for c, s in client_secrets.items()
        ],
    }
    with node_oidc_provider.serve(SERVER_SCRIPT, job, workdir) as started:
        yield Provider(started["issuer"], started["jwks_uri"], client_secrets)


@contextmanager
def protected(framework: str, verifier: TokenVerifier) -> Iterator[str]:
    """The API under ``framework``, served on 127.0.0.1; its base URL."""
    if framework == "fastapi":
        with serve(protected_api(verifier)) as base_url:
            yield base_url
    else:
        with serve_wsgi(protected_flask_api(verifier)) as base_url:
            yield base_url


@pytest.fixture(scope="module", params=FRAMEWORKS)
def run(
    request: pytest.FixtureRequest, provider: Provider, node_oauth4webapi: NodeScripts
) -> Iterator[Run]:
    """The Node client's run against the API under one framework (a verifier of its own)."""
    verifier = TokenVerifier(issuer=provider.issuer, audience=RESOURCE, jwks_url=provider.jwks_uri)
    with protected(request.param, verifier) as base_url:
        api = DPoPAPI(base_url)
        job = {
            "issuer": provider.issuer,
            "scope": SCOPE,
            "dpop_client": {
                "client_id": DPOP_CLIENT,
                "client_secret": provider.secrets[DPOP_CLIENT],
            },
            "bearer_client": {
                "client_id": BEARER_CLIENT,
                "client_secret": provider.secrets[BEARER_CLIENT],
            },
            "api": {"items": api.items, "dpop_only": api.dpop_only},
            "algs": list(ALGS),
        }
        results = node_oauth4webapi.run(CLIENT_SCRIPT, job)
        yield Run(issuer=provider.issuer, api=api, results=results)


def test_oidc_provider_advertises_dpop(run: Run) -> None:
    """RFC 9449 §5.1; oauth4webapi processed the metadata."""
    metadata = run.value("discovery")
    assert metadata["issuer"] == run.issuer
    assert set(ALGS) <= set(metadata["dpop_signing_alg_values_supported"])


# --- oauth4webapi's proofs ------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_oidc_provider_binds_the_token_to_the_key(run: Run, alg: str) -> None:
    """The token says ``token_type: DPoP`` and its ``cnf.jkt`` is the key's RFC 7638
    thumbprint, as oidc-provider, oauth4webapi and Ostiary each compute it."""
    token = run.value(f"token_{alg}")
    assert token["token_type"] == "dpop"  # oauth4webapi lower-cases it
    jkt = thumbprint(token["public_jwk"], alg)
    assert token["jkt"] == jkt
    assert header_of(token["access_token"])["typ"] == "at+jwt"
    claims = claims_of(token["access_token"])
    assert claims["cnf"] == {"jkt": jkt}
    assert claims["aud"] == RESOURCE
    assert claims["client_id"] == DPOP_CLIENT


@pytest.mark.parametrize("alg", ALGS)
def test_the_api_accepts_the_token_with_oauth4webapis_proof(run: Run, alg: str) -> None:
    """GET with a query and a fragment in the URL (the proof's ``htu`` has neither, §4.3
    step 9), and POST with a body to the route that requires DPoP."""
    token = run.value(f"token_{alg}")
    got = run.answer(f"get_{alg}")
    assert got["status"] == 200, got
    assert got["body"] == {
        "method": "GET",
        "scheme": "DPoP",
        "sub": DPOP_CLIENT,
        "client_id": DPOP_CLIENT,
        "scope": SCOPE,
        "cnf": {"jkt": token["jkt"]},
        "query": "page=2",
    }
    posted = run.answer(f"post_{alg}")
    assert posted["status"] == 200, posted
    assert posted["body"]["method"] == "POST"
    assert posted["body"]["cnf"] == {"jkt": token["jkt"]}
    assert posted["body"]["json"] == {"name": f"made with {alg}"}


def test_the_bound_token_as_bearer_is_refused(run: Run) -> None:
    """RFC 9449 §7.2: without its proof, oauth4webapi sends the token as ``Bearer``; a
    DPoP-bound token is refused so, with a challenge oauth4webapi parses."""
    answer = run.answer("bearer_downgrade")
    assert answer["status"] == 401
    assert dpop_challenge(answer)["error"] == "invalid_token"


def test_a_proof_of_another_key_is_refused(run: Run) -> None:
    """RFC 9449 §7.1: the proof's key must be the one of ``cnf.jkt``."""
    answer = run.answer("other_key")
    assert answer["status"] == 401
    assert dpop_challenge(answer)["error"] == "invalid_token"


def test_an_ed25519_proof_under_its_rfc_9864_name(run: Run) -> None:
    token = run.value("token_Ed25519")
    assert token["token_type"] == "dpop"
    answer = run.answer("get_Ed25519")
    assert answer["status"] == 200, answer


def test_a_bearer_token_of_another_client(run: Run) -> None:
    """A client without DPoP gets a Bearer token: accepted as Bearer where DPoP is not
    required, refused with a DPoP challenge where it is."""
    token = run.value("token_bearer")
    assert token["token_type"] == "bearer"
    assert "cnf" not in claims_of(token["access_token"])
    answer = run.answer("bearer_items")
    assert answer["status"] == 200, answer
    assert answer["body"]["scheme"] == "Bearer"
    assert answer["body"]["cnf"] is None
    refused = run.answer("bearer_dpop_only")
    assert refused["status"] == 401
    assert dpop_challenge(refused)


# --- proofs made with Node's jose -----------------------------------------------------------


def test_jose_made_proofs_bind_and_pass(run: Run) -> None:
    token = run.value("jose_token")
    assert token["token_type"] == "DPoP"
    assert claims_of(token["access_token"])["cnf"] == {"jkt": token["jkt"]}
    for step in ("jose_get", "jose_first_use", "jose_lowercase_scheme"):
        answer = run.answer(step)
        assert answer["status"] == 200, (step, answer)
        assert answer["body"]["cnf"] == {"jkt": token["jkt"]}
    assert run.answer("jose_post_PS256")["status"] == 200


def test_a_replayed_proof_is_refused(run: Run) -> None:
    """RFC 9449 §11.1: the same proof (same ``jti``) a second time."""
    answer = run.answer("jose_replay")
    assert answer["status"] == 401
    assert dpop_challenge(answer)["error"] == "invalid_dpop_proof"


#: Each proof wrong in one way (RFC 9449 §4.3), and the error the API answers with.
WRONG_PROOFS: Final = {
    "jose_other_key": {"invalid_token"},  # the proof is good, the token not its key's
    "jose_no_ath": {"invalid_dpop_proof"},
    "jose_wrong_ath": {"invalid_dpop_proof"},
    "jose_wrong_htm": {"invalid_dpop_proof"},
    "jose_wrong_htu": {"invalid_dpop_proof"},
    "jose_stale_iat": {"invalid_dpop_proof"},
    "jose_future_iat": {"invalid_dpop_proof"},
    "jose_no_jti": {"invalid_dpop_proof"},
    "jose_wrong_typ": {"invalid_dpop_proof"},
    "jose_private_jwk": {"invalid_dpop_proof"},
}


@pytest.mark.parametrize("step", sorted(WRONG_PROOFS))
def test_a_wrong_proof_is_refused(run: Run, step: str) -> None:
    answer = run.answer(step)
    assert answer["status"] == 401, answer
    challenge = dpop_challenge(answer)
    assert challenge["error"] in WRONG_PROOFS[step]
    assert "algs" in challenge  # RFC 9449 §7.1: the algorithms the API accepts


def test_the_bound_token_as_bearer_with_its_proof_is_refused(run: Run) -> None:
    """The ``Bearer`` scheme with a good proof alongside is still a downgrade (§7.2)."""
    answer = run.answer("jose_bearer_with_proof")
    assert answer["status"] == 401
    assert dpop_challenge(answer)
