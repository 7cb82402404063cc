"""``/oauth/logout``: OpenID Connect RP-Initiated Logout 1.0, the end of a browser's single
sign-on session (and of what was issued under it), confirmed by the user unless the client's
``id_token_hint`` names this very session."""

from __future__ import annotations

import logging
from typing import Final

from fastapi import APIRouter, Request, Response

from ostiary.errors import InvalidRequest
from ostiary.grants import OAuthParams
from ostiary.server.dependencies import AppServices
from ostiary.server.forms import parse_form, read_form
from ostiary.server.pages import consent_page, error_page, logged_out_page
from ostiary.server.routes import _browser_forms as forms
from ostiary.storage.records import BrowserSession
from ostiary.tokens.id_token import IdTokenHint, read_id_token_hint

log = logging.getLogger("ostiary.server")
router = APIRouter(prefix="/oauth", tags=["oauth"], include_in_schema=False)

LOGOUT_PATH: Final = "/oauth/logout"


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
            and forms.same_origin(request, services)
            and forms.csrf_ok(request, services, params)
        )
    )
    target = await _post_logout_target(services, params, hint)
    if not confirmed:
        return _logout_form(
            request, services, params, form_action_sources=forms.form_action_origins(target)
        )
    if browser is not None:
        await services.lifecycle.end_browser_session(browser.id)
    log.info("logout ended %d browser session(s)", int(browser is not None))
    state = params.get("state")
    response: Response = (
        forms.redirect_to(target, {"state": state} if state else {})
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
    services: AppServices, params: OAuthParams, hint: IdTokenHint | None
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
    params: OAuthParams,
    *,
    form_action_sources: list[str],
) -> Response:
    binding, token = forms.csrf_binding(request, services)
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
    forms.keep_csrf(response, services, request, binding)
    return response
