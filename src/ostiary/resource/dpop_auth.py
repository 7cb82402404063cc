"""DPoP proofs for httpx (RFC 9449): :class:`DPoPAuth` signs a fresh proof for every request.

A client proves it holds a private key by sending, with each request, a ``DPoP`` header: a JWT
signed by that key, naming the request's method and URL (§4.2). With an access token
(``Authorization: DPoP <token>``, §7.1) the proof also carries the token's hash (``ath``); at a
token endpoint (§5) it makes the server bind the tokens it issues to the key.

Servers may ask for a nonce of theirs in each proof (§8, §9): the ``DPoP-Nonce`` header of any
answer is remembered per origin (scheme, host and port) and put in the next proofs to that
origin, and a request refused for want of it (``use_dpop_nonce``: 401 with a ``DPoP``
challenge from a resource server, 400 with a JSON error from a token endpoint) is sent again
once with the new nonce. :class:`~ostiary.resource.ClientCredentialsAuth` takes a
``DPoPAuth`` (``dpop=``) to get DPoP-bound tokens and use them.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import AsyncGenerator, Generator, Mapping
from typing import Any, Final

import httpx

from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.errors import ConfigurationError
from ostiary.jose import JWK
from ostiary.jose.dpop import DPOP_ALGORITHMS, make_proof
from ostiary.resource.csrf import origin_of

#: RFC 9449 §8.1: ``nonce = 1*NQCHAR``.
_NONCE: Final = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]{1,256}")
#: One element of a WWW-Authenticate value (RFC 9110 §11.6.1): a lone token starts a challenge,
#: ``name=value`` is a parameter of the current one.
_AUTH_ELEMENT: Final = re.compile(
    r"([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s*=\s*(?:\"((?:[^\"\\]|\\.)*)\"|([^\s,\"]*)))?"
)
#: The largest error body read to look for ``use_dpop_nonce`` (a token endpoint's is tiny).
_MAX_ERROR_BODY: Final = 16 * 1024
#: RFC 9449 §4.2: a ``jti`` of 128 random bits (the RFC asks for at least 96).
_JTI_BYTES: Final = 16
#: The algorithm of a generated key: what every DPoP server accepts (WebCrypto's too).
DEFAULT_ALG: Final = "ES256"

KeyArgument = JWK | Mapping[str, Any] | str | bytes | None


class DPoPAuth(httpx.Auth):
    """An ``httpx.Auth`` that adds a DPoP proof (RFC 9449 §4.2) to every request.

    ``key`` is the private key proofs are signed with: a :class:`~ostiary.jose.JWK`, a private
    JWK dict, or PEM text (``alg`` names its algorithm, ES256 unless given; ``password``
    decrypts it); without one a new key of ``alg`` (ES256) is generated, kept in memory only.
    Each proof has a random ``jti``, ``iat`` now, ``htm`` the request's method and ``htu`` its
    URL without query and fragment; ``ath`` when the request carries
    ``Authorization: DPoP <token>``; the origin's last nonce.

    Use it on its own (set ``Authorization: DPoP <token>`` yourself, or send a token request
    with it), or give it to :class:`~ostiary.resource.ClientCredentialsAuth` (``dpop=``).
    """

    requires_request_body = False
    requires_response_body = False

    def __init__(
        self,
        key: KeyArgument = None,
        *,
        alg: str | None = None,
        password: bytes | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.key = _private_key(key, alg=alg, password=password)
        #: RFC 7638 thumbprint of the key: the ``cnf.jkt`` of the tokens bound to it (§6.1).
        self.jkt = self.key.thumbprint()
        self._clock = clock or SYSTEM_CLOCK
        self._nonces: dict[str, str] = {}

    def __repr__(self) -> str:  # never shows key material
        return f"DPoPAuth(alg={self.key.alg!r}, jkt={self.jkt!r})"

    @property
    def public_jwk(self) -> dict[str, Any]:
        """The public key every proof carries (RFC 9449 §4.2 ``jwk``)."""
        return self.key.public_dict()

    # --- proofs and nonces -----------------------------------------------------------------

    def proof(self, method: str, url: str, *, access_token: str | None = None) -> str:
        """A fresh proof for one request (RFC 9449 §4.2), with the nonce last received from
        ``url``'s origin."""
        return make_proof(
            self.key,
            method=method.upper(),
            url=url,
            jti=secrets.token_urlsafe(_JTI_BYTES),
            iat=int(self._clock.now()),
            access_token=access_token,
            nonce=self.nonce_for(url),
        )

    def nonce_for(self, url: str) -> str | None:
        """The nonce last received from ``url``'s origin (RFC 9449 §8.2)."""
        return self._nonces.get(origin_of(url))

    def learn(self, response: httpx.Response) -> bool:
        """Remember the ``DPoP-Nonce`` of ``response`` for its origin (§8.1: a server may
        send a new one with any answer); True when it is new."""
        nonce = response.headers.get("dpop-nonce")
        if nonce is None or not _NONCE.fullmatch(nonce):
            return False
        origin = origin_of(str(response.request.url))
        if self._nonces.get(origin) == nonce:
            return False
        self._nonces[origin] = nonce
        return True

    def sign(self, request: httpx.Request, *, access_token: str | None = None) -> httpx.Request:
        """Set ``request``'s ``DPoP`` header to a fresh proof; ``ath`` from ``access_token``,
        or from the request's ``Authorization: DPoP`` header."""
        if access_token is None:
            access_token = _dpop_token(request)
        url = str(request.url)
        request.headers["DPoP"] = self.proof(request.method, url, access_token=access_token)
        return request

    # --- the auth flows ----------------------------------------------------------------------

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield self.sign(request)
        if self.learn(response) and _replayable(request):
            if response.status_code == 400:
                response.read()
            if asks_for_nonce(response):
                yield self.sign(request)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        response = yield self.sign(request)
        if self.learn(response) and _replayable(request):
            if response.status_code == 400:
                await response.aread()
            if asks_for_nonce(response):
                yield self.sign(request)


