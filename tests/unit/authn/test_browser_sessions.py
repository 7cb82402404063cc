"""``BrowserSessions``: the SSO cookie ``<id>.<hmac>``, resume, and the CSRF double-submit
tokens. Ending one is the session lifecycle's (tests/unit/tokens/test_lifecycle.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from ostiary.authn.browser_sessions import BrowserSessions
from ostiary.clock import FrozenClock
from ostiary.storage.memory import MemoryBrowserSessionStore
from tests.unit._users import ALICE
from tests.unit.authn.conftest import T0

SECRET = b"c" * 32
TTL = 3600.0


def expected_mac(label: bytes, value: str, secret: bytes = SECRET) -> str:
    digest = hmac.new(secret, label + b"\x00" + value.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@pytest.fixture
def store() -> MemoryBrowserSessionStore:
    return MemoryBrowserSessionStore()


@pytest.fixture
def browsers(store: MemoryBrowserSessionStore, clock: FrozenClock) -> BrowserSessions:
    return BrowserSessions(store, secret=SECRET, clock=clock, ttl=TTL)


def test_the_cookie_secret_has_at_least_32_bytes(store: MemoryBrowserSessionStore) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        BrowserSessions(store, secret=b"c" * 31)


async def test_start_stores_the_session_and_signs_its_id(
    browsers: BrowserSessions, store: MemoryBrowserSessionStore
) -> None:
    session, cookie = await browsers.start(ALICE)
    assert session.id.startswith("bs_") and session.user_id == "usr_alice"
    assert (session.auth_time, session.created_at, session.expires_at) == (T0, T0, T0 + TTL)
    assert cookie == f"{session.id}.{expected_mac(b'sso', session.id)}"
    assert await store.get(session.id) == session
    assert await browsers.resume(cookie) == session


async def test_two_sign_ins_are_two_sessions(browsers: BrowserSessions) -> None:
    (first, cookie1), (second, cookie2) = await browsers.start(ALICE), await browsers.start(ALICE)
    assert first.id != second.id and cookie1 != cookie2


async def test_a_forged_or_malformed_cookie_resumes_nothing(browsers: BrowserSessions) -> None:
    _, cookie = await browsers.start(ALICE)
    session_id, mac = cookie.split(".")
    other_secret = expected_mac(b"sso", session_id, b"o" * 32)
    for forged in (
        None,
        "",
        session_id,  # the sid alone, as a client sees it in an ID token
        f"{session_id}.",
        f".{mac}",
        f"{session_id}.{mac[:-1]}",
        f"{session_id}.{mac}x",
        f"{session_id}x.{mac}",
        f"{session_id}.{other_secret}",
        f"{session_id}.{expected_mac(b'csrf', session_id)}",  # a CSRF token is no SSO mac
        f"{session_id}.{mac[:-1]}\u00e9",  # non-ASCII: refused, not a crash
        f"{session_id}\u00e9.{mac}",
        cookie + "." + mac,
        "x" * 201,
    ):
        assert await browsers.resume(forged) is None, forged


async def test_a_signed_cookie_of_a_session_that_was_never_stored_resumes_nothing(
    browsers: BrowserSessions,
) -> None:
    assert await browsers.resume(f"bs_ghost.{expected_mac(b'sso', 'bs_ghost')}") is None


async def test_a_session_expires_after_its_ttl(
    browsers: BrowserSessions, clock: FrozenClock
) -> None:
    session, cookie = await browsers.start(ALICE)
    clock.advance(TTL - 1)
    assert await browsers.resume(cookie) == session
    clock.advance(1)
    assert await browsers.resume(cookie) is None


def test_a_csrf_token_is_an_hmac_of_its_binding(browsers: BrowserSessions) -> None:
    token = browsers.csrf_token("binding-1")
    assert token == expected_mac(b"csrf", "binding-1")
    assert browsers.csrf_matches("binding-1", token)


def test_a_csrf_token_matches_only_its_own_binding(browsers: BrowserSessions) -> None:
    token = browsers.csrf_token("binding-1")
    for binding, candidate in (
        ("binding-2", token),
        ("binding-1", browsers.csrf_token("binding-2")),
        ("binding-1", token[:-1]),
        ("binding-1", ""),
        ("binding-1", None),
        ("", browsers.csrf_token("")),
        (None, token),
        ("b" * 201, browsers.csrf_token("b" * 201)),
        ("binding-1", token[:-1] + "\u00e9"),  # non-ASCII: refused, not a crash
        ("binding-\u00e9", token),
        ("binding-1", expected_mac(b"sso", "binding-1")),  # an SSO mac is no CSRF token
    ):
        assert not browsers.csrf_matches(binding, candidate), (binding, candidate)
