"""The pages of ``ostiary.server.pages`` in a real browser: they render with their stylesheet,
break no rule of their own Content-Security-Policy, submit what they should, send the browser
on only to origins they list, and refuse to be framed. Screenshots go to ``screenshots_dir``
for a person to look at."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import parse_qsl

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ostiary.server.pages import (
    STYLESHEET_PATH,
    consent_page,
    error_page,
    logged_out_page,
    login_page,
    static_route,
)

from .._uvicorn import serve

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

pytestmark = pytest.mark.browser

CLIENT: Final = "Acme Reports"
CSRF: Final = "csrf-7f3a9c"
HIDDEN: Final = {"client_id": "acme", "state": 'st"ate<&>', "scope": "openid profile"}
SCOPES: Final = [
    ("openid", "Confirm who you are"),
    ("profile", "See your username and roles"),
    ("reports:read", "Read the reports you have access to"),
]
DESKTOP: Final[ViewportSize] = {"width": 1280, "height": 860}
PHONE: Final[ViewportSize] = {"width": 390, "height": 780}
#: Collects every CSP violation the document sees; injected by the browser's debugger
#: protocol, so the pages' own policy (no script at all) does not stop it.
RECORD_VIOLATIONS: Final = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation",
    (e) => window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI));
"""


# --- the app the browser talks to ------------------------------------------------------


def _loopback_origin(request: Request) -> str:
    """The same server under another origin (``localhost`` instead of ``127.0.0.1``): the
    client's redirect target in these tests."""
    return f"http://localhost:{request.url.port}"


async def login(request: Request) -> Response:
    return login_page(action="/submit", csrf_token=CSRF, hidden=HIDDEN, client_name=CLIENT)


async def login_failed(request: Request) -> Response:
    return login_page(
        action="/submit",
        csrf_token=CSRF,
        hidden=HIDDEN,
        client_name=CLIENT,
        username="alice",
        error="The username or password is incorrect.",
        status_code=401,
    )


async def consent(request: Request) -> Response:
    listed = request.query_params.get("unlisted") is None
    return consent_page(
        action="/decide",
        csrf_token=CSRF,
        hidden=HIDDEN,
        client_name=CLIENT,
        username="alice",
        scopes=SCOPES,
        form_action_sources=[_loopback_origin(request)] if listed else (),
    )


async def error(request: Request) -> Response:
    return error_page(
        title="This application is not registered",
        message="The link you followed names an application this server does not know.",
        status_code=400,
    )


async def logged_out(request: Request) -> Response:
    return logged_out_page()


async def echo_form(request: Request) -> Response:
    return JSONResponse(dict(parse_qsl((await request.body()).decode())))


async def decide(request: Request) -> Response:
    """As the authorization endpoint will: 303 to the client's redirect URI."""
    form = dict(parse_qsl((await request.body()).decode()))
    target = f"{_loopback_origin(request)}/callback?decision={form['decision']}"
    return RedirectResponse(target, status_code=303)


async def callback(request: Request) -> Response:
    return JSONResponse(dict(request.query_params))


async def framing(request: Request) -> Response:
    return HTMLResponse(
        '<!doctype html><link rel="icon" href="data:,"><iframe src="/login" title="login">'
    )


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    app = Starlette(
        routes=[
            Route("/login", login),
            Route("/login-failed", login_failed),
            Route("/consent", consent),
            Route("/error", error),
            Route("/logged-out", logged_out),
            Route("/submit", echo_form, methods=["POST"]),
            Route("/decide", decide, methods=["POST"]),
            Route("/callback", callback),
            Route("/frame", framing),
            static_route(),
        ]
    )
    with serve(app) as base_url:
        yield base_url


# --- pages under watch -----------------------------------------------------------------


@dataclass
class Watched:
    """A page and what went wrong on it: console messages (Chromium reports every CSP
    violation there) and subresources that failed or were answered with an error."""

    page: Page
    console: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def violations(self) -> list[str]:
        found: list[str] = self.page.evaluate("window.__cspViolations")
        return found

    def assert_clean(self) -> None:
        assert self.console == []
        assert self.failed == []
        assert self.violations() == []


