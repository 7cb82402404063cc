"""OAuth clients: checked registration, secrets shown once and stored hashed, the get-cache, and
client authentication at the token endpoint (RFC 6749 §2.3, RFC 7523 §2.2 and §3)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from typing import Any

import pytest

from ostiary.authn import client_auth as client_auth_module
from ostiary.authn.client_auth import JWT_BEARER_ASSERTION, ClientAuthenticator, ClientCredentials
from ostiary.authn.client_registry import ClientRegistry, Registered, hash_secret
from ostiary.authn.client_settings import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    REFRESH_TOKEN,
    ClientSettings,
    check_settings,
    redirect_uri_problem,
)
from ostiary.clock import FrozenClock
from ostiary.encoding import b64url
from ostiary.errors import InvalidClient, InvalidClientMetadata, InvalidRequest, NotFound
from ostiary.jose import JWK
from ostiary.storage.memory import MemoryClientStore, MemoryOnceStore
from ostiary.storage.records import ClientAuthMethod
from tests.unit.authn.conftest import T0
from tests.unit.grants._server import ISSUER, REDIRECT, SERVER_AUDIENCES, sign_raw

CODE_GRANTS = frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN})
TOKEN_URL = f"{ISSUER}/oauth/token"
CLIENT_KEY = JWK.generate("ES256")
OTHER_KEY = JWK.generate("ES256")


@pytest.fixture
def store() -> MemoryClientStore:
    return MemoryClientStore()


#: Client ids whose sessions the registry ended (it deletes them).
ENDED: list[str] = []


async def record_ended(client_id: str) -> None:
    ENDED.append(client_id)


@pytest.fixture
def registry(store: MemoryClientStore, clock: FrozenClock) -> ClientRegistry:
    ENDED.clear()
    return ClientRegistry(
        store,
        audiences=SERVER_AUDIENCES,
        end_sessions=record_ended,
        clock=clock,
    )


@pytest.fixture
def once() -> MemoryOnceStore:
    return MemoryOnceStore()


@pytest.fixture
def authenticator(
    registry: ClientRegistry, once: MemoryOnceStore, clock: FrozenClock
) -> ClientAuthenticator:
    return ClientAuthenticator(registry, once, issuer=ISSUER, clock=clock)


def service(**changes: Any) -> ClientSettings:
    return dataclasses.replace(ClientSettings(name="Reports service"), **changes)


def web_app(**changes: Any) -> ClientSettings:
    settings = ClientSettings(name="Web app", grant_types=CODE_GRANTS, redirect_uris=(REDIRECT,))
    return dataclasses.replace(settings, **changes)


def jwks_of(*keys: JWK) -> dict[str, Any]:
    return {"keys": [key.public_dict() for key in keys]}


async def register_jwt_client(
    registry: ClientRegistry, client_id: str = "jwt-client", *keys: JWK
) -> Registered:
    settings = service(
        auth_method=ClientAuthMethod.PRIVATE_KEY_JWT, jwks=jwks_of(*(keys or (CLIENT_KEY,)))
    )
    return await registry.create(settings, client_id=client_id)


# --- settings ----------------------------------------------------------------------------------


def test_a_valid_service_keeps_its_settings_normalized() -> None:
    checked = check_settings(
        service(name="  Reports  ", scopes=frozenset({"a", "b"}), audiences=frozenset({"x"}))
    )
    assert checked.name == "Reports"
    assert checked.grant_types == {CLIENT_CREDENTIALS}
    assert checked.scopes == {"a", "b"} and checked.audiences == {"x"}


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "tab\there", "new\nline"])
def test_a_name_is_one_to_100_printable_characters(name: str) -> None:
    with pytest.raises(InvalidClientMetadata, match="name"):
        check_settings(service(name=name))


@pytest.mark.parametrize(
    ("grants", "message"),
    [
        (frozenset(), "at least one grant type"),
        (frozenset({"password"}), "Unsupported grant type 'password'"),
        (frozenset({"implicit", AUTHORIZATION_CODE}), "Unsupported grant type 'implicit'"),
        (frozenset({"urn:ietf:params:oauth:grant-type:device_code"}), "Unsupported"),
        (frozenset({REFRESH_TOKEN}), "refresh_token comes with authorization_code"),
        (frozenset({REFRESH_TOKEN, CLIENT_CREDENTIALS}), "refresh_token comes with"),
    ],
)
def test_grant_type_combinations_that_are_refused(grants: frozenset[str], message: str) -> None:
    settings = web_app(grant_types=grants) if AUTHORIZATION_CODE in grants else service()
    settings = dataclasses.replace(settings, grant_types=grants)
    with pytest.raises(InvalidClientMetadata, match=message):
        check_settings(settings)


@pytest.mark.parametrize(
    "grants",
    [
        frozenset({CLIENT_CREDENTIALS}),
        frozenset({AUTHORIZATION_CODE}),
        frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN}),
        frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS}),
    ],
)
def test_grant_type_combinations_that_are_accepted(grants: frozenset[str]) -> None:
    redirects = (REDIRECT,) if AUTHORIZATION_CODE in grants else ()
    checked = check_settings(service(grant_types=grants, redirect_uris=redirects))
    assert checked.grant_types == grants


def test_a_public_client_cannot_use_client_credentials() -> None:
    for grants in (frozenset({CLIENT_CREDENTIALS}), CODE_GRANTS | {CLIENT_CREDENTIALS}):
        with pytest.raises(InvalidClientMetadata, match="public client"):
            check_settings(web_app(auth_method=ClientAuthMethod.NONE, grant_types=grants))
    assert check_settings(web_app(auth_method=ClientAuthMethod.NONE)).grant_types == CODE_GRANTS


def test_authorization_code_needs_a_redirect_uri_and_only_it_may_have_one() -> None:
    with pytest.raises(InvalidClientMetadata, match="at least one redirect URI"):
        check_settings(web_app(redirect_uris=()))
    with pytest.raises(InvalidClientMetadata, match="only for authorization_code"):
        check_settings(service(redirect_uris=(REDIRECT,)))


@pytest.mark.parametrize("scope", ['say"hi"', "back\\slash", "caf\u00e9"])
def test_a_malformed_scope_is_refused(scope: str) -> None:
    with pytest.raises(InvalidClientMetadata, match="scope"):
        check_settings(service(scopes=frozenset({"ok", scope})))


@pytest.mark.parametrize("audience", ["", "has space", "x" * 201, "tab\t", "caf\u00e9"])
def test_a_malformed_audience_is_refused(audience: str) -> None:
    with pytest.raises(InvalidClientMetadata, match="audience"):
        check_settings(service(audiences=frozenset({audience})))


def test_private_key_jwt_needs_a_usable_public_key_set() -> None:
    jwt = ClientAuthMethod.PRIVATE_KEY_JWT
    bad: list[tuple[Any, str]] = [
        (None, "needs the client's public JWK Set"),
        ([CLIENT_KEY.public_dict()], "JSON object"),
        ({"keys": "nope"}, "JSON object"),
        ({"keys": []}, "no key"),
        ({"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}, "not usable"),
        ({"keys": [CLIENT_KEY.private_dict()]}, "public keys only"),
        (
            {"keys": [{"kty": "oct", "k": b64url(b"s" * 32), "alg": "HS256", "kid": "h"}]},
            "public keys only",
        ),
    ]
    for jwks, message in bad:
        with pytest.raises(InvalidClientMetadata, match=message):
            check_settings(service(auth_method=jwt, jwks=jwks))
    assert check_settings(service(auth_method=jwt, jwks=jwks_of(CLIENT_KEY))).jwks is not None


def test_a_key_set_is_only_for_private_key_jwt() -> None:
    with pytest.raises(InvalidClientMetadata, match="only for private_key_jwt"):
        check_settings(service(jwks=jwks_of(CLIENT_KEY)))


# --- redirect URIs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.com/callback",
        "https://app.example.com:8443/cb?tenant=1",
        "http://localhost/cb",
        "http://localhost:8080/cb",
        "http://127.0.0.1:53123/cb",
        "http://[::1]/cb",
        "http://[::1]:8080/callback",
        "com.example.app:/oauth2redirect",
        "com.example.app://callback",
        "net.ostiary.native-app:/cb",
    ],
)
def test_redirect_uris_that_are_accepted(uri: str) -> None:
    assert redirect_uri_problem(uri) is None


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("http://app.example.com/cb", "plain http"),
        ("http://localhost.evil.example/cb", "plain http"),
        ("http://127.0.0.1.nip.io/cb", "plain http"),
        ("http://[::2]/cb", "plain http"),
        ("http://10.0.0.1/cb", "plain http"),
        ("myapp:/cb", "private-use scheme"),  # no dot: not a reversed domain name
        ("javascript:alert(1)", "private-use scheme"),
        ("data:text/html,hi", "private-use scheme"),
        ("file:///etc/passwd", "private-use scheme"),
        ("/relative/cb", "private-use scheme"),
        ("app.example.com/cb", "private-use scheme"),
        ("https:///cb", "no host"),
        ("https:app.example.com", "no host"),
        ("https://app.example.com/cb#frag", "fragment"),
        ("https://app.example.com/cb#", "fragment"),
        ("https://*.example.com/cb", "wildcard"),
        ("https://app.example.com/*", "wildcard"),
        ("https://user@app.example.com/cb", "user information"),
        ("https://user:pw@app.example.com/cb", "user information"),
        ("https://@app.example.com/cb", "user information"),
        ("https://app.example.com\\@evil.example/cb", "user information"),
        ("https://app.example.com/c b", "spaces"),
        (" https://app.example.com/cb", "spaces"),
        ("https://app.example.com/cb\n", "spaces"),
        ("https://app.example.com/\x00", "control"),
        ("https://app.example.com/\u00a0", "spaces"),
        ("https://app.example.com/" + "a" * 2000, "too long"),
        ("https://app.example.com:99999/cb", "not a valid URI"),
        ("https://app.example.com:port/cb", "not a valid URI"),
        ("https://[::1/cb", "not a valid URI"),
    ],
)
def test_redirect_uris_that_are_refused(uri: str, problem: str) -> None:
    found = redirect_uri_problem(uri)
    assert found is not None and problem in found


def test_at_most_20_redirect_uris_of_each_kind_repeats_counted_once() -> None:
    twenty = tuple(f"https://app.example.com/cb{i}" for i in range(20))
    assert check_settings(web_app(redirect_uris=twenty)).redirect_uris == twenty
    assert check_settings(web_app(redirect_uris=twenty + twenty)).redirect_uris == twenty
    with pytest.raises(InvalidClientMetadata, match="At most 20"):
        check_settings(web_app(redirect_uris=(*twenty, "https://app.example.com/more")))
    with pytest.raises(InvalidClientMetadata, match="At most 20"):
        check_settings(web_app(post_logout_redirect_uris=(*twenty, "https://x.example/")))


def test_a_bad_uri_is_named_with_its_kind() -> None:
    with pytest.raises(InvalidClientMetadata, match="Invalid redirect URI 'http://evil"):
        check_settings(web_app(redirect_uris=(REDIRECT, "http://evil.example/cb")))
    with pytest.raises(InvalidClientMetadata, match="post-logout redirect URI"):
        check_settings(web_app(post_logout_redirect_uris=("https://x.example/#top",)))


# --- registration and secrets ------------------------------------------------------------------


async def test_a_secret_is_shown_once_and_only_its_sha256_is_stored(
    registry: ClientRegistry, store: MemoryClientStore
) -> None:
    registered = await registry.create(service())
    secret = registered.secret
    assert secret is not None and len(secret) == 43  # 256 random bits, base64url
    assert registered.client.id.startswith("cl_")
    stored = await store.get(registered.client.id)
    assert stored is not None
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(stored) and secret not in repr(registered)
    assert repr(registered) == f"Registered(client_id={registered.client.id!r})"
    # Shown once: nothing the registry returns later carries it.
    again = await registry.require(registered.client.id)
    assert secret not in repr(dataclasses.astuple(again))
    assert (again.created_at, again.updated_at) == (T0, T0)


async def test_public_and_private_key_jwt_clients_have_no_secret(
    registry: ClientRegistry,
) -> None:
    public = await registry.create(web_app(auth_method=ClientAuthMethod.NONE), client_id="spa")
    assert public.secret is None and public.client.secret_hash is None and public.client.public
    jwt = await register_jwt_client(registry)
    assert jwt.secret is None and jwt.client.secret_hash is None and not jwt.client.public
    assert json.loads(jwt.client.jwks or "") == jwks_of(CLIENT_KEY)


def test_post_logout_redirect_uris_are_only_for_authorization_code_clients() -> None:
    with pytest.raises(InvalidClientMetadata, match="Post-logout redirect URIs are only"):
        check_settings(service(post_logout_redirect_uris=(REDIRECT,)))


@pytest.mark.parametrize(
    "uri",
    [
        "https://rp.example/backchannel",
        "https://rp.example:8443/logout?client=web",
        "http://127.0.0.1:8000/logout",
        "http://localhost/logout",
        "http://[::1]:9000/logout",
    ],
)
def test_back_channel_logout_uris_that_are_accepted(uri: str) -> None:
    checked = check_settings(web_app(backchannel_logout_uri=uri))
    assert checked.backchannel_logout_uri == uri
    assert checked.backchannel_logout_session_required


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("https://rp.example/logout#frag", "fragment"),
        ("http://rp.example/logout", "plain http is only allowed"),
        ("com.example.app:/logout", "https URL"),
        ("/logout", "https URL"),
        ("https:///logout", "no host"),
        ("https://user:pw@rp.example/logout", "user information"),
        ("https://rp.example/*", "wildcards"),
        ("https://rp.example/\nlogout", "control characters"),
    ],
)
def test_back_channel_logout_uris_that_are_refused(uri: str, problem: str) -> None:
    """OpenID Connect Back-Channel Logout 1.0 §2.2: absolute, no fragment; https, or http on
    a loopback host as for redirect URIs."""
    with pytest.raises(InvalidClientMetadata, match="Invalid back-channel logout URI") as caught:
        check_settings(web_app(backchannel_logout_uri=uri))
    assert problem in caught.value.description


def test_a_back_channel_logout_uri_is_only_for_authorization_code_clients() -> None:
    with pytest.raises(InvalidClientMetadata, match="only for authorization_code clients"):
        check_settings(service(backchannel_logout_uri="https://svc.example/logout"))


async def test_the_registry_keeps_the_back_channel_logout_settings(
    registry: ClientRegistry,
) -> None:
    settings = web_app(
        backchannel_logout_uri="https://rp.example/bc", backchannel_logout_session_required=False
    )
    registered = await registry.create(settings, client_id="rp")
    client = await registry.require("rp")
    assert client == registered.client
    assert client.backchannel_logout_uri == "https://rp.example/bc"
    assert not client.backchannel_logout_session_required


def test_an_unknown_auth_method_is_named_not_a_crash() -> None:
    with pytest.raises(InvalidClientMetadata, match="auth method is one of"):
        check_settings(service(auth_method="client_secret_jwt"))


async def test_a_taken_client_id_is_refused_clearly(registry: ClientRegistry) -> None:
    await registry.create(service(), client_id="svc")
    with pytest.raises(InvalidClientMetadata, match="'svc' is taken"):
        await registry.create(service(), client_id="svc")


@pytest.mark.parametrize("client_id", ["usr_x", "USR_alice"])
async def test_a_client_id_never_looks_like_a_user_id(
    registry: ClientRegistry, client_id: str
) -> None:
    """RFC 9068 §5: a client-credentials token's ``sub`` (its client id) never names a user."""
    with pytest.raises(InvalidClientMetadata, match="user ids"):
        await registry.create(service(), client_id=client_id)


