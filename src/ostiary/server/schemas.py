"""Request and response bodies. Requests are strict: a number is not a string."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")


class Credentials(_Request):
    """``POST /auth/login`` and ``POST /auth/register``."""

    username: str
    password: str


class LoginRequest(Credentials):
    """``POST /auth/login``; ``cookie`` asks for browser mode (the refresh token in a cookie)."""

    cookie: bool = False


class RefreshRequest(_Request):
    refresh_token: str


class CookieRefreshRequest(_Request):
    """A body beside the refresh cookie: it must not name a refresh token too."""

    refresh_token: str | None = None


class PasswordChange(_Request):
    current_password: str
    new_password: str


class TokenResponse(BaseModel):
    """RFC 6749 §5.1, plus when the refresh token stops working unused. ``token_type`` is
    ``DPoP`` when the access token is bound to the key of the request's proof (RFC 9449 §5)."""

    access_token: str
    token_type: Literal["Bearer", "DPoP"] = "Bearer"
    expires_in: int
    refresh_token: str
    refresh_token_expires_in: int
    scope: str


class BrowserTokenResponse(BaseModel):
    """Browser mode's token response: the refresh token is in the cookie, and ``csrf_token``
    must be echoed in ``X-CSRF-Token`` when the cookie is used."""

    access_token: str
    token_type: Literal["Bearer", "DPoP"] = "Bearer"
    expires_in: int
    refresh_token_expires_in: int
    scope: str
    csrf_token: str


class Account(BaseModel):
    id: str
    username: str
    roles: list[str]
    created_at: int


class SessionInfo(BaseModel):
    id: str
    #: ``"app"``: a refresh family (a login or a client's grant); ``"browser"``: a browser
    #: signed in for single sign-on, ended with every app session it opened.
    kind: Literal["app", "browser"]
    #: The client an app session belongs to (the first-party client for logins).
    client_id: str | None
    created_at: int
    last_used_at: int
    expires_at: int
    user_agent: str | None
    address: str | None
    #: True for the session of the token that asked.
    current: bool


class RevocationEntry(BaseModel):
    #: ``jti`` (one token), ``sid`` (a session) or ``sub`` (a user, with ``not_before``).
    kind: str
    value: str
    not_before: float
    expires_at: float
    seq: int


class RevocationFeedPage(BaseModel):
    """One page of ``GET /auth/revocations`` (read by :class:`ostiary.resource.RevocationFeed`)."""

    revocations: list[RevocationEntry]
    #: The ``since`` to ask with next time.
    next: int
