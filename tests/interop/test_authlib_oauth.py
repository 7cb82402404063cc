"""Interoperability with Authlib, the field's standard Python OAuth client, against a real
``ostiary serve --demo``: discovery, the authorization code flow with PKCE S256 and an ID
token checked with Authlib's OpenID Connect claims (on joserfc, against the server's JWKS),
UserInfo, refresh, revocation and introspection, and the client credentials grant with each
client authentication method the server offers for it.

The clients are registered in the server's database before it starts (there is no admin HTTP
API); the person at the browser is :mod:`tests.interop.user_agent`. Authlib (1.8 and later)
sends its requests with httpx2, the successor of httpx, which the dev extra installs.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oidc import rpinitiated
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata, get_well_known_url
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from ostiary.authn.client_settings import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    REFRESH_TOKEN,
    ClientSettings,
)
from ostiary.storage.records import ClientAuthMethod
from tests.http._live import (
    REQUEST_TIMEOUT,
    LiveServer,
    claims_of,
    live_server,
    register_client,
    sqlite_url,
)
from tests.interop.user_agent import Visit, authorize

pytestmark = pytest.mark.interop

REDIRECT_URI: Final = "http://127.0.0.1/authlib/callback"
WEB_SCOPE: Final = "openid profile"
SERVICE_SCOPE: Final = "reports:read"
#: The API the service clients are registered for (none: no token at all, RFC 9700 §2.3).
SERVICE_AUDIENCE: Final = "https://reports.example.test"
#: The server refuses client assertions that live longer than five minutes (RFC 7523 §3 lets it
#: refuse an ``exp`` unreasonably far off); Authlib's default is an hour.
ASSERTION_LIFETIME: Final = 120
#: Metadata Authlib finds wrong (server bugs, each with a strict xfail test): none now.
KNOWN_METADATA_BUGS: Final[frozenset[str]] = frozenset()


@dataclass(frozen=True, slots=True)
class Deployment:
    """The running server and what was registered in it for these tests."""

    server: LiveServer
    #: Client secrets by client id (the ``client_secret_*`` clients).
    secrets: dict[str, str]
    #: The private key of the ``private_key_jwt`` client.
    assertion_key: RSAKey


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("authlib-live")
    database = sqlite_url(workdir)
    key = RSAKey.generate_key(2048, parameters={"kid": "authlib-1", "alg": "RS256", "use": "sig"})
    service = frozenset({CLIENT_CREDENTIALS})
    settings = {
        "authlib-web": ClientSettings(
            name="Authlib web app",
            grant_types=frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN}),
            redirect_uris=(REDIRECT_URI,),
            scopes=frozenset(WEB_SCOPE.split()),
        ),
        "authlib-basic": ClientSettings(
            name="Authlib service (basic)",
            auth_method=ClientAuthMethod.CLIENT_SECRET_BASIC,
            grant_types=service,
            scopes=frozenset({SERVICE_SCOPE}),
            audiences=frozenset({SERVICE_AUDIENCE}),
        ),
        "authlib-post": ClientSettings(
            name="Authlib service (post)",
            auth_method=ClientAuthMethod.CLIENT_SECRET_POST,
            grant_types=service,
            scopes=frozenset({SERVICE_SCOPE}),
            audiences=frozenset({SERVICE_AUDIENCE}),
        ),
        "authlib-jwt": ClientSettings(
            name="Authlib service (private_key_jwt)",
            auth_method=ClientAuthMethod.PRIVATE_KEY_JWT,
            grant_types=service,
            scopes=frozenset({SERVICE_SCOPE}),
            audiences=frozenset({SERVICE_AUDIENCE}),
            jwks={"keys": [key.as_dict(private=False)]},
        ),
    }
    secrets: dict[str, str] = {}
    for client_id, client_settings in settings.items():
        registered = register_client(database, client_settings, client_id=client_id)
        if registered.secret is not None:
            secrets[client_id] = registered.secret
    with live_server(workdir, database_url=database) as server:
        yield Deployment(server=server, secrets=secrets, assertion_key=key)


@pytest.fixture
async def web(deployment: Deployment) -> AsyncIterator[AsyncOAuth2Client]:
    """The web application: a confidential client with ``client_secret_basic``."""
    async with AsyncOAuth2Client(
        client_id="authlib-web",
        client_secret=deployment.secrets["authlib-web"],
        scope=WEB_SCOPE,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        timeout=REQUEST_TIMEOUT,
    ) as client:
        yield client


async def discover(client: AsyncOAuth2Client, issuer: str) -> dict[str, Any]:
    """The provider's metadata, fetched and validated as Authlib validates it."""
    url = get_well_known_url(issuer, external=True)
    response = await client.request("GET", url, withhold_token=True)
    assert response.status_code == 200, response.text
    metadata = OpenIDProviderMetadata(response.json())
    validate_metadata(metadata, skip=KNOWN_METADATA_BUGS)
    return dict(metadata)


