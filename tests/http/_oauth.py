"""Driving the authorization server as a browser and an OAuth client do, for the OAuth and
OpenID Connect tests: registering clients, following the login and consent forms (scraping
their hidden fields as a browser submits them), PKCE, and reading redirects."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import re
import secrets
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ostiary.authn.client_registry import Registered
from ostiary.authn.client_settings import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    REFRESH_TOKEN,
    ClientSettings,
)
from ostiary.jose import JWK
from ostiary.jose.inspect import inspect_compact
from ostiary.settings import Settings
from ostiary.storage.records import ClientAuthMethod

from ._server import BASE_URL, CLIENT_ADDRESS, PASSWORD, Server, running, settings_for

#: The issuer is the test client's own origin, so that form POSTs pass the Origin check.
ISSUER: Final = BASE_URL
#: What a browser sends with a form POST of the server's own pages.
SAME_ORIGIN: Final = {"Origin": ISSUER}
REDIRECT: Final = "http://localhost:9000/cb"
AFTER_LOGOUT: Final = "http://localhost:9000/"
API: Final = "https://api.example.com"
OTHER_API: Final = "https://other-api.example.com"
SSO_COOKIE: Final = "ostiary_sso"
CSRF_COOKIE: Final = "ostiary_csrf"
CODE_FLOW: Final = frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN})
OIDC_SCOPES: Final = frozenset({"openid", "profile"})

_INPUT: Final = re.compile(r"<input\b[^>]*>")
_ATTRIBUTE: Final = re.compile(r'\b(name|value|type)="([^"]*)"')
_ACTION: Final = re.compile(r'<form\b[^>]*\baction="([^"]*)"')


def oauth_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return settings_for(tmp_path, issuer=ISSUER, **overrides)


@contextlib.asynccontextmanager
async def oauth_server(tmp_path: Path) -> AsyncIterator[Server]:
    """A dev-mode server whose issuer is the test client's origin, with the user ``alice``."""
    async with running(oauth_settings(tmp_path)) as srv:
        await srv.add_user("alice")
        yield srv


@pytest.fixture(name="server")
async def oauth_server_fixture(tmp_path: Path) -> AsyncIterator[Server]:
    """The ``server`` of the OAuth tests: :func:`oauth_server`. A test module takes it by
    importing it (``from tests.http._oauth import oauth_server_fixture``), in place of the
    plain server of ``tests/http/conftest.py``."""
    async with oauth_server(tmp_path) as srv:
        yield srv


@contextlib.asynccontextmanager
async def another_browser(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser (its own cookie jar) talking to the same server."""
    transport = httpx.ASGITransport(app=server.app, client=(CLIENT_ADDRESS, 4322))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


# --- clients ----------------------------------------------------------------------------------


async def web_client(
    server: Server,
    client_id: str = "web",
    *,
    auth_method: ClientAuthMethod = ClientAuthMethod.CLIENT_SECRET_BASIC,
    grant_types: Iterable[str] = CODE_FLOW,
    redirect_uris: tuple[str, ...] = (REDIRECT,),
    scopes: Iterable[str] = OIDC_SCOPES,
    audiences: Iterable[str] = (),
    first_party: bool = False,
) -> Registered:
    """An authorization code client (confidential unless ``auth_method`` is ``none``)."""
    settings = ClientSettings(
        name=f"App {client_id}",
        auth_method=auth_method,
        grant_types=frozenset(grant_types),
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=(AFTER_LOGOUT,),
        scopes=frozenset(scopes),
        audiences=frozenset(audiences),
        first_party=first_party,
    )
    return await server.services.oauth.clients.create(settings, client_id=client_id)


async def service_client(
    server: Server,
    client_id: str = "svc",
    *,
    auth_method: ClientAuthMethod = ClientAuthMethod.CLIENT_SECRET_BASIC,
    scopes: Iterable[str] = ("inventory:read", "inventory:write"),
    audiences: Iterable[str] = (API, OTHER_API),
) -> Registered:
    """A ``client_credentials`` client."""
    settings = ClientSettings(
        name=f"Service {client_id}",
        auth_method=auth_method,
        grant_types=frozenset({CLIENT_CREDENTIALS}),
        scopes=frozenset(scopes),
        audiences=frozenset(audiences),
    )
    return await server.services.oauth.clients.create(settings, client_id=client_id)


async def signed_service(server: Server, key: JWK, client_id: str = "signed") -> Registered:
    """A ``client_credentials`` client that authenticates with ``private_key_jwt`` (RFC 7523)
    signed by ``key``, registered for :data:`API`."""
    settings = ClientSettings(
        name="Signed service",
        auth_method=ClientAuthMethod.PRIVATE_KEY_JWT,
        grant_types=frozenset({CLIENT_CREDENTIALS}),
        audiences=frozenset({API}),
        jwks={"keys": [key.public_dict()]},
    )
    return await server.services.oauth.clients.create(settings, client_id=client_id)


def basic(registered: Registered) -> tuple[str, str]:
    """``client_secret_basic`` credentials for httpx's ``auth=``."""
    assert registered.secret is not None
    return registered.client.id, registered.secret


# --- PKCE and the authorization request -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pkce:
    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


def authorize_query(client_id: str, pkce: Pkce, /, **extra: str) -> dict[str, str]:
    """An OpenID Connect code request; ``extra`` adds or replaces parameters."""
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile",
        "state": "st-" + client_id,
        "nonce": "n-" + client_id,
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
    }
    query.update(extra)
    return query


