"""OAuth 2.0 grants, one class per ``grant_type``, picked by the token endpoint
(:class:`TokenEndpoint`) from a dict. Nothing here knows of HTTP."""

from __future__ import annotations

from ostiary.grants.base import Grant, IssuedTokens, OAuthParams
from ostiary.grants.client_credentials import ClientCredentialsGrant
from ostiary.grants.endpoint import TokenEndpoint

__all__ = [
    "ClientCredentialsGrant",
    "Grant",
    "IssuedTokens",
    "OAuthParams",
    "TokenEndpoint",
]