def validate_metadata(metadata: OpenIDProviderMetadata, *, skip: frozenset[str]) -> None:
    """Authlib's ``validate()`` of the OpenID Connect Discovery and RP-Initiated Logout
    metadata, but for the ``skip`` entries (each has a strict xfail test of its own)."""
    for validator in (metadata, rpinitiated.OpenIDProviderMetadata(metadata)):
        for key in validator.REGISTRY_KEYS:
            if key not in skip:
                getattr(validator, f"validate_{key}")()


@dataclass(frozen=True, slots=True)
class SignedIn:
    metadata: dict[str, Any]
    token: dict[str, Any]
    nonce: str
    state: str
    visit: Visit


async def sign_in(
    client: AsyncOAuth2Client, server: LiveServer, *, prompt: str | None = None
) -> SignedIn:
    """The authorization code flow with PKCE S256 and a nonce, alice at the browser (who
    consents only the first time, unless ``prompt`` asks again)."""
    metadata = await discover(client, server.issuer)
    verifier = generate_token(64)
    nonce = generate_token(24)
    extra = {"prompt": prompt} if prompt is not None else {}
    url, state = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **extra
    )
    visit = await authorize(url, username="alice", password=server.alice_password)
    token = await client.fetch_token(
        metadata["token_endpoint"],
        authorization_response=visit.callback_url,
        state=state,
        code_verifier=verifier,
    )
    return SignedIn(metadata=metadata, token=dict(token), nonce=nonce, state=state, visit=visit)


async def verified_id_token(
    client: AsyncOAuth2Client, signed_in: SignedIn, *, client_id: str
) -> CodeIDToken:
    """The ID token, its signature checked with the key of the server's JWKS that its ``kid``
    names, its claims with Authlib's ``CodeIDToken`` (OpenID Connect Core §3.1.3.7)."""
    metadata = signed_in.metadata
    response = await client.request("GET", metadata["jwks_uri"], withhold_token=True)
    keys = KeySet.import_key_set(response.json())
    decoded = jwt.decode(
        signed_in.token["id_token"],
        keys,
        algorithms=metadata["id_token_signing_alg_values_supported"],
    )
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        options={
            "iss": {"essential": True, "value": metadata["issuer"]},
            "aud": {"essential": True, "value": client_id},
        },
        params={
            "nonce": signed_in.nonce,
            "access_token": signed_in.token["access_token"],
            "client_id": client_id,
        },
    )
    claims.validate(now=int(time.time()), leeway=5)
    return claims


# --- discovery ------------------------------------------------------------------------------


async def test_discovery_document_passes_authlib_checks(
    deployment: Deployment, web: AsyncOAuth2Client
) -> None:
    """Every check of Authlib's ``validate()`` (but those of ``KNOWN_METADATA_BUGS``)."""
    metadata = await discover(web, deployment.server.issuer)
    base = deployment.server.base_url
    assert metadata["issuer"] == deployment.server.issuer
    assert metadata["token_endpoint"] == base + "/oauth/token"
    assert "S256" in metadata["code_challenge_methods_supported"]
    for method in ("client_secret_basic", "client_secret_post", "private_key_jwt"):
        assert method in metadata["token_endpoint_auth_methods_supported"]


