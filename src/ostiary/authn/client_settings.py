"""What an OAuth client may be registered with (RFC 6749 §2, RFC 7591 §2 names): every setting is
checked and a bad one is an :class:`~ostiary.errors.InvalidClientMetadata` that says which and
why. Redirect URIs are matched exactly later, so they are checked strictly now (RFC 9700
§4.1.3, RFC 8252 §7).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from ostiary.authz.scopes import parse_scope
from ostiary.errors import (
    InvalidClientMetadata,
    InvalidKey,
)
from ostiary.hosts import LOOPBACK_HOSTS
from ostiary.jose import JWKSet
from ostiary.storage.records import ClientAuthMethod

AUTHORIZATION_CODE: Final = "authorization_code"


REFRESH_TOKEN: Final = "refresh_token"


CLIENT_CREDENTIALS: Final = "client_credentials"


GRANT_TYPES: Final = frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS})


SECRET_METHODS: Final = frozenset(
    {ClientAuthMethod.CLIENT_SECRET_BASIC, ClientAuthMethod.CLIENT_SECRET_POST}
)


CLIENT_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,99}")


_NAME_MAX: Final = 100


_URI_MAX: Final = 2000


_MAX_URIS: Final = 20


#: RFC 8252 §7.1: a private-use scheme is a reversed domain name, so it has a dot.
_PRIVATE_SCHEME: Final = re.compile(r"[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+")


_AUDIENCE: Final = re.compile(r"[\x21-\x7e]{1,200}")


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """What an operator registers; checked by :meth:`ClientRegistry.create`."""

    name: str
    auth_method: ClientAuthMethod = ClientAuthMethod.CLIENT_SECRET_BASIC
    grant_types: frozenset[str] = frozenset({CLIENT_CREDENTIALS})
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    scopes: frozenset[str] = frozenset()
    audiences: frozenset[str] = frozenset()
    first_party: bool = False
    #: The public JWK Set (a dict ``{"keys": [...]}``) for ``private_key_jwt``.
    jwks: dict[str, Any] | None = None
    #: Where Logout Tokens go (OpenID Connect Back-Channel Logout 1.0 §2.2).
    backchannel_logout_uri: str | None = None
    #: The client wants ``sid`` in each Logout Token (§2.2; Ostiary sends it anyway).
    backchannel_logout_session_required: bool = True
    #: RFC 9449 §5.2: every token request of the client must carry a DPoP proof.
    dpop_bound_access_tokens: bool = False


def check_settings(settings: ClientSettings) -> ClientSettings:
    """``settings`` if every one is valid and they fit together; otherwise
    :class:`InvalidClientMetadata` naming the first problem."""
    name = settings.name.strip()
    if not 0 < len(name) <= _NAME_MAX or not name.isprintable():
        raise InvalidClientMetadata(f"A client name is 1 to {_NAME_MAX} printable characters.")
    try:
        method = ClientAuthMethod(settings.auth_method)
    except ValueError:
        methods = ", ".join(m.value for m in ClientAuthMethod)
        raise InvalidClientMetadata(f"The auth method is one of {methods}.") from None
    grants = frozenset(settings.grant_types)
    if not grants:
        raise InvalidClientMetadata("A client needs at least one grant type.")
    unknown = sorted(grants - GRANT_TYPES)
    if unknown:
        raise InvalidClientMetadata(
            f"Unsupported grant type {unknown[0]!r}: use {', '.join(sorted(GRANT_TYPES))} "
            "(password and implicit are refused, RFC 9700 §2.4 and §2.1.2)."
        )
    if REFRESH_TOKEN in grants and AUTHORIZATION_CODE not in grants:
        raise InvalidClientMetadata("refresh_token comes with authorization_code.")
    if method is ClientAuthMethod.NONE and CLIENT_CREDENTIALS in grants:
        raise InvalidClientMetadata(
            "A public client (auth method 'none') cannot use client_credentials: it has no "
            "credentials."
        )
    redirects = _uris(settings.redirect_uris, "redirect URI")
    if AUTHORIZATION_CODE in grants and not redirects:
        raise InvalidClientMetadata("authorization_code needs at least one redirect URI.")
    if AUTHORIZATION_CODE not in grants and redirects:
        raise InvalidClientMetadata("Redirect URIs are only for authorization_code clients.")
    logouts = _uris(settings.post_logout_redirect_uris, "post-logout redirect URI")
    if logouts and AUTHORIZATION_CODE not in grants:
        raise InvalidClientMetadata(
            "Post-logout redirect URIs are only for authorization_code clients."
        )
    backchannel = _backchannel_logout_uri(settings.backchannel_logout_uri, grants)
    try:
        scopes = parse_scope(" ".join(settings.scopes))
    except ValueError as exc:
        raise InvalidClientMetadata(f"Invalid scope: {exc}.") from None
    for audience in settings.audiences:
        if not _AUDIENCE.fullmatch(audience):
            raise InvalidClientMetadata(
                "An audience is 1 to 200 printable ASCII characters without spaces (an "
                "absolute URI such as https://api.example.com is best, RFC 8707)."
            )
    jwks = settings.jwks
    if method is ClientAuthMethod.PRIVATE_KEY_JWT:
        if jwks is None:
            raise InvalidClientMetadata("private_key_jwt needs the client's public JWK Set.")
        client_keys(jwks)  # raises if unusable
    elif jwks is not None:
        raise InvalidClientMetadata("A JWK Set is only for private_key_jwt clients.")
    return ClientSettings(
        name=name,
        auth_method=method,
        grant_types=grants,
        redirect_uris=redirects,
        post_logout_redirect_uris=logouts,
        scopes=scopes,
        audiences=frozenset(settings.audiences),
        first_party=settings.first_party,
        jwks=jwks,
        backchannel_logout_uri=backchannel,
        backchannel_logout_session_required=settings.backchannel_logout_session_required,
        dpop_bound_access_tokens=bool(settings.dpop_bound_access_tokens),
    )


def _uris(values: Iterable[str], what: str) -> tuple[str, ...]:
    uris = tuple(dict.fromkeys(values))
    if len(uris) > _MAX_URIS:
        raise InvalidClientMetadata(f"At most {_MAX_URIS} of each kind of redirect URI.")
    for uri in uris:
        problem = redirect_uri_problem(uri)
        if problem is not None:
            raise InvalidClientMetadata(f"Invalid {what} {uri[:100]!r}: {problem}.")
    return uris


def _backchannel_logout_uri(uri: str | None, grants: frozenset[str]) -> str | None:
    """OpenID Connect Back-Channel Logout 1.0 §2.2: an absolute URL, no fragment; here
    ``https`` (plain ``http`` on a loopback host only, as for redirect URIs), for clients that
    sign users in (``authorization_code``): only they have sessions to end."""
    if uri is None:
        return None
    if AUTHORIZATION_CODE not in grants:
        raise InvalidClientMetadata(
            "A back-channel logout URI is only for authorization_code clients."
        )
    try:
        scheme = urlsplit(uri).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme in ("https", "http"):
        problem = redirect_uri_problem(uri)
    else:
        problem = "it is an https URL (http only on a loopback host)"
    if problem is not None:
        raise InvalidClientMetadata(f"Invalid back-channel logout URI {uri[:100]!r}: {problem}.")
    return uri


def redirect_uri_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be registered as a redirect URI, or None. Absolute, no fragment,
    no wildcard, no user info; ``https``, ``http`` on a loopback host only (RFC 8252 §7.3),
    or a private-use scheme with a dot (RFC 8252 §7.1)."""
    if len(uri) > _URI_MAX or not uri.isprintable() or any(c.isspace() for c in uri):
        return "it is too long or has spaces or control characters"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "it is not a valid URI"
    if parts.fragment or "#" in uri:
        return "it has a fragment (RFC 6749 §3.1.2)"
    if "*" in uri:
        return "wildcards are not allowed; redirect URIs are matched exactly"
    if parts.username is not None or parts.password is not None:
        return "it has user information"
    scheme = parts.scheme.lower()
    if scheme == "https":
        return None if parts.hostname else "it has no host"
    if scheme == "http":
        if parts.hostname in LOOPBACK_HOSTS:
            return None
        return "plain http is only allowed for localhost, 127.0.0.1 and [::1]"
    if _PRIVATE_SCHEME.fullmatch(scheme):
        return None
    return "use https, http on a loopback host, or a private-use scheme such as com.example.app"


def client_keys(jwks: Any) -> JWKSet:
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise InvalidClientMetadata('A JWK Set is a JSON object {"keys": [...]}.')
    try:
        keys = JWKSet.from_dict(jwks)
    except (InvalidKey, ValueError) as exc:
        raise InvalidClientMetadata(f"The client's JWK Set is not usable: {exc}") from None
    if not len(keys):
        raise InvalidClientMetadata("The client's JWK Set has no key.")
    if any(key.is_private or key.is_symmetric for key in keys):
        raise InvalidClientMetadata("Register public keys only: no private or symmetric keys.")
    return keys
