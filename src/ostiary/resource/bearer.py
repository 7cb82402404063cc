"""Bearer (RFC 6750) and DPoP (RFC 9449 §7) token usage, independent of any web framework.

Only the ``Authorization`` header is accepted (§2.1). A token in the URL query (§2.3) is
refused, as RFC 9700 §2.5 and RFC 6750 §5.3 advise, and so is a request that carries more than
one token or a malformed header (§3.1 ``invalid_request``). Challenges and error bodies follow
§3: no ``error`` when no credentials were sent, ``invalid_token`` for a bad token,
``insufficient_scope`` naming the scope needed. The token is never echoed.

Where DPoP is accepted, ``Authorization: DPoP <token>`` (RFC 9449 §7.1, the same ``token68``
syntax) is the other scheme; its challenges name the scheme ``DPoP`` and the proof algorithms
(``algs``), with ``invalid_dpop_proof`` for a bad proof and ``use_dpop_nonce`` (and a
``DPoP-Nonce`` header) when the resource asks for a nonce (§9). A 401 without credentials
offers every scheme the resource accepts (§7.2).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import parse_qsl

from ostiary.errors import (
    BoundTokenAsBearer,
    DPoPRequired,
    InsufficientScope,
    InvalidDPoPProof,
    InvalidRequest,
    OstiaryError,
    UseDPoPNonce,
)

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN_CHARS: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
_RFC6750_CODES: Final = frozenset({"invalid_request", "invalid_token", "insufficient_scope"})
#: RFC 9449 §7.1 and §9: the codes a ``DPoP`` challenge adds to RFC 6750's.
_DPOP_CODES: Final = _RFC6750_CODES | {"invalid_dpop_proof", "use_dpop_nonce"}
#: RFC 9449 §9: the description of a resource server's nonce challenge.
RESOURCE_NONCE_DESCRIPTION: Final = "Resource server requires nonce in DPoP proof."
#: RFC 9449 §8.1: the header that carries a server's nonce.
DPOP_NONCE_HEADER: Final = "DPoP-Nonce"

Scheme = Literal["bearer", "dpop"]
#: Seconds a client is asked to wait when the keys to verify tokens are unavailable.
RETRY_AFTER_SECONDS: Final = 10
# RFC 6750 §3: what is not allowed inside a quoted challenge parameter.
_UNQUOTABLE: Final = re.compile(r"[^\x20\x21\x23-\x5B\x5D-\x7E]")


class MalformedCredentials(InvalidRequest):
    """RFC 6750 §3.1 ``invalid_request``: an ``Authorization`` header of a scheme this resource
    takes whose credentials are not a ``token68``; ``scheme`` words the challenge."""

    def __init__(self, description: str, *, scheme: Scheme) -> None:
        super().__init__(description)
        self.scheme = scheme


#: The scheme of a request's credentials and its access token: a plain tuple, built on every
#: request.
Credentials = tuple[Scheme, str]


def extract_bearer(authorization: Sequence[str], query_string: bytes | str = b"") -> str | None:
    """The bearer token of a request, ``None`` when it carries no credentials at all.

    ``authorization`` is every ``Authorization`` header value the request had.
    """
    found = extract_credentials(authorization, query_string)
    return None if found is None else found[1]


def extract_credentials(
    authorization: Sequence[str], query_string: bytes | str = b"", *, dpop: bool = False
) -> Credentials | None:
    """The access token of a request and its scheme: ``Bearer`` (RFC 6750 §2.1) or, with
    ``dpop``, ``DPoP`` (RFC 9449 §7.1); ``None`` when it carries neither (another scheme, or
    ``DPoP`` where DPoP is not accepted, counts as no credentials for this resource).

    ``authorization`` is every ``Authorization`` header value the request had.
    """
    query = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
    # The substring test is only a fast path: a percent-encoded name (``access%5Ftoken``) is
    # still the access_token parameter once decoded, as every framework decodes it.
    in_query = ("access_token" in query or "%" in query) and any(
        name == "access_token" for name, _ in parse_qsl(query, keep_blank_values=True)
    )
    if in_query:
        raise InvalidRequest("Access tokens are accepted in the Authorization header only.")
    if not authorization:
        return None
    if len(authorization) > 1:
        raise InvalidRequest("The request carries more than one Authorization header.")
    scheme, _, credentials = authorization[0].strip().partition(" ")
    name = scheme.lower()
    if name == "bearer":
        credentials = credentials.strip()
        if not _is_b64token(credentials):
            raise MalformedCredentials(
                "The Authorization header is not a well-formed Bearer credential.",
                scheme="bearer",
            )
        return ("bearer", credentials)
    if name == "dpop" and dpop:
        credentials = credentials.strip()
        if not _is_b64token(credentials):  # RFC 9449 §7.1: token68, the same characters
            raise MalformedCredentials(
                "The Authorization header is not a well-formed DPoP credential.", scheme="dpop"
            )
        return ("dpop", credentials)
    return None  # another scheme: for this resource, no credentials were sent


def _is_b64token(value: str) -> bool:
    """RFC 6750 §2.1 ``b64token``; bytes.translate instead of a regex, as this runs on every
    request."""
    try:
        body = value.encode("ascii").rstrip(b"=")
    except UnicodeEncodeError:
        return False
    return bool(body) and not body.translate(None, _B64TOKEN_CHARS)


@dataclass(frozen=True, slots=True)
class BearerError:
    """An error as a resource server answers it: status, headers (the challenge) and JSON body."""

    status_code: int
    headers: dict[str, str]
    body: dict[str, str]


def missing_credentials(realm: str) -> BearerError:
    """RFC 6750 §3.1: no credentials → 401 with a challenge and no error code."""
    return BearerError(
        status_code=401,
        headers={"WWW-Authenticate": f'Bearer realm="{_quote(realm)}"'},
        body={"error_description": "Bearer authentication is required."},
    )


def bearer_error(exc: OstiaryError, realm: str) -> BearerError:
    """The response for ``exc``: ``invalid_token`` (401), ``insufficient_scope`` (403) or
    ``invalid_request`` (400) with their RFC 6750 §3 challenge; ``access_denied`` (403, a
    failed CSRF check of a cookie token) without one. Anything else (503 when the keys are
    unavailable) is not an authentication failure: no challenge, a ``Retry-After``."""
    description = exc.description
    body = {"error": exc.error, "error_description": description}
    if exc.error == "access_denied":  # a cookie-carried request failed its CSRF checks
        return BearerError(exc.status_code, {}, body)
    if exc.error not in _RFC6750_CODES:
        return BearerError(exc.status_code, {"Retry-After": str(RETRY_AFTER_SECONDS)}, body)
    params = [f'realm="{_quote(realm)}"', f'error="{exc.error}"']
    params.append(f'error_description="{_quote(description)}"')
    if isinstance(exc, InsufficientScope) and exc.scope:
        params.append(f'scope="{_quote(exc.scope)}"')
        body["scope"] = exc.scope
    return BearerError(exc.status_code, {"WWW-Authenticate": "Bearer " + ", ".join(params)}, body)


@dataclass(frozen=True, slots=True)
class Schemes:
    """The schemes a protected resource accepts: ``Bearer`` unless DPoP is required, and
    ``DPoP`` with the proof algorithms it accepts (``algs``, RFC 9449 §7.1)."""

    bearer: bool = True
    dpop: bool = False
    algs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not (self.bearer or self.dpop):
            raise ValueError("a resource accepts Bearer, DPoP or both")

    @classmethod
    def of(cls, *, dpop: bool, require_dpop: bool, algs: Collection[str]) -> Schemes:
        if require_dpop:
            return cls(bearer=False, dpop=True, algs=tuple(algs))
        return cls(bearer=True, dpop=dpop, algs=tuple(algs) if dpop else ())


BEARER_ONLY: Final = Schemes()


def missing_credentials_for(realm: str, schemes: Schemes) -> BearerError:
    """No credentials → 401 with a challenge for each accepted scheme and no error code
    (RFC 6750 §3.1; RFC 9449 §7.1 and §7.2: ``Bearer`` and ``DPoP`` when both are accepted)."""
    if schemes == BEARER_ONLY:
        return missing_credentials(realm)
    challenges = []
    if schemes.bearer:
        challenges.append(f'Bearer realm="{_quote(realm)}"')
    challenges.append(_dpop_challenge(realm, schemes, []))
    names = " or ".join(n for n, on in (("Bearer", schemes.bearer), ("DPoP", True)) if on)
    return BearerError(
        status_code=401,
        headers={"WWW-Authenticate": ", ".join(challenges)},
        body={"error_description": f"{names} authentication is required."},
    )


def refusal(exc: OstiaryError, realm: str, schemes: Schemes, scheme: Scheme | None) -> BearerError:
    """The response for ``exc``, raised for credentials of ``scheme`` (``None`` when they
    could not be read): a ``DPoP`` challenge for DPoP credentials (RFC 9449 §7.1: 401 for a
    bad proof or token, ``use_dpop_nonce`` with a ``DPoP-Nonce`` header per §9), a ``Bearer``
    one otherwise (RFC 6750 §3). :class:`~ostiary.errors.DPoPRequired`, and a DPoP-bound
    token sent as a bearer token where DPoP is accepted, are answered with the ``DPoP``
    challenge alone: it names the scheme the token needs."""
    if scheme is None and isinstance(exc, MalformedCredentials):
        scheme = exc.scheme
    if isinstance(exc, DPoPRequired) or (isinstance(exc, BoundTokenAsBearer) and schemes.dpop):
        # Not a bearer token's failure but a pointer to the scheme the token needs (§7.2).
        return _dpop_error(exc, realm, schemes)
    dpop_credentials = scheme == "dpop" or (scheme is None and not schemes.bearer)
    if dpop_credentials and exc.error in _DPOP_CODES:
        return _dpop_error(exc, realm, schemes)
    return bearer_error(exc, realm)  # also what is no authentication failure (503, CSRF)


def _dpop_error(exc: OstiaryError, realm: str, schemes: Schemes) -> BearerError:
    description = RESOURCE_NONCE_DESCRIPTION if isinstance(exc, UseDPoPNonce) else exc.description
    body = {"error": exc.error, "error_description": description}
    params = [f'error="{exc.error}"', f'error_description="{_quote(description)}"']
    if isinstance(exc, InsufficientScope) and exc.scope:
        params.append(f'scope="{_quote(exc.scope)}"')
        body["scope"] = exc.scope
    headers = {"WWW-Authenticate": _dpop_challenge(realm, schemes, params)}
    # RFC 9449 §7.1 and §9: a resource server answers a bad proof and a missing nonce with
    # 401 (the token endpoint's 400 is §5's).
    status = 401 if isinstance(exc, InvalidDPoPProof | UseDPoPNonce) else exc.status_code
    if isinstance(exc, UseDPoPNonce):
        headers[DPOP_NONCE_HEADER] = exc.nonce
    return BearerError(status, headers, body)


def _dpop_challenge(realm: str, schemes: Schemes, params: list[str]) -> str:
    """RFC 9449 §7.1: ``DPoP realm="...", <params>, algs="ES256 ..."``."""
    algs = f', algs="{_quote(" ".join(schemes.algs))}"' if schemes.algs else ""
    middle = "".join(f", {param}" for param in params)
    return f'DPoP realm="{_quote(realm)}"{middle}{algs}'


def _quote(value: str) -> str:
    """Keep only the characters RFC 6750 §3 allows inside a quoted parameter."""
    return _UNQUOTABLE.sub("", value)
