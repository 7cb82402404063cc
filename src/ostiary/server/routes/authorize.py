"""The browser side of the authorization server: ``/oauth/authorize`` with its login and
consent pages (RFC 6749 §4.1.1-§4.1.2, OpenID Connect Core §3.1.2) and ``/oauth/logout``
(OpenID Connect RP-Initiated Logout 1.0).

Every form carries a CSRF token bound to a cookie (double submit, HMAC-bound), and a POST
must come from this server's own origin when the browser says where it comes from. The
authorization parameters travel as hidden fields and are checked again on every POST: nothing
about a pending request is kept on the server.
"""

from __future__ import annotations

import logging
import secrets
from typing import Final
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from ostiary.errors import (
    AccessDenied,
    ConsentRequired,
    InvalidCredentials,
    InvalidGrant,
    InvalidRequest,
    LoginRequired,
    OstiaryError,
    RateLimited,
)
from ostiary.grants import TokenRequest
from ostiary.grants.authorization_code import AuthorizationRequest, NoRedirectError
from ostiary.logtext import escape_controls
from ostiary.server.dependencies import AppServices, client_address
from ostiary.server.forms import parse_form, read_form
from ostiary.server.pages import (
    consent_page,
    error_page,
    logged_out_page,
    login_page,
    page_headers,
)
from ostiary.storage.records import BrowserSession, User
from ostiary.tokens.id_token import IdTokenHint, read_id_token_hint
from ostiary.wiring import Services

log = logging.getLogger("ostiary.server")
router = APIRouter(prefix="/oauth", tags=["oauth"], include_in_schema=False)

AUTHORIZE_PATH: Final = "/oauth/authorize"
LOGOUT_PATH: Final = "/oauth/logout"
#: Fields of our own forms, never passed on as authorization parameters.
_FORM_FIELDS: Final = frozenset({"csrf_token", "username", "password", "decision", "step"})
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
SCOPE_DESCRIPTIONS: Final = {
    "openid": "Confirm who you are",
    "profile": "See your username",
    "offline_access": "Stay signed in to it when you are away",
}


# --- /oauth/authorize ---------------------------------------------------------------------------


@router.get("/authorize")
async def authorize(request: Request, services: AppServices) -> Response:
    """Start or continue an authorization request: sign in if needed, ask consent if needed,
    then send the browser back to the client with a code."""
    try:
        params = parse_form(request.scope.get("query_string", b""))
    except InvalidRequest as exc:
        return error_page(title="Invalid request", message=exc.description, status_code=400)
    return await _authorize(request, services, params, step=None)


@router.post("/authorize")
async def authorize_form(request: Request, services: AppServices) -> Response:
    """The login and consent forms post here."""
    try:
        form = await read_form(request)
    except InvalidRequest as exc:
        return error_page(title="Invalid request", message=exc.description, status_code=400)
    if not _same_origin(request, services) or not _csrf_ok(request, services, form):
        return error_page(
            title="Please try again",
            message="This form expired or did not come from this page. Go back and retry.",
            status_code=403,
        )
    return await _authorize(request, services, form, step=form.get("step"))


async def _authorize(
    request: Request, services: AppServices, form: TokenRequest, *, step: str | None
) -> Response:
    oauth = services.oauth
    params = {k: v for k, v in form.params.items() if k not in _FORM_FIELDS}
    try:
        client, redirect_uri = await oauth.authorizations.client_and_redirect(params)
    except NoRedirectError as exc:
        return error_page(
            title="This sign-in link is not valid", message=exc.message, status_code=400
        )
    state = params.get("state")
    # The forms carry several resource values space-joined (absolute URIs have no spaces).
    resources = tuple(r for value in form.resources for r in value.split(" ") if r)
    try:
        checked = oauth.authorizations.check(params, resources, client, redirect_uri)
    except OstiaryError as exc:
        return _redirect_error(services, redirect_uri, exc, state)
    pass_on = _hidden(params, resources)
    browser = await oauth.browser_sessions.resume(request.cookies.get(services.oauth.cookies.sso))
    try:
        if step == "login":
            return await _login(request, services, checked, pass_on, form)
        if step == "consent" and browser is not None:
            return await _consent(request, services, checked, browser, form)
        if browser is None or _must_sign_in(checked, browser, services):
            if "none" in checked.prompt:
                raise LoginRequired()
            return _login_form(request, services, checked, pass_on)
        user = await _live_user(services, browser)
        if user is None:
            if "none" in checked.prompt:
                raise LoginRequired()
            return _login_form(request, services, checked, pass_on)
        return await _continue(request, services, checked, browser, user, pass_on)
    except OstiaryError as exc:
        return _redirect_error(services, redirect_uri, exc, state)


