"""The demo SPA's DPoP (RFC 9449) in Chromium (issue 13 §3): the page makes an ECDSA P-256 key
with WebCrypto (``extractable: false``), keeps the key pair in IndexedDB, and sends a proof of
it with sign-in, refresh and every API call. So its access token is DPoP-bound (``cnf.jkt``,
``token_type: DPoP``), and a token read out of the page by injected script, replayed from
outside the browser as ``Bearer`` or with a proof of another key, is refused by the API; so is
the refresh cookie without the key. The private key cannot be exported, even by script running
in the page; a reload resumes the session with the stored key. The rules of ``test_spa.py``
still hold: no token in ``localStorage``, ``sessionStorage`` or a readable cookie, the refresh
cookie ``HttpOnly``, no CSP violation."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

import httpx
import pytest

from ostiary.clock import SYSTEM_CLOCK
from ostiary.jose.dpop import access_token_hash, make_proof
from ostiary.jose.inspect import inspect_compact
from ostiary.jose.jwk import JWK
from tests.browser._spa import REFRESH_COOKIE
from tests.browser.test_spa import assert_nothing_readable, refresh_cookie
from tests.http._live import LiveServer, live_server

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Request, Response

pytestmark = pytest.mark.browser

PROFILE_PATH: Final = "/api/profile"
#: What the SPA keeps in IndexedDB, read as injected script would. The database is opened only
#: if the page made it: opening a missing one would create it without the page's store.
STORED: Final = """async () => {
    if (!(await indexedDB.databases()).some((d) => d.name === "ostiary-spa")) return null;
    const db = await new Promise((ok, fail) => {
        const r = indexedDB.open("ostiary-spa");
        r.onsuccess = () => ok(r.result);
        r.onerror = () => fail(r.error);
    });
    const ask = (act) => new Promise((ok, fail) => {
        const r = act(db.transaction("session").objectStore("session"));
        r.onsuccess = () => ok(r.result);
        r.onerror = () => fail(r.error);
    });
    try {
        const pair = await ask((s) => s.get("dpop-key"));
        return {
            names: await ask((s) => s.getAllKeys()),
            csrf: await ask((s) => s.get("csrf-token")) ?? null,
            key: pair ? {
                privateType: pair.privateKey.type,
                extractable: pair.privateKey.extractable,
                algorithm: pair.privateKey.algorithm,
                publicJwk: await crypto.subtle.exportKey("jwk", pair.publicKey),
            } : null,
        };
    } finally {
        db.close();
    }
}"""
#: Try every export of the stored private key from inside the page: each must reject.
EXPORT_PRIVATE_KEY: Final = """async () => {
    const db = await new Promise((ok, fail) => {
        const r = indexedDB.open("ostiary-spa");
        r.onsuccess = () => ok(r.result);
        r.onerror = () => fail(r.error);
    });
    const pair = await new Promise((ok, fail) => {
        const r = db.transaction("session").objectStore("session").get("dpop-key");
        r.onsuccess = () => ok(r.result);
        r.onerror = () => fail(r.error);
    });
    db.close();
    const outcomes = {};
    for (const format of ["jwk", "pkcs8"]) {
        try {
            await crypto.subtle.exportKey(format, pair.privateKey);
            outcomes[format] = "exported";
        } catch (error) {
            outcomes[format] = error.name;
        }
    }
    return outcomes;
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("spa-dpop")) as live:
        yield live


def sign_in(page: Page, server: LiveServer, expect: Any) -> dict[str, Any]:
    """Sign in as alice on the SPA; the login answer's body."""
    page.goto(server.base_url + "/spa/")
    page.fill("#username", "alice")
    page.fill("#password", server.alice_password)
    with page.expect_response(lambda r: r.url.endswith("/auth/login")) as answer:
        page.click("#sign-in")
    expect(page.locator("#sub")).not_to_be_empty()
    body: dict[str, Any] = answer.value.json()
    return body


def page_token(page: Page) -> str:
    """The access token as script injected into the page reads it (the SPA's variable)."""
    token = page.evaluate("accessToken")
    assert isinstance(token, str) and token
    return token


