"""The HTTP side of DPoP (RFC 9449) at the endpoints that issue tokens (``/oauth/token``,
``/auth/login``, ``/auth/refresh``): reading the ``DPoP`` header (§4.1) and sending a fresh
nonce in ``DPoP-Nonce`` (§8.2). The checks and the binding are
:mod:`ostiary.tokens.dpop_binding`'s.

A proof names the URL it was made for (``htu``); the URL it is compared with is the
endpoint's public one, the issuer's origin and path plus the route's path, never one built
from the request's ``Host`` header, which the client chooses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from starlette.requests import Request

from ostiary.tokens.dpop_binding import ProofRequest
from ostiary.wiring import Services

#: RFC 9449 §4.1: the request header that carries the proof.
DPOP_HEADER: Final = "dpop"
#: RFC 9449 §8: the response header that carries the server's nonce.
NONCE_HEADER: Final = "DPoP-Nonce"
#: The ``DPoP`` request header in the OpenAPI document of every endpoint that takes a proof.
OPENAPI_PARAMETER: Final = {
    "name": "DPoP",
    "in": "header",
    "required": False,
    "description": "A DPoP proof (RFC 9449 §4): the tokens issued are bound to its key.",
    "schema": {"type": "string"},
}


def endpoint_url(services: Services, path: str) -> str:
    """The public URL of the endpoint at ``path``: under the issuer (RFC 8414 §2)."""
    return services.settings.issuer.rstrip("/") + path


def proof_request(request: Request, services: Services, path: str) -> ProofRequest | None:
    """What the request offers for DPoP (every ``DPoP`` header value, to be refused if more
    than one, §4.3 step 1), or None if it sent no ``DPoP`` header."""
    proofs = request.headers.getlist(DPOP_HEADER)
    if not proofs:
        return None
    return ProofRequest(tuple(proofs), request.method, endpoint_url(services, path))


def with_nonce(
    services: Services, headers: Mapping[str, str], offered: ProofRequest | None
) -> dict[str, str]:
    """``headers``, plus ``DPoP-Nonce`` with the current nonce (§8.2) when the server asks
    for nonces and the request used DPoP: the client's next proof will need it."""
    nonce = services.oauth.dpop.fresh_nonce() if offered is not None else None
    return {**headers, NONCE_HEADER: nonce} if nonce is not None else dict(headers)
