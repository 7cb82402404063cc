"""DPoP proofs (RFC 9449 §4) for the server tests: made as a client makes them
(:func:`ostiary.jose.dpop.make_proof`), on the test server's clock, for a URL under its issuer;
and, for the attack tests, proofs with exactly the header and claims given (:func:`raw_proof`),
which the library would refuse to make."""

from __future__ import annotations

import json
import secrets
from typing import Any, Final

import httpx

from ostiary.encoding import b64url
from ostiary.jose import JWK
from ostiary.jose.dpop import make_proof

from ._server import Server

TOKEN_PATH: Final = "/oauth/token"
LOGIN_PATH: Final = "/auth/login"
REFRESH_PATH: Final = "/auth/refresh"


def url_of(server: Server, path: str) -> str:
    """The public URL of ``path``: under the issuer, what a proof's ``htu`` names."""
    return server.settings.issuer.rstrip("/") + path


def proof(
    server: Server,
    key: JWK,
    path: str = TOKEN_PATH,
    *,
    method: str = "POST",
    nonce: str | None = None,
    url: str | None = None,
    iat: int | None = None,
) -> str:
    """A fresh proof (a new ``jti``) for ``method`` on ``path`` under the issuer (or ``url``)."""
    return make_proof(
        key,
        method=method,
        url=url if url is not None else url_of(server, path),
        jti=secrets.token_urlsafe(16),
        iat=int(server.clock.now()) if iat is None else iat,
        nonce=nonce,
    )


def raw_proof(header: dict[str, Any], claims: dict[str, Any], key: JWK) -> str:
    """A compact JWS with exactly ``header`` and ``claims``, signed by ``key``: the forged
    proofs of the attack tests."""
    signing_input = (
        f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}".encode()
    )
    return f"{signing_input.decode()}.{b64url(key.sign(signing_input))}"


def proof_claims(server: Server, path: str = TOKEN_PATH, **changes: Any) -> dict[str, Any]:
    """The claims of a good proof for ``path``; ``changes`` replace them."""
    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(16),
        "htm": "POST",
        "htu": url_of(server, path),
        "iat": int(server.clock.now()),
    }
    claims.update(changes)
    return claims


def public_jwk(key: JWK) -> dict[str, Any]:
    return {k: v for k, v in key.public_dict().items() if k not in ("kid", "alg", "use")}


def dpop(proof_value: str) -> dict[str, str]:
    return {"DPoP": proof_value}


async def client_credentials(
    server: Server, client: tuple[str, str], *headers: tuple[str, str]
) -> httpx.Response:
    """A ``client_credentials`` request with the given headers (each ``DPoP`` header once
    per pair, so that a test can send two)."""
    return await server.client.post(
        TOKEN_PATH,
        data={"grant_type": "client_credentials"},
        auth=client,
        headers=httpx.Headers(list(headers)),
    )
