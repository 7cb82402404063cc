"""A relying party of Ostiary: a small web app whose users sign in with OpenID Connect.

Authlib's Starlette client does the protocol: discovery, the authorization code flow with
PKCE S256 and a nonce, and the ID token's checks (signature against the JWKS, ``iss``,
``aud``, ``exp``, ``nonce``, ``at_hash``). The app keeps who signed in, and the ID token for
RP-Initiated Logout, in its own signed session cookie; it keeps no access token, having no API
to call. Run two of them beside ``ostiary serve --demo`` to see single sign-on (README.md).

Configured from the environment (defaults in brackets):

``RP_TITLE`` [Notes], ``RP_PORT`` [8001], ``RP_ISSUER`` [http://127.0.0.1:8000],
``RP_CLIENT_ID`` [demo-web], ``RP_CLIENT_SECRET`` [none: a public client],
``RP_SESSION_SECRET`` [random: sessions end when the app restarts].
"""

from __future__ import annotations

import html
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from authlib.integrations.starlette_client import OAuth, OAuthError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

SCOPE: Final = "openid profile"
PROVIDER: Final = "ostiary"
#: Session keys: the signed-in user's claims and the ID token (the logout hint).
USER: Final = "user"
ID_TOKEN: Final = "id_token"


@dataclass(frozen=True, slots=True)
class RelyingPartySettings:
    title: str = "Notes"
    port: int = 8001
    issuer: str = "http://127.0.0.1:8000"
    client_id: str = "demo-web"
    #: None for a public client (``token_endpoint_auth_method=none``, PKCE only).
    client_secret: str | None = None
    #: Signs the session cookie; a random one unless given.
    session_secret: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> RelyingPartySettings:
        default = cls()
        return cls(
            title=env.get("RP_TITLE", default.title),
            port=int(env.get("RP_PORT", default.port)),
            issuer=env.get("RP_ISSUER", default.issuer),
            client_id=env.get("RP_CLIENT_ID", default.client_id),
            client_secret=env.get("RP_CLIENT_SECRET") or None,
            session_secret=env.get("RP_SESSION_SECRET") or None,
        )

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    @property
    def session_cookie(self) -> str:
        # Cookies ignore the port: two apps on 127.0.0.1 need two names, or they share one.
        return f"rp_session_{self.port}"


def create_app(settings: RelyingPartySettings) -> Starlette:
    oauth = OAuth()
    oauth.register(
        PROVIDER,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        server_metadata_url=settings.discovery_url,
        client_kwargs={
            "scope": SCOPE,
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": (
                "none" if settings.client_secret is None else "client_secret_basic"
            ),
        },
    )
    provider: Any = oauth.create_client(PROVIDER)
    title = settings.title

    async def index(request: Request) -> Response:
        user: dict[str, str] | None = request.session.get(USER)
        notice = await _logout_notice(provider, request)
        if user is not None:
            body = (
                f"<p>Signed in as <strong>{html.escape(user['name'])}</strong>.</p>\n"
                '<form method="post" action="/logout">'
                '<button type="submit">Sign out</button></form>'
            )
        else:
            body = '<p>You are not signed in.</p>\n<p><a href="/login">Sign in with Ostiary</a></p>'
        return _page(title, notice + body)

    async def login(request: Request) -> Response:
        response: Response = await provider.authorize_redirect(request, request.url_for("callback"))
        return response

    async def callback(request: Request) -> Response:
        try:
            metadata: dict[str, Any] = await provider.load_server_metadata()
            _check_issuer(request, metadata)
            token: dict[str, Any] = await provider.authorize_access_token(request)
        except OAuthError as exc:
            reason = str(exc.description or exc.error).rstrip(".")
            message = f"Signing in did not work: {reason}."
            return _page(title, f"<p>{html.escape(message)}</p>{_home_link()}", status_code=400)
        # The ID token's claims, which Authlib has checked.
        claims: Mapping[str, Any] | None = token.get("userinfo")
        if claims is None:
            return _page(title, "<p>The server sent no ID token.</p>", status_code=502)
        if "preferred_username" not in claims:
            claims = await provider.userinfo(token=token)
        request.session[USER] = {
            "sub": str(claims["sub"]),
            "name": str(claims.get("preferred_username", claims["sub"])),
        }
        request.session[ID_TOKEN] = token["id_token"]
        # Off the callback URL at once, so that the code is not left in history.
        return RedirectResponse(request.url_for("index"), status_code=303)

    async def logout(request: Request) -> Response:
        """Forget the user here, then end the session at Ostiary (RP-Initiated Logout 1.0),
        which sends the browser back to ``/``. A POST: SameSite=Lax keeps the session cookie
        off a POST from another site, so no other site can sign the user out."""
        id_token = request.session.get(ID_TOKEN)
        request.session.clear()
        if id_token is None:
            return RedirectResponse(request.url_for("index"), status_code=303)
        response: Response = await provider.logout_redirect(
            request,
            post_logout_redirect_uri=str(request.url_for("index")),
            id_token_hint=id_token,
        )
        return response

    return Starlette(
        routes=[
            Route("/", index, name="index"),
            Route("/login", login, name="login"),
            Route("/callback", callback, name="callback"),
            Route("/logout", logout, methods=["POST"], name="logout"),
        ],
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=settings.session_secret or secrets.token_urlsafe(32),
                session_cookie=settings.session_cookie,
                same_site="lax",
                https_only=False,  # it listens on plain-HTTP 127.0.0.1
            )
        ],
    )


def _check_issuer(request: Request, metadata: Mapping[str, Any]) -> None:
    """RFC 9207 §2.4: a server that announces the ``iss`` parameter must send it, and it must
    be the issuer this app started the flow with (mix-up attacks)."""
    if not metadata.get("authorization_response_iss_parameter_supported"):
        return
    if request.query_params.get("iss") != metadata["issuer"]:
        raise OAuthError(error="invalid_issuer", description="the answer came from another issuer")


async def _logout_notice(provider: Any, request: Request) -> str:
    """Confirms a logout only when the server came back with the ``state`` this app sent."""
    if "state" not in request.query_params:
        return ""
    try:
        await provider.validate_logout_response(request)
    except OAuthError:
        return ""
    return "<p><em>You have signed out.</em></p>\n"


def _home_link() -> str:
    return '<p><a href="/">Back</a></p>'


def _page(title: str, body: str, *, status_code: int = 200) -> HTMLResponse:
    name = html.escape(title)
    document = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name}</title>
</head>
<body>
<h1>{name}</h1>
{body}
</body>
</html>
"""
    return HTMLResponse(
        document,
        status_code=status_code,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def main() -> None:
    import uvicorn

    settings = RelyingPartySettings.from_env()
    uvicorn.run(create_app(settings), host="127.0.0.1", port=settings.port)


if __name__ == "__main__":
    main()
