"""What every integration (the ASGI middleware, the FastAPI dependencies, the Flask decorators)
runs on a request: read its credentials, verify them (with their proof when they came with the
``DPoP`` scheme, RFC 9449 §7.1), and word the refusal when they fail.

The URL a DPoP proof must name (``htu``, RFC 9449 §4.3 step 9) is the one the client sent the
request to. Behind a proxy or a load balancer the app sees another scheme and host (and maybe
a shorter path), and the ``Host`` header is whatever the client chose to send: ``public_url``
(the scheme, host and any path prefix the proxy strips, as clients write them) is what the
app is reached at, and only the request's path is taken from the request. Without it the URL
is rebuilt from the request's scheme and ``Host`` header, right only when clients reach the
app directly under one name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Final
from urllib.parse import quote, urlsplit

from ostiary.access_claims import AccessClaims
from ostiary.errors import ConfigurationError, DPoPRequired, InvalidDPoPProof, OstiaryError
from ostiary.jose.dpop import normalize_htu
from ostiary.resource.bearer import (
    BearerError,
    Credentials,
    Scheme,
    Schemes,
    extract_credentials,
    missing_credentials_for,
    refusal,
)
from ostiary.resource.verifier import TokenVerifier

#: RFC 3986 §3.3: what a path may hold unescaped (a decoded path is escaped again with it).
_PATH_SAFE: Final = "/!$&'()*+,;=:@-._~"
#: RFC 9110 §7.2: ``Host = uri-host [ ":" port ]``, a registered name or an IP literal; nothing
#: that could carry a path, a query or user information into the rebuilt URL.
_HOST: Final = re.compile(r"(?:[A-Za-z0-9\-._~]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


class Gate:
    """The credentials check of one protected app (or route set)."""

    __slots__ = ("dpop", "public_url", "realm", "require_dpop", "schemes", "verifier")

    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        realm: str = "api",
        dpop: bool = True,
        require_dpop: bool = False,
        public_url: str | None = None,
    ) -> None:
        self.verifier = verifier
        self.realm = realm
        self.require_dpop = require_dpop
        self.dpop = dpop or require_dpop
        self.public_url = _public_url(public_url)
        algs = verifier.dpop.algorithms
        ordered = tuple(algs) if isinstance(algs, list | tuple) else tuple(sorted(algs))
        self.schemes = Schemes.of(dpop=self.dpop, require_dpop=require_dpop, algs=ordered)

    def credentials(
        self, authorization: Sequence[str], query_string: bytes | str
    ) -> Credentials | None:
        return extract_credentials(authorization, query_string, dpop=self.dpop)

    async def verify(
        self,
        credentials: Credentials,
        *,
        proofs: Callable[[], Sequence[str]],
        method: str,
        url: Callable[[], str],
    ) -> AccessClaims:
        scheme, token = credentials
        if scheme == "dpop":
            return await self.verifier.verify_dpop(token, proofs(), method=method, url=url())
        if self.require_dpop:
            raise DPoPRequired(detail="a bearer token where DPoP is required")
        return await self.verifier.verify(token)

    def verify_sync(
        self,
        credentials: Credentials,
        *,
        proofs: Callable[[], Sequence[str]],
        method: str,
        url: Callable[[], str],
    ) -> AccessClaims:
        scheme, token = credentials
        if scheme == "dpop":
            return self.verifier.verify_dpop_sync(token, proofs(), method=method, url=url())
        if self.require_dpop:
            raise DPoPRequired(detail="a bearer token where DPoP is required")
        return self.verifier.verify_sync(token)

    def request_url(self, *, scheme: str, host: str | None, path: str) -> str:
        """The URL a proof for this request names: ``public_url`` and the request's path,
        or without it the request's own scheme and ``Host``. ``path`` is the request target's
        path as received (still percent-encoded, no query). A ``Host`` that is not a host
        and port (RFC 9110 §7.2) is refused: it could move the rebuilt URL to another path."""
        if not path.startswith("/"):
            path = "/" + path
        path = path.replace("#", "%23")  # never a fragment: the path the app routes on
        if self.public_url is not None:
            return self.public_url + path
        if host is None or not _HOST.fullmatch(host):
            raise InvalidDPoPProof(reason="wrong_uri", detail="the Host header is not a host")
        scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
        return f"{scheme}://{host}{path}"

    def missing(self) -> BearerError:
        return missing_credentials_for(self.realm, self.schemes)

    def refusal(self, exc: OstiaryError, scheme: Scheme | None) -> BearerError:
        return refusal(exc, self.realm, self.schemes, scheme)

    def fresh_nonce(self) -> str | None:
        """RFC 9449 §8.2 and §9: the nonce to send with a successful DPoP answer, when this
        resource asks for nonces."""
        return self.verifier.dpop.fresh_nonce() if self.dpop else None


def require_bound(claims: AccessClaims) -> None:
    """A route that wants DPoP: the token must have come with the ``DPoP`` scheme and its
    proof (the toolkit returns claims with ``dpop_jkt`` only then)."""
    if claims.dpop_jkt is None:
        raise DPoPRequired(detail="a bearer token on a route that requires DPoP")


def quoted_path(path: str) -> str:
    """A decoded path escaped again, for a framework that keeps no raw request target."""
    return quote(path, safe=_PATH_SAFE)


def _public_url(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ConfigurationError("public_url has no query and no fragment")
    try:
        normalize_htu(url)
    except ValueError as exc:
        raise ConfigurationError(f"public_url must be an absolute http(s) URL: {exc}") from None
    return url.rstrip("/")