async def test_discovery_lists_rs256_for_id_tokens(
    deployment: Deployment, web: AsyncOAuth2Client
) -> None:
    response = await web.request(
        "GET", get_well_known_url(deployment.server.issuer, external=True), withhold_token=True
    )
    OpenIDProviderMetadata(response.json()).validate_id_token_signing_alg_values_supported()


# --- the authorization code flow ------------------------------------------------------------


async def test_code_flow_with_pkce_gives_a_valid_id_token(
    deployment: Deployment, web: AsyncOAuth2Client
) -> None:
    signed_in = await sign_in(web, deployment.server)
    token = signed_in.token
    assert token["token_type"].lower() == "bearer"
    assert set(token["scope"].split()) == set(WEB_SCOPE.split())
    assert token["refresh_token"]
    claims = await verified_id_token(web, signed_in, client_id="authlib-web")
    assert claims["iss"] == deployment.server.issuer
    assert claims["aud"] == "authlib-web"
    assert claims["nonce"] == signed_in.nonce
    assert "at_hash" in claims  # and Authlib checked it against the access token
    assert claims["preferred_username"] == "alice"
    assert claims["sub"] == claims_of(token["access_token"])["sub"]


async def test_authorization_response_names_the_issuer(
    deployment: Deployment, web: AsyncOAuth2Client
) -> None:
    """RFC 9207: ``iss`` in the redirect, as the metadata announces; ``state`` comes back.
    ``prompt=consent`` shows the consent page even if alice allowed before (Core §3.1.2.1)."""
    signed_in = await sign_in(web, deployment.server, prompt="consent")
    assert signed_in.visit.steps == ("login", "consent")
    assert signed_in.metadata["authorization_response_iss_parameter_supported"] is True
    callback = urlsplit(signed_in.visit.callback_url)
    assert urlunsplit((*callback[:3], "", "")) == REDIRECT_URI
    query = parse_qs(callback.query)
    assert query["state"] == [signed_in.state]
    assert query["iss"] == [deployment.server.issuer]


async def test_userinfo_answers_the_access_token(
    deployment: Deployment, web: AsyncOAuth2Client
) -> None:
    signed_in = await sign_in(web, deployment.server)
    response = await web.get(signed_in.metadata["userinfo_endpoint"])
    assert response.status_code == 200, response.text
    claims = await verified_id_token(web, signed_in, client_id="authlib-web")
    assert response.json() == {"sub": claims["sub"], "preferred_username": "alice"}


async def test_refresh_rotates_the_refresh_token(
    deployment: Deployment, web: AsyncOAuth2Client
) -> None:
    signed_in = await sign_in(web, deployment.server)
    first = signed_in.token
    refreshed = await web.refresh_token(signed_in.metadata["token_endpoint"])
    assert refreshed["access_token"] != first["access_token"]
    assert refreshed["refresh_token"] != first["refresh_token"]
    assert set(refreshed["scope"].split()) == set(WEB_SCOPE.split())
    response = await web.get(signed_in.metadata["userinfo_endpoint"])  # the new access token
    assert response.status_code == 200, response.text


async def test_revoked_refresh_token_no_longer_refreshes(
    deployment: Deployment, web: AsyncOAuth2Client
) -> None:
    """RFC 7009 §2.1: the refresh token and the access tokens of its grant stop working."""
    signed_in = await sign_in(web, deployment.server)
    metadata = signed_in.metadata
    refresh_token = signed_in.token["refresh_token"]
    before = await web.introspect_token(
        metadata["introspection_endpoint"], token=refresh_token, token_type_hint="refresh_token"
    )
    assert before.status_code == 200 and before.json()["active"] is True, before.text

    revoked = await web.revoke_token(
        metadata["revocation_endpoint"], token=refresh_token, token_type_hint="refresh_token"
    )
    assert revoked.status_code == 200, revoked.text

    with pytest.raises(OAuthError) as caught:
        await web.refresh_token(metadata["token_endpoint"], refresh_token=refresh_token)
    assert caught.value.error == "invalid_grant"
    after = await web.introspect_token(metadata["introspection_endpoint"], token=refresh_token)
    assert after.json() == {"active": False}
    userinfo = await web.get(metadata["userinfo_endpoint"])  # the grant's access token
    assert userinfo.status_code == 401
    assert userinfo.headers["www-authenticate"].startswith("Bearer")