@pytest.mark.parametrize(
    ("audiences", "scopes", "problem"),
    [
        ({f"{ISSUER}/auth"}, set(), "first-party sessions only"),
        ({f"{ISSUER}/oauth/userinfo"}, set(), "first-party sessions only"),
        ({f"{ISSUER}/admin"}, set(), "needs the scope 'admin'"),
        ({"https://api.example"}, {"admin"}, "needs the audience"),
    ],
)
async def test_no_client_is_registered_for_the_servers_own_audiences(
    registry: ClientRegistry, audiences: set[str], scopes: set[str], problem: str
) -> None:
    with pytest.raises(InvalidClientMetadata, match=problem):
        await registry.create(
            service(audiences=frozenset(audiences), scopes=frozenset(scopes)), client_id="svc"
        )


async def test_an_admin_client_is_registered_for_both_the_admin_audience_and_scope(
    registry: ClientRegistry,
) -> None:
    settings = service(audiences=frozenset({f"{ISSUER}/admin"}), scopes=frozenset({"admin"}))
    assert (await registry.create(settings, client_id="ops")).client.audiences == {
        f"{ISSUER}/admin"
    }


@pytest.mark.parametrize("client_id", ["", "-lead", ".lead", "has space", "x" * 101, "caf\u00e9"])
async def test_a_chosen_client_id_must_be_well_formed(
    registry: ClientRegistry, client_id: str
) -> None:
    with pytest.raises(InvalidClientMetadata, match="client id"):
        await registry.create(service(), client_id=client_id)