def asks_for_nonce(response: httpx.Response) -> bool:
    """Whether ``response`` refuses a proof for want of the server's nonce: 401 with a
    ``DPoP`` challenge of error ``use_dpop_nonce`` (a resource server, RFC 9449 §9), or 400
    with the JSON error ``use_dpop_nonce`` (a token endpoint, §8). A 400's body must have been
    read."""
    if response.status_code == 401:
        return challenge_error(response, "dpop") == "use_dpop_nonce"
    if response.status_code != 400 or len(response.content) > _MAX_ERROR_BODY:
        return False
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):
        return False
    return isinstance(body, dict) and body.get("error") == "use_dpop_nonce"


def challenge_error(response: httpx.Response, scheme: str) -> str | None:
    """The ``error`` of the ``scheme`` challenge (``bearer``, ``dpop``) of a 401's
    ``WWW-Authenticate`` (RFC 6750 §3, RFC 9449 §7.1), if it has one."""
    if response.status_code != 401:
        return None
    for value in response.headers.get_list("www-authenticate"):
        current = ""
        for match in _AUTH_ELEMENT.finditer(value):
            name, quoted, bare = match.groups()
            if quoted is None and bare is None:
                current = name.lower()
            elif current == scheme and name.lower() == "error":
                return re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else str(bare)
    return None


def _dpop_token(request: httpx.Request) -> str | None:
    """The access token of an ``Authorization: DPoP <token>`` header (RFC 9449 §7.1)."""
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "dpop":
        return None
    return token.strip() or None


def _replayable(request: httpx.Request) -> bool:
    """Only a body held in memory can be sent twice; a streamed one is gone once sent."""
    return isinstance(request.stream, httpx.ByteStream)


def _private_key(key: KeyArgument, *, alg: str | None, password: bytes | None) -> JWK:
    if key is None:
        found = JWK.generate(alg or DEFAULT_ALG)
    elif isinstance(key, JWK):
        found = key
    elif isinstance(key, Mapping):
        found = JWK.from_dict(key, alg=alg)  # the key's own alg, else alg, else inferred
    else:
        found = JWK.from_pem(key, alg=alg or DEFAULT_ALG, password=password)
    if alg is not None and found.alg != alg:
        raise ConfigurationError(f"the key is a {found.alg} key, not {alg}")
    if not found.is_private or found.is_symmetric or found.alg not in DPOP_ALGORITHMS:
        raise ConfigurationError("DPoP proofs are signed with a private asymmetric key")
    return found