# --- pages and redirects ----------------------------------------------------------------------


def form_fields(page: httpx.Response) -> dict[str, str]:
    """The named inputs of the page's form as a browser would submit them (buttons aside)."""
    fields: dict[str, str] = {}
    for tag in _INPUT.findall(page.text):
        attributes = {k: html.unescape(v) for k, v in _ATTRIBUTE.findall(tag)}
        if "name" in attributes and attributes.get("type") != "password":
            fields[attributes["name"]] = attributes.get("value", "")
    return fields


def form_action(page: httpx.Response) -> str:
    match = _ACTION.search(page.text)
    assert match is not None, page.text
    return html.unescape(match.group(1))


def is_login_page(page: httpx.Response) -> bool:
    return page.status_code in (200, 401) and form_fields(page).get("step") == "login"


def is_consent_page(page: httpx.Response) -> bool:
    return page.status_code == 200 and form_fields(page).get("step") == "consent"


async def submit(
    client: httpx.AsyncClient,
    page: httpx.Response,
    changes: dict[str, str],
    *,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST the page's form with ``changes``, from this server's origin unless ``headers``
    say otherwise."""
    data = {**form_fields(page), **changes}
    return await client.post(form_action(page), data=data, headers=headers or SAME_ORIGIN)


def redirect_query(response: httpx.Response, to: str = REDIRECT) -> dict[str, str]:
    """The query of a 303 to ``to``, each parameter once."""
    assert response.status_code == 303, (response.status_code, response.text[:300])
    location = response.headers["location"]
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == to, location
    assert not parts.fragment, location
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    assert all(len(values) == 1 for values in query.values()), location
    return {name: values[0] for name, values in query.items()}


def claims_of(token: str) -> dict[str, Any]:
    """A JWT's claims, unverified: the tests read what the server put there."""
    return inspect_compact(token)[1]


def header_of(token: str) -> dict[str, Any]:
    return inspect_compact(token)[0]


# --- flows ------------------------------------------------------------------------------------


async def sign_in(
    server: Server, query: dict[str, str], *, password: str = PASSWORD
) -> httpx.Response:
    """Open the authorization URL with no session and sign in as alice: the answer to the
    login form (the consent page, a redirect, or the form again)."""
    page = await server.client.get("/oauth/authorize", params=query)
    assert is_login_page(page), (page.status_code, page.text[:300])
    return await submit(server.client, page, {"username": "alice", "password": password})


async def authorization_code(server: Server, query: dict[str, str]) -> str:
    """Follow the flow as far as it asks (sign-in, consent) and return the code."""
    response = await server.client.get("/oauth/authorize", params=query)
    if is_login_page(response):
        response = await submit(
            server.client, response, {"username": "alice", "password": PASSWORD}
        )
    if is_consent_page(response):
        response = await submit(server.client, response, {"decision": "allow"})
    answer = redirect_query(response, query.get("redirect_uri", REDIRECT))
    assert answer.get("state") == query.get("state"), answer
    assert answer["iss"] == ISSUER
    return answer["code"]


async def redeem(
    server: Server,
    registered: Registered,
    code: str,
    pkce: Pkce,
    *,
    redirect_uri: str = REDIRECT,
) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": pkce.verifier,
    }
    if registered.secret is None:  # a public client names itself
        data["client_id"] = registered.client.id
        return await server.client.post("/oauth/token", data=data)
    return await server.client.post("/oauth/token", data=data, auth=basic(registered))


async def code_flow_tokens(server: Server, registered: Registered, **extra: str) -> dict[str, Any]:
    """Tokens from a whole authorization code flow (signing in if need be)."""
    pkce = Pkce.new()
    code = await authorization_code(server, authorize_query(registered.client.id, pkce, **extra))
    response = await redeem(server, registered, code, pkce)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def refresh(server: Server, registered: Registered, token: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": token}
    return await server.client.post("/oauth/token", data=data, auth=basic(registered))


async def userinfo(server: Server, access_token: str) -> httpx.Response:
    return await server.client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"}
    )


async def alice_id(server: Server) -> str:
    user = await server.services.accounts.get_by_username("alice")
    return user.id