class Tabs:
    """Opens pages of ``site`` in fresh browser contexts, closed at the end of the test."""

    def __init__(self, browser: Browser, site: str) -> None:
        self.browser = browser
        self.site = site
        self.contexts: list[BrowserContext] = []

    def open(
        self,
        path: str,
        *,
        color_scheme: Literal["light", "dark"] = "light",
        viewport: ViewportSize = DESKTOP,
        expected_status: int = 200,
    ) -> Watched:
        context = self.browser.new_context(color_scheme=color_scheme, viewport=viewport)
        self.contexts.append(context)
        context.add_init_script(RECORD_VIOLATIONS)
        url = self.site + path
        # Chromium logs the page's own error status too; that one the test asked for.
        expected = (
            f"Failed to load resource: the server responded with a status of {expected_status}"
        )
        watched = Watched(context.new_page())
        watched.page.on(
            "console",
            lambda message: (
                None
                if (message.location["url"] == url and message.text.startswith(expected))
                # Chromium asks for a favicon when it likes; the test apps have none.
                or message.location["url"].endswith("/favicon.ico")
                else watched.console.append(message.text)
            ),
        )
        watched.page.on(
            "requestfailed", lambda request: watched.failed.append(f"{request.url} failed")
        )
        watched.page.on(
            "response",
            lambda answer: (
                watched.failed.append(f"{answer.url} {answer.status}")
                if answer.status >= 400 and answer.request.resource_type != "document"
                else None
            ),
        )
        answer = watched.page.goto(url)
        assert answer is not None
        assert answer.status == expected_status
        return watched

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def tabs(browser: Browser, site: str) -> Iterator[Tabs]:
    opened = Tabs(browser, site)
    yield opened
    opened.close()


def _style(page: Page, selector: str, prop: str) -> str:
    value: str = page.eval_on_selector(
        selector, "(e, prop) => getComputedStyle(e).getPropertyValue(prop)", prop
    )
    return value


# --- the tests -------------------------------------------------------------------------


def test_login_page_renders_with_its_stylesheet(tabs: Tabs, screenshots_dir: Path) -> None:
    watched = tabs.open("/login")
    page = watched.page

    assert page.title() == f"Sign in to {CLIENT} · Ostiary"
    heading = page.get_by_role("heading", level=1)
    assert heading.inner_text() == f"Sign in to continue to {CLIENT}"
    username, password = page.get_by_label("Username"), page.get_by_label("Password")
    assert username.is_visible()
    assert password.is_visible()
    assert username.get_attribute("id") == "username"  # the label's for= points at it
    assert password.get_attribute("type") == "password"
    assert page.evaluate("document.activeElement.id") == "username"
    assert page.get_by_role("button", name="Sign in").is_visible()
    assert page.get_by_role("alert").count() == 0

    # Browser defaults would be an 8px body margin and a grey button.
    assert _style(page, "body", "margin") == "0px"
    assert _style(page, "button", "background-color") == "rgb(79, 70, 229)"
    assert _style(page, "body", "background-color") == "rgb(243, 244, 247)"
    watched.assert_clean()
    page.screenshot(path=screenshots_dir / "login-light.png", full_page=True)


def test_dark_mode_follows_the_system(tabs: Tabs, screenshots_dir: Path) -> None:
    for path, name in (("/login", "login"), ("/consent", "consent")):
        watched = tabs.open(path, color_scheme="dark")
        assert _style(watched.page, "body", "background-color") == "rgb(11, 13, 18)"
        assert _style(watched.page, "body", "color") == "rgb(232, 234, 240)"
        watched.assert_clean()
        watched.page.screenshot(path=screenshots_dir / f"{name}-dark.png", full_page=True)


def test_failed_sign_in_shows_the_error_and_focuses_the_password(
    tabs: Tabs, screenshots_dir: Path
) -> None:
    watched = tabs.open("/login-failed", expected_status=401)
    page = watched.page

    assert page.get_by_role("alert").inner_text() == "The username or password is incorrect."
    assert page.get_by_label("Username").input_value() == "alice"
    assert page.evaluate("document.activeElement.id") == "password"
    watched.assert_clean()
    page.screenshot(path=screenshots_dir / "login-error.png", full_page=True)