def stored(page: Page) -> dict[str, Any] | None:
    found: dict[str, Any] | None = page.evaluate(STORED)
    return found


def stored_thumbprint(page: Page) -> str:
    """The RFC 7638 thumbprint of the key pair the page keeps in IndexedDB."""
    found = stored(page)
    assert found is not None and found["key"] is not None, found
    return JWK.from_dict(found["key"]["publicJwk"], alg="ES256").thumbprint()


def proofs_sent(requests: list[Request], url: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The (header, claims) of the DPoP proof of every request the page sent to ``url``."""
    found = []
    for request in requests:
        if request.url == url:
            proof = request.all_headers().get("dpop")
            assert proof, f"{request.method} {url} without a DPoP proof"
            found.append(inspect_compact(proof))
    return found


def now() -> int:
    return int(SYSTEM_CLOCK.now())


def outside_proof(key: JWK, url: str, token: str) -> str:
    """A proof for ``GET url`` with ``token``, made outside the browser."""
    return make_proof(
        key, method="GET", url=url, jti=secrets.token_urlsafe(16), iat=now(), access_token=token
    )


def test_the_token_read_out_of_the_page_is_refused_without_the_key(
    server: LiveServer, context: BrowserContext, expect: Any
) -> None:
    page = context.new_page()
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    login = sign_in(page, server, expect)

    # The API answered the page, with a DPoP-bound token: token_type DPoP, cnf.jkt the
    # thumbprint of the key the page keeps (and shows).
    assert page.text_content("#roles") == "user"
    assert login["token_type"] == "DPoP"
    token = page_token(page)
    assert token == login["access_token"]
    _, claims = inspect_compact(token)
    jkt = stored_thumbprint(page)
    assert claims["cnf"] == {"jkt": jkt}
    assert page.text_content("#token-type") == "DPoP"
    assert page.text_content("#jkt") == jkt
    assert_nothing_readable(page, context)

    # What the page sent: a proof of that key with the login, and with the API call
    # `Authorization: DPoP` and a proof naming the method, the URL and the token's hash.
    ((login_header, login_claims),) = proofs_sent(requests, server.base_url + "/auth/login")
    assert login_header["typ"] == "dpop+jwt" and login_header["alg"] == "ES256"
    assert set(login_header["jwk"]) == {"kty", "crv", "x", "y"}
    assert JWK.from_dict(login_header["jwk"], alg="ES256").thumbprint() == jkt
    assert login_claims["htm"] == "POST" and "ath" not in login_claims
    assert login_claims["htu"] == server.base_url + "/auth/login"
    profile_url = server.base_url + PROFILE_PATH
    api_proofs = proofs_sent(requests, profile_url)
    assert api_proofs
    for header, proof_claims in api_proofs:
        assert JWK.from_dict(header["jwk"], alg="ES256").thumbprint() == jkt
        assert proof_claims["htm"] == "GET" and proof_claims["htu"] == profile_url
        assert proof_claims["ath"] == access_token_hash(token)
    jtis = [c["jti"] for _, c in [*api_proofs, (login_header, login_claims)]]
    assert len(set(jtis)) == len(jtis)
    profile_requests = [r for r in requests if r.url == profile_url]
    assert all(r.all_headers()["authorization"] == f"DPoP {token}" for r in profile_requests)

    # The stolen token, from outside the browser: as a Bearer token, as DPoP without a proof,
    # and with a proof of a key of the thief's own: 401 each time.
    with server.client() as client:
        as_bearer = client.get(PROFILE_PATH, headers={"Authorization": f"Bearer {token}"})
        assert as_bearer.status_code == 401, as_bearer.text
        assert 'error="invalid_token"' in as_bearer.headers["www-authenticate"]
        no_proof = client.get(PROFILE_PATH, headers={"Authorization": f"DPoP {token}"})
        assert no_proof.status_code == 401, no_proof.text
        assert 'error="invalid_dpop_proof"' in no_proof.headers["www-authenticate"]
        thief = JWK.generate("ES256")
        other_key = client.get(
            PROFILE_PATH,
            headers={
                "Authorization": f"DPoP {token}",
                "DPoP": outside_proof(thief, profile_url, token),
            },
        )
        assert other_key.status_code == 401, other_key.text
        assert other_key.headers["www-authenticate"].startswith("DPoP ")
        # The control: the same request with a proof the page's key signed (the SPA's own
        # function, called by injected script) is served, so the refusals above are the
        # key's doing. Script in the page can use the key; it cannot take it away.
        page_proof = page.evaluate("(url) => dpopProof('GET', url, accessToken)", profile_url)
        served = client.get(
            PROFILE_PATH, headers={"Authorization": f"DPoP {token}", "DPoP": page_proof}
        )
        assert served.status_code == 200, served.text
        assert served.json()["session"] == page.text_content("#session")

    # The private key is not extractable, for no format; its public half is a public JWK.
    found = stored(page)
    assert found is not None and found["key"] is not None
    assert found["key"]["privateType"] == "private"
    assert found["key"]["extractable"] is False
    assert found["key"]["algorithm"] == {"name": "ECDSA", "namedCurve": "P-256"}
    assert "d" not in found["key"]["publicJwk"]
    assert page.evaluate(EXPORT_PRIVATE_KEY) == {
        "jwk": "InvalidAccessError",
        "pkcs8": "InvalidAccessError",
    }
    # IndexedDB holds the key pair and the CSRF token; neither the access nor refresh token.
    assert sorted(found["names"]) == ["csrf-token", "dpop-key"]
    assert found["csrf"] == login["csrf_token"]
    assert found["csrf"] not in (token, refresh_cookie(context).get("value"))
    assert_nothing_readable(page, context)


def test_a_reload_resumes_the_session_with_the_stored_key(
    server: LiveServer, context: BrowserContext, expect: Any
) -> None:
    page = context.new_page()
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    sign_in(page, server, expect)
    session = page.text_content("#session")
    assert session
    before = page_token(page)
    jkt = stored_thumbprint(page)
    cookie = refresh_cookie(context).get("value")

    # The reload forgets the access token; the stored key and the cookie bring a new one.
    with page.expect_response(lambda r: r.url.endswith("/auth/refresh")) as answer:
        page.reload()
    assert answer.value.status == 200, answer.value.text()
    expect(page.locator("#status")).to_have_text("Session resumed.")
    assert page.text_content("#session") == session
    assert page.text_content("#sub")
    after = page_token(page)
    assert after != before
    assert inspect_compact(after)[1]["cnf"] == {"jkt": jkt}
    assert stored_thumbprint(page) == jkt
    assert refresh_cookie(context).get("value") != cookie
    ((header, claims),) = proofs_sent(requests, server.base_url + "/auth/refresh")
    assert JWK.from_dict(header["jwk"], alg="ES256").thumbprint() == jkt
    assert claims["htm"] == "POST" and "ath" not in claims
    assert_nothing_readable(page, context)

    # A refresh on the resumed page still works; signing out removes the key and CSRF token.
    page.click("#refresh")
    expect(page.locator("#status")).to_have_text("Refreshed.")
    assert page.text_content("#session") == session
    page.click("#sign-out")
    expect(page.locator("#status")).to_have_text("Signed out.")
    found = stored(page)
    assert found is not None and found["names"] == []
    page.reload()
    assert page.is_visible("#login") and not page.is_visible("#app")
    assert_nothing_readable(page, context)


def test_the_refresh_cookie_is_refused_without_the_key(
    server: LiveServer, context: BrowserContext, expect: Any
) -> None:
    """The refresh cookie and CSRF token, both taken (as malware on the machine could), get no
    token from outside the browser: not without a proof, not with a proof of another key. The
    refusals spend nothing: the page's own refresh still works."""
    page = context.new_page()
    sign_in(page, server, expect)
    cookie = refresh_cookie(context).get("value")
    assert cookie
    csrf = page.evaluate("csrfToken")
    refresh_url = server.base_url + "/auth/refresh"
    thief = JWK.generate("ES256")
    with server.client() as client:
        for proof in (
            None,
            make_proof(
                thief,
                method="POST",
                url=refresh_url,
                jti=secrets.token_urlsafe(16),
                iat=now(),
            ),
        ):
            headers = {"X-CSRF-Token": csrf, "Origin": server.base_url}
            if proof is not None:
                headers["DPoP"] = proof
            client.cookies = httpx.Cookies({REFRESH_COOKIE: cookie})
            refused = client.post("/auth/refresh", headers=headers)
            # Never the body in the message: were the check to fail, it would hold a token.
            assert refused.status_code in (400, 401), refused.status_code
            assert refused.json()["error"] == "invalid_dpop_proof"
    # The attempts rotated nothing: the page's own refresh, with the key, goes on.
    assert refresh_cookie(context).get("value") == cookie
    page.click("#refresh")
    expect(page.locator("#status")).to_have_text("Refreshed.")
    assert refresh_cookie(context).get("value") != cookie
    assert_nothing_readable(page, context)


@pytest.fixture(scope="module")
def nonce_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server that wants its nonce in every proof (RFC 9449 §8)."""
    env = {"OSTIARY_DPOP_NONCES": "true"}
    with live_server(tmp_path_factory.mktemp("spa-dpop-nonces"), env=env) as live:
        yield live


def test_the_spa_retries_once_with_the_server_nonce(
    nonce_server: LiveServer, context: BrowserContext, expect: Any
) -> None:
    """A proof without the server's nonce gets ``use_dpop_nonce`` and a ``DPoP-Nonce``; the
    page sends the request again, once, with a new proof carrying it, and puts it in its next
    proofs to that server. A reload forgets it: the first refresh asks again."""
    page = context.new_page()
    answers: list[Response] = []
    page.on("response", lambda response: answers.append(response))

    def statuses(path: str) -> list[int]:
        return [r.status for r in answers if r.url == nonce_server.base_url + path]

    sign_in(page, nonce_server, expect)
    assert statuses("/auth/login") == [400, 200]
    first, second = (r for r in answers if r.url.endswith("/auth/login"))
    assert first.json()["error"] == "use_dpop_nonce"
    nonce = first.headers["dpop-nonce"]
    assert "nonce" not in inspect_compact(first.request.all_headers()["dpop"])[1]
    assert inspect_compact(second.request.all_headers()["dpop"])[1]["nonce"] == nonce
    assert page.text_content("#token-type") == "DPoP"

    page.click("#refresh")
    expect(page.locator("#status")).to_have_text("Refreshed.")
    assert statuses("/auth/refresh") == [200]

    page.reload()
    expect(page.locator("#status")).to_have_text("Session resumed.")
    assert statuses("/auth/refresh") == [200, 400, 200]
    assert_nothing_readable(page, context)


def test_the_api_checks_proofs_against_the_issuer_not_the_host_header(
    server: LiveServer,
) -> None:
    """The URL a proof must name at the demo API is the issuer's (RFC 9449 §4.3 step 9), as at
    the server's own endpoints: a proof made for another host, sent with that host in ``Host``,
    is refused. (Rebuilt from ``Host``, the URL would be whatever the sender claims.)"""
    key = JWK.generate("ES256")
    login_url = server.base_url + "/auth/login"
    credentials = {"username": "alice", "password": server.alice_password}
    elsewhere = "http://api.elsewhere.example" + PROFILE_PATH
    with server.client() as client:
        signed_in = client.post(
            "/auth/login",
            json=credentials,
            headers={"DPoP": make_proof(key, method="POST", url=login_url, jti="l1", iat=now())},
        )
        assert signed_in.status_code == 200, signed_in.status_code
        token = signed_in.json()["access_token"]
        here = client.get(
            PROFILE_PATH,
            headers={
                "Authorization": f"DPoP {token}",
                "DPoP": outside_proof(key, server.base_url + PROFILE_PATH, token),
            },
        )
        assert here.status_code == 200, here.status_code
        there = client.get(
            PROFILE_PATH,
            headers={
                "Host": "api.elsewhere.example",
                "Authorization": f"DPoP {token}",
                "DPoP": outside_proof(key, elsewhere, token),
            },
        )
        assert there.status_code == 401, there.status_code
        assert 'error="invalid_dpop_proof"' in there.headers["www-authenticate"]