async def test_rotating_a_secret_invalidates_the_old_one_at_once(
    registry: ClientRegistry, authenticator: ClientAuthenticator, clock: FrozenClock
) -> None:
    registered = await registry.create(service(), client_id="svc")
    old = registered.secret
    assert old is not None
    # Authenticate first, so that the client sits in the get-cache.
    await authenticator.authenticate(ClientCredentials(basic=("svc", old)))
    clock.advance(60)
    rotated = await registry.rotate_secret("svc")
    assert rotated.secret is not None and rotated.secret != old
    assert rotated.client.updated_at == T0 + 60
    with pytest.raises(InvalidClient):
        await authenticator.authenticate(ClientCredentials(basic=("svc", old)))
    client = await authenticator.authenticate(ClientCredentials(basic=("svc", rotated.secret)))
    assert client.secret_hash == hashlib.sha256(rotated.secret.encode()).hexdigest()


async def test_set_secret_wants_32_characters_and_replaces_the_old_one(
    registry: ClientRegistry, authenticator: ClientAuthenticator
) -> None:
    registered = await registry.create(service(), client_id="svc")
    assert registered.secret is not None
    with pytest.raises(InvalidClientMetadata, match="32"):
        await registry.set_secret("svc", "s" * 31)
    chosen = "operator-chosen-" + "s" * 16
    await registry.set_secret("svc", chosen)
    await authenticator.authenticate(ClientCredentials(basic=("svc", chosen)))
    with pytest.raises(InvalidClient):
        await authenticator.authenticate(ClientCredentials(basic=("svc", registered.secret)))