def test_login_form_posts_credentials_csrf_token_and_hidden_fields(tabs: Tabs) -> None:
    page = tabs.open("/login").page
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("correct horse")
    with page.expect_response(tabs.site + "/submit") as posted:
        page.get_by_role("button", name="Sign in").click()

    assert posted.value.request.method == "POST"
    assert posted.value.json() == {
        **HIDDEN,
        "csrf_token": CSRF,
        "username": "alice",
        "password": "correct horse",
    }


def test_consent_page_lists_the_scopes(tabs: Tabs, screenshots_dir: Path) -> None:
    watched = tabs.open("/consent")
    page = watched.page

    assert page.get_by_role("heading", level=1).inner_text() == (
        f"{CLIENT} wants to access your Ostiary account"
    )
    items = page.get_by_role("list").get_by_role("listitem")
    assert items.count() == len(SCOPES)
    for item, (name, description) in zip(items.all(), SCOPES, strict=True):
        assert name in item.inner_text()
        assert description in item.inner_text()
    assert page.get_by_role("button", name="Allow").is_visible()
    assert page.get_by_role("button", name="Deny").is_visible()
    watched.assert_clean()
    page.screenshot(path=screenshots_dir / "consent-light.png", full_page=True)


@pytest.mark.parametrize("decision", ["allow", "deny"])
def test_consent_decision_follows_the_redirect_to_a_listed_origin(
    tabs: Tabs, decision: str
) -> None:
    watched = tabs.open("/consent")
    page = watched.page
    with page.expect_response(lambda answer: "/callback" in answer.url) as landed:
        page.get_by_role("button", name=decision.capitalize()).click()

    assert landed.value.url.startswith("http://localhost:")
    assert landed.value.json() == {"decision": decision}
    assert watched.console == []


def test_chromium_blocks_the_redirect_to_an_unlisted_origin(tabs: Tabs) -> None:
    """Why ``form_action_sources`` exists: ``form-action`` also covers the redirect that
    answers the form, and the client's redirect URI is usually on another origin."""
    watched = tabs.open("/consent?unlisted")
    page = watched.page
    start = page.url
    with page.expect_console_message() as message:
        page.get_by_role("button", name="Allow").click()

    assert "form-action" in message.value.text
    assert page.url == start


def test_pages_cannot_be_framed(tabs: Tabs) -> None:
    watched = tabs.open("/frame")
    page = watched.page
    page.wait_for_load_state("load")

    (frame,) = page.main_frame.child_frames
    assert not frame.url.startswith(tabs.site)  # Chromium's error page instead
    assert frame.locator("form").count() == 0
    assert any("frame-ancestors 'none'" in message for message in watched.console)


@pytest.mark.parametrize(
    ("path", "name", "status"),
    [("/error", "error", 400), ("/logged-out", "logged-out", 200)],
)
def test_error_and_signed_out_pages_render(
    tabs: Tabs, screenshots_dir: Path, path: str, name: str, status: int
) -> None:
    watched = tabs.open(path, expected_status=status)
    assert watched.page.get_by_role("heading", level=1).is_visible()
    assert _style(watched.page, "body", "margin") == "0px"
    watched.assert_clean()
    watched.page.screenshot(path=screenshots_dir / f"{name}.png", full_page=True)


@pytest.mark.parametrize("path", ["/login-failed", "/consent"])
def test_pages_fit_a_phone_screen(tabs: Tabs, screenshots_dir: Path, path: str) -> None:
    watched = tabs.open(path, viewport=PHONE, expected_status=401 if "failed" in path else 200)
    page = watched.page
    scroll_width: int = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= PHONE["width"]  # nothing wider than the screen
    watched.assert_clean()
    page.screenshot(path=screenshots_dir / f"phone{path.replace('/', '-')}.png", full_page=True)


def test_stylesheet_is_served_as_css(tabs: Tabs) -> None:
    page = tabs.open("/logged-out").page
    response = page.request.get(tabs.site + STYLESHEET_PATH)
    assert response.status == 200
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=86400"