def _must_sign_in(
    checked: AuthorizationRequest, browser: BrowserSession, services: Services
) -> bool:
    """``prompt=login`` or a ``max_age`` the last sign-in is older than (Core §3.1.2.1:
    ``max_age=0`` is ``prompt=login``, however recent the sign-in)."""
    if "login" in checked.prompt or checked.max_age == 0:
        return True
    now = services.oauth.clock.now()
    return checked.max_age is not None and now - browser.auth_time > checked.max_age


async def _login(
    request: Request,
    services: AppServices,
    checked: AuthorizationRequest,
    pass_on: dict[str, str],
    form: TokenRequest,
) -> Response:
    username = form.get("username") or ""
    password = form.get("password") or ""
    address = client_address(request)
    try:
        async with services.throttle.login_attempt(username, address):
            user = await services.accounts.authenticate(username, password)
    except RateLimited as exc:
        log.info("sign-in throttled at the authorization endpoint from %s", address)
        return _throttled_login_form(request, services, checked, pass_on, username, exc)
    except (InvalidCredentials, InvalidRequest):
        log.info("sign-in failed at the authorization endpoint from %s", address)
        return _failed_login_form(request, services, checked, pass_on, username)
    browser, cookie = await services.oauth.browser_sessions.start(user)
    try:
        user = await services.lifecycle.keep_new_session(browser, user)
    except InvalidGrant:  # the password changed while this sign-in ran
        log.info("sign-in overtaken by a password change at the authorization endpoint")
        return _failed_login_form(request, services, checked, pass_on, username)
    response = await _continue(request, services, checked, browser, user, pass_on)
    services.oauth.cookies.set(
        response,
        services.oauth.cookies.sso,
        cookie,
        max_age=int(services.oauth.browser_sessions.ttl),
    )
    return response


async def _consent(
    request: Request,
    services: AppServices,
    checked: AuthorizationRequest,
    browser: BrowserSession,
    form: TokenRequest,
) -> Response:
    user = await _live_user(services, browser)
    if user is None:
        raise LoginRequired(detail="the browser session's user is gone or disabled")
    if form.get("decision") != "allow":
        raise AccessDenied("The user denied the request.")
    await services.oauth.authorizations.remember_consent(user, checked)
    return await _issue(services, checked, browser, user)


async def _continue(
    request: Request,
    services: AppServices,
    checked: AuthorizationRequest,
    browser: BrowserSession,
    user: User,
    pass_on: dict[str, str],
) -> Response:
    if await services.oauth.authorizations.needs_consent(user, checked):
        if "none" in checked.prompt:
            raise ConsentRequired()
        return _consent_form(request, services, checked, user, pass_on)
    return await _issue(services, checked, browser, user)


async def _issue(
    services: AppServices, checked: AuthorizationRequest, browser: BrowserSession, user: User
) -> Response:
    code = await services.oauth.authorizations.issue_code(
        checked, user, auth_time=browser.auth_time, browser_session_id=browser.id
    )
    answer = {"code": code}
    if checked.state is not None:
        answer["state"] = checked.state
    answer["iss"] = services.settings.issuer  # RFC 9207: the client can tell who answered
    return _redirect(checked.redirect_uri, answer)


# --- forms ----------------------------------------------------------------------------------