async def test_only_secret_clients_have_secrets_to_rotate_or_set(registry: ClientRegistry) -> None:
    await registry.create(web_app(auth_method=ClientAuthMethod.NONE), client_id="spa")
    await register_jwt_client(registry, "jwt")
    for client_id in ("spa", "jwt"):
        with pytest.raises(InvalidClientMetadata, match="does not authenticate with a secret"):
            await registry.rotate_secret(client_id)
        with pytest.raises(InvalidClientMetadata, match="does not authenticate with a secret"):
            await registry.set_secret(client_id, "s" * 40)
    with pytest.raises(NotFound):
        await registry.rotate_secret("nobody")


async def test_get_is_cached_for_five_seconds_against_other_processes(
    registry: ClientRegistry, store: MemoryClientStore, clock: FrozenClock
) -> None:
    registered = await registry.create(service(), client_id="svc")
    assert await registry.get("svc") == registered.client
    # Another process renames it behind this registry's back.
    await store.update(dataclasses.replace(registered.client, name="Renamed"))
    clock.advance(4.9)
    cached = await registry.get("svc")
    assert cached is not None and cached.name == "Reports service"
    clock.advance(0.2)
    fresh = await registry.get("svc")
    assert fresh is not None and fresh.name == "Renamed"


async def test_changes_made_here_drop_the_cache_entry(
    registry: ClientRegistry, store: MemoryClientStore
) -> None:
    assert await registry.get("svc") is None  # an unknown id is cached too ...
    await registry.create(service(), client_id="svc")
    assert await registry.get("svc") is not None  # ... and dropped when it is created
    assert await registry.delete("svc") is True
    assert ENDED == ["svc"]  # its sessions end with it
    assert await registry.get("svc") is None
    assert await registry.delete("svc") is False
    with pytest.raises(NotFound):
        await registry.require("svc")


