"""The exact RFC 6750 answers the HTTP tests expect, written out once."""

from __future__ import annotations

from typing import Any, Final

from ostiary.jose.dpop import DEFAULT_DPOP_ALGORITHMS

REALM: Final = "api"

#: The proof algorithms a resource takes by default (RFC 9449 §7.1 ``algs``).
ALGS: Final = " ".join(DEFAULT_DPOP_ALGORITHMS)
#: RFC 9449 §7.1: a resource that takes Bearer and DPoP tokens offers both schemes.
NO_CREDENTIALS_CHALLENGE: Final = f'Bearer realm="api", DPoP realm="api", algs="{ALGS}"'
NO_CREDENTIALS_BODY: Final = {"error_description": "Bearer or DPoP authentication is required."}


def challenge(error: str, description: str, *, scope: str | None = None) -> str:
    out = f'Bearer realm="{REALM}", error="{error}", error_description="{description}"'
    return out + (f', scope="{scope}"' if scope is not None else "")


def body(error: str, description: str, *, scope: str | None = None) -> dict[str, Any]:
    out = {"error": error, "error_description": description}
    if scope is not None:
        out["scope"] = scope
    return out


INVALID_TOKEN: Final = "The access token is invalid."
EXPIRED: Final = "The token has expired."
BAD_SIGNATURE: Final = "The token's signature is invalid."
UNKNOWN_KEY: Final = "The token was signed with an unknown key."
WRONG_AUDIENCE: Final = "The token is not intended for this audience."
MALFORMED: Final = "The token is not a well-formed compact JWS."
REVOKED: Final = "The token has been revoked."
INSUFFICIENT_SCOPE: Final = "The token does not grant the scope this resource requires."
MISSING_ROLE: Final = "The token does not carry a role this resource requires."
QUERY_TOKEN: Final = "Access tokens are accepted in the Authorization header only."
TWO_HEADERS: Final = "The request carries more than one Authorization header."
MALFORMED_HEADER: Final = "The Authorization header is not a well-formed Bearer credential."
KEYS_UNAVAILABLE: Final = "The keys to verify tokens are not available right now."
