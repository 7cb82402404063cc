"""Attack: cross-site request forgery against browser mode's refresh cookie. The cookie rides
along with any request the browser makes, so a page of another site (a form, ``fetch``, an
``<img>``) could rotate the victim's refresh token away (a denial of service that also
desynchronises the real app) or sign them out. Every request the cookie carries needs an
allowed ``Origin`` and the CSRF token bound to that very cookie by HMAC; a token an attacker
got for a session of their own, or a planted readable cookie, matches nothing."""

from __future__ import annotations

from tests.http._oauth import (
    another_browser,
    oauth_server_fixture,  # noqa: F401 (the server fixture)
)
from tests.http._refresh_cookie import (
    EVIL_ORIGIN,
    REFRESH_COOKIE,
    REFUSED,
    REFUSED_PROBLEM,
    cookie_login,
    cookie_refresh,
    refresh_cookie,
)
from tests.http._server import Server, oauth


async def test_a_cross_site_form_post_cannot_rotate_the_cookie(server: Server) -> None:
    body = await cookie_login(server)
    cookie = refresh_cookie(server)
    response = await server.client.post(
        "/auth/refresh",
        content=b"x=1",
        headers={
            "Origin": EVIL_ORIGIN,
            "Sec-Fetch-Site": "cross-site",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert (response.status_code, response.json()) == (403, REFUSED)
    assert refresh_cookie(server) == cookie
    assert (await cookie_refresh(server, body["csrf_token"])).status_code == 200


async def test_the_attackers_own_csrf_token_does_not_fit_the_victims_cookie(
    server: Server,
) -> None:
    victim = await cookie_login(server)
    async with another_browser(server) as attacker_browser:
        attacker = Server(server.app, attacker_browser, server.settings, server.clock)
        stolen = await cookie_login(attacker)
    response = await cookie_refresh(server, stolen["csrf_token"])
    assert (response.status_code, response.json()) == (403, REFUSED)
    assert (await cookie_refresh(server, victim["csrf_token"])).status_code == 200


async def test_a_planted_readable_csrf_cookie_is_no_help(server: Server) -> None:
    """Classic double submit trusts a cookie a sibling host can plant; this one has none."""
    body = await cookie_login(server)
    server.client.cookies.set("ostiary_csrf_token", "planted")
    server.client.cookies.set("ostiary_csrf", "planted")
    response = await cookie_refresh(server, "planted")
    assert (response.status_code, response.json()) == (403, REFUSED)
    assert (await cookie_refresh(server, body["csrf_token"])).status_code == 200


async def test_a_csrf_token_of_a_rotated_out_cookie_is_refused(server: Server) -> None:
    first = await cookie_login(server)
    second = (await cookie_refresh(server, first["csrf_token"])).json()
    response = await cookie_refresh(server, first["csrf_token"])
    assert (response.status_code, response.json()) == (403, REFUSED)
    assert (await cookie_refresh(server, second["csrf_token"])).status_code == 200


async def test_forced_logout_by_the_cookie_is_refused(server: Server) -> None:
    body = await cookie_login(server)
    response = await server.client.post("/auth/logout", headers={"Origin": EVIL_ORIGIN})
    assert (response.status_code, response.json()) == (403, REFUSED_PROBLEM)
    assert refresh_cookie(server) is not None
    assert (await server.profile(body["access_token"])).status_code == 200


async def test_oauth_token_never_refreshes_from_the_cookie(server: Server) -> None:
    """``/oauth/token`` reads its form only: the cookie is no ``refresh_token``."""
    await cookie_login(server)
    assert refresh_cookie(server) is not None
    response = await server.client.post(
        "/oauth/token", data={"grant_type": "refresh_token"}, headers={"Origin": EVIL_ORIGIN}
    )
    # No client authenticated itself, and the cookie does not stand in for one.
    assert (response.status_code, response.json()) == (
        401,
        oauth("invalid_client", "Client authentication failed."),
    )
    assert REFRESH_COOKIE not in response.headers.get("set-cookie", "")
