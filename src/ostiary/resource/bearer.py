"""Bearer token usage (RFC 6750), independent of any web framework.

Only the ``Authorization`` header is accepted (§2.1). A token in the URL query (§2.3) is
refused, as RFC 9700 §2.5 and RFC 6750 §5.3 advise, and so is a request that carries more than
one token or a malformed header (§3.1 ``invalid_request``). Challenges and error bodies follow
§3: no ``error`` when no credentials were sent, ``invalid_token`` for a bad token,
``insufficient_scope`` naming the scope needed. The token is never echoed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl

from ostiary.errors import InsufficientScope, InvalidRequest, OstiaryError

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN_CHARS: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
_RFC6750_CODES: Final = frozenset({"invalid_request", "invalid_token", "insufficient_scope"})
#: Seconds a client is asked to wait when the keys to verify tokens are unavailable.
RETRY_AFTER_SECONDS: Final = 10
# RFC 6750 §3: what is not allowed inside a quoted challenge parameter.
_UNQUOTABLE: Final = re.compile(r"[^\x20\x21\x23-\x5B\x5D-\x7E]")


def extract_bearer(authorization: Sequence[str], query_string: bytes | str = b"") -> str | None:
    """The bearer token of a request, ``None`` when it carries no credentials at all.

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
    if scheme.lower() != "bearer":
        return None  # another scheme: for this resource, no bearer credentials were sent
    credentials = credentials.strip()
    if not _is_b64token(credentials):
        raise InvalidRequest("The Authorization header is not a well-formed Bearer credential.")
    return credentials


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


def _quote(value: str) -> str:
    """Keep only the characters RFC 6750 §3 allows inside a quoted parameter."""
    return _UNQUOTABLE.sub("", value)
