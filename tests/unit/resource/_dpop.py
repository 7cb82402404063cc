"""What the DPoP tests of the resource toolkit share (unit, HTTP and security): DPoP-bound
tokens, proofs, and the toolkit's integrations behind one small interface, so that one attack
runs against the ASGI middleware and the Flask extension alike.

Tokens are minted like the other resource tests' (:func:`tests.unit.resource._tokens.mint`)
with a ``cnf.jkt`` (RFC 9449 §6.1); proofs come from :func:`ostiary.jose.dpop.make_proof`, the
one proof maker there is, or are built by hand where the attack needs a proof it would refuse
to make.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import httpx
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ostiary.access_claims import AccessClaims
from ostiary.clock import FrozenClock
from ostiary.dpop import DPoPChecker
from ostiary.errors import InvalidDPoPProof, InvalidToken
from ostiary.jose import JWK
from ostiary.jose.dpop import DEFAULT_DPOP_ALGORITHMS, make_proof
from ostiary.resource import BearerAuthMiddleware, TokenVerifier
from ostiary.resource.flask import OstiaryFlask, current_claims

from ._tokens import AUDIENCE, ISSUER, T0, jwks_of, mint

#: The URL clients reach the protected API at.
API: Final = "https://api.example.test"
#: Every algorithm a proof may use by default, in the order the challenges name them.
ALGS: Final = " ".join(DEFAULT_DPOP_ALGORITHMS)
#: RFC 9449 §7.1's description of a key that is not the token's.
KEY_BINDING: Final = "Invalid DPoP key binding."

_jti = itertools.count(1)

Kind = Literal["asgi", "flask"]


def bound_token(issuer_key: JWK, holder: JWK | str, *, now: float = T0, **claims: Any) -> str:
    """An access token bound to ``holder`` (a key, or its thumbprint): ``cnf.jkt``."""
    jkt = holder if isinstance(holder, str) else holder.thumbprint()
    return mint(issuer_key, now=now, cnf={"jkt": jkt}, **claims)


def proof(
    key: JWK,
    *,
    method: str = "GET",
    url: str = f"{API}/orders",
    token: str | None = None,
    iat: float = T0,
    jti: str | None = None,
    nonce: str | None = None,
) -> str:
    """A proof by ``key`` for one request, fresh ``jti`` unless given."""
    return make_proof(
        key,
        method=method,
        url=url,
        jti=jti if jti is not None else f"proof-{next(_jti)}",
        iat=int(iat),
        access_token=token,
        nonce=nonce,
    )


def dpop_headers(token: str, *proofs: str) -> list[tuple[str, str]]:
    """``Authorization: DPoP <token>`` and one ``DPoP`` header per proof."""
    return [("Authorization", f"DPoP {token}"), *(("DPoP", p) for p in proofs)]


def verifier_for(
    issuer_key: JWK, clock: FrozenClock, *, dpop: DPoPChecker | None = None
) -> TokenVerifier:
    return TokenVerifier(
        issuer=ISSUER, audience=AUDIENCE, keys=jwks_of(issuer_key), clock=clock, dpop=dpop
    )


# --- answers -----------------------------------------------------------------------------------

_AUTH_PARAM: Final = re.compile(
    r"""([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[!#$%&'*+.^_`|~0-9A-Za-z-]+)"""
)
_AUTH_SCHEME: Final = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?=\s|,|$)")


def challenges(value: str | None) -> list[tuple[str, dict[str, str]]]:
    """The challenges of a ``WWW-Authenticate`` value (RFC 9110 §11.6.1): each scheme, as
    sent, and its parameters with quoted values unquoted."""
    found: list[tuple[str, dict[str, str]]] = []
    text, position = value or "", 0
    while position < len(text):
        if text[position] in " ,":
            position += 1
            continue
        param = _AUTH_PARAM.match(text, position)
        if param is not None and found:
            raw = param.group(2)
            found[-1][1][param.group(1)] = (
                re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith('"') else raw
            )
            position = param.end()
            continue
        scheme = _AUTH_SCHEME.match(text, position)
        if scheme is None:
            raise AssertionError(f"not a WWW-Authenticate value: {text!r}")
        found.append((scheme.group(1), {}))
        position = scheme.end()
    return found


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # lower-case names, the last value of each
    www_authenticate: list[str]
    body: Any

    @property
    def challenges(self) -> list[tuple[str, dict[str, str]]]:
        return [c for value in self.www_authenticate for c in challenges(value)]

    @property
    def error(self) -> str | None:
        return self.body.get("error") if isinstance(self.body, dict) else None

    def dpop_challenge(self) -> dict[str, str]:
        """The parameters of the one ``DPoP`` challenge."""
        found = [params for scheme, params in self.challenges if scheme == "DPoP"]
        assert len(found) == 1, self.www_authenticate
        return found[0]

    def refused_with(self, status: int, error: str, *, scheme: str = "DPoP") -> dict[str, str]:
        """Assert the refusal (status, body and the challenge of ``scheme``) and return the
        challenge's parameters."""
        assert (self.status, self.error) == (status, error), (self.status, self.body)
        assert self.headers.get("cache-control") == "no-store"
        params = [p for s, p in self.challenges if s == scheme]
        assert len(params) == 1, self.www_authenticate
        assert params[0]["error"] == error
        assert params[0]["error_description"] == self.body["error_description"]
        if scheme == "DPoP":
            assert params[0]["algs"] == ALGS
        return params[0]


# --- a protected API behind each integration ------------------------------------------------


def _seen(claims: AccessClaims) -> dict[str, Any]:
    return {"sub": claims.sub, "jkt": claims.dpop_jkt, "scopes": sorted(claims.scopes)}


def asgi_app(verifier: TokenVerifier, **options: Any) -> Any:
    """``GET|POST /orders`` behind :class:`BearerAuthMiddleware` with ``options``."""

    async def orders(request: Request) -> JSONResponse:
        return JSONResponse(_seen(request.auth))

    app = Starlette(routes=[Route("/orders", orders, methods=["GET", "POST"])])
    return BearerAuthMiddleware(app, verifier=verifier, **options)


def flask_app(verifier: TokenVerifier, **options: Any) -> Flask:
    """``GET|POST /orders`` (any token), ``/dpop/orders`` (DPoP only) behind
    :class:`OstiaryFlask` with ``options``."""
    app = Flask(__name__)
    auth = OstiaryFlask(app, verifier, **options)

    @app.route("/orders", methods=["GET", "POST"])
    @auth.require_token
    def orders() -> dict[str, Any]:
        return _seen(current_claims())

    @app.route("/dpop/orders", methods=["GET", "POST"])
    @auth.require_dpop
    def dpop_orders() -> dict[str, Any]:
        return _seen(current_claims())

    return app


@dataclass
class Service:
    """One protected API, called as a client would call ``API``: ``request`` sends the
    headers given and nothing else (no proof is made for the caller)."""

    kind: Kind
    send: Callable[[str, str, list[tuple[str, str]]], Any] = field(repr=False)

    async def request(
        self, method: str, path: str, headers: list[tuple[str, str]] | None = None
    ) -> Answer:
        answer = self.send(method, path, headers or [])
        if isinstance(answer, Answer):
            return answer
        awaited: Answer = await answer
        return awaited


def service(kind: Kind, verifier: TokenVerifier, *, base_url: str = API, **options: Any) -> Service:
    """The API behind the ASGI middleware (over ``httpx.ASGITransport``) or the Flask
    extension (over Flask's test client), reached at ``base_url``."""
    if kind == "asgi":
        transport = httpx.ASGITransport(app=asgi_app(verifier, **options))

        async def send_asgi(method: str, path: str, headers: list[tuple[str, str]]) -> Answer:
            async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
                r = await client.request(method, path, headers=headers)
            return Answer(
                r.status_code,
                {k.lower(): v for k, v in r.headers.items()},
                r.headers.get_list("www-authenticate"),
                r.json(),
            )

        return Service(kind, send_asgi)
    client = flask_app(verifier, **options).test_client()

    def send_flask(method: str, path: str, headers: list[tuple[str, str]]) -> Answer:
        r = client.open(path, method=method, headers=headers, base_url=base_url)
        return Answer(
            r.status_code,
            {k.lower(): v for k, v in r.headers.items()},
            r.headers.getlist("WWW-Authenticate"),
            r.get_json(),
        )

    return Service(kind, send_flask)


# --- attacks -----------------------------------------------------------------------------------

#: Where the attack tests send their requests.
ORDERS: Final = f"{API}/orders"
KINDS: Final = ("asgi", "flask")


async def send_within(
    api: Service,
    headers: list[tuple[str, str]],
    *,
    timeout: float,
    method: str = "GET",
    path: str = "/orders",
) -> Answer:
    """``api``'s answer to one request, waited for at most ``timeout`` seconds: a guard
    against a hang, never a measure of speed."""
    return await asyncio.wait_for(api.request(method, path, headers), timeout)


def refusal_reason(
    verifier: TokenVerifier,
    token: str,
    proofs: list[str],
    *,
    method: str = "GET",
    url: str = ORDERS,
) -> str:
    """The ``reason`` :meth:`TokenVerifier.verify_dpop_sync` refuses with (for a proof that
    is refused, nothing is remembered, so asking again is no replay)."""
    try:
        verifier.verify_dpop_sync(token, proofs, method=method, url=url)
    except (InvalidDPoPProof, InvalidToken) as exc:
        return exc.reason
    raise AssertionError("accepted")
