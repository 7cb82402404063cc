"""Tokens the server issues: JWT access tokens, rotating refresh-token families, revocation."""

from __future__ import annotations

from ostiary.tokens.access import AccessTokenIssuer, IssuedToken
from ostiary.tokens.refresh import IssuedRefresh, RefreshTokens, hash_refresh_token
from ostiary.tokens.revocation import Revocations

__all__ = [
    "AccessTokenIssuer",
    "IssuedRefresh",
    "IssuedToken",
    "RefreshTokens",
    "Revocations",
    "hash_refresh_token",
]