# --- the client credentials grant -----------------------------------------------------------


def service_client(deployment: Deployment, client_id: str) -> AsyncOAuth2Client:
    """A service client that authenticates as it was registered."""
    if client_id == "authlib-jwt":
        client = AsyncOAuth2Client(
            client_id=client_id,
            client_secret=deployment.assertion_key,
            token_endpoint_auth_method="private_key_jwt",
            timeout=REQUEST_TIMEOUT,
        )
        client.register_client_auth_method(short_lived_assertions(deployment))
        return client
    method = {"authlib-basic": "client_secret_basic", "authlib-post": "client_secret_post"}
    return AsyncOAuth2Client(
        client_id=client_id,
        client_secret=deployment.secrets[client_id],
        token_endpoint_auth_method=method[client_id],
        timeout=REQUEST_TIMEOUT,
    )


def short_lived_assertions(deployment: Deployment, *, jti: str | None = None) -> Any:
    """Authlib's ``PrivateKeyJWT`` with ``exp`` ``ASSERTION_LIFETIME`` from now and ``aud``
    the issuer identifier (Authlib's default is the token endpoint URL, which Ostiary refuses:
    draft-ietf-oauth-rfc7523bis). Its claims are fixed when it is made, and the ``jti`` it
    generates is kept in them: every assertion it signs has the same claims, so a client needs
    a new one per token request."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "aud": deployment.server.issuer,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME,
    }
    if jti is not None:
        claims["jti"] = jti
    return PrivateKeyJWT(
        deployment.server.base_url + "/oauth/token",
        claims=claims,
        headers={"kid": deployment.assertion_key.kid},
    )


@pytest.mark.parametrize("client_id", ["authlib-basic", "authlib-post", "authlib-jwt"])
async def test_client_credentials(deployment: Deployment, client_id: str) -> None:
    async with service_client(deployment, client_id) as client:
        metadata = await discover(client, deployment.server.issuer)
        token = await client.fetch_token(
            metadata["token_endpoint"], grant_type="client_credentials"
        )
    assert token["token_type"].lower() == "bearer"
    assert token["scope"] == SERVICE_SCOPE
    assert "refresh_token" not in token  # RFC 6749 §4.4.3
    claims = claims_of(token["access_token"])
    assert claims["sub"] == claims["client_id"] == client_id
    assert claims["iss"] == deployment.server.issuer


async def test_private_key_jwt_assertion_is_used_once(deployment: Deployment) -> None:
    """RFC 7523 §3: the same assertion (same ``jti``) presented again is refused."""
    async with service_client(deployment, "authlib-jwt") as client:
        client.register_client_auth_method(short_lived_assertions(deployment, jti=generate_token()))
        metadata = await discover(client, deployment.server.issuer)
        await client.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
        with pytest.raises(OAuthError) as caught:
            await client.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert caught.value.error == "invalid_client"


async def test_authlib_default_assertion_lifetime_is_refused(deployment: Deployment) -> None:
    """Authlib's ``PrivateKeyJWT`` makes assertions valid for an hour by default; the server
    refuses any longer than five minutes (RFC 7523 §3 lets it), so Authlib users must set
    ``exp`` (as :func:`service_client` does)."""
    async with AsyncOAuth2Client(
        client_id="authlib-jwt",
        client_secret=deployment.assertion_key,
        token_endpoint_auth_method="private_key_jwt",
        timeout=REQUEST_TIMEOUT,
    ) as client:
        token_endpoint = deployment.server.base_url + "/oauth/token"
        client.register_client_auth_method(
            PrivateKeyJWT(
                token_endpoint,
                claims={"aud": deployment.server.issuer},  # refused for its lifetime alone
                headers={"kid": deployment.assertion_key.kid},
            )
        )
        with pytest.raises(OAuthError) as caught:
            await client.fetch_token(token_endpoint, grant_type="client_credentials")
    assert caught.value.error == "invalid_client"