def _login_form(
    request: Request,
    services: AppServices,
    checked: AuthorizationRequest,
    pass_on: dict[str, str],
    *,
    username: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    binding, token = _csrf(request, services)
    response = login_page(
        action=AUTHORIZE_PATH,
        csrf_token=token,
        hidden={**pass_on, "step": "login"},
        client_name=checked.client.name,
        username=username,
        error=error,
        form_action_sources=_origins(checked.redirect_uri),
        status_code=status_code,
    )
    _keep_csrf(response, services, request, binding)
    return response


def _failed_login_form(
    request: Request,
    services: AppServices,
    checked: AuthorizationRequest,
    pass_on: dict[str, str],
    username: str,
) -> Response:
    """The login form again, 401: one answer for a wrong password, an unknown user, and a
    sign-in overtaken by a password change."""
    return _login_form(
        request,
        services,
        checked,
        pass_on,
        username=username[:200],
        error="The username or password is incorrect.",
        status_code=401,
    )


def _throttled_login_form(
    request: Request,
    services: AppServices,
    checked: AuthorizationRequest,
    pass_on: dict[str, str],
    username: str,
    exc: RateLimited,
) -> Response:
    """429 with ``Retry-After``; the same words whether the account exists or not."""
    response = _login_form(
        request,
        services,
        checked,
        pass_on,
        username=username[:200],
        error=f"Too many sign-in attempts. Wait {exc.retry_after} seconds, then try again.",
        status_code=429,
    )
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _consent_form(
    request: Request,
    services: AppServices,
    checked: AuthorizationRequest,
    user: User,
    pass_on: dict[str, str],
) -> Response:
    binding, token = _csrf(request, services)
    scopes = [
        (s, SCOPE_DESCRIPTIONS.get(s, f"Use the {s} permission")) for s in checked.scope.split()
    ]
    response = consent_page(
        action=AUTHORIZE_PATH,
        csrf_token=token,
        hidden={**pass_on, "step": "consent"},
        client_name=checked.client.name,
        username=user.username,
        scopes=scopes,
        form_action_sources=_origins(checked.redirect_uri),
    )
    _keep_csrf(response, services, request, binding)
    return response


def _hidden(params: dict[str, str], resources: tuple[str, ...]) -> dict[str, str]:
    """The authorization parameters the forms carry, ``resource`` values space-joined."""
    return {**params, "resource": " ".join(resources)} if resources else dict(params)


def _csrf(request: Request, services: AppServices) -> tuple[str, str]:
    binding = request.cookies.get(services.oauth.cookies.csrf) or secrets.token_urlsafe(24)
    return binding, services.oauth.browser_sessions.csrf_token(binding)


def _keep_csrf(response: Response, services: AppServices, request: Request, binding: str) -> None:
    if request.cookies.get(services.oauth.cookies.csrf) != binding:
        services.oauth.cookies.set(response, services.oauth.cookies.csrf, binding, max_age=None)


def _csrf_ok(request: Request, services: AppServices, form: TokenRequest) -> bool:
    return services.oauth.browser_sessions.csrf_matches(
        request.cookies.get(services.oauth.cookies.csrf), form.get("csrf_token")
    )


def _same_origin(request: Request, services: AppServices) -> bool:
    """A browser's ``Origin`` (or ``Sec-Fetch-Site``) on a form POST must be this server."""
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        return origin == _origin_of(services.settings.issuer)
    site = request.headers.get("sec-fetch-site")
    return site in (None, "same-origin", "none")


def _origin_of(url: str) -> str:
    """The origin of ``url`` as a browser serializes it (RFC 6454 §6.2): lower-case scheme
    and host, no default port."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = parts.port
    if port is None or port == _DEFAULT_PORTS.get(parts.scheme):
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def _origins(redirect_uri: str | None) -> list[str]:
    """The client's redirect origin, for the pages' ``form-action`` (Chromium applies it to
    the redirect that answers the form); none if a CSP source cannot name it (the page must
    still render)."""
    if redirect_uri is None or urlsplit(redirect_uri).scheme not in _DEFAULT_PORTS:
        return []
    origin = _origin_of(redirect_uri)
    try:
        page_headers([origin])
    except ValueError:
        log.info("no form-action source for the redirect origin %r", origin[:100])
        return []
    return [origin]


# --- answers to the client ------------------------------------------------------------------


def _redirect(uri: str, params: dict[str, str]) -> RedirectResponse:
    separator = "&" if urlsplit(uri).query else "?"
    target = uri + separator + urlencode(params) if params else uri
    response = RedirectResponse(target, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _redirect_error(
    services: AppServices, redirect_uri: str, exc: OstiaryError, state: str | None
) -> Response:
    """RFC 6749 §4.1.2.1: the error, to the client's registered redirect URI only."""
    log.info(
        "authorization error %s: %s (%s)",
        exc.error,
        escape_controls(exc.description),
        escape_controls(exc.detail or "-"),
    )
    answer = {"error": exc.error, "error_description": exc.description}
    if state is not None:
        answer["state"] = state
    answer["iss"] = services.settings.issuer
    return _redirect(redirect_uri, answer)


async def _live_user(services: AppServices, browser: BrowserSession) -> User | None:
    """The browser's user, unless gone, disabled, or their password changed since this
    browser signed in (a stolen SSO cookie dies with the old password)."""
    return await services.lifecycle.live_user(browser.user_id, since=browser.auth_time)


# --- /oauth/logout --------------------------------------------------------------------------


@router.get("/logout")
@router.post("/logout")  # one route each: one operation id each in the OpenAPI document
async def logout(request: Request, services: AppServices) -> Response:
    """RP-Initiated Logout §2-§3: end this browser's session and what was issued under it,
    then return to the client's registered ``post_logout_redirect_uri`` (with ``state``) or
    show that the user is signed out.

    The user confirms by a POST of the form shown (so that no other site can sign them out,
    §6), unless ``id_token_hint`` is a live ID token of this very browser session: its
    ``sid`` names the session of the SSO cookie and its ``sub`` that session's user. An
    attacker's own ID token, an expired one, or one of another browser's session only
    identifies the client; it never ends a session unasked, and no request ends a session
    other than the browser's own."""
    try:
        if request.method == "POST":
            params = await read_form(request)
        else:
            params = parse_form(request.scope.get("query_string", b""))
    except InvalidRequest as exc:
        return error_page(title="Invalid request", message=exc.description, status_code=400)
    hint = _id_token_hint(services, params.get("id_token_hint"))
    browser = await services.oauth.browser_sessions.resume(
        request.cookies.get(services.oauth.cookies.sso)
    )
    if request.method == "POST" and params.get("decision") == "deny":
        return logged_out_page(message="You are still signed in.")
    # Nothing to end (no live session in this browser, e.g. another app's logout ended it):
    # nothing a forged request could do, so no question to ask.
    confirmed = (
        browser is None
        or _hint_of_this_session(hint, browser)
        or (
            request.method == "POST"
            and _same_origin(request, services)
            and _csrf_ok(request, services, params)
        )
    )
    target = await _post_logout_target(services, params, hint)
    if not confirmed:
        return _logout_form(request, services, params, form_action_sources=_origins(target))
    if browser is not None:
        await services.lifecycle.end_browser_session(browser.id)
    log.info("logout ended %d browser session(s)", int(browser is not None))
    state = params.get("state")
    response: Response = (
        _redirect(target, {"state": state} if state else {})
        if target is not None
        else logged_out_page()
    )
    services.oauth.cookies.clear(response, services.oauth.cookies.sso)
    return response


def _id_token_hint(services: AppServices, hint: str | None) -> IdTokenHint | None:
    """The ID token this server signed that ``hint`` is, expired or not; else None."""
    if not hint:
        return None
    settings = services.settings
    return read_id_token_hint(
        hint,
        services.id_keys.ring,
        issuer=settings.issuer,
        leeway=settings.leeway,
        clock=services.oauth.clock,
    )


def _hint_of_this_session(hint: IdTokenHint | None, browser: BrowserSession | None) -> bool:
    """A live ID token issued in this browser's session to its user: the RP asks to end the
    session the user is in, so no confirmation is needed (and none can be forged: another
    user's or another session's token does not match the cookie)."""
    return (
        hint is not None
        and browser is not None
        and not hint.expired
        and hint.session_id == browser.id
        and hint.subject == browser.user_id
    )


async def _post_logout_target(
    services: AppServices, params: TokenRequest, hint: IdTokenHint | None
) -> str | None:
    uri = params.get("post_logout_redirect_uri")
    if uri is None:
        return None
    client_id = hint.client_id if hint is not None else params.get("client_id")
    if client_id is None:
        return None
    client = await services.oauth.clients.get(client_id)
    if client is None or uri not in client.post_logout_redirect_uris:
        return None
    return uri


def _logout_form(
    request: Request,
    services: AppServices,
    params: TokenRequest,
    *,
    form_action_sources: list[str],
) -> Response:
    binding, token = _csrf(request, services)
    keep = {
        k: v
        for k, v in params.params.items()
        if k in ("post_logout_redirect_uri", "state", "client_id", "id_token_hint")
    }
    response = consent_page(
        action=LOGOUT_PATH,
        csrf_token=token,
        hidden=keep,
        client_name="Ostiary",
        username="you",
        scopes=[("logout", "Sign out of every application you signed in to here")],
        form_action_sources=form_action_sources,
    )
    _keep_csrf(response, services, request, binding)
    return response
