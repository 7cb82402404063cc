"""Shared helpers for the JOSE tests: valid access-token claims and hand-built compact tokens.

Tokens are assembled here byte by byte (base64url of raw header and payload JSON), so a test
can put exactly the malformation it is about into an otherwise correct, correctly signed token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any, Final

from ostiary.clock import FrozenClock
from ostiary.jose import JWK, ClaimRules

ISSUER: Final = "https://auth.example.com"
AUDIENCE: Final = "https://api.example.com"
#: A fixed "now" for every test: 2023-11-14T22:13:20Z.
NOW: Final = 1_700_000_000
LEEWAY: Final = 30


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2), computed independently of ``ostiary.jose._b64``."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def access_claims(*, now: int = NOW, **overrides: Any) -> dict[str, Any]:
    """A complete RFC 9068 claims set that passes :func:`rules` at ``now``; ``overrides``
    replace members, and an override of ``...`` (Ellipsis) removes the member."""
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-42",
        "aud": AUDIENCE,
        "exp": now + 300,
        "iat": now,
        "jti": "6f1c1a1e-5d0b-4c7e-9d3b-1f2e3d4c5b6a",
        "client_id": "client-1",
        "scope": "read write",
    }
    for name, value in overrides.items():
        if value is ...:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def rules(*, leeway: float = LEEWAY, audience: str | list[str] = AUDIENCE) -> ClaimRules:
    return ClaimRules.for_access_tokens(issuer=ISSUER, audience=audience, leeway=leeway)


def clock(now: float = NOW) -> FrozenClock:
    return FrozenClock(now)


def at_header(key: JWK, **overrides: Any) -> dict[str, Any]:
    """The header :func:`ostiary.jose.sign_compact` writes for an access token."""
    header: dict[str, Any] = {"alg": key.alg, "kid": key.kid, "typ": "at+jwt"}
    for name, value in overrides.items():
        if value is ...:
            header.pop(name, None)
        else:
            header[name] = value
    return header


def sign_raw(header: bytes | str, payload: bytes | str, key: JWK) -> str:
    """A compact JWS of exactly these header and payload bytes, signed by ``key``."""
    h = header.encode() if isinstance(header, str) else header
    p = payload.encode() if isinstance(payload, str) else payload
    signing_input = f"{b64url(h)}.{b64url(p)}".encode("ascii")
    return f"{signing_input.decode('ascii')}.{b64url(key.sign(signing_input))}"


def sign_parts(header: dict[str, Any], claims: dict[str, Any], key: JWK) -> str:
    """Like :func:`sign_raw` for JSON values, so the header may hold anything at all."""
    return sign_raw(
        json.dumps(header, separators=(",", ":")), json.dumps(claims, separators=(",", ":")), key
    )


def hmac_token(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """An HS256/384/512 token signed with the raw ``secret``, without any of Ostiary's key
    checks: how an attacker signs with material Ostiary would never accept as a secret."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[
        header["alg"]
    ]
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    signature = hmac.new(secret, signing_input.encode("ascii"), digest).digest()
    return f"{signing_input}.{b64url(signature)}"


def unsigned_token(header: dict[str, Any], claims: dict[str, Any], signature: str = "") -> str:
    return f"{b64url_json(header)}.{b64url_json(claims)}.{signature}"


def nested(depth: int, leaf: Any = 1) -> Any:
    """A JSON value with ``depth`` levels of arrays around ``leaf`` (depth 0 is the leaf)."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value
