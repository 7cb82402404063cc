"""Single sign-on end to end, in Chromium: the real ``ostiary serve --demo`` and instances of
the relying party of ``examples/sso`` ("Notes", a public third-party client that asks consent,
"Calendar", a confidential first-party one, and "Journal" to refuse), each on a port of its own
and registered as a client of its own.

The story: sign in to Notes with a password and consent; sign in to Calendar without either
(the server's SSO cookie); sign out of Notes, which ends the server's session; Calendar keeps
its own session until signed out too; then signing in asks for the password again. Along the
way no token shows in an app's URL and the SSO cookie is out of JavaScript's reach.
Screenshots of the server's pages, in context, go to ``screenshots_dir``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeVar
from urllib.parse import parse_qsl, urlsplit

import pytest

from examples.sso.app import RelyingPartySettings, create_app
from ostiary.authn.client_settings import AUTHORIZATION_CODE, REFRESH_TOKEN, ClientSettings
from ostiary.storage.records import ClientAuthMethod
from tests.http._live import LiveServer, live_server, register_client

from .._uvicorn import base_url, loopback_socket, serve

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Cookie, Page, Request, Response

pytestmark = pytest.mark.browser

T = TypeVar("T")

#: Every wait of the browser: a step that has not happened by then fails (a bound on a wait,
#: never a measure of speed, which belongs to ``make bench``).
STEP_TIMEOUT_MS: Final = 15_000
SSO_COOKIE: Final = "ostiary_sso"  # no __Host- prefix on a plain-HTTP loopback issuer
SCOPES: Final = frozenset({"openid", "profile"})
#: The query parameters an app's URL may carry: the authorization response on ``/callback``
#: (RFC 6749 §4.1.2, RFC 9207), the logout's ``state`` on ``/``.
ALLOWED_QUERY: Final = {"/callback": {"code", "state", "iss", "error", "error_description"}}
ALLOWED_QUERY_ELSEWHERE: Final = {"state"}


@dataclass(frozen=True)
class App:
    """A relying party of ``examples/sso`` as registered for this module."""

    title: str
    client_id: str
    confidential: bool
    first_party: bool
    url: str = ""


#: Notes and Calendar share the SSO story; Journal is third party too, for a refused consent
#: (Notes's consent is given by then, and the server does not ask twice).
APPS: Final = (
    App("Notes", "notes", confidential=False, first_party=False),
    App("Calendar", "calendar", confidential=True, first_party=True),
    App("Journal", "journal", confidential=False, first_party=False),
)


@dataclass(frozen=True)
class Deployment:
    server: LiveServer
    apps: dict[str, App]

    @property
    def notes(self) -> App:
        return self.apps["notes"]

    @property
    def calendar(self) -> App:
        return self.apps["calendar"]

    @property
    def journal(self) -> App:
        return self.apps["journal"]


def _in_thread(work: Callable[[], T]) -> T:
    """``work`` off this thread: Playwright's sync API keeps an event loop running on it, so
    ``asyncio.run`` (of ``register_client``) must run elsewhere."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result(timeout=30)


def _client_settings(app: App) -> ClientSettings:
    return ClientSettings(
        name=app.title,
        auth_method=(
            ClientAuthMethod.CLIENT_SECRET_BASIC if app.confidential else ClientAuthMethod.NONE
        ),
        grant_types=frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN}),
        redirect_uris=(f"{app.url}/callback",),
        post_logout_redirect_uris=(f"{app.url}/",),
        scopes=SCOPES,
        first_party=app.first_party,
    )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with contextlib.ExitStack() as stack:
        sockets = [loopback_socket() for _ in APPS]  # their ports go into the registrations
        for sock in sockets:
            stack.callback(sock.close)
        apps = [replace(app, url=base_url(sock)) for app, sock in zip(APPS, sockets, strict=True)]
        server = stack.enter_context(live_server(tmp_path_factory.mktemp("sso")))
        for app, sock in zip(apps, sockets, strict=True):
            # Before any request names the client: the server caches lookups a few seconds.
            registered = _in_thread(
                partial(
                    register_client,
                    server.database_url,
                    _client_settings(app),
                    client_id=app.client_id,
                )
            )
            settings = RelyingPartySettings(
                title=app.title,
                port=sock.getsockname()[1],
                issuer=server.issuer,
                client_id=app.client_id,
                client_secret=registered.secret,
            )
            stack.enter_context(serve(create_app(settings), sock=sock))
        yield Deployment(server, {app.client_id: app for app in apps})


@dataclass
class Journey:
    """One browser (one cookie jar) and every navigation it made: each request of a
    redirect chain, so that URLs the address bar never showed are seen too."""

    context: BrowserContext
    page: Page
    requests: list[str] = field(default_factory=list)
    answers: list[tuple[str, int]] = field(default_factory=list)

    def record(self, request: Request) -> None:
        if request.is_navigation_request():
            self.requests.append(request.url)

    def record_answer(self, response: Response) -> None:
        if response.request.is_navigation_request():
            self.answers.append((response.url, response.status))