async def test_list_pages_through_the_clients(registry: ClientRegistry) -> None:
    for name in ("a", "b", "c"):
        await registry.create(service(), client_id=name)
    assert [c.id for c in await registry.list(offset=1, limit=1)] == ["b"]


# --- authentication with a secret --------------------------------------------------------------


@pytest.fixture
async def basic_client(registry: ClientRegistry) -> Registered:
    return await registry.create(service(), client_id="svc")


@pytest.fixture
async def post_client(registry: ClientRegistry) -> Registered:
    return await registry.create(
        service(auth_method=ClientAuthMethod.CLIENT_SECRET_POST), client_id="poster"
    )


@pytest.fixture
async def public_client(registry: ClientRegistry) -> Registered:
    return await registry.create(web_app(auth_method=ClientAuthMethod.NONE), client_id="spa")


def secret_of(registered: Registered) -> str:
    assert registered.secret is not None
    return registered.secret


async def test_client_secret_basic_and_post_each_authenticate_their_client(
    authenticator: ClientAuthenticator, basic_client: Registered, post_client: Registered
) -> None:
    by_basic = ClientCredentials(basic=("svc", secret_of(basic_client)))
    assert (await authenticator.authenticate(by_basic)).id == "svc"
    # client_id in the body may repeat the Basic one.
    same_id = dataclasses.replace(by_basic, client_id="svc")
    assert (await authenticator.authenticate(same_id)).id == "svc"
    by_post = ClientCredentials(client_id="poster", client_secret=secret_of(post_client))
    assert (await authenticator.authenticate(by_post)).id == "poster"


async def test_a_wrong_or_empty_secret_is_invalid_client(
    authenticator: ClientAuthenticator, basic_client: Registered
) -> None:
    for secret in ("", "x" * 43, secret_of(basic_client)[:-1], secret_of(basic_client) + " "):
        with pytest.raises(InvalidClient) as caught:
            await authenticator.authenticate(ClientCredentials(basic=("svc", secret)))
        assert caught.value.status_code == 401


async def test_a_method_other_than_the_registered_one_is_refused(
    authenticator: ClientAuthenticator, basic_client: Registered, post_client: Registered
) -> None:
    basic_as_post = ClientCredentials(client_id="svc", client_secret=secret_of(basic_client))
    post_as_basic = ClientCredentials(basic=("poster", secret_of(post_client)))
    confidential_as_public = ClientCredentials(client_id="svc")
    for credentials in (basic_as_post, post_as_basic, confidential_as_public):
        with pytest.raises(InvalidClient, match="Client authentication failed") as caught:
            await authenticator.authenticate(credentials)
        assert "registered for" in (caught.value.detail or "")


