"""Service-to-service access tokens for httpx: the client credentials grant (RFC 6749 §4.4).

:class:`ClientCredentialsAuth` fetches a token from the token endpoint, caches it until shortly
before it expires, and sends it as ``Authorization: Bearer`` (RFC 6750 §2.1) on every request.
The token request goes through an httpx client the auth object owns, never through the caller's
client and its auth flow. When the API answers 401 ``invalid_token`` (RFC 6750 §3.1: the token
was revoked, or the keys rotated) the token is fetched again and the request retried once.

With ``dpop=`` (a :class:`~ostiary.resource.DPoPAuth`) the token request carries a DPoP proof
(RFC 9449 §5), so that the server binds the token to the key; a ``token_type`` of ``DPoP`` is
then sent as ``Authorization: DPoP`` with a fresh proof on every request (§7.1).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import re
import threading
from collections.abc import AsyncGenerator, Generator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import quote_plus, urlsplit

import httpx

from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.errors import ConfigurationError, OstiaryError
from ostiary.hosts import LOOPBACK_HOSTS
from ostiary.resource._loops import LoopLocks
from ostiary.resource.dpop_auth import DPoPAuth, asks_for_nonce, challenge_error

log = logging.getLogger("ostiary.resource.client_credentials")

GRANT_TYPE: Final = "client_credentials"
#: Lifetime assumed when a token response has no ``expires_in`` (RFC 6749 §5.1 makes it only
#: RECOMMENDED): such a token is never cached for longer than this.
DEFAULT_EXPIRES_IN: Final = 60.0
#: A token is never used past this fraction of its lifetime when ``renew_before`` would leave
#: (almost) nothing of a short lifetime.
_USABLE_FRACTION: Final = 0.9
_B64TOKEN: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 §2.1
_MAX_DESCRIPTION: Final = 300

AuthMethod = Literal["client_secret_basic", "client_secret_post"]


class TokenRequestFailed(OstiaryError):
    """The token endpoint refused the grant (RFC 6749 §5.2) or answered with something that is
    not a token response (§5.1). ``oauth_error`` and ``error_description`` are the endpoint's own
    when it sent them; ``http_status`` is its status. The client secret is never part of it."""

    description = "Could not obtain an access token from the token endpoint."

    def __init__(
        self,
        detail: str,
        *,
        http_status: int,
        oauth_error: str | None = None,
        error_description: str | None = None,
    ) -> None:
        super().__init__(detail=detail)
        self.http_status = http_status
        self.oauth_error = oauth_error
        self.error_description = error_description

    def __str__(self) -> str:
        return f"{self.description} ({self.detail})"


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    renew_at: float
    #: The ``Authorization`` scheme: ``Bearer``, or ``DPoP`` for a DPoP-bound token (§7.1).
    scheme: str = "Bearer"


class ClientCredentialsAuth(httpx.Auth):
    """An ``httpx.Auth`` that authenticates as a client of its own (RFC 6749 §4.4).

    The client authenticates with HTTP Basic, id and secret form-urlencoded first (RFC 6749
    §2.3.1, ``client_secret_basic``), or with both in the form (``client_secret_post``).
    ``resource`` asks for a token for those resource servers (RFC 8707 §2). A token is renewed
    ``renew_before`` seconds before it expires, or after 90% of its lifetime when that is later
    (so that a short-lived token is still cached); a response without ``expires_in`` counts as
    :data:`DEFAULT_EXPIRES_IN`. Among threads, and among the tasks of an event loop, one renewal
    runs at a time and every waiter uses its token. A request answered 401 ``invalid_token`` is
    retried once with a new token, unless its body was streamed (it cannot be sent twice).

    ``dpop`` (a :class:`~ostiary.resource.DPoPAuth`) signs a DPoP proof for the token request
    (RFC 9449 §5), retried once when the endpoint asks for its nonce (§8). A token of
    ``token_type`` ``DPoP`` is sent as ``Authorization: DPoP`` with a fresh proof on each
    request (§7.1), which is sent again once if the API asks for its nonce (§9); a ``Bearer``
    token (a server that does not bind tokens, §5) is sent as a bearer token.
    """

    requires_request_body = False
    requires_response_body = False

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | Sequence[str] | None = None,
        resource: str | Sequence[str] | None = None,
        auth_method: AuthMethod = "client_secret_basic",
        renew_before: float = 30.0,
        timeout: float = 10.0,
        clock: Clock | None = None,
        allow_insecure_http: bool = False,
        dpop: DPoPAuth | None = None,
    ) -> None:
        parts = urlsplit(token_url)
        insecure_ok = allow_insecure_http or parts.hostname in LOOPBACK_HOSTS
        if parts.scheme != "https" and not (parts.scheme == "http" and insecure_ok):
            raise ConfigurationError("the token URL must use https (plain http only on loopback)")
        if not client_id or not client_secret:
            raise ConfigurationError("a client id and a client secret are required")
        if auth_method not in ("client_secret_basic", "client_secret_post"):
            raise ConfigurationError(f"unsupported client authentication method {auth_method!r}")
        if not (renew_before >= 0 and timeout > 0):
            raise ConfigurationError("renew_before must be >= 0 and timeout > 0")
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self.scope = scope if isinstance(scope, str) or scope is None else " ".join(scope)
        self.resource = _resources(resource)
        self.auth_method = auth_method
        self.renew_before = renew_before
        self.timeout = timeout
        self._clock = clock or SYSTEM_CLOCK
        self.dpop = dpop
        self._token: _Token | None = None
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        # One asyncio lock per event loop: a lock is bound to the loop it first waited on.
        self._alocks = LoopLocks()
        self._async_client: httpx.AsyncClient | None = None
        self._async_client_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"ClientCredentialsAuth(token_url={self.token_url!r}, client_id={self.client_id!r})"

    # --- the auth flows (RFC 6750 §2.1 and §3.1) -------------------------------------------

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._current_sync()
        response = yield self._authorize(request, token)
        if self._wants_nonce(token, response) and _replayable(request):
            response = yield self._authorize(request, token)
        if _token_error(token, response) != "invalid_token":
            return
        if not _replayable(request):
            self._discard(token)
            return
        yield self._authorize(request, self._current_sync(stale=token))

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._current_async()
        response = yield self._authorize(request, token)
        if self._wants_nonce(token, response) and _replayable(request):
            response = yield self._authorize(request, token)
        if _token_error(token, response) != "invalid_token":
            return
        if not _replayable(request):
            self._discard(token)
            return
        yield self._authorize(request, await self._current_async(stale=token))

    def _authorize(self, request: httpx.Request, token: _Token) -> httpx.Request:
        request.headers["Authorization"] = f"{token.scheme} {token.value}"
        if token.scheme == "DPoP":
            assert self.dpop is not None  # a DPoP token is accepted only with dpop= set
            self.dpop.sign(request, access_token=token.value)
        return request

    def _wants_nonce(self, token: _Token, response: httpx.Response) -> bool:
        """RFC 9449 §9: the API sent a (new) nonce and refused the proof for want of it."""
        if token.scheme != "DPoP" or self.dpop is None:
            return False
        return self.dpop.learn(response) and asks_for_nonce(response)

    def close(self) -> None:
        """Close the client of the sync flow; a later request opens a new one."""
        with self._lock:
            client, self._client = self._client, None
            if client is not None:
                client.close()

    async def aclose(self) -> None:
        """Close the client of the async flow; a later request opens a new one."""
        async with self._alocks.get():
            client, self._async_client = self._async_client, None
            if client is not None:
                await client.aclose()

    # --- the cached token ------------------------------------------------------------------

    def _usable(self, token: _Token | None, stale: _Token | None) -> _Token | None:
        if token is None or token is stale or self._clock.now() >= token.renew_at:
            return None
        return token

    def _discard(self, token: _Token) -> None:
        if self._token is token:
            self._token = None

    def _current_sync(self, stale: _Token | None = None) -> _Token:
        token = self._usable(self._token, stale)
        if token is not None:
            return token
        with self._lock:  # double-checked: another thread may have renewed meanwhile
            token = self._usable(self._token, stale)
            if token is None:
                if self._client is None:
                    self._client = httpx.Client(timeout=self.timeout)
                issued_at = self._clock.now()
                form, headers = self._token_request()
                response = self._client.post(
                    self.token_url, data=form, headers=self._signed(headers)
                )
                if self._endpoint_wants_nonce(response):
                    response = self._client.post(
                        self.token_url, data=form, headers=self._signed(headers)
                    )
                token = self._token = self._accept(response, issued_at)
            return token

    async def _current_async(self, stale: _Token | None = None) -> _Token:
        token = self._usable(self._token, stale)
        if token is not None:
            return token
        async with self._alocks.get():
            token = self._usable(self._token, stale)
            if token is None:
                issued_at = self._clock.now()
                client = self._async_http()
                form, headers = self._token_request()
                response = await client.post(
                    self.token_url, data=form, headers=self._signed(headers)
                )
                if self._endpoint_wants_nonce(response):
                    response = await client.post(
                        self.token_url, data=form, headers=self._signed(headers)
                    )
                token = self._token = self._accept(response, issued_at)
            return token

    def _async_http(self) -> httpx.AsyncClient:
        """The async client of the running loop (connections cannot cross event loops)."""
        loop = asyncio.get_running_loop()
        if self._async_client is None or self._async_client_loop is not loop:
            self._async_client = httpx.AsyncClient(timeout=self.timeout)
            self._async_client_loop = loop
        return self._async_client

    # --- the token request (RFC 6749 §4.4.2) and its response (§5.1, §5.2) ------------------

    def _token_request(self) -> tuple[dict[str, str | list[str]], dict[str, str]]:
        """The form and headers of the token request; the secret goes in one of them."""
        form: dict[str, str | list[str]] = {"grant_type": GRANT_TYPE}
        if self.scope:
            form["scope"] = self.scope
        if self.resource:
            form["resource"] = list(self.resource)
        headers = {"Accept": "application/json"}
        if self.auth_method == "client_secret_post":
            form |= {"client_id": self.client_id, "client_secret": self._secret}
        else:
            pair = f"{quote_plus(self.client_id)}:{quote_plus(self._secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        return form, headers

    def _signed(self, headers: dict[str, str]) -> dict[str, str]:
        """The token request's headers with a fresh DPoP proof (RFC 9449 §5), with ``dpop``."""
        if self.dpop is None:
            return headers
        return {**headers, "DPoP": self.dpop.proof("POST", self.token_url)}

    def _endpoint_wants_nonce(self, response: httpx.Response) -> bool:
        """RFC 9449 §8: the token endpoint sent a (new) nonce and refused the proof for want
        of it (400 ``use_dpop_nonce``)."""
        return self.dpop is not None and self.dpop.learn(response) and asks_for_nonce(response)

    def _accept(self, response: httpx.Response, issued_at: float) -> _Token:
        if response.status_code != 200:
            raise self._refusal(response)
        body = _json(response)
        value = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(value, str) or not _B64TOKEN.fullmatch(value):
            raise self._malformed(response, "no access_token of RFC 6750 §2.1 syntax")
        token_type = body.get("token_type")
        kind = token_type.lower() if isinstance(token_type, str) else None
        if kind == "dpop" and self.dpop is not None:
            scheme = "DPoP"  # RFC 9449 §5: bound to the key of the proof
        elif kind == "bearer":
            scheme = "Bearer"
        elif self.dpop is not None:
            raise self._malformed(response, "a token_type other than DPoP or Bearer")
        else:
            raise self._malformed(response, "a token_type other than Bearer")
        lifetime = body.get("expires_in", DEFAULT_EXPIRES_IN)
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float):
            raise self._malformed(response, "an expires_in that is not a number")
        if not (math.isfinite(lifetime) and lifetime > 0):
            raise self._malformed(response, "an expires_in that is not a positive number")
        usable = max(lifetime - self.renew_before, _USABLE_FRACTION * lifetime)
        log.debug("fetched a token for %s; renewed in %.0f s", self.client_id, usable)
        if self.dpop is not None and scheme == "Bearer":
            log.info("the token endpoint issued %s a Bearer token, not a DPoP one", self.client_id)
        return _Token(value, issued_at + usable, scheme)

    def _refusal(self, response: httpx.Response) -> TokenRequestFailed:
        body = _json(response)
        error = body.get("error") if isinstance(body, dict) else None
        description = body.get("error_description") if isinstance(body, dict) else None
        status = response.status_code
        if not isinstance(error, str):
            detail = f"{self.token_url} answered {status} without an OAuth error"
            return TokenRequestFailed(detail, http_status=status)
        error = self._redact(error)[:64]
        description = self._redact(description) if isinstance(description, str) else None
        detail = f"{self.token_url} answered {status} {error}" + (
            f": {description}" if description else ""
        )
        return TokenRequestFailed(
            detail, http_status=status, oauth_error=error, error_description=description
        )

    def _malformed(self, response: httpx.Response, what: str) -> TokenRequestFailed:
        detail = f"{self.token_url} answered 200 with {what}"
        return TokenRequestFailed(detail, http_status=response.status_code)

    def _redact(self, text: str) -> str:
        """The endpoint's text, shortened, without the secret should it echo it back."""
        for form in {self._secret, quote_plus(self._secret)}:
            text = text.replace(form, "[redacted]")
        return text[:_MAX_DESCRIPTION]


def _resources(resource: str | Sequence[str] | None) -> tuple[str, ...]:
    """RFC 8707 §2: each an absolute URI without a fragment."""
    resources = (resource,) if isinstance(resource, str) else tuple(resource or ())
    for uri in resources:
        parts = urlsplit(uri)
        if not parts.scheme or "#" in uri:
            raise ConfigurationError(f"resource {uri!r} is not an absolute URI without fragment")
    return resources


def _replayable(request: httpx.Request) -> bool:
    """Only a body held in memory can be sent twice; a streamed one is gone once sent."""
    return isinstance(request.stream, httpx.ByteStream)


def _token_error(token: _Token, response: httpx.Response) -> str | None:
    """The ``error`` of the 401 challenge of the token's scheme (RFC 6750 §3, RFC 9449
    §7.1), if it has one."""
    return challenge_error(response, token.scheme.lower())


def _json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):
        return None
