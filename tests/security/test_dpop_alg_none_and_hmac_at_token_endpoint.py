"""Attack: a DPoP proof with ``alg: none`` or an HMAC algorithm (RFC 9449 §4.3 step 5: "not
none", "an asymmetric algorithm"). Unsigned, it proves nothing; signed with a shared secret
it carries in its own ``jwk`` (``kty: oct``), it proves only that the sender read the proof.
Both refused, in every spelling, as is an asymmetric algorithm the server was not configured
to accept (``OSTIARY_DPOP_SIGNING_ALGS``), and a ``jwk`` of one kind under another's ``alg``."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest

from ostiary.authn.client_registry import Registered
from ostiary.encoding import b64url
from ostiary.jose import JWK
from tests.http._dpop import client_credentials, proof, proof_claims, public_jwk, raw_proof
from tests.http._oauth import basic, oauth_server, oauth_settings, service_client
from tests.http._server import Server, oauth, running

REFUSED = oauth("invalid_dpop_proof", "The DPoP proof is invalid.")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with oauth_server(tmp_path) as srv:
        yield srv


@pytest.fixture
async def svc(server: Server) -> Registered:
    return await service_client(server)


def unsigned(header: Mapping[str, object], claims: Mapping[str, object]) -> str:
    def encode(part: Mapping[str, object]) -> str:
        return b64url(json.dumps(part).encode())

    return f"{encode(header)}.{encode(claims)}."


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_an_unsigned_proof_is_refused(
    server: Server, svc: Registered, es256_key: JWK, alg: str
) -> None:
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": public_jwk(es256_key)}
    response = await client_credentials(
        server, basic(svc), ("DPoP", unsigned(header, proof_claims(server)))
    )
    assert (response.status_code, response.json()) == (400, REFUSED)


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
async def test_an_hmac_proof_with_its_secret_in_the_header_is_refused(
    server: Server, svc: Registered, alg: str
) -> None:
    secret = JWK.generate(alg)
    oct_jwk = {"kty": "oct", "k": base64.urlsafe_b64encode(b"s" * 64).rstrip(b"=").decode()}
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": oct_jwk}
    response = await client_credentials(
        server, basic(svc), ("DPoP", raw_proof(header, proof_claims(server), secret))
    )
    assert (response.status_code, response.json()) == (400, REFUSED)


async def test_an_hmac_proof_under_an_rsa_public_key_is_refused(
    server: Server, svc: Registered, rs256_key: JWK, hs256_key: JWK
) -> None:
    """The key-confusion trick (CVE-2016-10555): HS256 keyed with the public key's bytes."""
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": public_jwk(rs256_key)}
    response = await client_credentials(
        server, basic(svc), ("DPoP", raw_proof(header, proof_claims(server), hs256_key))
    )
    assert (response.status_code, response.json()) == (400, REFUSED)


async def test_an_alg_that_does_not_fit_the_key_is_refused(
    server: Server, svc: Registered, es256_key: JWK, eddsa_key: JWK
) -> None:
    header = {"typ": "dpop+jwt", "alg": "EdDSA", "jwk": public_jwk(es256_key)}
    response = await client_credentials(
        server, basic(svc), ("DPoP", raw_proof(header, proof_claims(server), eddsa_key))
    )
    assert (response.status_code, response.json()) == (400, REFUSED)


async def test_an_algorithm_off_the_configured_list_is_refused(
    tmp_path: Path, es256_key: JWK, eddsa_key: JWK
) -> None:
    async with running(oauth_settings(tmp_path, dpop_signing_algs=["EdDSA"])) as server:
        svc = await service_client(server)
        refused = await client_credentials(server, basic(svc), ("DPoP", proof(server, es256_key)))
        assert (refused.status_code, refused.json()) == (400, REFUSED)
        allowed = await client_credentials(server, basic(svc), ("DPoP", proof(server, eddsa_key)))
        assert allowed.status_code == 200, allowed.text


async def test_a_proof_without_the_dpop_type_is_refused(
    server: Server, svc: Registered, es256_key: JWK
) -> None:
    """§4.3 step 4: ``typ: dpop+jwt``; an access token or an ID token is no proof."""
    for typ in ("JWT", "at+jwt", None):
        header = {"alg": "ES256", "jwk": public_jwk(es256_key)}
        if typ is not None:
            header["typ"] = typ
        response = await client_credentials(
            server, basic(svc), ("DPoP", raw_proof(header, proof_claims(server), es256_key))
        )
        assert (response.status_code, response.json()) == (400, REFUSED)