async def test_an_unknown_client_costs_a_hash_as_a_known_one_does(
    authenticator: ClientAuthenticator, basic_client: Registered, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[str] = []
    real = hash_secret

    def counting(secret: str) -> str:
        hashed.append(secret)
        return real(secret)

    monkeypatch.setattr(client_auth_module, "hash_secret", counting)
    with pytest.raises(InvalidClient):
        await authenticator.authenticate(ClientCredentials(basic=("svc", "wrong")))
    assert len(hashed) == 1
    with pytest.raises(InvalidClient) as caught:
        await authenticator.authenticate(ClientCredentials(basic=("nobody", "wrong")))
    assert len(hashed) == 2
    # The public answer is the same for both; only the private detail says which.
    assert caught.value.description == InvalidClient().description
    assert "unknown client" in (caught.value.detail or "")


async def test_two_methods_in_one_request_are_invalid_request(
    authenticator: ClientAuthenticator, basic_client: Registered
) -> None:
    secret = secret_of(basic_client)
    assertion = "e30.e30.c2ln"
    combinations = [
        ClientCredentials(basic=("svc", secret), client_id="svc", client_secret=secret),
        ClientCredentials(
            basic=("svc", secret),
            client_assertion_type=JWT_BEARER_ASSERTION,
            client_assertion=assertion,
        ),
        ClientCredentials(
            client_id="svc",
            client_secret=secret,
            client_assertion_type=JWT_BEARER_ASSERTION,
            client_assertion=assertion,
        ),
    ]
    for credentials in combinations:
        with pytest.raises(InvalidRequest, match="one client authentication method"):
            await authenticator.authenticate(credentials)


async def test_basic_id_and_body_client_id_must_agree(
    authenticator: ClientAuthenticator, basic_client: Registered
) -> None:
    credentials = ClientCredentials(basic=("svc", secret_of(basic_client)), client_id="other")
    with pytest.raises(InvalidRequest, match="differs"):
        await authenticator.authenticate(credentials)


async def test_no_credentials_at_all_or_a_secret_without_id(
    authenticator: ClientAuthenticator, post_client: Registered
) -> None:
    with pytest.raises(InvalidClient, match="Client authentication failed"):
        await authenticator.authenticate(ClientCredentials())
    with pytest.raises(InvalidRequest, match="The client_id parameter is missing"):
        await authenticator.authenticate(ClientCredentials(client_secret=secret_of(post_client)))


async def test_a_public_client_is_known_by_its_id_alone_and_never_by_a_secret(
    authenticator: ClientAuthenticator, public_client: Registered
) -> None:
    assert (await authenticator.authenticate(ClientCredentials(client_id="spa"))).public
    for credentials in (
        ClientCredentials(client_id="spa", client_secret=""),
        ClientCredentials(basic=("spa", "")),
    ):
        with pytest.raises(InvalidClient):
            await authenticator.authenticate(credentials)


def test_credentials_never_show_their_secret() -> None:
    credentials = ClientCredentials(basic=("svc", "s3cret"), client_assertion="eyJ.x.y")
    assert repr(credentials) == "ClientCredentials(client_id='svc')"


# --- private_key_jwt (RFC 7523) ----------------------------------------------------------------


def claims_for(client_id: str = "jwt-client", **changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": ISSUER,
        "iat": int(T0),
        "exp": int(T0) + 60,
        "jti": "jti-1",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def signed(
    claims: dict[str, Any], key: JWK = CLIENT_KEY, *, kid: str | None = "", typ: str | None = None
) -> str:
    """``kid=""`` names ``key``'s own kid; None leaves it out."""
    header: dict[str, Any] = {"alg": key.alg}
    if kid is not None:
        header["kid"] = kid or key.kid
    if typ is not None:
        header["typ"] = typ
    return sign_raw(header, claims, key)


def by_assertion(assertion: str, client_id: str | None = None) -> ClientCredentials:
    return ClientCredentials(
        client_id=client_id,
        client_assertion_type=JWT_BEARER_ASSERTION,
        client_assertion=assertion,
    )


@pytest.fixture
async def jwt_client(registry: ClientRegistry) -> Registered:
    return await register_jwt_client(registry)


async def assert_refused(
    authenticator: ClientAuthenticator, assertion: str, detail: str, client_id: str | None = None
) -> None:
    with pytest.raises(InvalidClient) as caught:
        await authenticator.authenticate(by_assertion(assertion, client_id))
    assert detail in (caught.value.detail or ""), caught.value.detail


@pytest.mark.usefixtures("jwt_client")
async def test_a_good_assertion_authenticates_its_client(
    authenticator: ClientAuthenticator,
) -> None:
    for n, typ in enumerate([None, "JWT", "client-authentication+jwt"]):
        assertion = signed(claims_for(jti=f"j{n}"), typ=typ)
        client = await authenticator.authenticate(by_assertion(assertion, "jwt-client"))
        assert client.id == "jwt-client"


@pytest.mark.usefixtures("jwt_client")
async def test_a_replayed_jti_is_refused(authenticator: ClientAuthenticator) -> None:
    assertion = signed(claims_for())
    await authenticator.authenticate(by_assertion(assertion))
    await assert_refused(authenticator, assertion, "replayed")
    # Another assertion with the same jti, even freshly signed, is a replay too.
    await assert_refused(authenticator, signed(claims_for(exp=int(T0) + 30)), "replayed")


async def test_jti_replay_is_tracked_per_client(
    authenticator: ClientAuthenticator, registry: ClientRegistry
) -> None:
    await register_jwt_client(registry, "one")
    await register_jwt_client(registry, "two")
    for client_id in ("one", "two"):
        assertion = signed(claims_for(client_id, jti="shared"))
        assert (await authenticator.authenticate(by_assertion(assertion))).id == client_id


@pytest.mark.usefixtures("jwt_client")
@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"aud": "https://someone-else.example/token"}, "not intended for this audience"),
        ({"aud": [ISSUER + "/oauth/introspect-not"]}, "not intended for this audience"),
        # Only the issuer identifier, as one string (draft-ietf-oauth-rfc7523bis).
        ({"aud": TOKEN_URL}, "not intended for this audience"),
        ({"aud": [ISSUER, "https://other"]}, "not intended for this audience"),
        ({"aud": [ISSUER]}, "not intended for this audience"),
        ({"sub": "someone-else"}, "sub is not the expected subject"),
        ({"sub": None}, "lacks a required claim"),
        ({"exp": None}, "lacks a required claim"),
        ({"jti": None}, "lacks a required claim"),
        ({"aud": None}, "lacks a required claim"),
        ({"jti": 42}, "invalid value"),
        ({"jti": "j" * 201}, "jti is not a short string"),
        ({"iat": int(T0) - 120, "exp": int(T0) - 31}, "has expired"),
        ({"iat": int(T0) + 600, "exp": int(T0) + 660}, "issued in the future"),
        ({"exp": int(T0) + 600}, "longer than 5 minutes"),
        ({"iat": int(T0) - 400, "exp": int(T0) + 60}, "longer than 5 minutes"),
        ({"iat": None, "exp": int(T0) + 3600}, "longer than 5 minutes"),
    ],
)
async def test_assertions_with_bad_claims_are_refused(
    authenticator: ClientAuthenticator, changes: dict[str, Any], detail: str
) -> None:
    await assert_refused(authenticator, signed(claims_for(**changes)), detail)


