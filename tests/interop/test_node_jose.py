"""Interoperability with Node's ``jose`` (panva/jose), the version pinned in node/package.json.

Both directions run as one Node process each, for every algorithm at once:

* Node verifies what Ostiary signs, fetching Ostiary's JWKS over HTTP as a resource server
  written in JavaScript would (``createRemoteJWKSet`` + ``jwtVerify`` with ``typ: 'at+jwt'``);
* Ostiary's ``TokenVerifier`` verifies what Node signs, with Node's exported public key given
  up front or fetched from a JWKS URL.

HMAC secrets are never published in a JWKS; they are handed to the other side directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from ostiary.errors import InvalidKey, InvalidToken
from ostiary.jose import JWK, sign_compact
from ostiary.keys import KeyRing, KeyState
from ostiary.resource import AccessClaims, TokenVerifier
from tests.interop.support import (
    ALGORITHMS,
    ASYMMETRIC,
    AUDIENCE,
    ISSUER,
    OTHER_AUDIENCE,
    SYMMETRIC,
    JWKSServer,
    NodeJose,
    access_claims,
    b64url_encode,
    generate,
    secret_of,
)

pytestmark = pytest.mark.interop

#: Some tokens carry ``aud`` as an array (RFC 7519 §4.1.3 allows both forms).
AUDIENCE_AS_ARRAY = frozenset({"RS256", "PS256", "HS384"})


def audience_for(alg: str) -> str | list[str]:
    return [AUDIENCE, OTHER_AUDIENCE] if alg in AUDIENCE_AS_ARRAY else AUDIENCE


# --- Node's jose verifies Ostiary's tokens ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class OstiarySigned:
    keys: dict[str, JWK]
    claims: dict[str, dict[str, Any]]
    jwks_url: str
    #: Node's verdict on each case, by case name.
    results: dict[str, Any]


#: Ostiary-signed tokens Node must refuse, with the jose error code it must give.
NODE_REFUSES = {
    "ES256-wrong-audience": "ERR_JWT_CLAIM_VALIDATION_FAILED",
    "ES256-typ-JWT": "ERR_JWT_CLAIM_VALIDATION_FAILED",
}


@pytest.fixture(scope="module")
def ostiary_signed(node_jose: NodeJose, jwks_server: JWKSServer) -> OstiarySigned:
    keys = {alg: generate(alg) for alg in ALGORITHMS}
    ring = KeyRing()
    for alg in ASYMMETRIC:  # one active key, the others published as next
        ring.add(keys[alg], state=KeyState.ACTIVE if alg == ASYMMETRIC[0] else KeyState.NEXT)
    jwks_url = jwks_server.publish(ring.jwks())

    claims = {alg: access_claims(alg, audience=audience_for(alg)) for alg in ALGORITHMS}
    cases: list[dict[str, Any]] = []
    for alg in ALGORITHMS:
        token = sign_compact(claims[alg], keys[alg], typ="at+jwt")
        case = {"name": alg, "alg": alg, "token": token}
        if alg in SYMMETRIC:
            case["secret"] = b64url_encode(secret_of(keys[alg]))
        cases.append(case)
    es256 = keys["ES256"]
    wrong_aud = access_claims("ES256", audience=OTHER_AUDIENCE)
    cases.append(
        {
            "name": "ES256-wrong-audience",
            "alg": "ES256",
            "token": sign_compact(wrong_aud, es256, typ="at+jwt"),
        }
    )
    id_token_like = sign_compact(access_claims("ES256"), es256, typ="JWT")
    cases.append({"name": "ES256-typ-JWT", "alg": "ES256", "token": id_token_like})

    job = {"issuer": ISSUER, "audience": AUDIENCE, "jwks_url": jwks_url, "cases": cases}
    results = node_jose.run("verify.mjs", job)
    return OstiarySigned(keys=keys, claims=claims, jwks_url=jwks_url, results=results)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_node_verifies_ostiary_token(ostiary_signed: OstiarySigned, alg: str) -> None:
    result = ostiary_signed.results[alg]
    assert result["ok"], result
    assert result["payload"] == ostiary_signed.claims[alg]
    key = ostiary_signed.keys[alg]
    assert result["header"] == {"alg": alg, "kid": key.kid, "typ": "at+jwt"}


def test_node_read_the_jwks_over_http(
    ostiary_signed: OstiarySigned, jwks_server: JWKSServer
) -> None:
    """Every asymmetric token was checked against keys from the URL, fetched once."""
    assert jwks_server.hits(ostiary_signed.jwks_url) == 1


@pytest.mark.parametrize("case", sorted(NODE_REFUSES))
def test_node_refuses_ostiary_token(ostiary_signed: OstiarySigned, case: str) -> None:
    result = ostiary_signed.results[case]
    assert not result["ok"], result
    assert result["code"] == NODE_REFUSES[case], result


# --- Ostiary verifies Node's tokens ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeSigned:
    #: Ostiary's copy of each HMAC key (the secret Node signed with).
    secrets: dict[str, JWK]
    #: The claims Node was asked to sign (it adds iat and exp itself).
    claims: dict[str, dict[str, Any]]
    #: Node's output by case name: token, kid, jwk (published form), exported (exportJWK's).
    results: dict[str, Any]
    #: A JWKS of Node's public keys, served locally.
    jwks_url: str


@pytest.fixture(scope="module")
def node_signed(node_jose: NodeJose, jwks_server: JWKSServer) -> NodeSigned:
    secrets = {alg: generate(alg) for alg in SYMMETRIC}
    claims: dict[str, dict[str, Any]] = {}
    cases: list[dict[str, Any]] = []
    for alg in ALGORITHMS:
        claims[alg] = without_times(access_claims(alg, audience=audience_for(alg)))
        case: dict[str, Any] = {"name": alg, "alg": alg, "claims": claims[alg]}
        if alg in SYMMETRIC:
            case["secret"] = b64url_encode(secret_of(secrets[alg]))
            case["kid"] = secrets[alg].kid
        cases.append(case)
    wrong_aud = without_times(access_claims("ES256", audience=OTHER_AUDIENCE))
    cases.append({"name": "ES256-wrong-audience", "alg": "ES256", "claims": wrong_aud})

    results = node_jose.run("sign.mjs", {"cases": cases})
    document = {"keys": [results[alg]["jwk"] for alg in ASYMMETRIC]}
    jwks_url = jwks_server.publish(document)
    return NodeSigned(secrets=secrets, claims=claims, results=results, jwks_url=jwks_url)


def without_times(claims: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in claims.items() if name not in ("iat", "exp")}


def keys_for(signed: NodeSigned, alg: str) -> list[JWK | dict[str, Any]]:
    """What a resource server would be configured with: the published JWK, or the secret."""
    if alg in SYMMETRIC:
        return [signed.secrets[alg]]
    jwk: dict[str, Any] = signed.results[alg]["jwk"]
    return [jwk]


def assert_round_trip(verified: AccessClaims, sent: dict[str, Any]) -> None:
    assert verified.iss == ISSUER
    assert verified.sub == sent["sub"]
    assert verified.client_id == sent["client_id"]
    assert verified.jti == sent["jti"]
    aud = sent["aud"]
    assert verified.audiences == ((aud,) if isinstance(aud, str) else tuple(aud))
    assert verified.scopes == frozenset({"read:items", "write:items"})
    assert verified.raw["name"] == sent["name"]
    iat, exp = verified.raw["iat"], verified.raw["exp"]
    assert type(iat) is int and type(exp) is int  # jose writes NumericDates as integers
    assert exp - iat == 300


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_ostiary_verifies_node_token_with_given_keys(node_signed: NodeSigned, alg: str) -> None:
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, keys=keys_for(node_signed, alg))
    verified = verifier.verify_sync(node_signed.results[alg]["token"])
    assert_round_trip(verified, node_signed.claims[alg])


@pytest.mark.parametrize("alg", ASYMMETRIC)
def test_ostiary_verifies_node_token_via_jwks_url(node_signed: NodeSigned, alg: str) -> None:
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=node_signed.jwks_url)
    verified = verifier.verify_sync(node_signed.results[alg]["token"])
    assert_round_trip(verified, node_signed.claims[alg])


@pytest.mark.parametrize("alg", ASYMMETRIC)
def test_thumbprints_agree(node_signed: NodeSigned, alg: str) -> None:
    """RFC 7638: Node's ``calculateJwkThumbprint`` and Ostiary's ``kid`` of the same key."""
    result = node_signed.results[alg]
    assert JWK.from_dict(result["jwk"]).thumbprint() == result["kid"]


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_ostiary_infers_alg_of_bare_exported_jwk(node_signed: NodeSigned, alg: str) -> None:
    """``exportJWK`` writes no ``alg``; for EC P-256 and Ed25519 only one algorithm fits."""
    result = node_signed.results[alg]
    assert "alg" not in result["exported"]
    bare = {**result["exported"], "kid": result["kid"]}
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, keys=[bare])
    assert_round_trip(verifier.verify_sync(result["token"]), node_signed.claims[alg])


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
def test_bare_exported_rsa_jwk_needs_alg(node_signed: NodeSigned, alg: str) -> None:
    """An RSA key fits several algorithms, and Ostiary binds each key to one (RFC 8725 §3.1):
    an RSA JWK without ``alg``, as ``exportJWK`` writes it, is refused rather than guessed."""
    result = node_signed.results[alg]
    bare = {**result["exported"], "kid": result["kid"]}
    with pytest.raises(InvalidKey, match="must say which algorithm"):
        TokenVerifier(issuer=ISSUER, audience=AUDIENCE, keys=[bare])


def test_ostiary_refuses_node_token_for_another_audience(node_signed: NodeSigned) -> None:
    result = node_signed.results["ES256-wrong-audience"]
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, keys=[result["jwk"]])
    with pytest.raises(InvalidToken) as caught:
        verifier.verify_sync(result["token"])
    assert caught.value.reason == "wrong_audience"
