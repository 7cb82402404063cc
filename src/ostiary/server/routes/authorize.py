"""The browser side of the authorization server: ``/oauth/authorize`` with its login and
consent pages (RFC 6749 §4.1.1-§4.1.2, OpenID Connect Core §3.1.2). (``/oauth/logout`` is
:mod:`ostiary.server.routes.logout`.)

Every form carries a CSRF token bound to a cookie (double submit, HMAC-bound), and a POST
must come from this server's own origin when the browser says where it comes from. The
authorization parameters travel as hidden fields and are checked again on every POST: nothing
about a pending request is kept on the server.
"""

from __future__ import annotations

import logging
from typing import Final

from fastapi import APIRouter, Request, Response

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
from ostiary.grants import OAuthParams
from ostiary.grants.authorization_endpoint import AuthorizationRequest, NoRedirectError
from ostiary.logtext import escape_controls
from ostiary.server.dependencies import AppServices, client_address
from ostiary.server.forms import parse_form, read_form
from ostiary.server.pages import (
    consent_page,
    error_page,
    login_page,
)
from ostiary.server.routes._browser_forms import (
    csrf_binding,
    csrf_ok,
    form_action_origins,
    keep_csrf,
    redirect_to,
    same_origin,
)
from ostiary.storage.records import BrowserSession, User
from ostiary.wiring import Services

log = logging.getLogger("ostiary.server")
router = APIRouter(prefix="/oauth", tags=["oauth"], include_in_schema=False)

AUTHORIZE_PATH: Final = "/oauth/authorize"
#: Fields of our own forms, never passed on as authorization parameters.
_FORM_FIELDS: Final = frozenset({"csrf_token", "username", "password", "decision", "step"})
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
    if not same_origin(request, services) or not csrf_ok(request, services, form):
        return error_page(
            title="Please try again",
            message="This form expired or did not come from this page. Go back and retry.",
            status_code=403,
        )
    return await _authorize(request, services, form, step=form.get("step"))


async def _authorize(
    request: Request, services: AppServices, form: OAuthParams, *, step: str | None
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
    form: OAuthParams,
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
    form: OAuthParams,
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
    return redirect_to(checked.redirect_uri, answer)


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
    binding, token = csrf_binding(request, services)
    response = login_page(
        action=AUTHORIZE_PATH,
        csrf_token=token,
        hidden={**pass_on, "step": "login"},
        client_name=checked.client.name,
        username=username,
        error=error,
        form_action_sources=form_action_origins(checked.redirect_uri),
        status_code=status_code,
    )
    keep_csrf(response, services, request, binding)
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
    binding, token = csrf_binding(request, services)
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
        form_action_sources=form_action_origins(checked.redirect_uri),
    )
    keep_csrf(response, services, request, binding)
    return response


def _hidden(params: dict[str, str], resources: tuple[str, ...]) -> dict[str, str]:
    """The authorization parameters the forms carry, ``resource`` values space-joined."""
    return {**params, "resource": " ".join(resources)} if resources else dict(params)


# --- answers to the client ------------------------------------------------------------------


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
    return redirect_to(redirect_uri, answer)


async def _live_user(services: AppServices, browser: BrowserSession) -> User | None:
    """The browser's user, unless gone, disabled, or their password changed since this
    browser signed in (a stolen SSO cookie dies with the old password)."""
    return await services.lifecycle.live_user(browser.user_id, since=browser.auth_time)