@pytest.mark.usefixtures("jwt_client")
async def test_the_lifetime_cap_is_five_minutes_plus_the_leeway(
    authenticator: ClientAuthenticator,
) -> None:
    five = signed(claims_for(exp=int(T0) + 300, jti="five"))
    assert (await authenticator.authenticate(by_assertion(five))).id == "jwt-client"
    too_long = signed(claims_for(exp=int(T0) + 331, jti="long"))
    await assert_refused(authenticator, too_long, "longer than 5 minutes")


async def test_iss_must_name_a_registered_client_and_equal_sub(
    authenticator: ClientAuthenticator, jwt_client: Registered, basic_client: Registered
) -> None:
    await assert_refused(authenticator, signed(claims_for("nobody")), "unknown client")
    # iss names a secret client: the method is not the registered one.
    await assert_refused(authenticator, signed(claims_for("svc")), "registered for")
    # iss is the client, sub another.
    await assert_refused(
        authenticator, signed(claims_for(sub="svc")), "sub is not the expected subject"
    )
    # client_id in the body must be the assertion's issuer.
    await assert_refused(authenticator, signed(claims_for()), "differs", client_id="svc")


@pytest.mark.usefixtures("jwt_client")
async def test_an_hs256_assertion_is_refused_whatever_secret_signed_it(
    authenticator: ClientAuthenticator,
) -> None:
    claims = claims_for()
    some_secret = JWK.from_secret(b"k" * 32, alg="HS256", kid=CLIENT_KEY.kid)
    await assert_refused(authenticator, signed(claims, some_secret), "not the one bound")
    await assert_refused(authenticator, signed(claims, some_secret, kid=None), "not the one bound")
    # Algorithm confusion: an HMAC keyed with the registered public key's own text.
    public_text = json.dumps(CLIENT_KEY.public_dict()).encode()
    header = {"alg": "HS256", "kid": CLIENT_KEY.kid}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    mac = hmac.new(public_text, signing_input.encode(), hashlib.sha256).digest()
    await assert_refused(authenticator, f"{signing_input}.{b64url(mac)}", "not the one bound")


@pytest.mark.usefixtures("jwt_client")
async def test_an_algorithm_other_than_the_registered_keys_is_refused(
    authenticator: ClientAuthenticator,
) -> None:
    es384 = JWK.generate("ES384")
    assertion = signed(claims_for(), es384, kid=CLIENT_KEY.kid)
    await assert_refused(authenticator, assertion, "not the one bound")