@pytest.fixture
def journey(browser: Browser) -> Iterator[Journey]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(STEP_TIMEOUT_MS)
    try:
        page = context.new_page()
        seen = Journey(context, page)
        page.on("request", seen.record)
        page.on("response", seen.record_answer)
        yield seen
    finally:
        context.close()


# --- steps -------------------------------------------------------------------------------


def _open(page: Page, app: App) -> None:
    page.goto(app.url + "/")
    assert page.get_by_role("heading", level=1).inner_text() == app.title


def _sign_in_link(page: Page, app: App) -> None:
    """Click the app's sign-in link; the server answers with a page or straight back."""
    _open(page, app)
    page.get_by_role("link", name="Sign in with Ostiary").click()
    page.wait_for_load_state()


def _on_login_page(page: Page, deployment: Deployment, app: App) -> None:
    page.wait_for_url(deployment.server.base_url + "/oauth/authorize?*")
    assert page.get_by_role("heading", level=1).inner_text() == (
        f"Sign in to continue to {app.title}"
    )


def _signed_in(page: Page, app: App) -> None:
    page.wait_for_url(app.url + "/")
    assert page.get_by_role("heading", level=1).inner_text() == app.title
    assert page.get_by_text("Signed in as alice").is_visible()


def _sign_out(page: Page, app: App) -> None:
    _open(page, app)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{app.url}/?state=*")
    assert page.get_by_text("You have signed out.").is_visible()
    assert page.get_by_text("You are not signed in.").is_visible()


def _sso_cookies(context: BrowserContext, server: LiveServer) -> list[Cookie]:
    return [cookie for cookie in context.cookies(server.base_url) if cookie["name"] == SSO_COOKIE]


def _assert_no_token_in_app_urls(journey: Journey, deployment: Deployment) -> None:
    """An app's URLs carry the code, state and issuer on ``/callback`` and nothing else: no
    access, refresh or ID token (a JWT starts ``eyJ``), ever."""
    origins = {app.url for app in deployment.apps.values()}
    for url in journey.requests:
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" not in origins:
            continue
        names = {name for name, _ in parse_qsl(parts.query)}
        allowed = ALLOWED_QUERY.get(parts.path, ALLOWED_QUERY_ELSEWHERE)
        assert names <= allowed, url
        assert "eyJ" not in url
        assert "token" not in parts.query


# --- tests -------------------------------------------------------------------------------


def test_single_sign_on_and_logout_across_two_apps(
    deployment: Deployment, journey: Journey, screenshots_dir: Path
) -> None:
    page, server = journey.page, deployment.server
    notes, calendar = deployment.notes, deployment.calendar

    # Notes: the password, then consent (a third-party client).
    _sign_in_link(page, notes)
    _on_login_page(page, deployment, notes)
    page.screenshot(path=screenshots_dir / "sso-login.png", full_page=True)
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(server.alice_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.base_url + "/oauth/authorize")  # the POST answered with a page
    assert page.get_by_role("heading", level=1).inner_text() == (
        "Notes wants to access your Ostiary account"
    )
    page.screenshot(path=screenshots_dir / "sso-consent.png", full_page=True)
    page.get_by_role("button", name="Allow").click()
    _signed_in(page, notes)
    page.screenshot(path=screenshots_dir / "sso-notes-signed-in.png", full_page=True)

    (cookie,) = _sso_cookies(journey.context, server)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"

    # Calendar: neither password nor consent (first party), the server answers with a redirect.
    journey.answers.clear()
    _sign_in_link(page, calendar)
    _signed_in(page, calendar)
    authorize = [s for url, s in journey.answers if url.startswith(server.base_url + "/oauth/")]
    assert authorize == [303]
    page.screenshot(path=screenshots_dir / "sso-calendar-signed-in.png", full_page=True)

    # Signing out of Notes ends the server's session; Calendar's own session remains.
    _sign_out(page, notes)
    page.screenshot(path=screenshots_dir / "sso-notes-signed-out.png", full_page=True)
    assert _sso_cookies(journey.context, server) == []
    _open(page, calendar)
    assert page.get_by_text("Signed in as alice").is_visible()
    _sign_out(page, calendar)

    # The SSO session is over at the server, not only gone from the browser: Calendar's next
    # sign-in asks for the password, even with the old cookie put back.
    journey.context.add_cookies(
        [{"name": SSO_COOKIE, "value": cookie["value"], "url": server.base_url}]
    )
    _sign_in_link(page, calendar)
    _on_login_page(page, deployment, calendar)

    _assert_no_token_in_app_urls(journey, deployment)
    assert any(urlsplit(url).path == "/callback" for url in journey.requests)


def test_denied_consent_leaves_the_app_signed_out(deployment: Deployment, journey: Journey) -> None:
    page, server, journal = journey.page, deployment.server, deployment.journal
    _sign_in_link(page, journal)
    _on_login_page(page, deployment, journal)
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(server.alice_password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Deny").click()

    page.wait_for_url(journal.url + "/callback?*")
    assert page.get_by_text("Signing in did not work: The user denied the request.").is_visible()
    _open(page, journal)
    assert page.get_by_text("You are not signed in.").is_visible()
    _assert_no_token_in_app_urls(journey, deployment)