@pytest.mark.usefixtures("jwt_client")
async def test_a_signature_by_another_key_under_the_registered_kid_is_refused(
    authenticator: ClientAuthenticator,
) -> None:
    assertion = signed(claims_for(), OTHER_KEY, kid=CLIENT_KEY.kid)
    await assert_refused(authenticator, assertion, "signature is invalid")


@pytest.mark.usefixtures("jwt_client")
async def test_an_unknown_kid_is_refused(authenticator: ClientAuthenticator) -> None:
    assertion = signed(claims_for(), OTHER_KEY)
    await assert_refused(authenticator, assertion, "no registered key matches")


@pytest.mark.usefixtures("jwt_client")
async def test_no_kid_picks_the_only_registered_key(authenticator: ClientAuthenticator) -> None:
    assertion = signed(claims_for(), kid=None)
    assert (await authenticator.authenticate(by_assertion(assertion))).id == "jwt-client"


async def test_no_kid_with_two_registered_keys_is_refused(
    authenticator: ClientAuthenticator, registry: ClientRegistry
) -> None:
    await register_jwt_client(registry, "two-keys", CLIENT_KEY, OTHER_KEY)
    await assert_refused(
        authenticator, signed(claims_for("two-keys"), kid=None), "no registered key matches"
    )
    by_kid = signed(claims_for("two-keys"), OTHER_KEY)
    assert (await authenticator.authenticate(by_assertion(by_kid))).id == "two-keys"


@pytest.mark.usefixtures("jwt_client")
@pytest.mark.parametrize("typ", ["at+jwt", "JOSE", "dpop+jwt"])
async def test_an_assertion_of_another_type_is_refused(
    authenticator: ClientAuthenticator, typ: str
) -> None:
    await assert_refused(authenticator, signed(claims_for(), typ=typ), "typ")


@pytest.mark.usefixtures("jwt_client")
async def test_malformed_assertions_are_invalid_client(authenticator: ClientAuthenticator) -> None:
    header = b64url(json.dumps({"alg": "ES256"}).encode())
    deep = b64url(b"[" * 5000)
    no_iss = b64url(json.dumps({"sub": "jwt-client"}).encode())
    not_object = b64url(b"[1, 2]")
    for assertion in (
        "",
        "not-a-jwt",
        "a.b.c",
        f"{header}.{deep}.c2ln",
        f"{header}.{no_iss}.c2ln",
        f"{header}.{not_object}.c2ln",
        f"{header}.{b64url(b'{}')}.c2ln",
        "x" * 9000,
    ):
        with pytest.raises(InvalidClient):
            await authenticator.authenticate(by_assertion(assertion))


@pytest.mark.usefixtures("jwt_client")
async def test_an_assertion_type_other_than_jwt_bearer_or_no_assertion(
    authenticator: ClientAuthenticator,
) -> None:
    assertion = signed(claims_for())
    wrong_type = ClientCredentials(client_assertion_type="urn:saml2", client_assertion=assertion)
    with pytest.raises(InvalidClient, match="Client authentication failed"):
        await authenticator.authenticate(wrong_type)
    no_type = ClientCredentials(client_assertion=assertion)
    with pytest.raises(InvalidClient):
        await authenticator.authenticate(no_type)
    missing = ClientCredentials(client_assertion_type=JWT_BEARER_ASSERTION)
    with pytest.raises(InvalidRequest, match="The client_assertion parameter is missing"):
        await authenticator.authenticate(missing)


async def test_a_jwt_client_cannot_fall_back_to_a_bare_client_id(
    authenticator: ClientAuthenticator, jwt_client: Registered
) -> None:
    with pytest.raises(InvalidClient):
        await authenticator.authenticate(ClientCredentials(client_id="jwt-client"))


def test_b64url_helper_matches_the_standard_library() -> None:
    assert b64url(b"\xff\xfe") == base64.urlsafe_b64encode(b"\xff\xfe").decode().rstrip("=")


async def test_set_audiences_follows_the_registration_rules(registry: ClientRegistry) -> None:
    await registry.create(service(audiences=frozenset({"https://a.example"})), client_id="svc")
    changed = await registry.set_audiences("svc", frozenset({"https://b.example"}))
    assert changed.audiences == {"https://b.example"}
    assert (await registry.get("svc")) == changed  # the cache entry was dropped
    with pytest.raises(InvalidClientMetadata, match="first-party sessions only"):
        await registry.set_audiences("svc", frozenset({f"{ISSUER}/auth"}))
    with pytest.raises(NotFound):
        await registry.set_audiences("nobody", frozenset({"https://b.example"}))
